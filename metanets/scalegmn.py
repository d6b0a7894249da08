"""ScaleGMN: graph metanetworks equivariant to the scaling symmetries of the activations as well as to
neuron permutations (Kalogeropoulos et al., NeurIPS 2024); ScaleGMN-B adds backward messages.

A hidden neuron ``i`` whose activation satisfies ``act(q z) = q act(z)`` can be rescaled: its
incoming weights and bias times ``q_i``, its outgoing weights times ``1 / q_i``, and the network
computes the same function. ``q_i = +-1`` for odd activations (tanh, sine), ``q_i > 0`` for ReLU,
any non-zero ``q_i`` for the identity; inputs, outputs and neurons touched by constants (residuals,
norms) have ``q_i = 1`` (:mod:`netgraph.augment.neurons` decides, read from the graph). Bias ``b_i``
turns into ``q_i b_i`` and weight ``W_ij`` (edge ``j -> i``) into ``q_i W_ij / q_j``.

Every representation here transforms the same way: node features ``h_i [d]`` into ``q_i h_i``,
edge features ``e_ij [d]`` into ``q_i e_ij / q_j``. The building blocks:

* ``ScaleInv(x)`` (:class:`ScaleInvariant`): an MLP of a canonical form of ``x``, exactly invariant:
  ``x / ||x||`` where positive scales act (canonicalisation), then ``rho(c) + rho(-c)`` where sign
  flips act (symmetrisation); invariant context (layer, type, position embeddings) joins ``c``.
* ``ScaleEq(x) = Gamma x * ScaleInv(x)`` (:class:`ScaleEquivariant`): a linear map without bias
  (commutes with scalar multiplication) gated elementwise by invariants.

One :class:`ScaleGMNConv` layer, for the edge ``j -> i``:

* forward message to ``i``: ``ScaleEq_i([h_i, e_ij * h_j])``; ``e_ij * h_j`` transforms by ``q_i``;
* backward message to ``j`` (ScaleGMN-B): ``ScaleEq_j([h_j, e_ij^-1 * h_i])`` with
  ``e^-1 = e / ||e||^2`` (transforms by ``q_j / q_i``), or the plain product ``e_ij * h_i`` where only
  sign flips act on both ends (``q^2 = 1``);
* mean aggregation, node update ``h_i + ScaleEq_i([h_i, m_fwd, m_bwd])``, edge update
  ``e_ij + Gamma_e e_ij * MLP([ScaleInv(e_ij), ScaleInv(h_i), ScaleInv(h_j)])``.

Initial features: ``h_i = Gamma_x x_i`` (``+ Gamma_p probe_i`` with probe features, which are
pre-activations and rescale with the neuron) plus the learned embeddings on nodes no rescaling
touches (inputs and outputs carry only them); ``e_ij = Gamma_w w_ij``. The invariant head pools
``ScaleInv`` of the final node and edge features; the edit head maps ``h`` and ``e`` by linear maps
without bias, so edits rescale with the weights they edit.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.augment import SignFlip
    >>> from netgraph.metanets import create_metanet
    >>> net = mlp([2, 8, 8, 1], "tanh")
    >>> g = netgraph.from_module(net)
    >>> model = create_metanet("scalegmn_b", dim=8, depth=2, head_hidden=16, edge_features=1).eval()
    >>> flipped = SignFlip(generator=torch.Generator().manual_seed(0))(g)
    >>> torch.allclose(model(flipped), model(g), atol=1e-5)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.data import Data
from torch_geometric.nn import MLP
from torch_geometric.utils import scatter

from netgraph.augment.neurons import ODD, POSITIVE_HOMOGENEOUS, batch_rescalable
from netgraph.batching import graph_index, num_graphs
from netgraph.types import NODE_FEATURES

from .base import Metanet
from .graph_inputs import GraphEmbedding
from .heads import InvariantHead
from .registry import register_metanet

__all__ = ["ScaleGMN", "ScaleGMNConv", "ScaleInvariant", "ScaleEquivariant", "ScaleGroups", "scale_groups", "canonical"]

_EPS = 1e-12


@dataclass
class ScaleGroups:
    """Which scalings act on each node and edge of a batch (``[N]`` / ``[E]`` bools), and the node and
    edge context embeddings (``[N, d]`` / ``[E, d]``, invariant to every scaling)."""

    node_sign: torch.Tensor
    node_positive: torch.Tensor
    edge_sign: torch.Tensor
    edge_positive: torch.Tensor
    node_context: torch.Tensor
    edge_context: torch.Tensor

    @property
    def node_fixed(self) -> torch.Tensor:
        """``[N]`` True at nodes no rescaling touches."""
        return ~(self.node_sign | self.node_positive)


def scale_groups(graph: Data, node_context: torch.Tensor, edge_context: torch.Tensor) -> ScaleGroups:
    """The :class:`ScaleGroups` of ``graph``: sign flips act on odd-activation neurons, positive scales on
    positively homogeneous ones (both on the identity); an edge ``j -> i`` is scaled by ``q_i / q_j``,
    so it takes every kind acting on either end."""
    sign = batch_rescalable(graph, ODD)
    positive = batch_rescalable(graph, POSITIVE_HOMOGENEOUS)
    src, dst = graph.edge_index
    return ScaleGroups(sign, positive, sign[src] | sign[dst], positive[src] | positive[dst], node_context, edge_context)


def canonical(x: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """``x [M, d]`` with rows where positive scales act divided by their norm (invariant to ``q > 0``)."""
    norm = x.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.where(positive.unsqueeze(-1), x / norm, x)


class ScaleInvariant(nn.Module):
    """``ScaleInv(x) = rho([c, ctx]) + rho([s c, ctx])``: ``c`` = :func:`canonical` ``(x)``, ``s = -1`` where
    sign flips act (else 1), ``ctx`` invariant context. ``x [M, in_dim] -> [M, out_dim]``."""

    def __init__(self, in_dim: int, out_dim: int, context_dim: int = 0, hidden: int | None = None):
        super().__init__()
        self.context_dim = context_dim
        self.rho = MLP([in_dim + context_dim, hidden or out_dim, out_dim], norm=None)

    def forward(
        self, x: torch.Tensor, sign: torch.Tensor, positive: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        c = canonical(x, positive)
        flipped = torch.where(sign.unsqueeze(-1), -c, c)
        if self.context_dim:
            c, flipped = torch.cat([c, context], -1), torch.cat([flipped, context], -1)
        return self.rho(c) + self.rho(flipped)


class ScaleEquivariant(nn.Module):
    """``ScaleEq(x) = Gamma x * ScaleInv(x)``: ``x [M, in_dim] -> [M, out_dim]``, and ``q x -> q ScaleEq(x)``."""

    def __init__(self, in_dim: int, out_dim: int, context_dim: int = 0):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.gate = ScaleInvariant(in_dim, out_dim, context_dim)

    def forward(
        self, x: torch.Tensor, sign: torch.Tensor, positive: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.linear(x) * self.gate(x, sign, positive, context)


class ScaleGMNConv(nn.Module):
    """One ScaleGMN layer ``(h [N, d], e [E, d]) -> (h', e')`` (see the module docstring).

    Args:
        dim: feature size ``d`` (also the size of the context embeddings).
        bidirectional: add backward messages (ScaleGMN-B).
    """

    def __init__(self, dim: int, bidirectional: bool = False):
        super().__init__()
        self.bidirectional = bidirectional
        self.forward_message = ScaleEquivariant(2 * dim, dim, dim)
        self.backward_message = ScaleEquivariant(2 * dim, dim, dim) if bidirectional else None
        self.node_update = ScaleEquivariant((3 if bidirectional else 2) * dim, dim, dim)
        self.node_invariant = ScaleInvariant(dim, dim, dim)
        self.edge_invariant = ScaleInvariant(dim, dim, dim)
        self.edge_linear = nn.Linear(dim, dim, bias=False)
        self.edge_gate = MLP([3 * dim, dim, dim], norm=None)

    def forward(
        self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor, groups: ScaleGroups
    ) -> tuple[torch.Tensor, torch.Tensor]:
        src, dst = edge_index
        g, n = groups, h.shape[0]
        incoming = torch.cat([h[dst], e * h[src]], -1)  # scales by q_dst
        messages = self.forward_message(incoming, g.node_sign[dst], g.node_positive[dst], g.node_context[dst])
        parts = [h, scatter(messages, dst, 0, dim_size=n, reduce="mean")]
        if self.backward_message is not None:
            sign_only = ~(g.node_positive[src] | g.node_positive[dst]).unsqueeze(-1)
            inverse = e / e.pow(2).sum(-1, keepdim=True).clamp_min(_EPS)
            outgoing = torch.cat([h[src], torch.where(sign_only, e, inverse) * h[dst]], -1)  # scales by q_src
            messages = self.backward_message(outgoing, g.node_sign[src], g.node_positive[src], g.node_context[src])
            parts.append(scatter(messages, src, 0, dim_size=n, reduce="mean"))
        h = h + self.node_update(torch.cat(parts, -1), g.node_sign, g.node_positive, g.node_context)
        node_inv = self.node_invariant(h, g.node_sign, g.node_positive, g.node_context)
        edge_inv = self.edge_invariant(e, g.edge_sign, g.edge_positive, g.edge_context)
        e = e + self.edge_linear(e) * self.edge_gate(torch.cat([edge_inv, node_inv[src], node_inv[dst]], -1))
        return h, e


@register_metanet("scalegmn", bidirectional=False)
@register_metanet("scalegmn_b", bidirectional=True)
class ScaleGMN(Metanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "scalegmn"]):
    """ScaleGMN / ScaleGMN-B on parameter graphs: invariant to neuron permutations and to the
    activations' scalings (sign flips for tanh / sine, positive scales for ReLU).

    Args (``dim``, ``depth``, ``head_hidden``: defaults in ``configs/metanet/scalegmn.yaml``):
        dim: node and edge feature size.
        depth: number of :class:`ScaleGMNConv` layers.
        edge_features: size ``K`` of ``edge_attr`` (9 for graphs built with ``kernel_shape=(3, 3)``).
        bidirectional: backward messages too (``scalegmn_b``; ``scalegmn`` fixes ``False``).
        out_features: size of the invariant output (0: no invariant head).
        head_hidden: hidden width of the invariant head.
        dropout: dropout in the invariant head.
        edit: build the equivariant edit head (``parameter_outputs`` / ``edit``).
        edit_scale: initial ``scale`` of edits ``w + scale * delta``.
        max_layers, max_positions: sizes of the layer and position embedding tables.
        probe_features: use the graphs' ``probe`` features of this size (0: none).
    """

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        head_hidden: int,
        edge_features: int = 9,
        bidirectional: bool = False,
        out_features: int = 1,
        dropout: float = 0.0,
        edit: bool = False,
        edit_scale: float = 0.01,
        max_layers: int = 256,
        max_positions: int = 1024,
        probe_features: int = 0,
    ):
        super().__init__(out_features, edit, edit_scale)
        self.embedding = GraphEmbedding(dim, edge_features, max_layers, max_positions, probe_features, values=False)
        self.node_values = nn.Linear(len(NODE_FEATURES), dim, bias=False)
        self.edge_values = nn.Linear(edge_features, dim, bias=False)
        self.probe = nn.Linear(probe_features, dim, bias=False) if probe_features else None
        self.layers = nn.ModuleList(ScaleGMNConv(dim, bidirectional) for _ in range(depth))
        self.node_readout = ScaleInvariant(dim, dim, dim)
        self.edge_readout = ScaleInvariant(dim, dim, dim)
        self.head = InvariantHead(dim, out_features, head_hidden, dropout) if out_features else None
        self.edit_nodes = nn.Linear(dim, len(NODE_FEATURES), bias=False) if edit else None
        self.edit_edges = nn.Linear(dim, edge_features, bias=False) if edit else None

    def encode(self, graph: Data) -> tuple[torch.Tensor, torch.Tensor, ScaleGroups]:
        """Node and edge features ``(h [N, dim], e [E, dim])`` after every layer, and the groups."""
        self.embedding.check(graph)
        groups = scale_groups(graph, self.embedding.node_context(graph), self.embedding.edge_context(graph))
        h = self.node_values(graph.x)
        if self.probe is not None:
            h = h + self.probe(self.embedding.check_probe(graph))
        h = h + torch.where(groups.node_fixed.unsqueeze(-1), groups.node_context, 0.0)
        e = self.edge_values(graph.edge_attr)
        for layer in self.layers:
            h, e = layer(h, graph.edge_index, e, groups)
        return h, e, groups

    def forward(self, graph: Data) -> torch.Tensor:
        """``[num_graphs, out_features]``, invariant to permutations and rescalings of hidden neurons."""
        self._require("invariant")
        h, e, g = self.encode(graph)
        h = self.node_readout(h, g.node_sign, g.node_positive, g.node_context)
        e = self.edge_readout(e, g.edge_sign, g.edge_positive, g.edge_context)
        return self.head(h, e, graph.edge_index, graph_index(graph), num_graphs(graph))

    def _parameter_outputs(self, graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
        h, e, _ = self.encode(graph)
        return self.edit_nodes(h), self.edit_edges(e)
