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

from netgraph.seeding import scoped_rng

from .offline_data import SPLITS, ClassificationData
from .stacked import OPTIMIZERS, StackedModel, StackedOptimizer, stacked_init

__all__ = ["TrainResult", "train_classifiers", "evaluate_classifiers", "TRAINING_HPARAMS", "CLASSIFIER_METRICS"]

TRAINING_HPARAMS = {
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "optimizer": "adam",
    "dropout": 0.0,
    "init": "he_normal",
    "init_std": 0.05,
    "train_fraction": 1.0,
}
CLASSIFIER_METRICS = tuple(f"{split}_{m}" for split in SPLITS for m in ("loss", "acc"))


@dataclass
class TrainResult:
    """Stacked checkpoints ``weights[name] [B, C, *shape]`` and ``metrics[name] [B, C]`` (float64)."""

    weights: dict[str, torch.Tensor]
    metrics: dict[str, torch.Tensor]


def train_classifiers(
    model: nn.Module,
    data: ClassificationData,
    hparams: Mapping[str, Sequence],
    epochs: int,
    checkpoints: Sequence[int],
    batch_size: int = 32,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int], None] | None = None,
    initial: Mapping[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``B`` copies of ``model``'s architecture, one per entry of the ``hparams`` columns.

    Args:
        model: the architecture (its own weights are not used).
        data: train/val/test splits (:func:`~netgraph.datasets.offline_data.classification_data`).
        hparams: ``{name: [B values]}`` for names in :data:`TRAINING_HPARAMS` (others default).
        epochs: training length; checkpoints: epochs (0..epochs) at which weights and metrics are kept.
        generator: seeds initialisation, subsets, shuffles and dropout (on ``device``).
        on_epoch: called with the finished epoch number (progress bars).
        initial: start from these stacked parameters ``{name: [B, *shape]}`` (e.g. generated
            weights, to fine-tune them) instead of drawing ``init`` / ``init_std``.
    """
    unknown = sorted(set(hparams) - set(TRAINING_HPARAMS))
    if unknown:
        raise ValueError(
            f"unknown training hyper-parameter(s) {unknown}; expected names from {sorted(TRAINING_HPARAMS)}"
        )
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
    if any(not 0 <= p < 1 for p in hp["dropout"]):
        raise ValueError(f"dropout rates must lie in [0, 1); got {hp['dropout']}")
    population = _Population(model, data.to(device), hp, batch_size, generator, device, initial)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    with scoped_rng(seed):  # dropout masks under vmap come from the global RNG
        return population.train(checkpoints, on_epoch)


class _Population:
    """``B`` nets with their parameters, optimiser state, dropout rates and training subsets."""

    def __init__(
        self,
        model: nn.Module,
        data: ClassificationData,
        hp: dict[str, list],
        batch_size: int,
        generator: torch.Generator | None,
        device: torch.device | str,
        initial: Mapping[str, torch.Tensor] | None = None,
    ):
        num = len(hp["init"])
        f32 = lambda name: torch.tensor(hp[name], dtype=torch.float32, device=device)  # noqa: E731
        self.net, self.data, self.batch_size, self.generator = StackedModel(model), data, batch_size, generator
        params = (
            stacked_init(self.net.module, num, hp["init"], f32("init_std"), generator, device)
            if initial is None
            else _initial_parameters(self.net.module, initial, num, device)
        )
        self.params = {k: v.requires_grad_() for k, v in params.items()}
        self.opt = StackedOptimizer(
            self.params,
            f32("learning_rate"),
            f32("weight_decay"),
            torch.tensor([OPTIMIZERS.index(o) for o in hp["optimizer"]], device=device),
        )
        self.dropout = f32("dropout")
        n_train = len(data.y["train"])
        size = (f32("train_fraction") * n_train).round().long().clamp(1, n_train)  # [B]
        ranks = torch.rand(num, n_train, generator=generator, device=device).argsort(1).argsort(1)
        self.in_subset = ranks < size.unsqueeze(1)  # [B, n_train]
        self.steps = math.ceil(n_train / batch_size)
        self.cycle = torch.arange(self.steps * batch_size, device=device).unsqueeze(0) % size.unsqueeze(1)

    def train(self, checkpoints: list[int], on_epoch: Callable[[int], None] | None) -> TrainResult:
        saved_w, saved_m = [], []
        for epoch in range(checkpoints[-1] + 1):
            if epoch > 0:
                self.epoch()
                if on_epoch is not None:
                    on_epoch(epoch)
            if epoch in checkpoints:
                saved_w.append({k: v.detach().clone() for k, v in self.params.items()})
                saved_m.append(evaluate_classifiers(self.net, self.params, self.data, self.in_subset))
        weights = {k: torch.stack([w[k] for w in saved_w], 1) for k in self.params}
        metrics = {k: torch.stack([m[k] for m in saved_m], 1) for k in CLASSIFIER_METRICS}
        return TrainResult(weights, metrics)

    def epoch(self) -> None:
        """One epoch: each net walks a fresh shuffle of its own subset, ``steps`` minibatches."""
        x, y = self.data.x["train"], self.data.y["train"]
        num = self.in_subset.shape[0]
        keys = torch.rand(self.in_subset.shape, generator=self.generator, device=x.device) + (~self.in_subset) * 2.0
        order = keys.argsort(1).gather(1, self.cycle)  # [B, steps * bs]
        for s in range(self.steps):
            idx = order[:, s * self.batch_size : (s + 1) * self.batch_size]
            logits = self.net(self.params, x[idx], dropout=self.dropout, train=True)  # [B, bs, K]
            loss = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
            grads = torch.autograd.grad(loss.view(num, -1).mean(1).sum(), list(self.params.values()))
            self.opt.step(dict(zip(self.params, grads)))


def _initial_parameters(
    module: nn.Module, initial: Mapping[str, torch.Tensor], num: int, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """Copies of the given stacked parameters (only ``module``'s parameters; buffers are not trained)."""
    shapes = {k: (num, *p.shape) for k, p in module.named_parameters()}
    wrong = {
        k: tuple(initial[k].shape) if k in initial else None
        for k, shape in shapes.items()
        if k not in initial or tuple(initial[k].shape) != shape
    }
    if wrong:
        raise ValueError(
            f"initial parameters must hold {{name: [nets, *shape]}} for every parameter of the model "
            f"({num} nets); wrong or missing: {wrong}"
        )
    return {k: initial[k].detach().to(device, torch.float32).clone() for k in shapes}


@torch.no_grad()
def evaluate_classifiers(
    net: StackedModel,
    params: Mapping[str, torch.Tensor],
    data: ClassificationData,
    train_mask: torch.Tensor | None = None,
    chunk: int = 512,
) -> dict[str, torch.Tensor]:
    """Mean cross-entropy and accuracy of every net on every split: ``{"test_acc": [B], ...}`` (float64).

    ``train_mask [B, n_train]`` restricts each net's training metrics to its own training subset.
    Accuracy is ``correct / count`` in float64, so a reloaded module reproduces it exactly.
    """
    out: dict[str, torch.Tensor] = {}
    for split in SPLITS:
        x, y = data.x[split], data.y[split]
        losses, correct = [], []
        for start in range(0, len(y), chunk):
            logits = net(params, x[start : start + chunk], shared_inputs=True)  # [B, n, K]
            target = y[start : start + chunk].expand(logits.shape[0], -1)
            losses.append(F.cross_entropy(logits.transpose(1, 2), target, reduction="none").double())
            correct.append((logits.argmax(-1) == target).double())
        loss, hit = torch.cat(losses, 1), torch.cat(correct, 1)  # [B, n]
        weight = train_mask.double() if (split == "train" and train_mask is not None) else torch.ones_like(hit)
        count = weight.sum(1)
        out[f"{split}_loss"] = (loss * weight).sum(1) / count
        out[f"{split}_acc"] = (hit * weight).sum(1) / count
    return out
