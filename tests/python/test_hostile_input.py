"""A live two-cluster training job attacked through raw gRPC calls (hostile_client.py): garbage, truncated
streams, oversized shapes, NaN and Inf, wrong dtypes, duplicate micro-batch ids, senders out of place, ring
chunks for rounds that are not running, calls without the job token. Every call gets an error status, the
job trains on, and it ends with the very losses and parameters of the same job left alone.

Two clusters of two digits-CNN stages (averaging_provider.py), synchronous (max_in_flight=1) so that two runs
with the same seed compute the same bits.
"""

import json
import math
import shutil
import time

import pytest
import torch

from hostile_client import (INVALID_ARGUMENT, OK, PERMISSION_DENIED, UNAUTHENTICATED, HostilePeer,
                            load_wire_module)
from test_cluster_averaging import start_providers, two_clusters, wait_for_losses

ENV = {"RAVNEST_EPOCHS": "3", "RAVNEST_REDUCE_FACTOR": "4", "RAVNEST_MAX_IN_FLIGHT": "1", "RAVNEST_TIMEOUT": "60"}
FAR_ID = 10 ** 9  # an id the job never reaches, so that no attack takes a real micro-batch's place


def documents(folder):
    return {p.stem: json.loads(p.read_text()) for p in (folder / "node_data" / "nodes").glob("node_*.json")}


def address(document):
    return f"{document['local_host']}:{document['local_port']}"


def run_job(folder, attack=None, env=ENV):
    """Runs every provider to the end, calling `attack()` once training is under way. Returns the sorted loss
    lines, each cluster's fused parameters and every node's dump."""
    for output in ("losses.txt", "dumps", "trained"):
        path = folder / output
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    processes = start_providers(folder, env)
    try:
        if attack is not None:
            # Six losses of the two leaves together: at least two from each, since a cluster waits for the other
            # at every fourth backward pass to average; so micro-batch 0 has reached each leaf.
            wait_for_losses(folder / "losses.txt", lines=6, deadline=time.monotonic() + 120)
            attack()
            assert all(process.poll() is None for process in processes.values()), "the job ended during the attack"
        for process in processes.values():
            process.wait(timeout=300)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    logs = {name: (folder / f"{name}.log").read_text() for name in processes}
    assert all(process.returncode == 0 for process in processes.values()), {n: log[-3000:] for n, log in logs.items()}
    fused = []
    for cluster in range(2):
        parts = sorted((folder / "trained" / f"cluster_{cluster}").glob("submod_*.pt"))
        fused.append({key: value for part in parts for key, value in torch.load(part).items()})
    dumps = {path.stem: torch.load(path) for path in (folder / "dumps").glob("node_*.pt")}
    return sorted((folder / "losses.txt").read_text().splitlines()), fused, dumps, logs


class Attack:
    """The hostile calls against one cluster's leaf (activations, ring chunks) and root (gradients)."""

    def __init__(self, folder, wire):
        docs = documents(folder)
        self.leaf = next(name for name, d in docs.items() if d["rank"] == 0 and d["is_leaf"])
        self.root = next(name for name, d in docs.items() if d["rank"] == 0 and d["is_root"])
        stranger = next(name for name, d in docs.items() if d["rank"] == 1 and d["is_root"])
        leaf = docs[self.leaf]
        routing = json.loads((folder / leaf["template_path"] / "routing.json").read_text())
        value = routing["inputs"][0]["name"]
        ring = leaf["rings"][0]
        ring_previous = f"node_{ring['previous']['node_id']}"
        self.token = leaf["job_token"]
        self.wire = wire
        at_leaf = HostilePeer(wire, address(leaf), self.token)
        at_root = HostilePeer(wire, address(docs[self.root]), self.token)
        self.peers = {self.leaf: at_leaf, self.root: at_root}
        activation, gradient, chunk = wire.ACTIVATION, wire.GRADIENT, wire.RING_CHUNK

        def micro_batch(x):
            return {value: x, "ravnest.meta": torch.tensor([0, 0, 0, 0, 0])}  # training, epoch 0

        nan = torch.zeros(64, 4)
        nan[3, 1] = math.nan
        inf = torch.zeros(64, 4)
        inf[0, 0] = -math.inf
        truncated, payload = at_leaf.header(activation, self.root, FAR_ID, {value: torch.zeros(1000)})
        oversized = wire.MessageHeader(kind=activation, sender=self.root, id=FAR_ID)
        oversized.tensors.add(name=value, dtype=wire.FLOAT32, shape=[2 ** 40, 2 ** 20], codec=wire.CODEC_NONE,
                              byte_count=2 ** 62)
        honest_ring = {"ring_id": ring["ring_id"], "round": 0, "phase": 0, "step": 0, "segment": 0}
        # (what, peer, frames, token or None for the job's, expected status, words the answer must contain)
        self.calls = [
            ("no token", self.leaf, at_leaf.message(activation, self.root, FAR_ID, micro_batch(torch.zeros(2))), "",
             UNAUTHENTICATED, "job token"),
            ("wrong token", self.leaf, at_leaf.message(activation, self.root, FAR_ID, micro_batch(torch.zeros(2))),
             "guess", UNAUTHENTICATED, "job token"),
            ("garbage bytes", self.leaf, [b"\xde\xad\xbe\xef" * 16], None, INVALID_ARGUMENT, "message header"),
            ("garbage header", self.leaf, [b"\x08\x00\x00\x00" + b"\xff" * 8], None, INVALID_ARGUMENT,
             "not a valid MessageHeader"),
            ("truncated stream", self.leaf, [HostilePeer.first_frame(truncated, payload[:100])], None,
             INVALID_ARGUMENT, "truncated stream"),
            ("oversized shape", self.leaf, [HostilePeer.first_frame(oversized)], None, INVALID_ARGUMENT,
             "exceed the limit"),
            ("NaN", self.leaf, at_leaf.message(activation, self.root, FAR_ID, micro_batch(nan)), None,
             INVALID_ARGUMENT, "NaN or Inf"),
            ("Inf", self.leaf, at_leaf.message(activation, self.root, FAR_ID + 1, micro_batch(inf)), None,
             INVALID_ARGUMENT, "NaN or Inf"),
            ("wrong dtype", self.leaf, at_leaf.message(activation, self.root, FAR_ID + 2,
                                                     micro_batch(torch.zeros(64, 4, dtype=torch.float64))), None,
             INVALID_ARGUMENT, "takes it as Float"),
            ("duplicate micro-batch id", self.leaf, at_leaf.message(activation, self.root, 0,
                                                                  micro_batch(torch.zeros(64, 4))), None,
             INVALID_ARGUMENT, "repeats a micro-batch id"),
            ("activation not from upstream", self.leaf, at_leaf.message(activation, stranger, FAR_ID + 3,
                                                                      micro_batch(torch.zeros(64, 4))), None,
             PERMISSION_DENIED, stranger),
            ("ring round not running", self.leaf, at_leaf.message(chunk, ring_previous, FAR_ID, {
                "chunk": torch.zeros(4)}, dict(honest_ring, round=10 ** 6)), None, INVALID_ARGUMENT, "not running"),
            ("ring chunk from outside the ring", self.leaf, at_leaf.message(chunk, self.root, FAR_ID, {
                "chunk": torch.zeros(4)}, honest_ring), None, PERMISSION_DENIED, self.root),
            ("unknown ring", self.leaf, at_leaf.message(chunk, ring_previous, FAR_ID, {
                "chunk": torch.zeros(4)}, dict(honest_ring, ring_id=999999)), None, INVALID_ARGUMENT,
             "is not a ring"),
            ("gradient nobody awaits", self.root, at_root.message(gradient, self.leaf, FAR_ID, {
                value: torch.zeros(64, 4)}), None, INVALID_ARGUMENT, "not awaited"),
            ("gradient not from downstream", self.root, at_root.message(gradient, stranger, FAR_ID, {
                value: torch.zeros(64, 4)}), None, PERMISSION_DENIED, stranger),
        ]
        self.answers = {}

    def __call__(self):
        for what, target, frames, token, _, _ in self.calls:
            self.answers[what] = self.peers[target].send(frames, token)

    def check(self):
        wrong = {what: self.answers.get(what) for what, _, _, _, code, words in self.calls
                 if what not in self.answers or self.answers[what][0] != code or words not in self.answers[what][1]}
        assert wrong == {}, wrong

    def expected_counts(self, name):
        """(refused_requests, rejected_messages) the calls leave on node `name`."""
        codes = [code for _, target, _, _, code, _ in self.calls if target == name]
        return codes.count(UNAUTHENTICATED), len(codes) - codes.count(UNAUTHENTICATED)


def test_a_job_under_attack_answers_every_hostile_call_with_an_error_and_trains_as_if_left_alone(tmp_path):
    two_clusters(tmp_path, nodes_each=2)
    quiet_losses, quiet_parameters, _, _ = run_job(tmp_path)
    attack = Attack(tmp_path, load_wire_module(tmp_path))
    losses, parameters, dumps, logs = run_job(tmp_path, attack)

    attack.check()
    for name in (attack.leaf, attack.root):
        refused, rejected = attack.expected_counts(name)
        assert dumps[name]["security"] == {"refused_requests": refused, "rejected_messages": rejected}
    assert "holds NaN or Inf" in logs[attack.leaf]  # the rejection is logged
    assert losses == quiet_losses
    for quiet, attacked in zip(quiet_parameters, parameters):
        assert quiet.keys() == attacked.keys()
        assert all(torch.equal(quiet[key], attacked[key]) for key in quiet)


def test_a_node_told_to_skip_non_finite_values_drops_a_nan_activation_logs_it_and_trains_on(tmp_path):
    skipping = dict(ENV, RAVNEST_NON_FINITE="skip")
    two_clusters(tmp_path, nodes_each=2)
    quiet_losses, quiet_parameters, _, _ = run_job(tmp_path, env=skipping)
    docs = documents(tmp_path)
    leaf = next(name for name, d in docs.items() if d["rank"] == 0 and d["is_leaf"])
    root = next(name for name, d in docs.items() if d["rank"] == 0 and d["is_root"])
    routing = json.loads((tmp_path / docs[leaf]["template_path"] / "routing.json").read_text())
    wire = load_wire_module(tmp_path)
    peer = HostilePeer(wire, address(docs[leaf]), docs[leaf]["job_token"])
    nan = torch.zeros(64, 4)
    nan[5, 2] = math.nan
    frames = peer.message(wire.ACTIVATION, root, FAR_ID, {routing["inputs"][0]["name"]: nan,
                                                           "ravnest.meta": torch.tensor([0, 0, 0, 0, 0])})
    answers = []

    losses, parameters, dumps, logs = run_job(tmp_path, lambda: answers.append(peer.send(frames)), env=skipping)

    assert answers == [(OK, "")]  # accepted on the wire, then dropped: the sender is not told
    assert f"skipped activation {FAR_ID} from {root}" in logs[leaf] and "holds NaN or Inf" in logs[leaf]
    assert dumps[leaf]["security"] == {"refused_requests": 0, "rejected_messages": 0}
    assert losses == quiet_losses
    for quiet, attacked in zip(quiet_parameters, parameters):
        assert quiet.keys() == attacked.keys()
        assert all(torch.equal(quiet[key], attacked[key]) for key in quiet)
