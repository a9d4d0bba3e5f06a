"""One provider of BERT's masked-language-model pretraining. Every node runs:

    python provider.py node_0 [--epochs N] [--samples N] [--lr X]    (or RAVNEST_NODE=node_0)

Run cluster_formation.py first (it fixes the model's size and the batch shape); start all providers at once
with `python -m ravnest.launch provider.py` (flags go after the script). As in the original Ravnest's BERT
example: LAMB, gradients accumulated over 16 micro-batches per update (update_frequency=16), and a learning
rate that warms up linearly over the first tenth of the updates, then decays linearly to 0, stepped after
every update (lr_step_on_epoch_change=False). The leaf writes the training losses to losses.txt. After
training the root predicts the masked words of held-out pairs through the pipeline and prints the share it
got right; every provider saves its stage, and model_fusion merges them (see README.md).
"""

import argparse
import os

import torch.nn.functional as F

from bert_trainer import BERTTrainer
from cluster_formation import read_settings
from data import IGNORED, pretraining_loader
from optimization import Lamb, linear_warmup_then_decay
from ravnest import Node, load_node_json_configs, set_seed, shard

UPDATE_FREQUENCY = 16
WARMUP_SHARE = 0.1
HELD_OUT_SEED = 7  # another draw from the same synthetic language


def loss_fn(outputs, targets):
    logits = outputs["prediction_logits"]
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets["labels"].reshape(-1),
                           ignore_index=IGNORED)


def arguments():
    parser = argparse.ArgumentParser(description="one provider of the BERT pretraining example")
    parser.add_argument("node", nargs="?", default=os.environ.get("RAVNEST_NODE"), help="node_<id>")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=16384, help="sentence pairs per epoch")
    parser.add_argument("--lr", type=float, default=0.1, help="LAMB's peak learning rate")
    args = parser.parse_args()
    if not args.node:
        parser.error("name the node: provider.py node_<id>   (or set RAVNEST_NODE)")
    return args


if __name__ == "__main__":
    args = arguments()
    settings = read_settings()
    set_seed(42)
    shape = (settings["sequence_length"], settings["vocab_size"])
    train_loader = pretraining_loader(settings["batch_size"], args.samples, *shape)
    meta = load_node_json_configs(args.node)
    train_loader = shard(train_loader, meta["rank"], meta["ring_size"])
    updates = max(1, args.epochs * len(train_loader) // UPDATE_FREQUENCY)
    node = Node(name=args.node, optimizer=Lamb, optimizer_params={"lr": args.lr},
                lr_scheduler=linear_warmup_then_decay,
                lr_scheduler_params={"warmup_steps": max(1, round(WARMUP_SHARE * updates)), "total_steps": updates},
                lr_step_on_epoch_change=False, update_frequency=UPDATE_FREQUENCY, criterion=loss_fn,
                labels=train_loader)
    trainer = BERTTrainer(node=node, train_loader=train_loader, epochs=args.epochs,
                          batch_size=settings["batch_size"], save=True)
    trainer.train()
    held_out = pretraining_loader(settings["batch_size"], 8 * settings["batch_size"], *shape, seed=HELD_OUT_SEED)
    accuracy, most_common = trainer.masked_word_accuracy(held_out)
    print(f"held-out masked-word accuracy: {accuracy:.1%} over {len(held_out.dataset)} pairs never trained on "
          f"(always guessing the most common word: {most_common:.1%})")
    node.shutdown()
