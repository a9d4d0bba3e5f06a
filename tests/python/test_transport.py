"""The transport as Python sees it: real gRPC servers on 127.0.0.1, tensors shared with torch."""

import pytest
import torch

import ravnest


@pytest.fixture
def server():
    node = ravnest.PeerServer("node_1")
    yield node
    node.shutdown()


def address(server):
    return f"127.0.0.1:{server.port}"


def test_named_tensors_of_every_dtype_arrive_exactly(server):
    tensors = {
        "activations": torch.randn(4, 3),
        "ids": torch.randint(0, 1000, (2, 5)),
        "mask": torch.rand(7) > 0.5,
        "half": torch.randn(3).half(),
        "scalar": torch.tensor(1.5, dtype=torch.float64),
        "view": torch.arange(12.0).reshape(3, 4).t(),
    }
    ravnest.PeerClient("node_0", address(server)).send(tensors, kind="gradient", id=7)
    message = server.receive("gradient", timeout=10)
    assert message.sender == "node_0"
    assert message.id == 7
    assert list(message.tensors) == list(tensors)
    for name, tensor in tensors.items():
        assert message.tensors[name].dtype == tensor.dtype
        assert torch.equal(message.tensors[name], tensor), name


def test_receive_returns_none_on_timeout(server):
    assert server.receive("activation", timeout=0.05) is None


def test_compressed_send_stays_within_the_fp16_bound(server):
    original = torch.randn(1000) * 100
    ravnest.PeerClient("node_0", address(server)).send({"x": original}, codec="fp16")
    received = server.receive(timeout=10).tensors["x"]
    assert not torch.equal(received, original)
    assert torch.all((received - original).abs() <= original.abs() * 2.0**-11 + 1e-7)


def test_int8_codec_round_trip_meets_its_bound():
    original = torch.randn(5000)
    encoded = ravnest.encode_tensor(original, codec="int8-blockwise", block_size=100)
    assert encoded.codec == "int8-blockwise"
    assert encoded.byte_count == 50 * 4 + 5000
    decoded = ravnest.decode_tensor(encoded)
    bound = original.view(50, 100).abs().amax(dim=1).repeat_interleave(100) / 254 * (1 + 1e-5)
    assert torch.all((decoded - original).abs() <= bound)


def test_an_unreachable_peer_raises_network_error_within_the_deadline():
    probe = ravnest.PeerServer("probe")
    free_port = probe.port
    probe.shutdown()
    client = ravnest.PeerClient("node_0", f"127.0.0.1:{free_port}", deadline=2.0)
    with pytest.raises(ravnest.NetworkError) as raised:
        client.send({"x": torch.ones(3)})
    assert isinstance(raised.value, ConnectionError)
    assert "Check that the peer is running" in str(raised.value)


def test_a_wrong_token_is_refused_and_counted():
    guarded = ravnest.PeerServer("guarded", auth_token="job-secret")
    try:
        assert ravnest.PeerClient("node_0", address(guarded), auth_token="job-secret").ping() == "guarded"
        with pytest.raises(ravnest.NetworkError, match="token"):
            ravnest.PeerClient("intruder", address(guarded), auth_token="guess").ping()
        assert guarded.refused_requests == 1
    finally:
        guarded.shutdown()


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="unknown codec"):
        ravnest.encode_tensor(torch.ones(2), codec="zip")
    with pytest.raises(ravnest.InvalidArgumentError, match="cannot travel"):
        ravnest.encode_tensor(torch.ones(2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="message kind"):
        ravnest.PeerServer("x").receive("letters")


def test_a_port_in_use_is_reported(server):
    with pytest.raises(ravnest.NetworkError, match="in use"):
        ravnest.PeerServer("second", address(server))


def test_log_level_can_be_changed_from_python():
    previous = ravnest.log_level()
    ravnest.set_log_level("debug")
    assert ravnest.log_level() == "debug"
    ravnest.set_log_level(previous)
    with pytest.raises(ValueError):
        ravnest.set_log_level("shouty")
