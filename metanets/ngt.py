"""NG-T: a relational graph transformer on parameter graphs (Neural Graphs, Kofinas et al. 2024,
after the Relational Transformer of Diao & Loynd 2023), with attention restricted to real edges.

Each node attends over its *relations*: the edges into it (``j -> i``), the edges out of it (read
backwards) and itself, each with its own relation embedding. For a relation ``j -> i`` with
features ``r_ij`` (the edge's features plus the direction embedding):

* ``q_i = W_q h_i``, ``k_ij = W_k h_j + U_k r_ij``, ``v_ij = W_v h_j + U_v r_ij`` (per head);
* ``a_ij = softmax_j(q_i . k_ij / sqrt(d_head))`` over the relations of ``i`` (PyG ``softmax``);
* ``h_i <- h_i + W_o sum_j a_ij v_ij``, then ``h <- h + FFN(h)`` (pre-norm);
* edges: ``e_ij <- e_ij + MLP([h_j, h_i, LN(e_ij)])``.

Memory is ``O((2E + N) * d)``, not ``O(N^2 * d)``: there is no dense ``N x N`` attention (the dense
formulation appears only as the baseline in ``benchmarks/bench_metanets.py``).

Example:
    >>> import torch.nn as nn, netgraph
    >>> from netgraph.metanets import NGT
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> NGT(dim=8, depth=1, heads=2, head_hidden=16, edge_features=1).eval()(g).shape
    torch.Size([1, 1])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.nn import MLP, MessagePassing
from torch_geometric.utils import softmax

from .graph_model import GraphMetanet
from .pairwise import EdgeMLP
from .registry import register_metanet

__all__ = ["NGT", "NGTLayer", "RelationalAttention"]


class RelationalAttention(MessagePassing):
    """Multi-head attention of each node over its relations ``relation_index [2, R]`` (source ->
    receiver) with relation features ``r [R, d]``: ``(h [N, d], relation_index, r) -> [N, d]``."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__(aggr="sum", node_dim=0)
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.head_dim = heads, dim // heads
        self.query = nn.Linear(dim, dim)
        self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.relation_key = nn.Linear(dim, dim, bias=False)
        self.relation_value = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, relation_index: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        shape = (-1, self.heads, self.head_dim)
        out = self.propagate(
            relation_index,
            q=self.query(h).view(shape),
            k=self.key(h).view(shape),
            v=self.value(h).view(shape),
            rk=self.relation_key(r).view(shape),
            rv=self.relation_value(r).view(shape),
        )
        return self.out(out.reshape(h.shape[0], -1))

    def message(
        self,
        q_i: torch.Tensor,
        k_j: torch.Tensor,
        v_j: torch.Tensor,
        rk: torch.Tensor,
        rv: torch.Tensor,
        index: torch.Tensor,
        ptr: torch.Tensor | None,
        size_i: int | None,
    ) -> torch.Tensor:
        scores = (q_i * (k_j + rk)).sum(dim=-1) / math.sqrt(self.head_dim)  # [R, heads]
        alpha = self.dropout(softmax(scores, index, ptr, size_i))
        return (v_j + rv) * alpha.unsqueeze(-1)


class NGTLayer(nn.Module):
    """One NG-T block: relational attention, feed-forward, edge update (pre-norm residuals).
    ``(h [N, d], edge_index [2, E], e [E, d]) -> (h', e')``."""

    def __init__(self, dim: int, heads: int = 4, ffn_factor: int = 2, dropout: float = 0.0):
        super().__init__()
        self.attention = RelationalAttention(dim, heads, dropout)
        self.directions = nn.Parameter(torch.randn(3, dim) * 0.1)  # forward edge, backward edge, self
        self.norm_h, self.norm_r, self.norm_ffn, self.norm_e = (nn.LayerNorm(dim) for _ in range(4))
        self.ffn = MLP([dim, ffn_factor * dim, dim], norm=None, dropout=dropout, act="gelu")
        self.edge_mlp = EdgeMLP(dim, dim, ffn_factor * dim, dim, act="gelu", dropout=dropout)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = h.shape[0]
        nodes = torch.arange(n, device=h.device)
        relation_index = torch.cat([edge_index, edge_index.flip(0), nodes.expand(2, n)], dim=1)
        e_norm = self.norm_r(e)
        r = torch.cat([e_norm + self.directions[0], e_norm + self.directions[1], self.directions[2].expand(n, -1)])
        h = h + self.attention(self.norm_h(h), relation_index, r)
        h = h + self.ffn(self.norm_ffn(h))
        e = e + self.edge_mlp(h, edge_index, self.norm_e(e))
        return h, e


@register_metanet("ngt")
class NGT(GraphMetanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "ngt"]):
    """NG-T: ``depth`` :class:`NGTLayer` blocks on parameter graphs of any architectures.

    Args:
        dim: node and edge feature size.
        depth: number of transformer blocks.
        heads: attention heads (``dim`` divisible by it).
        edge_features: size ``K`` of ``edge_attr`` (9 for graphs built with ``kernel_shape=(3, 3)``).
        ffn_factor: hidden width of the feed-forward nets, in multiples of ``dim``.
        out_features: size of the invariant output (0: no invariant head).
        head_hidden: hidden width of the heads.
        dropout: attention / FFN dropout.
        edit: build the equivariant edit head (``parameter_outputs`` / ``edit``).
        edit_scale: initial ``scale`` of edits ``w + scale * delta``.
        max_layers, max_positions: sizes of the layer and position embedding tables.
        probe_features: use the graphs' ``probe`` features of this size (:class:`ProbeFeatures`; 0: none).
    """

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        heads: int,
        head_hidden: int,
        edge_features: int = 9,
        ffn_factor: int = 2,
        out_features: int = 1,
        dropout: float = 0.0,
        edit: bool = False,
        edit_scale: float = 0.01,
        max_layers: int = 256,
        max_positions: int = 1024,
        probe_features: int = 0,
    ):
        super().__init__(
            dim,
            edge_features,
            out_features,
            head_hidden,
            dropout,
            edit,
            edit_scale,
            max_layers,
            max_positions,
            probe_features,
        )
        self.final_norm_h, self.final_norm_e = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.layers.extend(NGTLayer(dim, heads, ffn_factor, dropout) for _ in range(depth))

    def encode(self, graph) -> tuple[torch.Tensor, torch.Tensor]:
        h, e = super().encode(graph)
        return self.final_norm_h(h), self.final_norm_e(e)
