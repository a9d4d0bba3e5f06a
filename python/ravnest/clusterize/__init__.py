"""clusterize: groups providers into clusters, splits the model into one stage per node, writes node_data/.

Usage, as in the original Ravnest (run from the folder that holds node_data/node_configs.json):
    set_seed(42)
    clusterize(model=model, example_args=(example_input,))
"""

import logging
import random
from pathlib import Path

from .job_token import resolve_job_token
from .memory import BYTES_PER_GB
from .model_split import analyse_model, split_and_export
from .node_configs import load_node_configs
from .node_document import node_document
from .ring_plan import averaged_state, plan_rings
from .through_matchmaker import clusterize_through_matchmaker
from .writer import clear_node_data, write_node, write_stage

__all__ = ["clusterize"]

log = logging.getLogger("ravnest.clusterize")

NODE_DATA = "node_data"
BALANCES = ("memory", "compute")


def clusterize(model=None, example_args=(), example_kwargs=None, pass_data=False, n_clusters=None,
               leaf_modules=(), job_token=None, balance=None, matchmaker=None, providers=None, wait=None,
               matchmaker_token=None, tls_ca=None):
    """Forms clusters from node_data/node_configs.json, splits `model` per cluster and writes node_data/.

    `example_args`/`example_kwargs` are one example input, as `model(*example_args, **example_kwargs)`.
    `n_clusters` fixes the number of clusters (default: as many as the memory allows). `leaf_modules`
    are module classes torch.fx must not trace into. `pass_data` is accepted for compatibility: model
    inputs always reach every stage that reads them. `job_token` is the secret every node of the job must
    present (written into each node JSON); default $RAVNEST_JOB_TOKEN, else a fresh random one. `balance`
    decides where the model is cut: "memory" (the original's rule: each stage's share of the model follows
    its node's RAM; the default of the static path) or "compute" (the stages' training times, measured on the
    example input on this machine, as even as each node's RAM allows; the slowest stage bounds a pipeline's
    throughput; the default through a matchmaker, where each time is also divided by the node's measured speed).

    With `matchmaker="host:port"` the providers are not read from node_configs.json: the job is submitted to that
    matchmaker, which waits for `providers` measured providers (or `wait` seconds), the clusters are formed from
    their measured memory, speed and links, and each provider's files are uploaded to it instead of being written
    here (ravnest.clusterize.through_matchmaker). `matchmaker_token` defaults to $RAVNEST_MATCHMAKER_TOKEN,
    `tls_ca` is the CA of a TLS matchmaker. Returns a summary: the clusters with their stages and predicted step
    time, each provider's figures and the links measured.

    Raises ValueError with what to change when the configs are malformed, the model cannot be traced or split, or
    the nodes cannot hold the model.
    """
    if model is None:
        raise ValueError("clusterize needs the model to split: clusterize(model=model, example_args=(x,))")
    balance = balance or ("compute" if matchmaker else "memory")
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {', '.join(map(repr, BALANCES))}, got {balance!r}")
    token = resolve_job_token(job_token)

    def plan_job(root, nodes, links=(), gflops=None, latencies=None):
        if n_clusters is not None and not (isinstance(n_clusters, int) and 1 <= n_clusters <= len(nodes)):
            raise ValueError(f"n_clusters must be an integer from 1 to the number of nodes ({len(nodes)}), "
                             f"got {n_clusters!r}")
        analysed = analyse_model(model, example_args, example_kwargs or {}, leaf_modules,
                                 time_operations=balance == "compute")
        clusters = _form_clusters(nodes, analysed.size_bytes, n_clusters, links, gflops, latencies)
        splits = [split_and_export(analysed, [node.ram_gb for node in cluster], balance,
                                   [gflops[node.node_id] for node in cluster] if gflops else None)
                  for cluster in clusters]
        _warn_about_tight_nodes(clusters, splits)
        rings = plan_rings(averaged_state(model), [
            {name: node.node_id for node, stage in zip(cluster, split.stages) for name in stage.module.state_dict()}
            for cluster, split in zip(clusters, splits)])
        clear_node_data(root)
        for cluster_id, (cluster, split) in enumerate(zip(clusters, splits)):
            for node, script_module, routing, stage_bytes, mode_bytes in zip(
                    cluster, split.scripted, split.routings, split.stage_bytes, split.stage_mode_bytes):
                template_path = write_stage(root, cluster_id, node.address, script_module, routing)
                write_node(root, node.node_id, node_document(node, cluster_id, clusters, routing, template_path,
                                                              rings, stage_bytes, token, mode_bytes))
        log.info("clusterize: model needs about %.3g GB; %d cluster(s): %s; %d ring(s)",
                 analysed.size_bytes / BYTES_PER_GB, len(clusters),
                 "; ".join(", ".join(str(node.node_id) for node in cluster) for cluster in clusters), len(rings))
        return clusters, analysed, splits

    if matchmaker:
        return clusterize_through_matchmaker(plan_job, matchmaker, providers, wait, matchmaker_token, tls_ca)
    root = Path(NODE_DATA)
    plan_job(root, load_node_configs(root / "node_configs.json"))
    return None


def _form_clusters(nodes, model_bytes, n_clusters, links=(), gflops=None, latencies=None):
    """Clusters of NodeConfigs, each in stage order (node-id order without measured links), via the C++ GA."""
    from .. import _C  # imported here so the pure-Python parts stay importable without the build

    model_gb = model_bytes / BYTES_PER_GB
    result = _C.form_clusters([node.ram_gb for node in nodes], [node.bandwidth_mbps for node in nodes],
                              model_gb, n_clusters, random.getrandbits(63), gflops=gflops or [],
                              latency_ms=latencies or [], links=list(links))
    if not result.feasible:
        rams = ", ".join(f"node {node.node_id} ({node.address}): {node.ram_gb:g} GB" for node in nodes)
        wanted = f"{n_clusters} clusters" if n_clusters else "even one cluster"
        raise ValueError(
            f"the nodes cannot hold {wanted} of the model: it needs about {model_gb:.6g} GB for training "
            f"(parameters, gradients, Adam state, activations of the example input) and the nodes have "
            f"{rams}. Add nodes or memory, use a smaller example batch or model"
            + (", or ask for fewer clusters." if n_clusters else "."))
    return [[nodes[index] for index in cluster] for cluster in result.clusters]


def _warn_about_tight_nodes(clusters, splits):
    for cluster, split in zip(clusters, splits):
        for node, stage_bytes, mode_bytes in zip(cluster, split.stage_bytes, split.stage_mode_bytes):
            if stage_bytes > node.ram_gb * BYTES_PER_GB:
                log.warning("node %d may run out of memory: its stage needs about %.3g GB and it has %g GB",
                            node.node_id, stage_bytes / BYTES_PER_GB, node.ram_gb)
            kept, recompute = mode_bytes["kept_graph"], mode_bytes["recompute"]
            fits = "both fit" if kept <= node.ram_gb * BYTES_PER_GB else (
                "use recompute=True" if recompute <= node.ram_gb * BYTES_PER_GB else "neither fits")
            log.info("node %d with %d micro-batches in flight: recompute=False needs about %.3g GB, "
                     "recompute=True %.3g GB, it has %g GB: %s", node.node_id, len(cluster),
                     kept / BYTES_PER_GB, recompute / BYTES_PER_GB, node.ram_gb, fits)
