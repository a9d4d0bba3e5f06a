"""How the requester turns a matchmaker's measurements into nodes: hand-given benchmarks win over measurements."""

import json

from ravnest.clusterize.through_matchmaker import hand_given_benchmarks, measured_nodes


def view(*providers):
    return {"providers": [{"name": name, "address": address,
                           "profile": {"ram_gb": 16.0, "bandwidth_mbps": 900.0, "matmul_gflops": 100.0,
                                       "rtt_ms": 2.0, "benchmark_ram_gb": own_ram, "benchmark_bandwidth_mbps": 0.0}}
                          for name, address, own_ram in providers],
            "links": [{"from": "a", "to": "b", "rtt_ms": 10.0, "bandwidth_mbps": 95.0, "error": ""},
                      {"from": "a", "to": "c", "error": "connection refused"}]}


def test_measurements_the_providers_benchmarks_and_the_requesters_node_configs_in_that_order(tmp_path):
    configs = tmp_path / "node_configs.json"
    configs.write_text(json.dumps({"0": {"IP": "10.0.0.3:9000", "benchmarks": {"ram": 2, "bandwidth": 10}}}))
    nodes, names, gflops, latencies, links = measured_nodes(
        view(("a", "10.0.0.1:9000", 0.0), ("b", "10.0.0.2:9000", 4.0), ("c", "10.0.0.3:9000", 8.0)),
        hand_given_benchmarks(configs))
    assert names == ["a", "b", "c"]
    assert [(n.ram_gb, n.bandwidth_mbps) for n in nodes] == [(16.0, 900.0), (4.0, 900.0), (2.0, 10.0)]
    assert [n.address for n in nodes] == ["10.0.0.1:9000", "10.0.0.2:9000", "10.0.0.3:9000"]
    assert gflops == [100.0] * 3 and latencies == [1.0] * 3
    assert links == [(0, 1, 95.0, 5.0)], "a failed probe is left out; latency is one way"
    assert hand_given_benchmarks(tmp_path / "absent.json") == {}
