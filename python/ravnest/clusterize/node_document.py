"""Builds the node_<id>.json document of one node: the original Ravnest keys plus what our runtime needs."""

from .ring_plan import rings_of_node
from .writer import ROUTING_FILE, SUBMODULE_FILE


def node_document(node, cluster_id, clusters, routing, template_path, rings, stage_bytes, job_token, mode_bytes):
    """`clusters` holds every cluster's NodeConfigs in stage order; `node` is in clusters[cluster_id];
    `mode_bytes` is memory.pipeline_bytes of the node's stage."""
    cluster_nodes = clusters[cluster_id]
    addresses = {n.node_id: n.address for cluster in clusters for n in cluster}
    stage_index = cluster_nodes.index(node)
    forward_target = cluster_nodes[stage_index + 1] if stage_index + 1 < len(cluster_nodes) else None
    backward_target = cluster_nodes[stage_index - 1] if stage_index > 0 else None
    my_rings = rings_of_node(rings, cluster_id, node.node_id, addresses)
    return {
        "node_id": node.node_id,
        "local_host": node.host,
        "local_port": node.port,
        "template_path": template_path,
        "rank": cluster_id,
        "ring_size": len(clusters),
        "cluster_length": len(cluster_nodes),
        "param_addresses": {ring["params"][0]: ring["next"]["address"] for ring in my_rings},
        "ring_ids": {str(ring["ring_id"]): ring["params"][0] for ring in my_rings},
        "forward_target_host": forward_target.host if forward_target else None,
        "forward_target_port": forward_target.port if forward_target else None,
        "backward_target_host": backward_target.host if backward_target else None,
        "backward_target_port": backward_target.port if backward_target else None,
        "node_type": _node_type(forward_target, backward_target),
        "is_root": backward_target is None,
        "is_leaf": forward_target is None,
        "stage_index": stage_index,
        "cluster_nodes": [{"node_id": n.node_id, "address": n.address} for n in cluster_nodes],
        "job_nodes": [{"node_id": n.node_id, "address": n.address, "cluster": cid, "stage": stage}
                      for cid, cluster in enumerate(clusters) for stage, n in enumerate(cluster)],
        "submodule_file": SUBMODULE_FILE,
        "routing_file": ROUTING_FILE,
        "input_sources": {entry["name"]: _source_address(entry["source"], cluster_nodes)
                          for entry in routing["inputs"]},
        "output_consumers": {entry["name"]: _consumer_addresses(entry, stage_index, cluster_nodes)
                             for entry in routing["outputs"]},
        "rings": my_rings,
        "ram_gb": node.ram_gb,
        "bandwidth_mbps": node.bandwidth_mbps,
        "estimated_stage_memory_bytes": stage_bytes,
        "estimated_pipeline_memory_bytes": mode_bytes,
        "job_token": job_token,
    }


def _node_type(forward_target, backward_target):
    # A one-node cluster has neither target; it feeds data like a root, and is_leaf says it also computes the loss.
    if forward_target and backward_target:
        return "stem"
    return "leaf" if backward_target else "root"


def _source_address(source, cluster_nodes):
    return cluster_nodes[source["stage"]].address if "stage" in source else "model_input"


def _consumer_addresses(output, producer_stage, cluster_nodes):
    stages = {consumer["stage"] for consumer in output["consumers"]}
    leaf = len(cluster_nodes) - 1
    if output["model_output"] and producer_stage != leaf:
        stages.add(leaf)  # the leaf assembles the model output
    return [cluster_nodes[stage].address for stage in sorted(stages)]
