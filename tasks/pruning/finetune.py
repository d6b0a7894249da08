"""Recovery training after pruning, on the shared :class:`~netgraph.tasks.Trainer` loop.

* :func:`finetune` - supervised fine-tuning of a classifier (cross-entropy; the epoch with the best
  *validation* accuracy is kept, never selected on test).
* :func:`fit_batches` - the one loop both fine-tuning and distillation (:mod:`.distill`) use: a
  ``Trainer`` over index batches of a training set, validated every epoch on a metric to maximise.

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

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from netgraph.datasets.offline_data import ClassificationData
from netgraph.datasets.offline_data import model_accuracy as accuracy

from ..objective import FunctionObjective
from ..trainer import TrainConfig, Trainer

__all__ = ["finetune", "accuracy", "fit_batches", "IndexBatches"]


class IndexBatches:
    """Batches of example indices ``[batch]`` into a set of ``size`` examples; with ``shuffle`` each
    epoch's order is drawn from ``(seed, epoch)`` (the Trainer calls :meth:`set_epoch`)."""

    def __init__(self, size: int, batch_size: int, shuffle: bool, seed: int = 0):
        self.size, self.batch_size, self.shuffle, self.seed, self.epoch = size, batch_size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __iter__(self):
        order = (
            torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch))
            if self.shuffle
            else torch.arange(self.size)
        )
        return iter(order.split(self.batch_size))


def fit_batches(
    model: nn.Module,
    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    score: Callable[[nn.Module, torch.Tensor], tuple[float, float]],
    train_size: int,
    val_size: int,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    metric: str = "score",
) -> list[dict[str, float]]:
    """Train ``model`` in place for ``epochs`` with :class:`~netgraph.tasks.Trainer` (AdamW, constant then
    cosine-decayed ``lr``) and load its best-validation epoch.

    Args:
        loss: ``(model, train indices [b]) -> scalar``.
        score: ``(model, val indices [b]) -> (sum of the metric over the batch, batch size)``; maximised.
        train_size, val_size: examples in the training / validation sets.
        metric: the metric's name in the history rows (``val_<metric>``).
    Returns:
        one row per epoch: ``epoch``, ``train_loss``, ``val_<metric>``.
    """
    if epochs <= 0:
        return []

    def outputs(m, idx):
        total, count = score(m, idx)
        return {
            "total": torch.tensor([float(total)], dtype=torch.float64),
            "count": torch.tensor([float(count)], dtype=torch.float64),
        }

    objective = FunctionObjective(
        loss=loss,
        outputs=outputs,
        metrics=lambda o: {metric: float(o["total"].sum() / o["count"].sum())},
        monitor=metric,
        mode="max",
    )
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup=0.0,
        grad_clip=None,
        seed=seed,
        device=str(device),
        progress=False,
    )
    result = Trainer(model, objective, config).fit(
        IndexBatches(train_size, batch_size, True, seed), IndexBatches(val_size, 1024, False)
    )
    model.eval()
    return [
        {"epoch": r["epoch"], "train_loss": r["train_loss"], f"val_{metric}": r[f"val_{metric}"]}
        for r in result.history
    ]


def finetune(
    model: nn.Module,
    data: ClassificationData,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Fine-tune the classifier ``model`` in place on ``data`` (cross-entropy) for ``epochs`` and load its
    best-validation epoch. Returns one row ``{epoch, train_loss, val_acc}`` per epoch."""
    x, y = data.x["train"], data.y["train"]
    vx, vy = data.x["val"], data.y["val"]

    def loss(m, idx):
        idx = idx.to(y.device)
        return F.cross_entropy(m(x[idx]), y[idx])

    def score(m, idx):
        idx = idx.to(vy.device)
        return float((m(vx[idx]).argmax(-1) == vy[idx]).sum()), len(idx)

    return fit_batches(
        model, loss, score, len(y), len(vy), epochs, lr, batch_size, weight_decay, seed, x.device, metric="acc"
    )
