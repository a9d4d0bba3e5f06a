"""One provider process of the pipeline tests: python pipeline_provider.py node_<id> '<scenario JSON>'.

Runs in the folder that holds node_data/. Scenario options beyond the training itself:
- `fail_at`: the leaf's criterion raises at that micro-batch;
- `custom_trainer`: train with a Trainer subclass written as users write theirs;
- `predict`: after training the root refreshes its weights and writes `Trainer.pred` of
  `prediction_inputs(spec)` to predictions.pt;
- `tls`: {"cert", "key", "ca"} PEM paths: every link of the run uses TLS;
- `auth_tokens`: {node name: job token} overriding the token of those nodes' JSON.
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline_scenarios as scenarios  # noqa: E402
from ravnest import Node, Trainer  # noqa: E402


class KeywordTrainer(Trainer):
    """A custom loop as users write one: keyword inputs, one wait for the backward passes per epoch."""

    def train(self):
        self.prelim_checks()
        for _ in range(self.epochs):
            for inputs, _labels in self.train_loader:
                if isinstance(inputs, dict):
                    self.node.forward_compute(**inputs)
                else:
                    self.node.forward_compute(inputs)
            self.node.wait_for_backwards()
        if self.save:
            self.node.trigger_save_submodel()


def security_arguments(name, spec):
    files = spec.get("tls")
    arguments = {"tls_cert": files["cert"], "tls_key": files["key"], "tls_ca": files["ca"]} if files else {}
    if name in spec.get("auth_tokens", {}):
        arguments["auth_token"] = spec["auth_tokens"][name]
    return arguments


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
                schedule=spec.get("schedule", "1f1b"), recompute=spec.get("recompute", True),
                peer_loss_grace=2.0, **security_arguments(name, spec))
    trainer_class = KeywordTrainer if spec.get("custom_trainer") else Trainer
    trainer = trainer_class(node=node, train_loader=data, epochs=spec.get("epochs", 1), save=True)
    trainer.train()
    if spec.get("predict") and node.is_root:
        node.update_with_latest_weights()
        torch.save(trainer.pred(scenarios.prediction_inputs(spec)), "predictions.pt")


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
