"""Sorts new sequences with the trained sorter, in one process, without the pipeline.

Run from this folder after the providers finished:  python sorter_inference.py [--count N]
Fuses the stages the nodes saved (ravnest.model_fusion) into trained/trained_state_dict.pt, loads it into
the unsplit model and sorts `count` random sequences (some may have been seen in training).
"""

import argparse

import torch

from data import BLOCK_SIZE, LENGTH, NUM_DIGITS, sort_with
from models import GPT, MODEL_TYPES
from ravnest import model_fusion


def model_type_of(state_dict):
    """The MODEL_TYPES entry whose depth and width the trained weights have."""
    layers = len({key.split(".")[1] for key in state_dict if key.startswith("blocks.")})
    width = state_dict["tok_emb.weight"].shape[1]
    return next(name for name, (n_layer, _, n_embd) in MODEL_TYPES.items() if (n_layer, n_embd) == (layers, width))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=8, help="sequences to sort")
    count = parser.parse_args().count
    state_dict = model_fusion(cluster_id=0)
    model = GPT(NUM_DIGITS, BLOCK_SIZE, model_type_of(state_dict))
    # The fused keys are the model's own: the causal masks, which it rebuilds itself, are left out.
    model.load_state_dict(state_dict)
    model.eval()
    sequences = torch.randint(NUM_DIGITS, (count, LENGTH))
    with torch.no_grad():
        produced = sort_with(model, sequences)
    for sequence, result in zip(sequences.tolist(), produced.tolist()):
        verdict = "correct" if result == sorted(sequence) else f"wrong, expected {sorted(sequence)}"
        print(f"{sequence} -> {result}  ({verdict})")
    right = sum(result == sorted(sequence) for sequence, result in zip(sequences.tolist(), produced.tolist()))
    print(f"{right} of {count} sorted correctly")
