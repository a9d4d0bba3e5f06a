"""One provider process of the pipeline tests: python pipeline_provider.py node_<id> '<scenario JSON>'.

Runs in the folder that holds node_data/. The scenario's `fail_at` makes the leaf's criterion raise at that
micro-batch.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline_scenarios as scenarios  # noqa: E402
from ravnest import Node, Trainer  # noqa: E402


def main(name, spec):
    data = scenarios.batches(spec)
    calls = []

    def criterion(outputs, targets):
        calls.append(1)
        if len(calls) == spec.get("fail_at"):
            raise ValueError(f"criterion failed on purpose at micro-batch {len(calls)}")
        return scenarios.criterion(outputs, targets)

    optimizer, optimizer_params = scenarios.optimizer_of(spec)
    scheduler, scheduler_params = scenarios.scheduler_of(spec)
    node = Node(name=name, optimizer=optimizer, optimizer_params=optimizer_params, lr_scheduler=scheduler,
                lr_scheduler_params=scheduler_params, lr_step_on_epoch_change=False, criterion=criterion,
                update_frequency=spec["update_frequency"], labels=data,
                max_in_flight=spec.get("max_in_flight", 0), compression=spec.get("compression", False),
                peer_loss_grace=2.0)
    trainer = Trainer(node=node, train_loader=data, epochs=spec.get("epochs", 1), save=True)
    trainer.train()


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
