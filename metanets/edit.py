"""Residual edits of parameter graphs: ``w + scale * delta`` on parameter slots only.

Parameter slots (:mod:`netgraph.masks`) are the values of ``x`` / ``edge_attr`` that hold learnable
parameters; fixed edges (residual identities, product inputs), padding, absent features and
buffers (BatchNorm running statistics) are never edited.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> from netgraph.metanets import apply_edit, parameter_masks
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> node_mask, edge_mask = parameter_masks(g)
    >>> int(node_mask.sum()), int(edge_mask.sum())   # 4 biases, 9 weights
    (4, 9)
    >>> edited = apply_edit(g, torch.ones_like(g.x), torch.ones_like(g.edge_attr), scale=0.5)
    >>> round(float((netgraph.to_state_dict(edited)["0.bias"] - netgraph.to_state_dict(g)["0.bias"]).max()), 5)
    0.5
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch_geometric.data import Data

from netgraph.masks import parameter_masks

__all__ = ["apply_edit", "EditScale"]


def apply_edit(graph: Data, node_delta: torch.Tensor, edge_delta: torch.Tensor, scale: torch.Tensor | float) -> Data:
    """The graph with ``x + scale * node_delta`` and ``edge_attr + scale * edge_delta`` on parameter slots.

    Args:
        graph: a ``ParamGraph`` or a batch.
        node_delta: ``[N, F]`` (same shape as ``graph.x``).
        edge_delta: ``[E, K]`` (same shape as ``graph.edge_attr``).
        scale: a scalar (tensor or float); gradients flow to it and to the deltas.

    Returns a shallow copy of ``graph`` with new ``x`` and ``edge_attr``; ``netgraph.to_state_dicts``
    of it gives the edited weights (differentiably).
    """
    for name, delta, ref in (("node_delta", node_delta, graph.x), ("edge_delta", edge_delta, graph.edge_attr)):
        if delta.shape != ref.shape:
            raise ValueError(
                f"{name} has shape {tuple(delta.shape)}, expected {tuple(ref.shape)} (the graph's "
                f"{'x' if name == 'node_delta' else 'edge_attr'}); predict one value per slot"
            )
    node_mask, edge_mask = parameter_masks(graph)
    out = copy.copy(graph)
    out.x = graph.x + scale * torch.where(node_mask, node_delta, 0.0)
    out.edge_attr = graph.edge_attr + scale * torch.where(edge_mask, edge_delta, 0.0)
    return out


class EditScale(nn.Module):
    """The learnable scalar ``scale`` of a residual edit ``w + scale * delta`` (initialised small).

    >>> EditScale(0.01)().item()
    0.009999999776482582
    """

    def __init__(self, init: float = 0.01):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(init)))

    def forward(self) -> torch.Tensor:
        return self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale.item():.3g}"
