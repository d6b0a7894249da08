"""Base class of the metanets that run on parameter graphs (GMN / NG-GNN, NG-T).

A graph metanet is :class:`GraphEmbedding` -> ``depth`` layers ``(h, e) -> (h, e)`` -> heads
(:class:`InvariantHead` for ``forward``, :class:`EquivariantHead` for ``parameter_outputs`` /
``edit``). It takes batches mixing architectures, as long as their edge features have one size.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch_geometric.data import Data

from netgraph.batching import graph_index, num_graphs
from netgraph.types import NODE_FEATURES

from .base import Metanet
from .graph_inputs import GraphEmbedding
from .heads import EquivariantHead, InvariantHead

__all__ = ["GraphMetanet"]


class GraphMetanet(Metanet):
    """Embedding + ``self.layers`` (built by the subclass) + heads.

    Subclasses call ``super().__init__`` with the shared options, then set ``self.layers`` to an
    ``nn.ModuleList`` of modules with ``forward(h, edge_index, e) -> (h, e)``.
    """

    def __init__(
        self,
        dim: int,
        edge_features: int,
        out_features: int,
        head_hidden: int,
        dropout: float,
        edit: bool,
        edit_scale: float,
        max_layers: int,
        max_positions: int,
        probe_features: int = 0,
    ):
        super().__init__(out_features, edit, edit_scale)
        self.embedding = GraphEmbedding(dim, edge_features, max_layers, max_positions, probe_features)
        self.layers = nn.ModuleList()
        self.head = InvariantHead(dim, out_features, head_hidden, dropout) if out_features else None
        self.edit_head = EquivariantHead(dim, edge_features, len(NODE_FEATURES), head_hidden) if edit else None

    def encode(self, graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
        """Node and edge features ``(h [N, dim], e [E, dim])`` after every layer."""
        h, e = self.embedding(graph)
        for layer in self.layers:
            h, e = layer(h, graph.edge_index, e)
        return h, e

    def forward(self, graph: Data) -> torch.Tensor:
        """``[num_graphs, out_features]``, invariant to the symmetries of every input network."""
        self._require("invariant")
        h, e = self.encode(graph)
        return self.head(h, e, graph.edge_index, graph_index(graph), num_graphs(graph))

    def _parameter_outputs(self, graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
        h, e = self.encode(graph)
        return self.edit_head(h, e, graph.edge_index)
