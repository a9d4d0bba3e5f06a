"""One provider of the digits CNN. Every node runs this same script:

    python provider.py node_0          (or RAVNEST_NODE=node_0 python provider.py)
    RAVNEST_MATCHMAKER=host:7000 python provider.py   (joins through a matchmaker, from any folder: it receives
                                                       its stage into ./node_data/; docs/matchmaker.md)

Run cluster_formation.py first (or, with a matchmaker, at any time); start the providers in any order, or all at once with
`python -m ravnest.launch provider.py`. RAVNEST_EPOCHS sets the epochs (default 20), RAVNEST_VALIDATE=0 skips
validation, RAVNEST_COMPRESSION=1 sends activations and gradients as fp16 (or names the codec: bf16,
int8-blockwise), RAVNEST_RESUME=1 continues from the checkpoints that providers write when a run stops early
(a provider died, Ctrl-C). The root prints the
training throughput; every provider prints its peak memory. With several clusters each one trains on its own
shard of the training data, and their parameters are averaged once per epoch and at the end. Every
cluster saves its submodels: model_fusion(cluster_id=...) merges them.
"""

import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

from data import digits_loaders
from ravnest import Node, Trainer, load_node_json_configs, set_seed, shard

EPOCHS = int(os.environ.get("RAVNEST_EPOCHS", "20"))
VALIDATE = os.environ.get("RAVNEST_VALIDATE", "1") != "0"
RESUME = os.environ.get("RAVNEST_RESUME", "0") == "1"
# "1" is the original's compression=True (fp16); a codec name picks that codec.
COMPRESSION = os.environ.get("RAVNEST_COMPRESSION", "0")
COMPRESSION = {"0": False, "1": True}.get(COMPRESSION, COMPRESSION)
BATCH_SIZE = 64


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loss_fn(outputs, targets):
    return F.mse_loss(outputs, targets[1])


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RAVNEST_NODE")
    matchmaker = os.environ.get("RAVNEST_MATCHMAKER")
    if not name and not matchmaker:
        sys.exit("usage: provider.py node_<id>   (or set RAVNEST_NODE, or RAVNEST_MATCHMAKER=host:port)")
    set_seed(42)
    train_loader, val_loader = digits_loaders(BATCH_SIZE)
    if matchmaker:  # the cluster is known once the Node joined: it picks its shard
        train_loader = shard(train_loader)
    else:
        meta = load_node_json_configs(name)
        train_loader = shard(train_loader, meta["rank"], meta["ring_size"])
    before_node = peak_rss_mib()  # torch, ravnest and the data: what the process holds without ravnest's work
    node = Node(name=name, optimizer=torch.optim.Adam, device=torch.device("cpu"), criterion=loss_fn,
                labels=train_loader, test_labels=val_loader, resume=RESUME, compression=COMPRESSION)
    trainer = Trainer(node=node, train_loader=train_loader, val_loader=val_loader if VALIDATE else None,
                      val_freq=1, epochs=EPOCHS, batch_size=BATCH_SIZE, inputs_dtype=torch.float32, save=True)
    started = time.perf_counter()
    trainer.train()
    if node.is_root:
        node.shutdown()
        samples = EPOCHS * len(train_loader.dataset)
        print(f"throughput: {samples / (time.perf_counter() - started):.0f} samples/s "
              f"({EPOCHS} epochs of {len(train_loader.dataset)} samples, validation "
              f"{'included' if VALIDATE else 'off'})")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB ({peak_rss_mib() - before_node:.0f} MiB above the "
          f"{before_node:.0f} MiB before the node started)")
