"""BERTTrainer: ravnest.Trainer's loop for batches of keyword inputs, and the masked-word accuracy after it."""

import torch

from data import IGNORED, INPUT_NAMES
from ravnest import Trainer


def model_inputs(batch):
    """The model's keyword inputs of a batch (the batch also holds the labels, which stay on the leaf)."""
    return {name: batch[name] for name in INPUT_NAMES}


class BERTTrainer(Trainer):
    """Feeds each batch's input_ids, token_type_ids and attention_mask to the first stage by keyword; the
    leaf takes the labels from its own copy of the loader. Written as a custom loop the way Trainer
    subclasses are: prelim_checks() first (stems and leaves serve there until training ends, then exit),
    wait_for_backwards() once per epoch. The learning rate follows the Node's lr_scheduler, per update."""

    def train(self):
        self.prelim_checks()
        for _ in range(self.epochs):
            for batch in self.train_loader:
                self.node.forward_compute(**model_inputs(batch))
            self.node.wait_for_backwards()
        if self.save:
            self.node.trigger_save_submodel()

    def masked_word_accuracy(self, loader):
        """Root: the share of masked words the trained model predicts exactly, through the pipeline (dropout
        off), and the share that always guessing the most common one would get."""
        right = most_common = total = 0
        for batch in loader:
            logits = self.pred(model_inputs(batch))["prediction_logits"]
            chosen = batch["labels"] != IGNORED
            labels = batch["labels"][chosen]
            right += (logits.argmax(dim=-1)[chosen] == labels).sum().item()
            most_common += (labels == torch.bincount(labels).argmax()).sum().item()
            total += labels.numel()
        return right / total, most_common / total
