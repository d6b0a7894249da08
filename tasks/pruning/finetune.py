"""Plain supervised training and evaluation of one classifier (fine-tuning after pruning).

The epoch with the best *validation* accuracy is kept (never selected on test).

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.tasks.pruning.data import load_data
    >>> data = load_data("iris")
    >>> model = mlp([4, 16, 3])
    >>> history = finetune(model, data, epochs=2, seed=0)
    >>> len(history), 0.0 <= accuracy(model, data, "test") <= 1.0
    (2, True)
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from netgraph.datasets.offline_data import ClassificationData

__all__ = ["finetune", "accuracy"]


@torch.no_grad()
def accuracy(model: nn.Module, data: ClassificationData, split: str = "test", batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on ``data``'s ``split``."""
    was_training = model.training
    model.eval()
    x, y = data.x[split], data.y[split]
    correct = sum(int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(y), batch_size))
    model.train(was_training)
    return correct / max(len(y), 1)


def finetune(model: nn.Module, data: ClassificationData, epochs: int, lr: float = 1e-3, batch_size: int = 64,
             weight_decay: float = 0.0, seed: int = 0) -> list[dict[str, float]]:
    """Train ``model`` in place with Adam for ``epochs`` epochs, then load its best-validation epoch
    (the starting weights count as epoch 0). Returns one row ``{epoch, train_loss, val_acc}`` per epoch."""
    if epochs <= 0:
        return []
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    x, y = data.x["train"], data.y["train"]
    best, best_state = accuracy(model, data, "val"), copy.deepcopy(model.state_dict())
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(y), generator=generator).to(y.device)
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        val = accuracy(model, data, "val")
        history.append({"epoch": epoch, "train_loss": total / len(y), "val_acc": val})
        if val > best:
            best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return history
