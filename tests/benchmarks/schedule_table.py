"""Pipeline schedules compared in the schedule simulator: throughput and bubble fraction of 1F1B and zero bubble.

For each stage count, stage i's F, B and W grow linearly from the fastest stage's (first) to `--spread` times
that (last); every link has `--latency-ms` latency and `--bandwidth-mbit` bandwidth and carries
`--activation-kib` per micro-batch each way. The simulator (ravnest._C.simulate_schedule) decides what each
stage runs with the node's own SchedulePolicy. Printed per stage count and schedule: micro-batches per second
and the mean bubble fraction (idle / makespan), then the bound without ramp-up, drain or links: throughput
1 / max(F+B+W) and bubble 1 - mean(F+B+W) / max(F+B+W), the idle a stage faster than the slowest cannot avoid.
A second table runs uniform stages without link costs, where ZB-H1's bubble is known exactly: (p-1)(F+B-W)
per stage, against 1F1B's (p-1)(F+B+W) ("Zero Bubble Pipeline Parallelism", ICLR 2024).

Run:  /usr/bin/python3 tests/benchmarks/schedule_table.py [--stages 4 8 16] [--micro-batches 64] [--spread 2]
          [--forward-ms 10] [--latency-ms 10] [--bandwidth-mbit 100] [--activation-kib 64]
"""

import argparse

from ravnest import _C

SCHEDULES = ("1f1b", "zb")


def stage_times(stages, forward, spread):
    """(F, B, W) per stage, F = B = W, scaled linearly from 1 (first stage) to `spread` (last)."""
    scales = [1 + (spread - 1) * i / max(1, stages - 1) for i in range(stages)]
    return [(forward * scale,) * 3 for scale in scales]


def simulate(times, activation_bytes, latency, bandwidth, micro_batches, schedule):
    stages = [(f, b, w, activation_bytes) for f, b, w in times]
    return _C.simulate_schedule(stages=stages, latency=latency, bandwidth=bandwidth, micro_batches=micro_batches,
                                schedule=schedule)


def steady_state_bound(times):
    work = [sum(stage) for stage in times]
    return 1 / max(work), 1 - sum(work) / len(work) / max(work)


def print_spread_table(args):
    latency = args.latency_ms / 1000
    bandwidth = args.bandwidth_mbit * 1e6 / 8
    activation_bytes = int(args.activation_kib * 1024)
    print(f"{args.spread:g}x spread, fastest stage F = B = W = {args.forward_ms:g} ms, links {args.latency_ms:g} ms"
          f" / {args.bandwidth_mbit:g} Mbit/s, {args.activation_kib:g} KiB per micro-batch, "
          f"{args.micro_batches} micro-batches, max_in_flight = stages")
    print("| stages | 1f1b micro-batches/s | 1f1b bubble | zb micro-batches/s | zb bubble | zb / 1f1b "
          "| bound micro-batches/s | bound bubble |")
    print("|---|---|---|---|---|---|---|---|")
    for stages in args.stages:
        times = stage_times(stages, args.forward_ms / 1000, args.spread)
        results = {schedule: simulate(times, activation_bytes, latency, bandwidth, args.micro_batches, schedule)
                   for schedule in SCHEDULES}
        throughput_bound, bubble_bound = steady_state_bound(times)
        one, zero = results["1f1b"], results["zb"]
        print(f"| {stages} | {one['throughput']:.2f} | {one['bubble_fraction']:.3f} | {zero['throughput']:.2f} "
              f"| {zero['bubble_fraction']:.3f} | {zero['throughput'] / one['throughput']:.3f} "
              f"| {throughput_bound:.2f} | {bubble_bound:.3f} |")


def print_uniform_table(args):
    print(f"\nuniform stages, F = B = W = 1 unit, no link costs, {args.micro_batches} micro-batches: idle units per "
          "stage (bubble fraction)")
    print("| stages | 1f1b | analytic 1f1b (p-1)(F+B+W) | zb | analytic ZB-H1 (p-1)(F+B-W) |")
    print("|---|---|---|---|---|")
    for stages in args.stages:
        times = stage_times(stages, 1.0, 1.0)
        cells = []
        for schedule, analytic_idle in (("1f1b", 3 * (stages - 1)), ("zb", stages - 1)):
            result = simulate(times, 0, 0.0, 0.0, args.micro_batches, schedule)
            idle = result["makespan"] - result["busy"][0]
            analytic = analytic_idle / (3 * args.micro_batches + analytic_idle)
            cells += [f"{idle:g} ({result['bubble_fraction']:.3f})", f"{analytic_idle} ({analytic:.3f})"]
        print(f"| {stages} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--micro-batches", type=int, default=64)
    parser.add_argument("--spread", type=float, default=2.0, help="slowest / fastest stage time")
    parser.add_argument("--forward-ms", type=float, default=10.0, help="the fastest stage's F (= B = W)")
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--bandwidth-mbit", type=float, default=100.0)
    parser.add_argument("--activation-kib", type=float, default=64.0)
    args = parser.parse_args()
    print_spread_table(args)
    print_uniform_table(args)


if __name__ == "__main__":
    main()
