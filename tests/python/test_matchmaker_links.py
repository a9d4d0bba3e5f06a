"""Six providers in network namespaces behind tc-shaped links, placed by a matchmaker that measures those links.

Pairs (0, 1), (2, 3) and (4, 5) are joined at 100 Mbit/s and 5 ms one way; every cross pair at 10 Mbit/s and
40 ms (scripts/emulated_links/topology.sh). The matchmaker and the requester live in an unshaped namespace. The
providers' measurements of every link must be within 20% of the shaped figures (round trip: twice the one-way
delay), the three clusters the requester forms must be the three fast pairs, the job must train (one epoch, every
process exits 0), and no namespace may be left behind.
"""

import json
import os
import subprocess

import pytest

from matchmaker_harness import TOKEN, Matchmaker, environment, start_provider, stop_all, wait_all
from pipeline_harness import PYTHON
from test_link_topology import address, make_topology  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

FAST = (100.0, 5.0)   # Mbit/s, one-way ms
SLOW = (10.0, 40.0)
PROVIDERS = 6
TOLERANCE = 0.2

REQUESTER = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
import torch
from models import CNN
from ravnest import clusterize, set_seed
set_seed(42)
summary = clusterize(model=CNN(), example_args=(torch.rand(64, 1, 8, 8),), matchmaker=sys.argv[1], providers=6,
                     n_clusters=3)
print("SUMMARY " + json.dumps(summary), flush=True)
"""


def shaped(a, b):
    return FAST if a // 2 == b // 2 else SLOW


def test_measured_links_match_the_shaped_ones_and_fast_pairs_share_a_cluster(tmp_path, make_topology):  # noqa: F811
    spec = [f"{a} {b} {'100mbit' if shaped(a, b) == FAST else '10mbit'} {shaped(a, b)[1]:g}"
            for a in range(PROVIDERS) for b in range(a + 1, PROVIDERS)]
    tag = make_topology(spec, PROVIDERS)
    matchmaker = Matchmaker(tmp_path, host=address("mm"), ports=(7000, 7001), netns=f"{tag}-mm")
    providers = [start_provider(tmp_path / f"p{i}", matchmaker.address, epochs=1, netns=f"{tag}-p{i}",
                                RAVNEST_VALIDATE="0") for i in range(PROVIDERS)]
    try:
        script = tmp_path / "requester.py"
        script.write_text(REQUESTER)
        from matchmaker_harness import EXAMPLE
        requester = subprocess.run(["ip", "netns", "exec", f"{tag}-mm", PYTHON, str(script), matchmaker.address,
                                    str(EXAMPLE)], capture_output=True, text=True, timeout=300,
                                   env=environment(matchmaker.address, TOKEN))
        assert requester.returncode == 0, requester.stdout + requester.stderr
        summary = json.loads(requester.stdout.split("SUMMARY ", 1)[1])
        print(requester.stdout.split("SUMMARY ", 1)[0])
        index = {name: int(profile_address_host(summary, name).split(".")[2]) for name in summary["providers"]}

        measured = [link for link in summary["links"] if not link.get("error")]
        assert len(measured) == PROVIDERS * (PROVIDERS - 1) // 2, summary["links"]
        for link in measured:
            a, b = index[link["from"]], index[link["to"]]
            bandwidth, delay = shaped(a, b)
            print(f"p{a} -> p{b}: {link['bandwidth_mbps']:.1f} Mbit/s (shaped {bandwidth:g}), round trip "
                  f"{link['rtt_ms']:.1f} ms (shaped {2 * delay:g})")
            assert abs(link["bandwidth_mbps"] - bandwidth) <= TOLERANCE * bandwidth, (a, b, link)
            assert abs(link["rtt_ms"] - 2 * delay) <= TOLERANCE * 2 * delay, (a, b, link)

        groups = sorted(sorted(index[stage["provider"]] for stage in cluster["stages"])
                        for cluster in summary["clusters"])
        assert groups == [[0, 1], [2, 3], [4, 5]], groups
        for cluster in summary["clusters"]:
            assert cluster["slowest_link"]["bandwidth_mbps"] > 50, cluster

        codes = wait_all(providers, timeout=300)
        logs = {i: (tmp_path / f"p{i}" / "provider.log").read_text()[-2000:] for i in range(PROVIDERS)}
        assert codes == [0] * PROVIDERS, logs
    finally:
        stop_all(providers)
        matchmaker.stop()


def profile_address_host(summary, name):
    """The host part of provider `name`'s address, from the clusters' stages."""
    for cluster in summary["clusters"]:
        for stage in cluster["stages"]:
            if stage["provider"] == name:
                return stage["address"].rsplit(":", 1)[0]
    raise AssertionError(f"{name} is in no cluster")
