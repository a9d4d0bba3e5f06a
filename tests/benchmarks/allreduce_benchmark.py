"""All-reduce benchmark: ravnest's ring all-reduce against PyTorch's Gloo all-reduce, in the same processes.

For N = 2, 3, 4 processes on this machine and float32 buffers of 1, 16 and 128 MiB, every process runs both
all-reduces alternately, call after call, and rank 0 prints the median time per call, the bus bandwidth
(size * 2(N-1)/N / time) of each and the ratio ravnest / Gloo. Compressed ravnest variants are reported too.

Next to the wall-clock figures it prints the CPU time (user + system, all threads) one call costs, summed over
the N processes, and Gloo's CPU time / ravnest's. With N processes on a machine of few cores the all-reduce is
CPU-bound, so this ratio predicts the wall-clock ratio on a quiet machine; unlike wall-clock time it barely
moves when other work shares the machine.

`--transport grpc` sends ravnest's chunks as gRPC messages (the path under TLS) instead of over ring connections.

Run:  /usr/bin/python3 tests/benchmarks/allreduce_benchmark.py [--sizes-mib 1 16 128] [--ranks 2 3 4] [--calls 5]
          [--segment-mib 16] [--codecs none fp16 int8-blockwise] [--transport ring|grpc]
"""

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

import torch
import torch.distributed as dist

import ravnest

ALL_CODECS = ["none", "fp16", "int8-blockwise"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def exchange_ports(port, world_size):
    """Every rank's ravnest port, gathered through Gloo as plain integers (nothing pickled)."""
    gathered = [torch.zeros(1, dtype=torch.int64) for _ in range(world_size)]
    dist.all_gather(gathered, torch.tensor([port], dtype=torch.int64))
    return [int(t.item()) for t in gathered]


def process_cpu_seconds():
    """User + system CPU time of every thread of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(call):
    """(wall seconds, CPU seconds of this process) of one call, started together on every rank."""
    dist.barrier()
    start, start_cpu = time.perf_counter(), process_cpu_seconds()
    call()
    return time.perf_counter() - start, process_cpu_seconds() - start_cpu


def summed_over_ranks(values):
    """Element-wise sums of `values` (one float per call) over all ranks."""
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def worker(rank, world_size, store_port, sizes_mib, calls, segment_mib, codecs, ring_port):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{store_port}", rank=rank, world_size=world_size)
    # One server per codec: a server serves one all-reduce at a time.
    servers = {codec: ravnest.PeerServer(f"node_{rank}", ring_port=ring_port) for codec in codecs}
    next_address = {}
    for codec, server in servers.items():
        ports = exchange_ports(server.port, world_size)
        next_address[codec] = f"127.0.0.1:{ports[(rank + 1) % world_size]}"
    rows = []
    for size_mib in sizes_mib:
        numel = size_mib * (1 << 20) // 4
        ring = lambda codec: [{"ring_id": 0, "params": ["buffer"], "numels": [numel], "next": next_address[codec]}]
        reducers = {codec: ravnest.RingAllReduce(servers[codec], f"node_{rank}", rank, world_size, ring(codec),
                                                 codec=codec, segment_bytes=segment_mib << 20)
                    for codec in codecs}
        buffer = torch.randn(numel)

        def gloo():
            dist.all_reduce(buffer)
            buffer.div_(world_size)

        times = {name: [] for name in ["gloo", *codecs]}
        cpu = {name: [] for name in times}
        for call in range(calls + 1):  # the first call of each warms up connections and buffers
            samples = {"gloo": timed(gloo)}
            for codec, reducer in reducers.items():
                samples[codec] = timed(lambda: reducer.average_({"buffer": buffer}))
            if call > 0:
                for name, (seconds, cpu_seconds) in samples.items():
                    times[name].append(seconds)
                    cpu[name].append(cpu_seconds)
        rows.append((size_mib, {name: (statistics.median(times[name]), statistics.median(summed_over_ranks(cpu[name])))
                                for name in times}))
        reducer = None  # the timing closures above bound the last one
        del reducers  # each server serves one all-reduce at a time: free them before the next size
    dist.barrier()
    for server in servers.values():
        server.shutdown()
    dist.destroy_process_group()
    return rows


def report(world_size, rows, codecs):
    for size_mib, medians in rows:
        size = size_mib * (1 << 20)
        bus = lambda seconds: size * 2 * (world_size - 1) / world_size / seconds / 1e9
        gloo, gloo_cpu = medians["gloo"]
        print(f"N={world_size} {size_mib:4d} MiB  gloo {gloo * 1e3:8.1f} ms {bus(gloo):6.2f} GB/s "
              f"cpu {gloo_cpu * 1e3:7.1f} ms", end="")
        for codec in codecs:
            ours, ours_cpu = medians[codec]
            print(f" | ravnest {codec} {ours * 1e3:8.1f} ms {bus(ours):6.2f} GB/s {gloo / ours:5.2f}x "
                  f"cpu {ours_cpu * 1e3:7.1f} ms {gloo_cpu / ours_cpu:5.2f}x", end="")
        print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--segment-mib", type=int, default=16, help="size of the segments chunks travel in")
    parser.add_argument("--codecs", nargs="+", choices=ALL_CODECS, default=ALL_CODECS)
    parser.add_argument("--transport", choices=["ring", "grpc"], default="ring",
                        help="ring connections (default) or gRPC messages, the path under TLS")
    parser.add_argument("--worker", type=int, nargs=3, metavar=("RANK", "WORLD", "STORE_PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        rank, world_size, store_port = args.worker
        rows = worker(rank, world_size, store_port, args.sizes_mib, args.calls, args.segment_mib, args.codecs,
                      ring_port=0 if args.transport == "ring" else -1)
        if rank == 0:
            report(world_size, rows, args.codecs)
        return
    print("ratio = gloo time / ravnest time (bus bandwidth ratio); bar: >= 1.0 at 16 and 128 MiB, uncompressed")
    print("cpu = median CPU time (user + system) of one call, summed over the ranks; its ratio = gloo / ravnest")
    for world_size in args.ranks:
        store_port = free_port()
        command = [sys.executable, os.path.abspath(__file__), "--calls", str(args.calls), "--segment-mib",
                   str(args.segment_mib), "--sizes-mib", *map(str, args.sizes_mib), "--codecs", *args.codecs,
                   "--transport", args.transport, "--worker"]
        processes = [subprocess.Popen(command + [str(rank), str(world_size), str(store_port)])
                     for rank in range(world_size)]
        if any(process.wait() != 0 for process in processes):
            sys.exit(f"a benchmark process of N={world_size} failed")


if __name__ == "__main__":
    main()
