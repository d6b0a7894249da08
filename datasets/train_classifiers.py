"""Train a population of classifiers of one architecture at once (the Small-CNN-Zoo recipe).

Per-net hyper-parameters (``[B]`` tensors, sampled by the zoo builder):

========================= =======================================================================
``learning_rate``         step size
``weight_decay``          L2 coefficient added to the gradient
``optimizer``             ``sgd`` (momentum 0.9), ``adam`` or ``rmsprop`` (see :class:`StackedOptimizer`)
``dropout``               rate of the architecture's dropout layers
``init``, ``init_std``    initialisation scheme and, for ``normal``, its standard deviation
``train_fraction``        share of the training split the net may see (its own random subset)
========================= =======================================================================

An *epoch* is ``ceil(n_train / batch_size)`` steps for every net; each net walks through a fresh
shuffle of its own training subset (cycling when the subset is smaller than an epoch). Metrics
(cross-entropy loss and accuracy on the net's own training subset, the validation and the test
split) are recorded at every checkpoint epoch (0 = the initialisation), with the weights.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.datasets.offline_data import classification_data
    >>> result = train_classifiers(mlp([4, 8, 3]), classification_data("iris"), {"learning_rate": [0.05, 0.01]},
    ...                            epochs=2, checkpoints=[0, 2], batch_size=16, generator=torch.Generator().manual_seed(0))
    >>> result.weights["0.weight"].shape, result.metrics["test_acc"].shape    # [nets, checkpoints, ...]
    (torch.Size([2, 2, 8, 4]), torch.Size([2, 2]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .offline_data import SPLITS, ClassificationData
from .stacked import OPTIMIZERS, StackedModel, StackedOptimizer, stacked_init

__all__ = ["TrainResult", "train_classifiers", "evaluate_classifiers", "TRAINING_HPARAMS", "CLASSIFIER_METRICS"]

TRAINING_HPARAMS = {"learning_rate": 1e-3, "weight_decay": 0.0, "optimizer": "adam", "dropout": 0.0,
                    "init": "he_normal", "init_std": 0.05, "train_fraction": 1.0}
CLASSIFIER_METRICS = tuple(f"{split}_{m}" for split in SPLITS for m in ("loss", "acc"))


@dataclass
class TrainResult:
    """Stacked checkpoints ``weights[name] [B, C, *shape]`` and ``metrics[name] [B, C]`` (float64)."""

    weights: dict[str, torch.Tensor]
    metrics: dict[str, torch.Tensor]


def train_classifiers(model: nn.Module, data: ClassificationData, hparams: Mapping[str, Sequence], epochs: int,
                      checkpoints: Sequence[int], batch_size: int = 32, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu", on_epoch: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``B`` copies of ``model``'s architecture, one per entry of the ``hparams`` columns.

    Args:
        model: the architecture (its own weights are not used).
        data: train/val/test splits (:func:`~netgraph.datasets.offline_data.classification_data`).
        hparams: ``{name: [B values]}`` for names in :data:`TRAINING_HPARAMS` (others default).
        epochs: training length; checkpoints: epochs (0..epochs) at which weights and metrics are kept.
        generator: seeds initialisation, subsets, shuffles and dropout (on ``device``).
        on_epoch: called with the finished epoch number (progress bars).
    """
    unknown = sorted(set(hparams) - set(TRAINING_HPARAMS))
    if unknown:
        raise ValueError(f"unknown training hyper-parameter(s) {unknown}; expected names from {sorted(TRAINING_HPARAMS)}")
    lengths = {len(v) for v in hparams.values()}
    if len(lengths) != 1:
        raise ValueError(f"every hyper-parameter column needs one value per net; got lengths {sorted(lengths)}")
    checkpoints = sorted(set(int(c) for c in checkpoints))
    if checkpoints[0] < 0 or checkpoints[-1] > epochs:
        raise ValueError(f"checkpoints {checkpoints} must lie in [0, epochs={epochs}]")
    num = lengths.pop()
    hp = {k: list(hparams.get(k, [v] * num)) for k, v in TRAINING_HPARAMS.items()}
    bad = sorted(set(hp["optimizer"]) - set(OPTIMIZERS))
    if bad:
        raise ValueError(f"unknown optimizer(s) {bad}; expected one of {list(OPTIMIZERS)}")
    data = data.to(device)
    f32 = lambda name: torch.tensor(hp[name], dtype=torch.float32, device=device)  # noqa: E731
    net = StackedModel(model)
    params = stacked_init(net.module, num, hp["init"], f32("init_std"), generator, device)
    params = {k: v.requires_grad_() for k, v in params.items()}
    opt = StackedOptimizer(params, f32("learning_rate"), f32("weight_decay"),
                           torch.tensor([OPTIMIZERS.index(o) for o in hp["optimizer"]], device=device))
    dropout = f32("dropout")
    if bool(((dropout < 0) | (dropout >= 1)).any()):
        raise ValueError(f"dropout rates must lie in [0, 1); got {hp['dropout']}")

    x_train, y_train = data.x["train"], data.y["train"]
    n_train = len(y_train)
    subset_size = (f32("train_fraction") * n_train).round().long().clamp(1, n_train)          # [B]
    ranks = torch.rand(num, n_train, generator=generator, device=device).argsort(1).argsort(1)
    in_subset = ranks < subset_size.unsqueeze(1)                                            # [B, n_train]
    steps = math.ceil(n_train / batch_size)
    cycle = torch.arange(steps * batch_size, device=device).unsqueeze(0) % subset_size.unsqueeze(1)

    saved_w: list[dict[str, torch.Tensor]] = []
    saved_m: list[dict[str, torch.Tensor]] = []

    def checkpoint() -> None:
        saved_w.append({k: v.detach().clone() for k, v in params.items()})
        saved_m.append(evaluate_classifiers(net, params, data, in_subset))

    if 0 in checkpoints:
        checkpoint()
    for epoch in range(1, checkpoints[-1] + 1):
        keys = torch.rand(num, n_train, generator=generator, device=device) + (~in_subset) * 2.0
        order = keys.argsort(1).gather(1, cycle)                                             # [B, steps * bs]
        for s in range(steps):
            idx = order[:, s * batch_size:(s + 1) * batch_size]
            logits = net(params, x_train[idx], dropout=dropout, train=True)                 # [B, bs, K]
            loss = F.cross_entropy(logits.flatten(0, 1), y_train[idx].flatten(), reduction="none")
            grads = torch.autograd.grad(loss.view(num, -1).mean(1).sum(), list(params.values()))
            opt.step(dict(zip(params, grads)))
        if epoch in checkpoints:
            checkpoint()
        if on_epoch is not None:
            on_epoch(epoch)
    weights = {k: torch.stack([w[k] for w in saved_w], 1) for k in params}
    metrics = {k: torch.stack([m[k] for m in saved_m], 1) for k in CLASSIFIER_METRICS}
    return TrainResult(weights, metrics)


@torch.no_grad()
def evaluate_classifiers(net: StackedModel, params: Mapping[str, torch.Tensor], data: ClassificationData,
                         train_mask: torch.Tensor | None = None, chunk: int = 512) -> dict[str, torch.Tensor]:
    """Mean cross-entropy and accuracy of every net on every split: ``{"test_acc": [B], ...}`` (float64).

    ``train_mask [B, n_train]`` restricts each net's training metrics to its own training subset.
    Accuracy is ``correct / count`` in float64, so a reloaded module reproduces it exactly.
    """
    out: dict[str, torch.Tensor] = {}
    for split in SPLITS:
        x, y = data.x[split], data.y[split]
        losses, correct = [], []
        for start in range(0, len(y), chunk):
            logits = net(params, x[start:start + chunk], shared_inputs=True)                # [B, n, K]
            target = y[start:start + chunk].expand(logits.shape[0], -1)
            losses.append(F.cross_entropy(logits.transpose(1, 2), target, reduction="none").double())
            correct.append((logits.argmax(-1) == target).double())
        loss, hit = torch.cat(losses, 1), torch.cat(correct, 1)                             # [B, n]
        weight = train_mask.double() if (split == "train" and train_mask is not None) else torch.ones_like(hit)
        count = weight.sum(1)
        out[f"{split}_loss"] = (loss * weight).sum(1) / count
        out[f"{split}_acc"] = (hit * weight).sum(1) / count
    return out
