"""The ring all-reduce from Python: three members in one process, each on its own thread (the call releases the GIL)."""

import socket
import threading

import pytest
import torch

import ravnest


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Ring connections on any free port, on a fixed port, and none (chunks through the gRPC servers, as under TLS).
@pytest.mark.parametrize("ring_port", ["any", "fixed", "none"])
def test_three_members_end_with_the_mean_of_their_tensors(ring_port):
    ports = {"any": lambda: 0, "fixed": free_port, "none": lambda: -1}[ring_port]
    servers = [ravnest.PeerServer(f"node_{rank}", ring_port=ports()) for rank in range(3)]
    if ring_port == "none":
        assert all(server.ring_port == 0 for server in servers)
    else:
        assert all(server.ring_port > 0 for server in servers)
    states = [{"w": torch.randn(10, 3), "b": torch.randn(2)} for _ in range(3)]
    expected = {name: sum(state[name] for state in states) / 3 for name in ("w", "b")}
    reducers = []
    for rank, server in enumerate(servers):
        ring = {"ring_id": 0, "params": ["w", "b"], "numels": [30, 2],
                "next": {"address": f"127.0.0.1:{servers[(rank + 1) % 3].port}"}}
        reducers.append(ravnest.RingAllReduce(server, f"node_{rank}", rank, 3, [ring]))
    failures = []

    def run(rank):
        try:
            reducers[rank].average_(states[rank])
        except Exception as error:  # reported below, on the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    for state in states:
        for name, tensor in state.items():
            torch.testing.assert_close(tensor, expected[name], atol=1e-6, rtol=1e-6)
            assert torch.equal(tensor, states[0][name])
    assert reducers[0].rounds == 1
    for server in servers:
        server.shutdown()


def test_a_missing_tensor_is_named():
    server = ravnest.PeerServer("node_0")
    ring = {"ring_id": 0, "params": ["w"], "numels": [4], "next": "127.0.0.1:1"}
    reducer = ravnest.RingAllReduce(server, "node_0", 0, 2, [ring])
    with pytest.raises(ValueError, match="no tensor named 'w'"):
        reducer.average_({"v": torch.ones(4)})
    server.shutdown()
