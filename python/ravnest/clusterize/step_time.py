"""The requester's prediction of each cluster's time per micro-batch, from the schedule simulator.

A stage's forward time is the sum of its operations' forward times measured on the requester's machine (see
compute_cost), scaled by the requester's matmul GFLOP/s over the node's; backward takes twice its forward. Its
activation bytes are what the example pass saw of its outputs. The link is the cluster's slowest link between
neighbouring stages. The simulator then runs the node's own 1F1B policy on 64 micro-batches; the figure is the
makespan per micro-batch, i.e. the steady-state step time of one micro-batch.
"""

from .. import _C
from .splitting import COMPUTE_OPS

SIMULATED_MICRO_BATCHES = 64


def predicted_step_seconds(analysed, split, node_gflops, requester_gflops, link_latency_s, link_bandwidth_bytes):
    """Seconds per micro-batch of one cluster, or None without measured operation times."""
    if analysed.forward_seconds is None:
        return None
    stages = []
    for stage, gflops in zip(split.stages, node_gflops):
        scale = requester_gflops / gflops if gflops > 0 and requester_gflops > 0 else 1.0
        forward = scale * sum(analysed.forward_seconds.get(node.name, 0.0)
                              for node in stage.module.graph.nodes if node.op in COMPUTE_OPS)
        sent = sum(analysed.value_infos[name].nbytes for name in stage.outputs if name in analysed.value_infos)
        stages.append((forward, 2.0 * forward, 0.0, int(sent)))
    result = _C.simulate_schedule(stages, latency=link_latency_s, bandwidth=link_bandwidth_bytes,
                                  micro_batches=SIMULATED_MICRO_BATCHES)
    return result["makespan"] / SIMULATED_MICRO_BATCHES
