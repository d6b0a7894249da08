"""Input features of graph metanets: node and edge values plus learned categorical and positional
embeddings (Neural Graphs, Kofinas et al. 2024).

Node ``i`` starts as ``Linear(x_i) + type + activation + norm + layer(layer_i) [+ position]
[+ Linear(probe_i)]``:

* ``layer``: one learned embedding per layer index (depth), shared by every node of that layer;
* ``position``: for nodes that are never permuted (``node_pos >= 0``: inputs, outputs, pinned
  nodes), a learned embedding of their position, one table each for inputs, outputs and others;
* ``probe`` (with ``probe_features=P``): the graphs' ``probe`` attribute ``[N, P]``, what each neuron
  computes on ``P`` probe inputs (:mod:`netgraph.metanets.probes`).

Nothing distinguishes the permutable nodes of one layer, so the features are equivariant.
Edge ``(j -> i)`` starts as ``Linear(edge_attr) + edge type``.

Example:
    >>> import torch.nn as nn, netgraph
    >>> from netgraph.metanets import GraphEmbedding
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> h, e = GraphEmbedding(dim=8, edge_features=1)(g)
    >>> h.shape, e.shape
    (torch.Size([6, 8]), torch.Size([9, 8]))
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch_geometric.data import Data

from netgraph.types import NODE_FEATURES, Activation, EdgeType, NodeType, Norm

__all__ = ["GraphEmbedding"]

_EMBEDDING_STD = 0.1  # comparable to the values of typical weights after the linear encoders


class GraphEmbedding(nn.Module):
    """``graph -> (h [N, dim], e [E, dim])`` (see module docstring).

    Args:
        dim: feature size.
        edge_features: size ``K`` of ``edge_attr`` (``prod(kernel_shape)``, 9 for 3x3 kernels).
        max_layers: layer indices must be below this.
        max_positions: positions of fixed nodes (``node_pos``) must be below this.
        probe_features: number ``P`` of probe inputs in the graphs' ``probe`` attribute (0: none).
        values: build the value encoders (``False``: only the categorical and positional tables, read
            with :meth:`node_context` / :meth:`edge_context`; models that encode values themselves,
            e.g. ScaleGMN, use this).
    """

    def __init__(
        self,
        dim: int,
        edge_features: int,
        max_layers: int = 256,
        max_positions: int = 1024,
        probe_features: int = 0,
        values: bool = True,
    ):
        super().__init__()
        self.probe_features = probe_features
        self.probe = nn.Linear(probe_features, dim) if probe_features and values else None
        self.edge_features, self.max_layers, self.max_positions = edge_features, max_layers, max_positions
        self.node_values = nn.Linear(len(NODE_FEATURES), dim) if values else None
        self.edge_values = nn.Linear(edge_features, dim) if values else None
        self.node_type = nn.Embedding(len(NodeType), dim)
        self.node_act = nn.Embedding(len(Activation), dim)
        self.node_norm = nn.Embedding(len(Norm), dim)
        self.edge_type = nn.Embedding(len(EdgeType), dim)
        self.layer = nn.Embedding(max_layers, dim)
        self.position = nn.Embedding(3 * max_positions, dim)  # inputs, outputs, other fixed nodes
        for emb in (self.node_type, self.node_act, self.node_norm, self.edge_type, self.layer, self.position):
            nn.init.normal_(emb.weight, 0.0, _EMBEDDING_STD)

    def check(self, graph: Data) -> None:
        """Raise a ``ValueError`` naming the option to change if ``graph`` does not fit the tables."""
        if graph.edge_attr.shape[1] != self.edge_features:
            raise ValueError(
                f"the graphs have {graph.edge_attr.shape[1]} edge features but the model was built for "
                f"edge_features={self.edge_features}; build the graphs with "
                "from_module(m, kernel_shape=...) giving that many, or the model with "
                f"edge_features={graph.edge_attr.shape[1]}"
            )
        if graph.num_nodes and int(graph.layer.max()) >= self.max_layers:
            raise ValueError(
                f"the graphs have layer index {int(graph.layer.max())} but the model has "
                f"max_layers={self.max_layers}; build the model with a larger max_layers"
            )
        if graph.num_nodes and int(graph.node_pos.max()) >= self.max_positions:
            raise ValueError(
                f"the graphs have a fixed node at position {int(graph.node_pos.max())} but the model has "
                f"max_positions={self.max_positions}; build the model with a larger max_positions"
            )

    def check_probe(self, graph: Data) -> torch.Tensor:
        probe = getattr(graph, "probe", None)
        if probe is None or probe.shape[-1] != self.probe_features:
            found = "no probe attribute" if probe is None else f"probe features of size {probe.shape[-1]}"
            raise ValueError(
                f"the model was built with probe_features={self.probe_features} but the graphs have "
                f"{found}; add them with netgraph.metanets.ProbeFeatures(model, probes) "
                f"({self.probe_features} probes)"
            )
        return probe

    def node_context(self, graph: Data) -> torch.Tensor:
        """``[N, dim]``: type + activation + norm + layer embeddings, plus the position embedding of
        fixed nodes; no parameter values (invariant to any rescaling of the weights)."""
        h = (
            self.node_type(graph.node_type)
            + self.node_act(graph.node_act)
            + self.node_norm(graph.node_norm)
            + self.layer(graph.layer)
        )
        pos = graph.node_pos
        table = torch.where(graph.node_type == NodeType.INPUT, 0, torch.where(graph.node_type == NodeType.OUTPUT, 1, 2))
        position = self.position(table * self.max_positions + pos.clamp(min=0))
        return h + torch.where((pos >= 0).unsqueeze(-1), position, 0.0)

    def edge_context(self, graph: Data) -> torch.Tensor:
        """``[E, dim]``: the edge-type embedding."""
        return self.edge_type(graph.edge_type)

    def forward(self, graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
        if self.node_values is None:
            raise RuntimeError("this GraphEmbedding was built with values=False; read node_context / edge_context")
        self.check(graph)
        h = self.node_values(graph.x) + self.node_context(graph)
        if self.probe is not None:
            h = h + self.probe(self.check_probe(graph))
        e = self.edge_values(graph.edge_attr) + self.edge_context(graph)
        return h, e
