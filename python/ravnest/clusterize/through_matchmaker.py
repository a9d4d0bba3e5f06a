"""clusterize(..., matchmaker="host:port"): the requester's side of a job placed through a matchmaker.

1. Submit the job; wait until `providers` providers are measured (or `wait` seconds passed), printing progress.
2. Turn the measurements into nodes: RAM and bandwidth (hand-given benchmarks win: the requester's
   node_data/node_configs.json by address, then the provider's own `benchmarks=`), matmul GFLOP/s, the link to the
   matchmaker and the links measured between the providers.
3. Form the clusters with the genetic algorithm on those figures (well-connected, similar-speed nodes together;
   each cluster in stage order along its fastest links), split each cluster's model by compute, scaled by each
   node's speed, and write node_data/ into a temporary folder as the static path would.
4. Upload each provider's files (its node JSON, stage and routing) with their SHA-256, and commit the plan.
Any failure before the commit cancels the job, so its providers go back to the pool.
"""

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from .. import _C
from .node_configs import NodeConfig, load_node_configs
from .step_time import predicted_step_seconds
from .writer import ROUTING_FILE, SUBMODULE_FILE

log = logging.getLogger("ravnest.clusterize")

TOKEN_ENV = "RAVNEST_MATCHMAKER_TOKEN"
# A requester's own figures for some providers, by address, in the static path's format (optional).
NODE_CONFIGS = Path("node_data") / "node_configs.json"
# How often the requester asks the matchmaker how its job stands.
_POLL_SECONDS = 0.5


def wait_until_measured(client, job, providers, wait):
    """The job's view once its providers are measured. Raises ValueError when it was dropped."""
    wanted = f"{providers} provider(s)" if providers else f"every provider that comes within {wait:g} s"
    print(f"clusterize: job {job} submitted; waiting for {wanted}", flush=True)
    shown = None
    while True:
        view = json.loads(client.job(job))
        line = (view["state"], len(view["members"]), view.get("probes_done", 0), view.get("probes_total", 0))
        if line != shown:
            shown = line
            state, members, done, total = line
            detail = f", links measured {done}/{total}" if state == "probing" else ""
            print(f"clusterize: job {job}: {state}, {members} provider(s){detail}", flush=True)
        if view["state"] == "measured":
            return view
        if view["state"] == "dropped":
            raise ValueError(f"the matchmaker dropped job {job}: {view['message']}")
        time.sleep(_POLL_SECONDS)


def hand_given_benchmarks(path):
    """{address: (ram GB, bandwidth Mbit/s)} of a node_configs.json the requester keeps (the static path's
    format), or {} without one: figures given by hand win over the measured ones for providers at those
    addresses."""
    if not Path(path).exists():
        return {}
    return {node.address: (node.ram_gb, node.bandwidth_mbps) for node in load_node_configs(path)}


def measured_nodes(view, given=None):
    """(NodeConfigs in the job's order, provider names, GFLOP/s, one-way latencies to the matchmaker in ms,
    measured links as (a, b, Mbit/s, one-way ms)). RAM and bandwidth: `given` ({address: (ram, bandwidth)}, see
    hand_given_benchmarks) first, then the benchmarks the provider was given, then its measurements."""
    given = given or {}
    nodes, names, gflops, latencies = [], [], [], []
    for index, provider in enumerate(view["providers"]):
        profile = provider["profile"]
        host, port = provider["address"].rsplit(":", 1)
        ram, bandwidth = given.get(provider["address"], (None, None))
        nodes.append(NodeConfig(node_id=index, host=host.strip("[]"), port=int(port),
                                ram_gb=ram or profile["benchmark_ram_gb"] or profile["ram_gb"],
                                bandwidth_mbps=bandwidth or profile["benchmark_bandwidth_mbps"]
                                or profile["bandwidth_mbps"]))
        names.append(provider["name"])
        gflops.append(profile["matmul_gflops"])
        latencies.append(profile["rtt_ms"] / 2)
    index_of = {name: i for i, name in enumerate(names)}
    links = []
    for link in view["links"]:
        if link.get("error") or link["from"] not in index_of or link["to"] not in index_of:
            continue
        links.append((index_of[link["from"]], index_of[link["to"]], link["bandwidth_mbps"], link["rtt_ms"] / 2))
    return nodes, names, gflops, latencies, links


def slowest_link(cluster, links, latencies, nodes):
    """(one-way latency s, bandwidth bytes/s) of the slowest link between neighbouring stages of `cluster`;
    (0, 0) for a one-node cluster. A pair not measured is estimated as the genetic algorithm does."""
    def speed(link):
        return _C.link_speed_mbps(*link)

    measured = {}
    for a, b, bandwidth, latency in links:
        for key in ((a, b), (b, a)):
            measured[key] = min(measured.get(key, (bandwidth, latency)), (bandwidth, latency), key=speed)
    chain = [measured.get((x.node_id, y.node_id), (min(x.bandwidth_mbps, y.bandwidth_mbps),
                                                   latencies[x.node_id] + latencies[y.node_id]))
             for x, y in zip(cluster, cluster[1:])]
    if not chain:
        return 0.0, 0.0
    bandwidth, latency = min(chain, key=speed)
    return latency / 1e3, bandwidth * 1e6 / 8


def upload_and_commit(client, job, root, clusters, names, summary):
    """Uploads what each provider needs from `root` (a node_data/ folder) and commits the plan."""
    plan = {"nodes": [], "clusters": []}
    for cluster_id, cluster in enumerate(clusters):
        stages = []
        for stage, node in enumerate(cluster):
            provider = names[node.node_id]
            role = "root" if stage == 0 else "leaf" if stage == len(cluster) - 1 else "stem"
            stage_folder = f"cluster_{cluster_id}/{node.address}"
            for relative in (f"nodes/node_{node.node_id}.json", f"{stage_folder}/{SUBMODULE_FILE}",
                             f"{stage_folder}/{ROUTING_FILE}"):
                client.upload_artifact(job, provider, relative, str(Path(root) / relative))
            plan["nodes"].append({"provider": provider, "node_name": f"node_{node.node_id}", "cluster": cluster_id,
                                  "stage": stage, "role": role})
            stages.append({"stage": stage, "provider": provider, "role": role})
        plan["clusters"].append({"cluster": cluster_id, "stages": stages,
                                 "predicted_step_s": summary["clusters"][cluster_id]["predicted_step_s"]})
    client.commit(job, json.dumps(plan))


def clusterize_through_matchmaker(plan_job, matchmaker, providers, wait, matchmaker_token, tls_ca):
    """Runs the whole requester flow; `plan_job(root, nodes, links, gflops, latencies)` forms, splits and writes
    node_data/ into `root` and returns (clusters, analysed, splits). Returns the summary dict."""
    if not providers and not wait:
        raise ValueError("clusterize through a matchmaker needs providers=N, wait=SECONDS, or both")
    if providers is not None and (isinstance(providers, bool) or not isinstance(providers, int) or providers < 1):
        raise ValueError(f"providers must be a positive integer, got {providers!r}")
    token = matchmaker_token if matchmaker_token is not None else os.environ.get(TOKEN_ENV, "")
    client = _C.RequesterClient(matchmaker, token=token, tls_ca=tls_ca or "")
    job = client.submit_job(providers or 0, float(wait or 0))
    try:
        view = wait_until_measured(client, job, providers, wait)
        nodes, names, gflops, latencies, links = measured_nodes(view, hand_given_benchmarks(NODE_CONFIGS))
        requester_gflops = _C.measure_provider(0.1)["matmul_gflops"]
        with tempfile.TemporaryDirectory(prefix="ravnest-job-") as folder:
            root = Path(folder) / "node_data"
            root.mkdir()
            clusters, analysed, splits = plan_job(root, nodes, links, gflops, latencies)
            summary = _summary(job, view, clusters, names, gflops, latencies, links, nodes, analysed, splits,
                               requester_gflops)
            upload_and_commit(client, job, root, clusters, names, summary)
    except BaseException:
        try:
            client.cancel(job)
        except _C.Error as error:
            log.warning("clusterize: could not cancel job %d: %s", job, error)
        raise
    _print_summary(summary)
    return summary


def _summary(job, view, clusters, names, gflops, latencies, links, nodes, analysed, splits, requester_gflops):
    profiles = {provider["name"]: provider["profile"] for provider in view["providers"]}
    result = {"job": job, "clusters": [], "providers": profiles, "links": view["links"]}
    for cluster_id, (cluster, split) in enumerate(zip(clusters, splits)):
        latency, bandwidth = slowest_link(cluster, links, latencies, nodes)
        step = predicted_step_seconds(analysed, split, [gflops[node.node_id] for node in cluster], requester_gflops,
                                      latency, bandwidth)
        result["clusters"].append({
            "cluster": cluster_id,
            "stages": [{"stage": stage, "provider": names[node.node_id], "node_name": f"node_{node.node_id}",
                        "address": node.address} for stage, node in enumerate(cluster)],
            "predicted_step_s": step,
            "slowest_link": {"latency_ms": latency * 1e3, "bandwidth_mbps": bandwidth * 8 / 1e6},
        })
    return result


def _print_summary(summary):
    print(f"clusterize: job {summary['job']} committed; {len(summary['clusters'])} cluster(s)", flush=True)
    for cluster in summary["clusters"]:
        chain = " -> ".join(f"{stage['provider']} ({stage['node_name']})" for stage in cluster["stages"])
        step = cluster["predicted_step_s"]
        shown = f"{step * 1e3:.1f} ms per micro-batch predicted" if step is not None else "no prediction"
        link = cluster["slowest_link"]
        print(f"  cluster {cluster['cluster']}: {chain}; slowest link {link['bandwidth_mbps']:.0f} Mbit/s, "
              f"{link['latency_ms']:.1f} ms; {shown}", flush=True)
    for name, profile in summary["providers"].items():
        print(f"  {name}: {profile['ram_gb']:.1f} GB, {profile['matmul_gflops']:.1f} GFLOP/s matmul, "
              f"{profile['conv_gflops']:.1f} GFLOP/s conv, {profile['bandwidth_mbps']:.0f} Mbit/s and "
              f"{profile['rtt_ms']:.1f} ms to the matchmaker", flush=True)
