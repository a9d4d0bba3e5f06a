"""The schedule simulator against a real three-provider run, and the summary line every provider ends with.

One zero-bubble run of three providers (OMP_NUM_THREADS=1) is measured in its steady state, between a quarter
and 85% of its micro-batches, where start-up (first passes, allocations) and drain play no part: each stage's
mean F, B and W per micro-batch in that window (its optimizer time counted with W, which it follows), from
metrics records written every 0.1 s, and micro-batches finished per second at the leaf in that window. With
the bytes each stage sends downstream per micro-batch, and link latency and bandwidth from sends between two
servers in this process, the simulator must predict that throughput within 15%.
"""

import json
import re
import statistics
import time

import pytest
import torch

import pipeline_scenarios as scenarios
import ravnest
from pipeline_harness import provider_command, run_providers, write_node_data
from ravnest import _C

STAGES = 3
SPEC = {"model": "cnn", "optimizer": "sgd", "update_frequency": 1, "batches": 240, "batch_size": 64,
        "schedule": "zb"}
SUMMARY = re.compile(r"^node_\d finished: busy F [\d.]+ s, B [\d.]+ s, W [\d.]+ s, optimizer [\d.]+ s, "
                     r"all-reduce [\d.]+ s; idle [\d.]+ s of [\d.]+ s \(bubble [\d.]+\); [\d.]+ MB in, [\d.]+ MB out$")


@pytest.fixture(scope="module")
def measured_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("measured_run")
    model = scenarios.build_model(SPEC)
    args, kwargs = scenarios.example_inputs(SPEC)
    write_node_data(folder, model, args, kwargs, STAGES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAVNEST_METRICS_INTERVAL", "0.1")
        codes, logs, _ = run_providers(folder, STAGES, provider_command(SPEC), timeout=90)
    failed = {name: logs[name][-3000:] for name, code in codes.items() if code != 0}
    assert not failed, json.dumps(failed, indent=1)
    records = {}
    for path in folder.glob("**/metrics/node_*.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        records[lines[0]["stage"]] = lines
    assert sorted(records) == list(range(STAGES)), f"metrics files of stages {sorted(records)}"
    return logs, [records[stage] for stage in range(STAGES)]


def median_send_seconds(client, tensor, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.send({"x": tensor})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measured_link():
    """(latency s, bandwidth bytes/s) of a local link: a send returns once the tensor is in the peer's inbox,
    so a tiny send's time bounds the latency from above, and a 4 MiB send's extra time gives the bandwidth."""
    server = ravnest.PeerServer("probe", inbox_capacity=1024)
    try:
        client = ravnest.PeerClient("node_0", f"127.0.0.1:{server.port}")
        tiny, large = torch.zeros(1), torch.zeros(1024 * 1024)
        client.send({"x": tiny})  # connects
        latency = median_send_seconds(client, tiny, 40)
        large_seconds = median_send_seconds(client, large, 10)
        return latency, large.numel() * 4 / max(large_seconds - latency, 1e-6)
    finally:
        server.shutdown()


def steady_window(lines):
    """The first record at or after a quarter of the micro-batches and the last at or before 85% of them."""
    total = SPEC["batches"]
    progress = [line for line in lines if line["event"] == "progress"]
    first = next(line for line in progress if line.get("backward_passes", 0) >= total // 4)
    last = [line for line in progress if line.get("backward_passes", 0) <= total * 85 // 100][-1]
    assert last["backward_passes"] - first["backward_passes"] >= total // 4, (first, last)
    return first, last


def simulated_stages(records):
    """(F, B, W seconds per micro-batch in the steady window, bytes sent downstream per micro-batch) per stage."""
    stages = []
    for stage, lines in enumerate(records):
        end = lines[-1]
        assert end["event"] == "end", end
        assert end["backward_passes"] == SPEC["batches"] == end["forward_passes"], end
        first, last = steady_window(lines)

        def per_pass(name, count="backward_passes"):
            return (last.get(name, 0.0) - first.get(name, 0.0)) / (last[count] - first[count])

        sent = 0 if stage == STAGES - 1 else next(
            peer["bytes_sent"] for name, peer in end["peers"].items() if stage_of(records, name) == stage + 1)
        stages.append((per_pass("forward_seconds", "forward_passes"), per_pass("backward_seconds"),
                       per_pass("weight_seconds") + per_pass("optimizer_seconds"),
                       int(sent / end["forward_passes"])))
    return stages


def stage_of(records, node_name):
    return next(stage for stage, lines in enumerate(records) if lines[0]["node"] == node_name)


def measured_steady_throughput(leaf_records):
    """Micro-batches per second at the leaf between 25% and 85% of its optimizer steps."""
    steps = [(line["step"], line["elapsed_s"]) for line in leaf_records if line["event"] == "train"]
    assert len(steps) == SPEC["batches"], f"{len(steps)} train records"
    (first_step, first_time), (last_step, last_time) = steps[len(steps) // 4], steps[len(steps) * 85 // 100]
    return (last_step - first_step) / (last_time - first_time)


def simulated_steady_throughput(stages, latency, bandwidth):
    """Micro-batches per second once the pipeline is full: the extra micro-batches of a twice longer run over
    its extra time."""
    count = SPEC["batches"]
    makespans = [_C.simulate_schedule(stages=stages, latency=latency, bandwidth=bandwidth, micro_batches=m,
                                      schedule=SPEC["schedule"])["makespan"] for m in (count, 2 * count)]
    return count / (makespans[1] - makespans[0])


def test_the_simulator_predicts_a_measured_run_within_15_percent(measured_run):
    _, records = measured_run
    stages = simulated_stages(records)
    latency, bandwidth = measured_link()
    simulated = simulated_steady_throughput(stages, latency, bandwidth)
    measured = measured_steady_throughput(records[-1])
    figures = {"stages (F, B, W s, bytes)": stages, "latency_s": latency, "bandwidth_bytes_per_s": bandwidth,
               "measured_bubble_fractions": [lines[-1]["bubble_fraction"] for lines in records],
               "measured_micro_batches_per_s": measured, "simulated_micro_batches_per_s": simulated}
    print(json.dumps(figures, indent=1))
    assert abs(simulated - measured) <= 0.15 * measured, json.dumps(figures, indent=1)


def test_every_provider_ends_its_output_with_one_summary_line(measured_run):
    logs, _ = measured_run
    for name, log in logs.items():
        lines = [line for line in log.splitlines() if line.strip()]
        assert lines and SUMMARY.match(lines[-1]) and lines[-1].startswith(name), f"{name}:\n{log[-2000:]}"
        assert sum(1 for line in lines if SUMMARY.match(line)) == 1, f"{name}:\n{log[-2000:]}"
