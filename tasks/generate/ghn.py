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
import logging
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from netgraph.datasets import ClassificationData
from netgraph.datasets.offline_data import model_accuracy as accuracy
from netgraph.metanets import OperationGraphHypernetwork
from netgraph.metanets.operation_graph_hypernet import calibrate_batchnorm
from netgraph.provenance import check_provenance
from netgraph.seeding import scoped_rng
from netgraph.tasks.checkpoint import CheckpointStore, load_optimizer_state, optimizer_state

from .problems import ClassificationProblem
from .train import step_loop

_log = logging.getLogger(__name__)

__all__ = ["train_ghn", "start_accuracy", "calibrate_batchnorm", "accuracy", "layer_statistics"]


def train_ghn(
    ghn: OperationGraphHypernetwork,
    problem: ClassificationProblem | Sequence[ClassificationProblem],
    pool: Sequence[nn.Module],
    steps: int,
    meta_batch: int = 4,
    batch_size: int = 64,
    lr: float = 1e-3,
    grad_clip: float = 5.0,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
    run_dir: str | Path | None = None,
    checkpoint_every: int = 200,
) -> list[dict]:
    """Train ``ghn`` on networks of the ``pool`` architectures (see the module docstring).

    Args:
        problem: the data, or several problems taken in turn, one per step (e.g. 8x8 digits and
            28x28 MNIST: the pooled CNNs take any image size).
        pool: the training architectures (modules; their own norm parameters and buffers are used).
        meta_batch: architectures per step.
        time_limit: stop after this many seconds of process CPU time in all (resumed runs included),
            whatever ``steps`` says.
        run_dir: checkpoint here every ``checkpoint_every`` steps and when stopping (the GHN, Adam's
            state, the sampling RNG, the history and the CPU time spent: :class:`~netgraph.tasks.checkpoint.CheckpointStore`);
            a run_dir that holds a checkpoint resumes from it, after checking that it was written
            with the same training settings (:class:`~netgraph.errors.ProvenanceError` otherwise).
    Returns:
        one row per step since the start of the run (resumed runs included): ``{"step", "loss"}``.
    """
    problems = list(problem) if isinstance(problem, Sequence) else [problem]
    if steps < 1 or not pool or not problems:
        raise ValueError(
            f"train_ghn needs steps >= 1, a non-empty pool and a problem; got steps={steps}, {len(pool)} networks, "
            f"{len(problems)} problems"
        )
    device = next(ghn.parameters()).device
    rng = torch.Generator(device).manual_seed(seed)
    pool = [m.to(device).train() for m in pool]
    settings = {
        "ghn": f"{type(ghn).__name__} of {sum(p.numel() for p in ghn.parameters())} parameters",
        "problems": [p.name for p in problems],
        "pool": len(pool),
        "meta_batch": meta_batch,
        "batch_size": batch_size,
        "lr": lr,
        "grad_clip": grad_clip,
        "seed": seed,
    }
    optimizer = torch.optim.Adam(ghn.parameters(), lr=lr)
    store = CheckpointStore(run_dir) if run_dir is not None else None
    history, spent = _resume(store, ghn, optimizer, rng, settings) if store is not None else ([], 0.0)
    started = time.process_time() - spent

    def save() -> None:
        if store is not None and history:
            state = {"settings": settings, "history": history, "cpu_seconds": time.process_time() - started}
            tensors = {**optimizer_state(optimizer)[0], "rng/sampling": rng.get_state()}
            store.save(
                f"step-{history[-1]['step']:07d}",
                ghn,
                {**state, "optimizer": optimizer_state(optimizer)[1]},
                tensors,
                best=True,
            )

    def loss_of_step(step: int) -> torch.Tensor:
        if time_limit is not None and time.process_time() - started > time_limit:
            raise _OutOfTime
        data = problems[step % len(problems)].data
        x, y = data.x["train"], data.y["train"]
        chosen = torch.randperm(len(pool), generator=rng, device=device)[:meta_batch].tolist()
        nets = [pool[i] for i in chosen]
        index = torch.randint(0, len(y), (batch_size,), generator=rng, device=device)
        losses = []
        for net, params in zip(nets, ghn.predict(nets, 1, rng)):  # a loop over architectures
            state = {**{k: p.detach() for k, p in net.named_parameters()}, **{k: v[0] for k, v in params.items()}}
            state.update({k: b.clone() for k, b in net.named_buffers()})
            losses.append(F.cross_entropy(functional_call(net, state, (x[index],)), y[index]))
        return torch.stack(losses).mean()

    def after_step(row: dict) -> None:
        history.append(row)
        if row["step"] % checkpoint_every == 0:
            save()

    ghn.train()
    first = history[-1]["step"] + 1 if history else 1
    try:
        step_loop(
            ghn.parameters(),
            loss_of_step,
            steps,
            lr,
            grad_clip,
            "train GHN",
            progress,
            after_step,
            optimizer=optimizer,
            first_step=first,
        )
    except _OutOfTime:
        pass
    if not history or history[-1]["step"] % checkpoint_every:
        save()
    ghn.eval()
    return history


def _resume(
    store: CheckpointStore,
    ghn: nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: torch.Generator,
    settings: dict,
) -> tuple[list[dict], float]:
    """Load the last checkpoint of ``store`` into the GHN, Adam and the sampling RNG; ``(history,
    CPU seconds spent)``, or ``([], 0.0)`` when there is none."""
    folder = store.path("last")
    if folder is None:
        return [], 0.0
    saved, tensors = store.read(folder, store.verify)
    check_provenance(
        saved["settings"],
        settings,
        f"GHN training checkpoint {folder}",
        remedy="train into another run_dir, or delete this one to start over",
    )
    store.load_weights(ghn, folder)
    load_optimizer_state(optimizer, tensors, saved["optimizer"])
    rng.set_state(tensors["rng/sampling"])
    _log.info("train_ghn: resumed from %s (step %d)", folder, saved["history"][-1]["step"])
    return saved["history"], float(saved["cpu_seconds"])


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
