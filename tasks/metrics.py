"""Metrics of the weight-space benchmarks, computed with torch on the predictions' device.

* :func:`kendall_tau` - Kendall's tau-b rank correlation (the tie-corrected one, as
  ``scipy.stats.kendalltau``), the headline metric of accuracy prediction (CIFAR10-GS protocol);
* :func:`r2_score` - coefficient of determination, averaged over target columns;
* :func:`mean_squared_error`, :func:`accuracy`.

Every function takes ``prediction`` and ``target`` tensors and returns a Python float. Pair
counts of Kendall's tau are computed in row blocks of an ``n x n`` comparison, so memory stays
bounded (``block`` rows at a time) for test sets of tens of thousands of networks.

Example:
    >>> import torch
    >>> kendall_tau(torch.tensor([1., 2., 3., 4.]), torch.tensor([1., 3., 2., 4.]))   # 5 concordant, 1 discordant pair
    0.6666666666666666
    >>> r2_score(torch.tensor([1., 2., 3.]), torch.tensor([1., 2., 4.]))               # 1 - 1 / (14 / 3)
    0.7857142857142857
"""

from __future__ import annotations

import math

import torch

__all__ = ["kendall_tau", "r2_score", "mean_squared_error", "accuracy"]


def _check_pair(prediction: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if prediction.shape[0] != target.shape[0]:
        raise ValueError(
            f"{name}: prediction has {prediction.shape[0]} rows but target has {target.shape[0]}; "
            "give one prediction per target"
        )
    if prediction.shape[0] == 0:
        raise ValueError(f"{name}: got empty tensors; evaluate on a split with at least one network")


def kendall_tau(prediction: torch.Tensor, target: torch.Tensor, block: int = 2048) -> float:
    """Kendall's tau-b between two score vectors ``[n]``: ``(C - D) / sqrt((P - T_x) (P - T_y))``.

    ``C`` / ``D`` count concordant / discordant pairs, ``P`` all pairs, ``T_x`` / ``T_y`` pairs
    tied in one vector. NaN when either vector is constant (as ``scipy.stats.kendalltau``).
    """
    x, y = prediction.detach().reshape(-1).double(), target.detach().reshape(-1).double().to(prediction.device)
    _check_pair(x, y, "kendall_tau")
    n = x.shape[0]
    concordance = ties_x = ties_y = 0.0
    for start in range(0, n, block):  # row blocks of the n x n pair matrix
        sx = torch.sign(x[start : start + block, None] - x[None, :])  # [b, n]
        sy = torch.sign(y[start : start + block, None] - y[None, :])
        concordance += float((sx * sy).sum())
        ties_x += float((sx == 0).sum())
        ties_y += float((sy == 0).sum())
    pairs = n * n  # ordered pairs, diagonal included
    denominator = math.sqrt((pairs - ties_x) * (pairs - ties_y))  # diagonal counts as a tie in both
    return concordance / denominator if denominator > 0 else float("nan")


def r2_score(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """``1 - SS_res / SS_tot`` per target column (``[n]`` or ``[n, k]``), averaged over columns."""
    p, t = prediction.detach().double(), target.detach().double().to(prediction.device)
    _check_pair(p, t, "r2_score")
    p, t = p.reshape(p.shape[0], -1), t.reshape(t.shape[0], -1)
    if p.shape != t.shape:
        raise ValueError(f"r2_score: prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    residual = (t - p).pow(2).sum(0)
    total = (t - t.mean(0)).pow(2).sum(0)
    return float((1 - residual / total).mean())


def mean_squared_error(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean of ``(prediction - target)^2`` over every entry."""
    p, t = prediction.detach().double(), target.detach().double().to(prediction.device)
    _check_pair(p, t, "mean_squared_error")
    if p.numel() != t.numel():
        raise ValueError(f"mean_squared_error: prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in size")
    return float((p.reshape(t.shape) - t).pow(2).mean())


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Share of rows whose arg-max class (``logits [n, classes]``) equals ``target`` (``[n]`` class
    indices, or ``[n, classes]`` probabilities whose arg-max is the class)."""
    _check_pair(logits, target, "accuracy")
    labels = target.argmax(-1) if target.dim() == 2 else target
    return float((logits.detach().argmax(-1) == labels.to(logits.device)).double().mean())
