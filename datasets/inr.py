"""Implicit neural representations (SIRENs): fitting many at once, and decoding them back to signals.

The recipe (the INR zoos of DWSNets / NFN, scaled to 8x8 digits; written into every zoo's
``zoo.json`` under ``"recipe"``):

* architecture :class:`netgraph.architectures.Siren` (``in -> 32 -> 32 -> out``, sine activations,
  ``w0 = 30``, Sitzmann et al. initialisation, drawn per net by :func:`~.stacked.stacked_init`),
* coordinates: an ``"ij"`` grid of pixel centres in [-1, 1] per axis (:func:`inr_grid`); values:
  pixel intensities in [0, 1], read back with no offset,
* optionally (``shared_init``) one initialisation shared by every net of the zoo, drawn from the
  zoo's seed: with per-net initialisations, an INR fitted in a few dozen steps stays close to its
  random start, and the signal is a small part of its weights,
* full-batch Adam (``lr``) on the mean squared error for ``steps`` steps; a net stops (its weights
  freeze) at the first step where its PSNR reaches ``psnr_stop``,
* ``PSNR = 10 log10(range^2 / MSE)`` with ``range`` = max - min of the net's own target signal.

Example:
    >>> import torch
    >>> from netgraph.architectures import Siren
    >>> coords = inr_grid((4, 4))
    >>> targets = torch.rand(3, 16, 1)                      # 3 signals of 16 pixels
    >>> fit = fit_inrs(Siren(), coords, targets, steps=5, checkpoints=[5], generator=torch.Generator().manual_seed(0))
    >>> fit.weights["layers.0.weight"].shape, fit.metrics["psnr"].shape
    (torch.Size([3, 1, 32, 2]), torch.Size([3, 1]))
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

from .stacked import OPTIMIZERS, StackedModel, StackedOptimizer, stacked_init
from .train_classifiers import TrainResult

__all__ = ["inr_grid", "fit_inrs", "render_inr", "psnr", "INR_METRICS"]

INR_METRICS = ("mse", "psnr", "steps")


def inr_grid(shape: Sequence[int], indexing: str = "ij", device: torch.device | str = "cpu") -> torch.Tensor:
    """Coordinates ``[prod(shape), len(shape)]`` of the grid points over [-1, 1]^d, in row-major order.

    ``indexing="ij"``: each point is (row, column, ...); ``"xy"``: the coordinates reversed
    (column first, as ``numpy.meshgrid``'s default, used by the DWSNets INRs).

    >>> inr_grid((2, 3)).tolist()
    [[-1.0, -1.0], [-1.0, 0.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 0.0], [1.0, 1.0]]
    """
    if indexing not in ("ij", "xy"):
        raise ValueError(f"indexing must be 'ij' or 'xy', got {indexing!r}")
    axes = [torch.linspace(-1.0, 1.0, n, device=device) for n in shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))
    return grid if indexing == "ij" else grid.flip(-1)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each signal ``[B, ...]`` against its own value range: ``[B]``."""
    b = target.shape[0]
    mse = (prediction - target).pow(2).reshape(b, -1).mean(1)
    flat = target.reshape(b, -1)
    value_range = (flat.max(1).values - flat.min(1).values).clamp_min(1e-8)
    return 10 * torch.log10(value_range.pow(2) / mse.clamp_min(1e-20))


def fit_inrs(
    model: nn.Module,
    coords: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    checkpoints: Sequence[int],
    lr: float = 1e-3,
    psnr_stop: float = float("inf"),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    on_step: Callable[[int], None] | None = None,
    shared_init: bool = False,
) -> TrainResult:
    """Fit one INR per signal, all at once.

    Args:
        model: the INR architecture (e.g. ``Siren(2, 32, 3, 1)``); its own weights are not used.
        coords: ``[P, in_features]`` shared coordinates; targets: ``[B, P, out_features]``.
        steps: optimisation steps; checkpoints: steps (0..steps) at which weights are kept.
        shared_init: start every INR from one initialisation (drawn with ``generator``) instead of
            one each; the weights then differ only by what the signals taught them.
    Returns:
        weights ``[B, C, *shape]``; metrics ``mse``, ``psnr`` and ``steps`` (steps taken so far) ``[B, C]``.
    """
    checkpoints = sorted(set(int(c) for c in checkpoints))
    if not checkpoints or checkpoints[0] < 0 or checkpoints[-1] > steps:
        raise ValueError(f"checkpoints {checkpoints} must be non-empty and lie in [0, steps={steps}]")
    coords, targets = coords.to(device), targets.to(device)
    num = targets.shape[0]
    net = StackedModel(model)
    w0 = float(getattr(getattr(model, "act", None), "w0", 30.0))
    drawn = 1 if shared_init else num
    params = stacked_init(net.module, drawn, ["siren"] * drawn, generator=generator, device=device, w0=w0)
    params = {k: v.expand(num, *v.shape[1:]).clone() for k, v in params.items()}
    params = {k: v.requires_grad_() for k, v in params.items()}
    opt = StackedOptimizer(
        params,
        torch.full((num,), lr, device=device),
        torch.zeros(num, device=device),
        torch.full((num,), OPTIMIZERS.index("adam"), device=device),
    )
    active = torch.ones(num, dtype=torch.bool, device=device)
    taken = torch.zeros(num, dtype=torch.float64, device=device)
    mse = torch.zeros(num, device=device)
    quality = torch.zeros(num, device=device)
    saved_w, saved_m = [], []
    for step in range(checkpoints[-1] + 1):
        live = active.nonzero().squeeze(1)  # frozen nets are not re-run
        pred = net({k: v[live] for k, v in params.items()}, coords, shared_inputs=True)  # [b, P, out]
        loss = (pred - targets[live]).pow(2).flatten(1).mean(1)  # [b]
        mse[live], quality[live] = loss.detach(), psnr(pred.detach(), targets[live])
        active &= quality < psnr_stop
        done = step == checkpoints[-1] or not bool(active.any())
        for _ in checkpoints[len(saved_w) :] if done else ([step] if step in checkpoints else []):
            saved_w.append({k: v.detach().clone() for k, v in params.items()})  # converged nets stay as they are
            saved_m.append({"mse": mse.double(), "psnr": quality.double(), "steps": taken.clone()})
        if done:
            break
        grads = torch.autograd.grad(loss.sum(), list(params.values()))
        opt.step(dict(zip(params, grads)), active=active)
        taken += active
        if on_step is not None:
            on_step(step + 1)
    weights = {k: torch.stack([w[k] for w in saved_w], 1) for k in params}
    metrics = {k: torch.stack([m[k] for m in saved_m], 1) for k in INR_METRICS}
    return TrainResult(weights, metrics)


@torch.no_grad()
def render_inr(model: nn.Module, shape: Sequence[int], offset: float = 0.0, indexing: str = "ij") -> torch.Tensor:
    """Decode an INR back to its signal: ``model(inr_grid(shape, indexing)) + offset`` as ``[out, *shape]``.

    For digit INRs of a netgraph zoo (defaults) this is the 8x8 image in [0, 1]; for the DWSNets
    MNIST INRs use ``shape=(28, 28), offset=0.5, indexing="xy"`` (their forward adds 0.5 and their
    coordinates are (column, row)). ``zoo.json["decode"]`` holds these arguments for every zoo.
    """
    device = next(model.parameters()).device
    values = model(inr_grid(shape, indexing, device)) + offset  # [P, out]
    return values.T.reshape(-1, *shape)
