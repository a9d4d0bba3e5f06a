"""A provider of the digits CNN for the cluster-averaging tests: the example's provider with its averaging
settings from the environment, and a dump of what the test compares.

    python averaging_provider.py node_<id>

Environment: RAVNEST_EPOCHS, RAVNEST_AVERAGE_OPTIM (1: average_optim=True), RAVNEST_REDUCE_FACTOR (an integer;
unset: once per epoch), RAVNEST_TIMEOUT (seconds for sends and the all-reduce's chunk waits; half of it for peer loss),
RAVNEST_MAX_IN_FLIGHT (1: synchronous, so that runs are reproducible), RAVNEST_RESUME (1: resume=True; the
checkpoints' interval comes from RAVNEST_CHECKPOINT_INTERVAL, as for every Node).
At the end each node writes dumps/<name>.pt: its cluster, its optimizer state (`<parameter>.<key>` ->
tensor), the averages it ran, the training micro-batches of its shard and its security counters.
"""

import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from data import digits_loaders
from ravnest import Node, Trainer, load_node_json_configs, set_seed, shard


def loss_fn(outputs, targets):
    return F.mse_loss(outputs, targets[1])


if __name__ == "__main__":
    name = sys.argv[1]
    epochs = int(os.environ["RAVNEST_EPOCHS"])
    reduce_factor = os.environ.get("RAVNEST_REDUCE_FACTOR")
    extra = {}
    if "RAVNEST_TIMEOUT" in os.environ:
        seconds = float(os.environ["RAVNEST_TIMEOUT"])
        # Heartbeats find a lost peer before the waits for its work give up, as with the defaults (10 s, 1800 s).
        extra = {"peer_loss_grace": seconds / 2, "send_deadline": seconds, "backward_timeout": seconds}
    if "RAVNEST_MAX_IN_FLIGHT" in os.environ:
        extra["max_in_flight"] = int(os.environ["RAVNEST_MAX_IN_FLIGHT"])
    if os.environ.get("RAVNEST_RESUME") == "1":
        extra["resume"] = True
    if "RAVNEST_NON_FINITE" in os.environ:
        extra["non_finite"] = os.environ["RAVNEST_NON_FINITE"]
    set_seed(42)
    train_loader, _ = digits_loaders(64)
    meta = load_node_json_configs(name)
    train_loader = shard(train_loader, meta["rank"], meta["ring_size"])
    node = Node(name=name, optimizer=torch.optim.Adam, criterion=loss_fn, labels=train_loader,
                reduce_factor=int(reduce_factor) if reduce_factor else None,
                average_optim=os.environ.get("RAVNEST_AVERAGE_OPTIM") == "1", **extra)
    Trainer(node=node, train_loader=train_loader, epochs=epochs, batch_size=64, save=True).train()
    if node.is_root:
        node.shutdown()
    Path("dumps").mkdir(exist_ok=True)
    torch.save({"cluster": node.cluster_id, "optimizer_state": node.optimizer_state(),
                "averages": node.cluster_averages, "batches": epochs * len(train_loader),
                "security": node.security_counters()},
               Path("dumps") / f"{name}.pt")
