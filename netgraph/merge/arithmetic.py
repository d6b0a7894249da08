"""Merging fine-tunes of one base (task arithmetic, TIES, DARE) and model soups.

Every function works on the learned entries of the parameter graphs (weights, biases, norm
affine parameters; see :func:`~netgraph.masks.parameter_masks`), vectorised over all networks.
Normalisation statistics of the result are the average of the merged networks' (recompute them on
data with :func:`~netgraph.merge.reset_batchnorm`); counters come from the first network. Networks
are modules (a module is returned, a copy of the first) or ``ParamGraph`` objects (a graph is returned).

* task arithmetic (Ilharco et al. 2023): ``base + scale * sum_t (theta_t - base)``;
* TIES-merging (Yadav et al. 2023): trim each task vector to its ``density`` largest magnitudes,
  elect a sign per entry (sign of the summed trimmed vectors), average the entries that agree;
* DARE (Yu et al. 2024): drop each task-vector entry with probability ``drop``, rescale the rest by
  ``1 / (1 - drop)``, then sum (or TIES-merge) them;
* model soups (Wortsman et al. 2022): the (weighted) average, or the greedy soup on held-out data.

Example:
    >>> import torch, torch.nn as nn
    >>> from netgraph.merge import task_arithmetic
    >>> base = nn.Linear(2, 1)
    >>> tuned = [nn.Linear(2, 1) for _ in range(2)]
    >>> merged = task_arithmetic(base, tuned, scale=0.5)
    >>> expected = base.weight + 0.5 * sum(t.weight - base.weight for t in tuned)
    >>> torch.allclose(merged.weight, expected)
    True
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.data import Data

from ..graph import ParamGraph
from .evaluation import evaluate_many
from ..masks import spec_parameter_masks
from .stack import Stacked, stack_networks

__all__ = ["task_vectors", "task_arithmetic", "ties_merging", "dare", "model_soup", "greedy_soup"]


def task_vectors(base: nn.Module | Data, finetuned: Sequence[nn.Module | Data]) -> torch.Tensor:
    """``[T, D]`` learned-parameter differences ``theta_t - base`` (``D`` learned entries, in graph order)."""
    nets = stack_networks([base, *finetuned])
    flat = _flatten(nets)
    return flat[1:] - flat[:1]


def task_arithmetic(
    base: nn.Module | Data, finetuned: Sequence[nn.Module | Data], scale: float = 1.0
) -> nn.Module | ParamGraph:
    """``base + scale * sum_t tau_t`` (see module docstring)."""
    nets, flat = _prepare(base, finetuned)
    return _build(nets, flat[0] + scale * (flat[1:] - flat[:1]).sum(0))


def ties_merging(
    base: nn.Module | Data, finetuned: Sequence[nn.Module | Data], density: float = 0.2, scale: float = 1.0
) -> nn.Module | ParamGraph:
    """TIES-merging: trim to ``density``, elect signs, disjoint mean; ``base + scale * merged``."""
    if not 0 < density <= 1:
        raise ValueError(f"density (the fraction of each task vector kept) must be in (0, 1], got {density}")
    nets, flat = _prepare(base, finetuned)
    tau = flat[1:] - flat[:1]
    keep = max(1, round(density * tau.shape[1]))
    threshold = tau.abs().topk(keep, dim=1).values[:, -1:]
    return _build(nets, flat[0] + scale * _disjoint_mean(torch.where(tau.abs() >= threshold, tau, 0.0)))


def dare(
    base: nn.Module | Data,
    finetuned: Sequence[nn.Module | Data],
    drop: float = 0.9,
    scale: float = 1.0,
    merge: str = "sum",
    seed: int = 0,
) -> nn.Module | ParamGraph:
    """DARE: random drop + rescale of each task vector, then ``merge="sum"`` (task arithmetic) or ``"ties"``
    (sign election and disjoint mean)."""
    if not 0 <= drop < 1:
        raise ValueError(f"drop (the probability of dropping a task-vector entry) must be in [0, 1), got {drop}")
    if merge not in ("sum", "ties"):
        raise ValueError(f"merge must be 'sum' or 'ties', got {merge!r}")
    nets, flat = _prepare(base, finetuned)
    tau = flat[1:] - flat[:1]
    generator = torch.Generator().manual_seed(seed)
    keep = torch.rand(tau.shape, generator=generator).to(tau.device) >= drop
    tau = torch.where(keep, tau / (1 - drop), 0.0)
    merged = tau.sum(0) if merge == "sum" else _disjoint_mean(tau)
    return _build(nets, flat[0] + scale * merged)


def model_soup(
    models: Sequence[nn.Module | Data], weights: Sequence[float] | torch.Tensor | None = None
) -> nn.Module | ParamGraph:
    """The (weighted) average of ``models``; ``weights`` default to uniform and are normalised."""
    nets = stack_networks(models)
    w = torch.ones(len(nets)) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (len(nets),) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(f"weights must be {len(nets)} non-negative numbers with a positive sum, got {w.tolist()}")
    w = (w / w.sum()).to(nets.x)
    return nets.result((w.view(-1, 1, 1) * nets.x).sum(0), (w.view(-1, 1, 1) * nets.edge_attr).sum(0), nets.aux[0])


def greedy_soup(
    models: Sequence[nn.Module],
    data: Any,
    *,
    model: nn.Module | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    metric: str = "accuracy",
) -> tuple[nn.Module | ParamGraph, list[int]]:
    """Greedy soup: rank ``models`` on held-out ``data`` (all at once), then add each in turn if the
    soup does not get worse. Returns the soup and the indices of its ingredients.

    The ranking evaluates every model in one ``vmap``; the greedy pass is sequential by definition
    (one candidate soup per step)."""
    if metric not in ("accuracy", "loss"):
        raise ValueError(f"metric must be 'accuracy' or 'loss', got {metric!r}")
    nets = stack_networks(models)
    runner = model if model is not None else nets.template
    if runner is None:
        raise ValueError("greedy_soup runs the networks: pass modules, or graphs with model=<a module>")

    def score(x: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        aux = nets.aux[:1].expand(x.shape[0], -1)
        loss, acc = evaluate_many(runner, nets.scatter(x, edge_attr, aux), data, loss_fn)
        if metric == "accuracy" and acc is None:
            raise ValueError("metric='accuracy' needs class-index targets; use metric='loss'")
        return acc if metric == "accuracy" else -loss

    order = score(nets.x, nets.edge_attr).argsort(descending=True).tolist()
    chosen = [order[0]]
    best = score(nets.x[order[:1]], nets.edge_attr[order[:1]])[0]
    for i in order[1:]:
        trial = chosen + [i]
        value = score(nets.x[trial].mean(0, keepdim=True), nets.edge_attr[trial].mean(0, keepdim=True))[0]
        if value >= best:
            chosen, best = trial, value
    return nets.result(nets.x[chosen].mean(0), nets.edge_attr[chosen].mean(0), nets.aux[0]), chosen


# ---------------------------------------------------------------------------------------- helpers
def _prepare(base, finetuned) -> tuple[Stacked, torch.Tensor]:
    if len(finetuned) == 0:
        raise ValueError("pass at least one fine-tuned network to merge into the base")
    nets = stack_networks([base, *finetuned])
    return nets, _flatten(nets)


def _flatten(nets: Stacked) -> torch.Tensor:
    """``[M, D]`` learned entries of every network."""
    node_mask, edge_mask = spec_parameter_masks(nets.spec, nets.x.device)
    return torch.cat([nets.x[:, node_mask], nets.edge_attr[:, edge_mask]], dim=1)


def _build(nets: Stacked, flat: torch.Tensor) -> nn.Module | ParamGraph:
    """One network whose learned entries are ``flat [D]``; statistics averaged, counters from the first."""
    node_mask, edge_mask = spec_parameter_masks(nets.spec, nets.x.device)
    x = nets.x.mean(0)  # normalisation statistics: the average
    edge_attr = nets.edge_attr[0].clone()
    split = int(node_mask.sum())
    x[node_mask] = flat[:split]
    edge_attr[edge_mask] = flat[split:]
    return nets.result(x, edge_attr, nets.aux[0])


def _disjoint_mean(tau: torch.Tensor) -> torch.Tensor:
    """TIES: elect ``sign(sum_t tau_t)`` per entry; mean of the non-zero entries that agree."""
    sign = torch.sign(tau.sum(0))
    agree = (torch.sign(tau) == sign) & (tau != 0)
    return (tau * agree).sum(0) / agree.sum(0).clamp_min(1)
