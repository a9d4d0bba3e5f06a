"""A node's own defences: the job token, which clusterize writes into every node JSON (fresh, or the one a
user chose) and which the node demands on every call; and TLS from the certificate, key and CA it is given
(made here with openssl)."""

import json
import subprocess

import pytest
import torch

from pipeline_harness import write_node_data
from ravnest import AuthenticationError, ConfigError, NetworkError, _C
from test_pipeline_training import assert_matches_reference, split_and_train, train_cleanly

EXAMPLE = torch.randn(8, 4)


def model():
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def tokens(folder, **options):
    write_node_data(folder, model(), (EXAMPLE,), {}, nodes=2, **options)
    return [json.loads(p.read_text())["job_token"] for p in sorted((folder / "node_data" / "nodes").glob("*.json"))]


def test_every_node_of_a_job_gets_the_same_fresh_token(tmp_path, monkeypatch):
    monkeypatch.delenv("RAVNEST_JOB_TOKEN", raising=False)
    first = tokens(tmp_path / "first")
    second = tokens(tmp_path / "second")
    assert len(set(first)) == 1 and len(set(second)) == 1
    assert len(first[0]) == 64 and int(first[0], 16) >= 0
    assert first[0] != second[0]


def test_a_user_chooses_the_token_by_argument_or_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVNEST_JOB_TOKEN", "from-the-environment")
    assert tokens(tmp_path / "env") == ["from-the-environment"] * 2
    assert tokens(tmp_path / "argument", job_token="chosen") == ["chosen"] * 2
    with pytest.raises(ValueError, match="printable ASCII"):
        tokens(tmp_path / "bad", job_token="new\nline")


def test_a_node_refuses_calls_without_the_token_of_its_node_json(tmp_path, monkeypatch):
    monkeypatch.delenv("RAVNEST_JOB_TOKEN", raising=False)
    token = tokens(tmp_path)[0]
    monkeypatch.chdir(tmp_path)
    node = _C.Node("node_data/nodes/node_1.json")
    target = f"127.0.0.1:{node.port}"
    for wrong in ("", "guess"):
        with pytest.raises(NetworkError, match="missing or wrong job token"):
            _C.PeerClient("stranger", target, auth_token=wrong, deadline=5.0).ping()
    assert _C.PeerClient("node_0", target, auth_token=token, deadline=5.0).ping() == "node_1"
    assert node.refused_requests == 2


def test_an_explicit_token_overrides_the_node_json(tmp_path, monkeypatch):
    monkeypatch.delenv("RAVNEST_JOB_TOKEN", raising=False)
    written = tokens(tmp_path)[0]
    monkeypatch.chdir(tmp_path)
    node = _C.Node("node_data/nodes/node_1.json", auth_token="override")
    target = f"127.0.0.1:{node.port}"
    with pytest.raises(NetworkError, match="missing or wrong job token"):
        _C.PeerClient("node_0", target, auth_token=written, deadline=5.0).ping()
    assert _C.PeerClient("node_0", target, auth_token="override", deadline=5.0).ping() == "node_1"


def make_certificates(folder):
    """A CA and a certificate it signs for 127.0.0.1; returns {'ca', 'cert', 'key'} paths."""
    folder.mkdir()
    new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    subprocess.run(f"printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
                   f" && openssl req -x509 {new_key} -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca"
                   f" && openssl req {new_key} -keyout node.key -out node.csr -subj /CN=node"
                   f" && openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem"
                   f" -days 1 -extfile san.ext", shell=True, cwd=folder, check=True, capture_output=True)
    return {"ca": str(folder / "ca.pem"), "cert": str(folder / "node.pem"), "key": str(folder / "node.key")}


def test_a_node_given_tls_files_serves_tls_only(tmp_path, monkeypatch):
    token = tokens(tmp_path)[0]
    files = make_certificates(tmp_path / "certificates")
    monkeypatch.chdir(tmp_path)
    node = _C.Node("node_data/nodes/node_1.json", tls_cert=files["cert"], tls_key=files["key"], tls_ca=files["ca"])
    target = f"127.0.0.1:{node.port}"
    assert _C.PeerClient("node_0", target, auth_token=token, deadline=5.0, tls_ca=files["ca"]).ping() == "node_1"
    with pytest.raises(NetworkError, match="does not expect TLS"):
        _C.PeerClient("node_0", target, auth_token=token, deadline=5.0).ping()


def test_tls_needs_the_certificate_its_key_and_the_ca_together(tmp_path, monkeypatch):
    tokens(tmp_path)
    files = make_certificates(tmp_path / "certificates")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="a certificate, its key and the CA file together"):
        _C.Node("node_data/nodes/node_1.json", tls_cert=files["cert"], tls_key=files["key"])


def test_a_whole_training_run_over_tls_computes_what_single_process_training_computes(tmp_path, monkeypatch):
    """Three providers, every activation, gradient and heartbeat over TLS, synchronous (one micro-batch in
    flight): the fused result equals plain PyTorch's."""
    spec = {"model": "cnn", "optimizer": "adam", "update_frequency": 1, "batches": 20, "max_in_flight": 1,
            "tls": make_certificates(tmp_path / "certificates")}
    train_cleanly(tmp_path, spec)
    assert_matches_reference(tmp_path, spec, monkeypatch)


@pytest.mark.parametrize("mismatch", ["job token", "TLS CA"])
def test_peers_of_different_jobs_stop_at_once_instead_of_waiting_for_each_other(tmp_path, mismatch):
    """A peer that is running but refuses us (another job token; a certificate our CA did not sign) is not a
    peer that has yet to start: both nodes stop with the reason long before the 120 s startup timeout."""
    spec = {"model": "cnn", "optimizer": "adam", "update_frequency": 1, "batches": 4}
    if mismatch == "job token":
        spec["auth_tokens"] = {"node_1": "a token of another job"}
        advice = "Give every node of the job the same token"
    else:
        theirs, ours = make_certificates(tmp_path / "theirs"), make_certificates(tmp_path / "ours")
        spec["tls"] = {"cert": theirs["cert"], "key": theirs["key"], "ca": ours["ca"]}
        advice = "its certificate is not signed by our CA file"
    codes, logs, seconds = split_and_train(tmp_path, spec, nodes=2, timeout=60)
    assert seconds < 30, (seconds, logs)
    for name in ("node_0", "node_1"):
        assert codes[name] not in (0, "timeout"), logs[name][-3000:]
        assert "AuthenticationError" in logs[name] and advice in logs[name], logs[name][-3000:]
