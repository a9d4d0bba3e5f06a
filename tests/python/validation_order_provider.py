"""Provider of the validation-order stress test: python validation_order_provider.py node_<id> PASSES

SkipNet on three stages, so the leaf assembles each micro-batch from two producers (the root's skip
connection and the stem's output) while the end-of-validation marker comes from the stem alone. Each epoch
trains on two batches and validates on 54 rows in batches of 16 (the last one holds 6). The leaf's metric
records, per pass, the rows it scored and checks each batch against the labels of that very batch; the leaf
writes them to scored.json at the end.
"""

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ravnest import Node, Trainer  # noqa: E402

VALIDATION_ROWS = 54
BATCH = 16


class TaggedPasses:
    """The validation batches, each tagged with the pass it belongs to and its rows' indices, so the leaf can
    tell whether it scores a batch against its own labels."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        for start in range(0, VALIDATION_ROWS, BATCH):
            rows = torch.arange(start, min(start + BATCH, VALIDATION_ROWS))
            yield self.inputs[rows], rows, self.passes


def main(name, passes):
    generator = torch.Generator().manual_seed(3)
    train = [(torch.randn(8, 16, generator=generator), torch.randint(0, 10, (8,), generator=generator))
             for _ in range(2)]
    validation = torch.randn(VALIDATION_ROWS, 16, generator=generator)
    scored = {}

    def metric(outputs, targets):
        _, rows, pass_number = targets
        if outputs.shape[0] != rows.shape[0]:
            raise ValueError(f"pass {pass_number}: a batch of {outputs.shape[0]} rows was scored against the "
                             f"labels of {rows.shape[0]} rows")
        scored.setdefault(pass_number, []).append(rows.tolist())
        return 1.0

    node = Node(name=name, optimizer=torch.optim.SGD, optimizer_params={"lr": 0.01},
                criterion=lambda outputs, targets: F.cross_entropy(outputs, targets[1]), labels=train,
                test_labels=TaggedPasses(validation), metric=metric, peer_loss_grace=5.0, checkpoint_interval=0)
    trainer = Trainer(node=node, train_loader=train, val_loader=[(validation[s:s + BATCH],) for s in
                                                                  range(0, VALIDATION_ROWS, BATCH)],
                      val_freq=1, epochs=passes)
    trainer.train()
    if node.is_leaf:
        Path("scored.json").write_text(json.dumps(scored))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
