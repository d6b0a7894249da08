"""BatchNorm statistics of merged networks, recomputed on data (many networks at once).

Interpolated or merged weights make the stored running statistics wrong (averaging two networks'
statistics does not give the statistics of the averaged network: the variance collapses). Jordan
et al. (REPAIR, 2023) and Git Re-Basin reset them on data; this does it for ``B`` stacked networks
in one ``vmap``ped pass per batch. As with ``momentum=None`` in PyTorch, the new running mean and
variance are the averages over the batches of each batch's mean and unbiased variance.

Example:
    >>> import torch, torch.nn as nn
    >>> from netgraph.merge import reset_batchnorm
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    >>> x = torch.randn(64, 3) * 5 + 2
    >>> _ = reset_batchnorm(model, x)
    >>> bool(model(x).mean(0).abs().max() < 1e-4)         # normalised on this data now
    True
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..population import Population
from .data import input_batches

__all__ = ["reset_batchnorm", "recompute_batchnorm_stats", "batchnorm_keys"]


def batchnorm_keys(model: nn.Module) -> list[str]:
    """State-dict keys of the running means and variances of ``model``'s BatchNorm layers."""
    keys = []
    for path, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            prefix = f"{path}." if path else ""
            keys += [prefix + "running_mean", prefix + "running_var"]
    return keys


def recompute_batchnorm_stats(
    model: nn.Module, states: dict[str, torch.Tensor], data: Any, max_batches: int | None = None, progress: bool = False
) -> dict[str, torch.Tensor]:
    """New stacked states (``{key: [B, *shape]}``) whose BatchNorm statistics are those of each
    network on ``data`` (inputs, ``(inputs, targets)``, or an iterable of batches)."""
    keys = batchnorm_keys(model)
    if not keys:
        return states
    work = copy.deepcopy(model).eval()
    for module in work.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
            module.momentum = 1.0  # running stats := this batch's stats
    totals = {k: torch.zeros_like(states[k]) for k in keys}
    count = 0
    batches = input_batches(data)
    with torch.no_grad():
        for inputs in tqdm(batches, disable=not progress, desc="BatchNorm statistics"):
            step = dict(states)
            step.update({k: states[k].clone() for k in keys})
            Population(step, work).run(inputs)  # updates step's running statistics in place
            for k in keys:
                totals[k] += step[k]
            count += 1
            if max_batches is not None and count >= max_batches:
                break
    if count == 0:
        raise ValueError("recompute_batchnorm_stats got no data batches")
    out = dict(states)
    out.update({k: v / count for k, v in totals.items()})
    return out


def reset_batchnorm(model: nn.Module, data: Any, max_batches: int | None = None) -> nn.Module:
    """Recompute ``model``'s BatchNorm running statistics on ``data`` in place; returns ``model``."""
    state = model.state_dict()
    stacked = {k: v.unsqueeze(0) for k, v in state.items()}
    new = recompute_batchnorm_stats(model, stacked, data, max_batches)
    model.load_state_dict({k: v[0] for k, v in new.items()})
    return model
