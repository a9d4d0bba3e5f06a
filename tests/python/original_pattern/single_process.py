"""The baseline: the same model, data, loss and optimizer in one plain PyTorch process. Prints the validation
accuracy in percent after ORIGINAL_EPOCHS epochs."""

import torch

from models import CNN_Net
from provider import EPOCHS, loss_fn, preprocess_dataset
from ravnest import set_seed

if __name__ == "__main__":
    train_loader, val_loader = preprocess_dataset()
    set_seed(42)
    model = CNN_Net()
    optimizer = torch.optim.Adam(model.parameters())
    for _ in range(EPOCHS):
        model.train()
        for batch in train_loader:
            optimizer.zero_grad()
            loss_fn(model(batch[0].float()), batch).backward()
            optimizer.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for inputs, labels in val_loader:
            correct += (model(inputs.float()).argmax(-1) == labels.argmax(-1)).sum().item()
            total += len(labels)
    print(f"{100 * correct / total:.2f}")
