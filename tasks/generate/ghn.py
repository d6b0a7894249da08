"""Training a :class:`~netgraph.metanets.OperationGraphHypernetwork` over an architecture space, and judging its predicted
parameters as a starting point (the GHN-3 protocol: accuracy with no training and after a short
fine-tuning, against PyTorch's default initialisation at the same budget).

* :func:`train_ghn`: each step draws a meta-batch of architectures from a pool, predicts all their
  parameters in one padded GHN pass, runs every network on a shared minibatch
  (``torch.func.functional_call``, BatchNorm on batch statistics) and steps the GHN on the mean
  cross-entropy (:func:`~.train.step_loop`).
* :func:`start_accuracy`: one architecture, one seed: the default initialisation and the GHN's
  prediction, each with BatchNorm statistics recomputed on the training images
  (:func:`calibrate_batchnorm`, a forward pass; both starts get it), then fine-tuned with Adam;
  test accuracy at epochs 0 and each of ``epochs``.
* :func:`layer_statistics`: per layer, the effective rank (exp of the entropy of the normalised
  singular values) and the norm of a start's weights, to see *why* a start helps or not.

Example:
    >>> import torch
    >>> from netgraph.metanets import OperationGraphHypernetwork
    >>> from netgraph.tasks.generate import ClassificationProblem
    >>> from netgraph.tasks.generate.arch_space import SampledCNN, sample_cnns
    >>> pool = [SampledCNN(c) for c in sample_cnns(4, torch.Generator().manual_seed(0))]
    >>> history = train_ghn(OperationGraphHypernetwork(dim=16, layers=1, heads=2), ClassificationProblem("digits"), pool, steps=2,
    ...                     meta_batch=2, progress=False)
    >>> len(history)
    2
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from netgraph.datasets import ClassificationData
from netgraph.datasets.offline_data import model_accuracy as accuracy
from netgraph.metanets import OperationGraphHypernetwork
from netgraph.metanets.operation_graph_hypernet import calibrate_batchnorm
from netgraph.seeding import scoped_rng

from .problems import ClassificationProblem
from .train import step_loop

__all__ = ["train_ghn", "start_accuracy", "calibrate_batchnorm", "accuracy", "layer_statistics"]


def train_ghn(
    ghn: OperationGraphHypernetwork,
    problem: ClassificationProblem,
    pool: Sequence[nn.Module],
    steps: int,
    meta_batch: int = 4,
    batch_size: int = 64,
    lr: float = 1e-3,
    grad_clip: float = 5.0,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train ``ghn`` on networks of the ``pool`` architectures (see the module docstring).

    Args:
        pool: the training architectures (modules; their own norm parameters and buffers are used).
        meta_batch: architectures per step.
        time_limit: stop after this many seconds (process CPU time), whatever ``steps`` says.
    Returns:
        one row per step: ``{"step", "loss"}``.
    """
    if steps < 1 or not pool:
        raise ValueError(f"train_ghn needs steps >= 1 and a non-empty pool; got steps={steps}, {len(pool)} networks")
    device = next(ghn.parameters()).device
    rng = torch.Generator(device).manual_seed(seed)
    pool = [m.to(device).train() for m in pool]
    x, y = problem.data.x["train"], problem.data.y["train"]
    started = time.process_time()

    def loss_of_step(step: int) -> torch.Tensor:
        if time_limit is not None and time.process_time() - started > time_limit:
            raise _OutOfTime
        chosen = torch.randperm(len(pool), generator=rng, device=device)[:meta_batch].tolist()
        nets = [pool[i] for i in chosen]
        index = torch.randint(0, len(y), (batch_size,), generator=rng, device=device)
        losses = []
        for net, params in zip(nets, ghn.predict(nets, 1, rng)):  # a loop over architectures
            state = {**{k: p.detach() for k, p in net.named_parameters()}, **{k: v[0] for k, v in params.items()}}
            state.update({k: b.clone() for k, b in net.named_buffers()})
            losses.append(F.cross_entropy(functional_call(net, state, (x[index],)), y[index]))
        return torch.stack(losses).mean()

    ghn.train()
    history: list[dict] = []
    try:
        history = step_loop(
            ghn.parameters(), loss_of_step, steps, lr, grad_clip, "train GHN", progress, after_step=history.append
        )
    except _OutOfTime:
        pass
    ghn.eval()
    return history


class _OutOfTime(Exception):
    """Raised inside a step when ``time_limit`` is spent."""


def start_accuracy(
    factory: Callable[[], nn.Module],
    ghn: OperationGraphHypernetwork | None,
    data: ClassificationData,
    seed: int,
    epochs: Sequence[int] = (1, 5),
    lr: float = 1e-3,
    batch_size: int = 32,
) -> dict[str, list[float]]:
    """Test accuracy of the default initialisation (``"default"``) and of the GHN's prediction
    (``"ghn"``) of the network ``factory()`` after 0 and each of ``epochs`` epochs of Adam.

    The default initialisation is drawn under :func:`netgraph.seeding.scoped_rng` seeded with ``seed``
    (PyTorch's initialisers use the global RNG); the GHN's noise and the batch order come from
    ``torch.Generator``s seeded with ``seed``. Returns ``{start: [acc at 0, acc at epochs...]}``.
    """
    with scoped_rng(seed):
        default = factory()
    starts = {"default": default}
    if ghn is not None:
        starts["ghn"] = ghn(copy.deepcopy(default), torch.Generator().manual_seed(seed), data=data)
    return {name: fine_tune_accuracy(model, data, epochs, lr, batch_size, seed) for name, model in starts.items()}


def fine_tune_accuracy(
    model: nn.Module,
    data: ClassificationData,
    epochs: Sequence[int],
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
) -> list[float]:
    """Test accuracy of ``model`` (BatchNorm calibrated on the training images) before and after each of
    ``epochs`` epochs of Adam on the training split (trained in place)."""
    x, y = data.x["train"], data.y["train"]
    calibrate_batchnorm(model, x)
    scores = [accuracy(model, data)]
    last = max(epochs, default=0)
    if last == 0:
        return scores
    per_epoch = math.ceil(len(y) / batch_size)
    order_rng = torch.Generator().manual_seed(seed)
    orders: list[torch.Tensor] = []

    def loss_of_step(step: int) -> torch.Tensor:
        epoch, position = divmod(step - 1, per_epoch)
        if position == 0:
            orders.append(torch.randperm(len(y), generator=order_rng).to(y.device))
        index = orders[epoch][position * batch_size : (position + 1) * batch_size]
        return F.cross_entropy(model(x[index]), y[index])

    def after_step(row: dict) -> None:
        if row["step"] % per_epoch == 0 and row["step"] // per_epoch in epochs:
            scores.append(accuracy(model, data))

    model.train()
    step_loop(model.parameters(), loss_of_step, last * per_epoch, lr, None, "fine-tune", False, after_step)
    return scores


@torch.no_grad()
def layer_statistics(model: nn.Module) -> list[dict[str, float]]:
    """Per linear / conv layer: ``{"layer", "effective_rank", "max_rank", "norm", "rms_times_sqrt_fan_in"}``
    (the last is 1 for weights at the scale ``1 / sqrt(fan_in)``)."""
    rows = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            w = module.weight.detach().flatten(1).double()
            s = torch.linalg.svdvals(w)
            p = s / s.sum().clamp_min(1e-12)
            rank = float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))
            rows.append(
                {
                    "layer": name,
                    "effective_rank": round(rank, 2),
                    "max_rank": min(w.shape),
                    "norm": round(float(w.norm()), 3),
                    "rms_times_sqrt_fan_in": round(float(w.pow(2).mean().sqrt() * math.sqrt(w.shape[1])), 3),
                }
            )
    return rows
