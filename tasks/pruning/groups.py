"""Pruning groups from the parameter graph: channels, neurons and heads as level-0 symmetry groups.

A level-0 :class:`~netgraph.SymmetryGroup` lists, for each of its units, every node that moves with
that unit (a neuron, a conv channel, a whole conv group, channels tied through residual additions
and concatenations, or a whole attention head: its q, k and v dims). Removing the
same unit set from every weight and bias attached to those nodes is a consistent structural
pruning, so group importance and the group-lasso penalty are computed on the graph, vectorised
with ``scatter_add`` (no loop over edges or weights).

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> model = mlp([4, 8, 6, 3])
    >>> groups = prunable_groups(netgraph.spec_of(model))
    >>> [(g.module, g.units) for g in groups]
    [('0', 8), ('2', 6)]
    >>> [tuple(s.shape) for s in group_importance(netgraph.from_module(model), groups)]
    [(8,), (6,)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch_geometric.data import Data

from netgraph.batching import num_graphs
from netgraph.masks import parameter_masks
from netgraph.spec import GraphSpec, SymmetryGroup
from netgraph.types import NodeType, Norm

__all__ = [
    "PruneGroup",
    "prunable_groups",
    "node_scores",
    "group_importance",
    "group_lasso",
    "NORMS",
    "KINDS",
    "group_kind",
]

NORMS = ("l1", "l2")
KINDS = ("channels", "heads", "normalized")


@dataclass(frozen=True)
class PruneGroup:
    """One prunable group: a level-0 symmetry group whose units can be removed whole.

    Attributes:
        index: index of the symmetry group in ``spec.groups``.
        name: the group's name (for tables and errors; stable while the architecture only narrows).
        nodes: ``[units, nodes_per_unit]`` graph nodes of each unit.
        module: qualified name of the layer whose outputs root the group (for heads: the query layer).
        channels: ``[units]`` output index, in that layer, of the first node of each unit.
        kind: ``"channels"`` (neurons, conv channels or whole conv groups, channels tied through residual
            sums / concatenations / BatchNorm), ``"heads"`` (whole attention heads: q, k, v and the output
            projection's inputs; with grouped-query attention a key/value head with its query heads) or ``"normalized"`` (channels a LayerNorm / GroupNorm normalises over:
            removing them changes the statistics, so pruning them is not exact even for zero channels).
    """

    index: int
    name: str
    nodes: torch.Tensor
    module: str
    channels: torch.Tensor
    kind: str = "channels"

    @property
    def units(self) -> int:
        return self.nodes.shape[0]


def prunable_groups(spec: GraphSpec, kinds: Sequence[str] = ("channels", "heads")) -> list[PruneGroup]:
    """The level-0 symmetry groups of ``spec`` whose units can be removed, of the given ``kinds``
    (``"channels"``, ``"heads"``, ``"normalized"``; see :class:`PruneGroup`).

    A group qualifies when a weight layer's outputs root it. Left out: groups without such a root,
    and heads of ``nn.MultiheadAttention`` (its packed ``in_proj_weight`` must stay ``3 * embed_dim``).
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown group kinds {unknown}; expected some of {KINDS}")
    owner = torch.full((spec.num_nodes,), -1, dtype=torch.long)
    row = torch.full((spec.num_nodes,), -1, dtype=torch.long)
    packed = torch.zeros(spec.num_nodes, dtype=torch.bool)
    for i, piece in enumerate(spec.edge_pieces):
        if piece.rows is not None:
            packed[piece.out_nodes] = True
            continue
        owner[piece.out_nodes] = i
        row[piece.out_nodes] = torch.arange(piece.n_out)
    result = []
    for group in spec.groups:
        if group.level != 0 or bool(packed[group.nodes].any()):
            continue
        kind = group_kind(spec, group)
        if kind not in kinds:
            continue
        for column in range(group.nodes.shape[1]):
            first = group.nodes[:, column]
            pieces = owner[first].unique()
            if len(pieces) == 1 and int(pieces) >= 0:
                piece = spec.edge_pieces[int(pieces)]
                result.append(
                    PruneGroup(group.index, group.name, group.nodes, piece.param.rsplit(".", 1)[0], row[first], kind)
                )
                break
    return result


def group_kind(spec: GraphSpec, group: SymmetryGroup) -> str:
    """``"heads"``, ``"normalized"`` or ``"channels"`` (see :class:`PruneGroup`) for a level-0 group.

    Heads are blocks with an inner (level-1) symmetry that no grouped convolution explains: attention
    heads, whether the layer is ``nn.MultiheadAttention`` (QUERY / KEY / VALUE nodes) or written with
    ``scaled_dot_product_attention`` / matrix products (Hugging Face models).
    """
    nodes = group.nodes.reshape(-1)
    attention = torch.tensor([int(NodeType.QUERY), int(NodeType.KEY), int(NodeType.VALUE)])
    if bool(torch.isin(spec.node_type[nodes], attention).any()):
        return "heads"
    blocks = bool((spec.sym_group[nodes, 1:] >= 0).any())
    grouped_conv = any(p.groups > 1 and bool(torch.isin(p.out_nodes, nodes).any()) for p in spec.edge_pieces)
    if blocks and not grouped_conv:
        return "heads"
    if bool(torch.isin(spec.node_norm[nodes], torch.tensor([int(Norm.LAYER), int(Norm.GROUP)])).any()):
        return "normalized"
    return "channels"


def node_scores(graph: Data, norm: str = "l1") -> torch.Tensor:
    """``[N]`` sum over every parameter attached to each node of ``|w|`` (``l1``) or ``w^2`` (``l2``).

    An edge counts for both its source and its target node; biases and normalisation affine
    parameters count for their node. Fixed edges (residual identities) and buffers do not count.
    Works on a ``ParamGraph`` or a batch of one architecture (node ids are then global).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    node_mask, edge_mask = parameter_masks(graph)
    power = 1 if norm == "l1" else 2
    edge_values = (graph.edge_attr.abs() ** power * edge_mask).sum(-1)
    node_values = (graph.x.abs() ** power * node_mask).sum(-1)
    scores = node_values.clone()
    scores = scores.index_add(0, graph.edge_index[0], edge_values)
    return scores.index_add(0, graph.edge_index[1], edge_values)


def group_importance(graph: Data, groups: list[PruneGroup], norm: str = "l1") -> list[torch.Tensor]:
    """Importance ``[units]`` of every unit of every group: the group's L1 norm (``l1``) or L2 norm
    (``l2``) over all parameters attached to the unit's nodes."""
    scores = node_scores(graph, norm)
    out = []
    for group in groups:
        total = scores[group.nodes.to(scores.device)].sum(-1)
        out.append(total if norm == "l1" else total.sqrt())
    return out


def group_lasso(graph: Data, groups: list[PruneGroup], eps: float = 1e-8) -> torch.Tensor:
    """Group-lasso penalty: sum over groups and units of the unit's L2 norm, averaged over the graphs of
    a batch of one architecture (differentiable; the sparsity term of meta-pruning)."""
    scores = node_scores(graph, "l2")
    copies = num_graphs(graph)
    scores = scores.view(copies, -1)
    total = scores.new_zeros(())
    for group in groups:
        total = total + (scores[:, group.nodes.to(scores.device)].sum(-1) + eps).sqrt().sum()
    return total / copies
