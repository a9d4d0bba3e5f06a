"""Forms the clusters for BERT pretraining and writes node_data/ for its three providers.

Run from this folder:  python cluster_formation.py [--size tiny|mini|base] [--sequence-length N]
                                                   [--batch-size N] [--vocab-size N] [--hugging-face]
The tiny BERT (the default) needs about 6 MB to train on a batch of 32 pairs of 32 tokens;
node_data/node_configs.json offers 3 MB per node, so only all three nodes together can hold it: one cluster of
three (root 8099, stem 8100, leaf 8101). Larger sizes need more: clusterize prints the estimate when the nodes
are too small, and the RAM in node_configs.json must be raised to match. The sizes chosen here are written to
node_data/pretraining.json, where the providers read them. --hugging-face splits transformers'
BertForPreTraining (same size) instead of this example's BERT; it needs the transformers package.
"""

import argparse
import json
from pathlib import Path

from data import INPUT_NAMES, VOCAB_SIZE, pretraining_loader
from models import SIZES, BertForMaskedLM, hugging_face_bert
from ravnest import clusterize, set_seed

SETTINGS_FILE = Path("node_data") / "pretraining.json"
MAX_POSITIONS = 512  # BERT's


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--sequence-length", type=int, default=32, help=f"tokens per pair, at most {MAX_POSITIONS}")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per micro-batch")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE, help="BERT's own is 30522")
    parser.add_argument("--hugging-face", action="store_true", help="split transformers' BertForPreTraining")
    args = parser.parse_args()
    if not 8 <= args.sequence_length <= MAX_POSITIONS:
        parser.error(f"--sequence-length must be from 8 to {MAX_POSITIONS}")
    return args


def read_settings():
    """What cluster_formation.py chose: size, sequence_length, batch_size, vocab_size, hugging_face."""
    if not SETTINGS_FILE.exists():
        raise SystemExit(f"{SETTINGS_FILE} is missing: run cluster_formation.py first")
    return json.loads(SETTINGS_FILE.read_text())


if __name__ == "__main__":
    args = arguments()
    set_seed(42)
    build = hugging_face_bert if args.hugging_face else BertForMaskedLM
    model = build(args.vocab_size, args.size, MAX_POSITIONS)
    example = next(iter(pretraining_loader(args.batch_size, args.batch_size, args.sequence_length, args.vocab_size)))
    clusterize(model=model, example_kwargs={name: example[name] for name in INPUT_NAMES})
    SETTINGS_FILE.write_text(json.dumps(vars(args), indent=2) + "\n")
