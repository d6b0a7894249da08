"""Linear interpolation of two networks through their parameter graphs.

``(1 - t) A + t B`` on every learned weight and bias, and on the normalisation statistics (which
should then be recomputed on data: :func:`~netgraph.merge.reset_batchnorm`); counters (``aux``)
are taken from A. Align B to A first (:func:`netgraph.align` / :func:`~netgraph.merge.rebasin`) for
the interpolation to stay in one basin.

Example:
    >>> import torch, torch.nn as nn
    >>> from netgraph.merge import interpolate
    >>> a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    >>> mid = interpolate(a, b, 0.5)
    >>> torch.allclose(mid.weight, (a.weight + b.weight) / 2)
    True
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torch_geometric.data import Data

from ..graph import ParamGraph
from .stack import Stacked, stack_networks

__all__ = ["interpolate", "interpolation_states"]


def interpolate(model_a: nn.Module | Data, model_b: nn.Module | Data, t: float = 0.5) -> nn.Module | ParamGraph:
    """The network ``(1 - t) A + t B``: a module if modules were given, else a ``ParamGraph``."""
    nets = stack_networks([model_a, model_b])
    x, edge_attr, aux = _lerp(nets, torch.tensor([float(t)], device=nets.x.device))
    return nets.result(x[0], edge_attr[0], aux[0])


def interpolation_states(
    model_a: nn.Module | Data, model_b: nn.Module | Data, t: Sequence[float] | torch.Tensor
) -> tuple[Stacked, dict[str, torch.Tensor]]:
    """Stacked state dicts ``{key: [len(t), *shape]}`` of the networks at every ``t`` (for ``vmap``)."""
    nets = stack_networks([model_a, model_b])
    t = torch.as_tensor(t, dtype=nets.x.dtype, device=nets.x.device).reshape(-1)
    return nets, nets.scatter(*_lerp(nets, t))


def _lerp(nets: Stacked, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    w = t.view(-1, 1, 1)
    x = (1 - w) * nets.x[0] + w * nets.x[1]
    edge_attr = (1 - w) * nets.edge_attr[0] + w * nets.edge_attr[1]
    return x, edge_attr, nets.aux[0].expand(len(t), -1).clone()
