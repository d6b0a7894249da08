"""Heads that turn node / edge features of parameter graphs into outputs; they compose with any
graph encoder that returns ``(h [N, d], e [E, d])``.

* :class:`InvariantHead`: graph -> vector (accuracy prediction, classification): mean and max of
  the node features and of the edge features of each graph, then an MLP. Pooling over a graph's
  nodes and edges is invariant to any relabelling of them.
* :class:`EquivariantHead`: graph -> one value per parameter slot, ``(node_out [N, F],
  edge_out [E, K])`` (the shapes of ``x`` and ``edge_attr``); an edge reads its own features and
  those of its two end nodes. Use with :func:`netgraph.metanets.apply_edit` for residual edits.

Example:
    >>> import torch
    >>> from netgraph.metanets import InvariantHead
    >>> h, e = torch.randn(7, 8), torch.randn(10, 8)
    >>> node_graph = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    >>> edge_index = torch.tensor([[0, 1, 3, 4, 5, 3, 4, 5, 6, 6], [2, 2, 6, 6, 6, 4, 5, 3, 3, 4]])
    >>> InvariantHead(8, 3)(h, e, edge_index, node_graph, num_graphs=2).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch_geometric.nn import MLP, global_max_pool, global_mean_pool

from netgraph.types import NODE_FEATURES

from .pairwise import EdgeMLP

__all__ = ["InvariantHead", "EquivariantHead"]


class InvariantHead(nn.Module):
    """``(h [N, d], e [E, d]) -> [num_graphs, out_features]`` by per-graph mean/max pooling + MLP."""

    def __init__(self, dim: int, out_features: int, hidden: int = 128, dropout: float = 0.0):
        super().__init__()
        self.mlp = MLP([4 * dim, hidden, out_features], norm=None, dropout=dropout)

    def forward(
        self, h: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor, node_graph: torch.Tensor, num_graphs: int
    ) -> torch.Tensor:
        edge_graph = node_graph[edge_index[0]]
        pooled = [
            global_mean_pool(h, node_graph, num_graphs),
            global_max_pool(h, node_graph, num_graphs),
            global_mean_pool(e, edge_graph, num_graphs),
            global_max_pool(e, edge_graph, num_graphs),
        ]
        return self.mlp(torch.cat(pooled, dim=-1))


class EquivariantHead(nn.Module):
    """``(h [N, d], e [E, d]) -> (node_out [N, node_out], edge_out [E, edge_out])``, one MLP each;
    the edge MLP reads ``[h_j, h_i, e_ij]`` (:class:`EdgeMLP`)."""

    def __init__(self, dim: int, edge_out: int, node_out: int = len(NODE_FEATURES), hidden: int = 128):
        super().__init__()
        self.node_mlp = MLP([dim, hidden, node_out], norm=None)
        self.edge_mlp = EdgeMLP(dim, dim, hidden, edge_out)

    def forward(self, h: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.node_mlp(h), self.edge_mlp(h, edge_index, e)
