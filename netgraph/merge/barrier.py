"""Loss and accuracy along the linear path between two networks, and its barrier.

All points of the path are evaluated together (one ``vmap`` over the stacked interpolated state
dicts per data batch). Networks with BatchNorm get their statistics recomputed at every point
(as in Git Re-Basin and REPAIR); without that, interpolated ResNets collapse whatever the alignment.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.merge import barrier
    >>> a = mlp([4, 8, 3]); x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> path = barrier(a, a, (x, y), steps=3)                  # a network with itself: flat path
    >>> path.t.tolist(), round(float(path.loss_barrier), 6)
    ([0.0, 0.5, 1.0], 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.data import Data

from .batchnorm import batchnorm_keys, recompute_batchnorm_stats
from .evaluation import evaluate_many
from .interpolation import interpolation_states

__all__ = ["barrier", "InterpolationPath"]


@dataclass
class InterpolationPath:
    """Metrics at ``t`` (``[steps]``) along ``(1 - t) A + t B``."""

    t: torch.Tensor
    loss: torch.Tensor
    accuracy: torch.Tensor | None

    @property
    def loss_barrier(self) -> torch.Tensor:
        """``max_t loss(t) - ((1 - t) loss(0) + t loss(1))`` (Frankle et al. 2020; Ainsworth et al. 2023)."""
        return (self.loss - _chord(self.t, self.loss)).max()

    @property
    def accuracy_barrier(self) -> torch.Tensor | None:
        """``max_t ((1 - t) acc(0) + t acc(1)) - acc(t)``, or None without class labels."""
        if self.accuracy is None:
            return None
        return (_chord(self.t, self.accuracy) - self.accuracy).max()


def barrier(
    model_a: nn.Module | Data,
    model_b: nn.Module | Data,
    data: Any,
    steps: int = 11,
    *,
    model: nn.Module | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    reset_bn: bool | None = None,
    bn_data: Any = None,
) -> InterpolationPath:
    """Loss / accuracy of ``(1 - t) A + t B`` for ``steps`` evenly spaced ``t`` in ``[0, 1]``.

    Args:
        model_a, model_b: modules (or ``ParamGraph`` with ``model=`` a module of the architecture).
        data: ``(inputs, targets)`` or an iterable of such batches (a ``DataLoader``).
        loss_fn: ``loss_fn(outputs, targets)`` -> mean loss of one network on one batch.
        reset_bn: recompute BatchNorm statistics at every point (default: if the model has BatchNorm).
        bn_data: data for those statistics (default: ``data``).

    Returns:
        :class:`InterpolationPath` with ``loss`` and ``accuracy`` (``None`` unless targets are class
        indices) per point, averaged over samples, and the barriers.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two end points), got {steps}")
    model = model if model is not None else model_a if isinstance(model_a, nn.Module) else None
    if model is None:
        raise ValueError(
            "barrier runs the networks: pass modules, or graphs together with model=<a module of this architecture>"
        )
    t = torch.linspace(0, 1, steps)
    _, states = interpolation_states(model_a, model_b, t)
    if reset_bn is None:
        reset_bn = bool(batchnorm_keys(model))
    if reset_bn:
        states = recompute_batchnorm_stats(model, states, bn_data if bn_data is not None else data)
    loss, accuracy = evaluate_many(model, states, data, loss_fn)
    return InterpolationPath(t, loss, accuracy)


def _chord(t: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return (1 - t.double()) * values[0] + t.double() * values[-1]
