"""Which neurons a function-preserving rescaling may touch, read from the parameter graph.

Scaling the pre-activation of neuron ``n`` by ``s`` (its incoming weights and bias) and its outgoing
weights by ``1 / s`` preserves the function when ``act(s z) = s act(z)``: ``s > 0`` for positively
homogeneous activations (ReLU, LeakyReLU, identity), ``s = -1`` for odd ones (tanh, sine, identity).
That holds only if everything the neuron computes and feeds is a learned weight, so a neuron
qualifies when the spec shows

* an activation of the right kind and no normalisation (``node_norm``: BatchNorm / LayerNorm /
  GroupNorm undo or break the scaling),
* incoming weight edges and at least one outgoing weight edge, and *no* constant edge in or out
  (residual additions, copies feeding a norm, gating products: their identity edges cannot be
  rescaled),
* membership of a symmetry group (``node_pos == -1``): inputs, outputs and neurons pinned by
  per-neuron constants are left alone.

Operations the graph does not record cannot be checked: max-pooling or max / logsumexp reductions of
odd activations (not odd), or adding a scalar constant to activations, would break these rescalings.

Example:
    >>> import torch.nn as nn, netgraph
    >>> from netgraph.augment.neurons import rescalable_nodes, POSITIVE_HOMOGENEOUS
    >>> spec = netgraph.trace(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)))
    >>> rescalable_nodes(spec, POSITIVE_HOMOGENEOUS).nonzero().flatten().tolist()   # the ReLU layer only
    [2, 3, 4]
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from ..batching import cached, per_node
from ..spec import GraphSpec
from ..types import Activation, NodeFeature, Norm

__all__ = [
    "rescalable_nodes",
    "rescale_neurons",
    "bias_nodes",
    "const_edge_mask",
    "batch_rescalable",
    "batch_bias_nodes",
    "POSITIVE_HOMOGENEOUS",
    "ODD",
    "PERIODIC",
]

POSITIVE_HOMOGENEOUS = frozenset({Activation.RELU, Activation.LEAKY_RELU, Activation.NONE})
ODD = frozenset({Activation.TANH, Activation.SIN, Activation.NONE})
PERIODIC = frozenset({Activation.SIN, Activation.COS})


def const_edge_mask(spec: GraphSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[E]`` True at the fixed (non-learned) edges of ``spec``."""

    def build():
        mask = torch.zeros(spec.num_edges, dtype=torch.bool)
        for const in spec.const_edges:
            mask[const.offset : const.offset + const.count] = True
        return mask

    return cached(spec, ("netgraph.augment.const_edges",), device, build)


def rescalable_nodes(
    spec: GraphSpec, activations: frozenset[Activation], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``[N]`` True at the neurons a rescaling valid for ``activations`` may touch (module docstring)."""
    key = ("netgraph.augment.rescalable", tuple(sorted(int(a) for a in activations)))

    def build():
        const = const_edge_mask(spec)
        src, dst = spec.edge_index
        n = spec.num_nodes
        count = torch.zeros(4, n, dtype=torch.long)
        for row, (nodes, mask) in enumerate(((dst, ~const), (dst, const), (src, ~const), (src, const))):
            count[row].index_add_(0, nodes[mask], torch.ones(int(mask.sum()), dtype=torch.long))
        weights_in, const_in, weights_out, const_out = count
        act = torch.isin(spec.node_act, torch.tensor(sorted(int(a) for a in activations)))
        shared = torch.zeros(n, dtype=torch.bool)  # a parameter placed more than once (tied weights, a layer
        uses: dict[tuple, int] = {}  # applied twice) cannot take per-placement scalings: its neurons are excluded
        for piece in spec.edge_pieces:
            uses[(piece.param, piece.rows)] = uses.get((piece.param, piece.rows), 0) + 1
        for piece in spec.edge_pieces:
            if uses[(piece.param, piece.rows)] > 1:
                shared[piece.out_nodes] = True
                shared[piece.in_nodes] = True
        return (
            act
            & (spec.node_norm == int(Norm.NONE))
            & (spec.pos_index == -1)
            & (weights_in > 0)
            & (weights_out > 0)
            & (const_in == 0)
            & (const_out == 0)
            & ~shared
        )

    return cached(spec, key, device, build)


def bias_nodes(spec: GraphSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[N]`` True at neurons whose bias is a parameter (not merely an empty feature)."""

    def build():
        mask = torch.zeros(spec.num_nodes, dtype=torch.bool)
        for piece in spec.node_pieces:
            if piece.column == int(NodeFeature.BIAS):
                mask[piece.nodes] = True
        return mask

    return cached(spec, ("netgraph.augment.bias_nodes",), device, build)


def rescale_neurons(graph: Data, factor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """New ``(x, edge_attr)`` with every neuron's pre-activation scaled by ``factor [num_nodes]`` and its
    outgoing weights by ``1 / factor`` (factor 1 where nothing may change)."""
    src, dst = graph.edge_index
    edge_attr = graph.edge_attr * (factor[dst] / factor[src]).unsqueeze(1).to(graph.edge_attr.dtype)
    x = graph.x.clone()
    x[:, int(NodeFeature.BIAS)] = x[:, int(NodeFeature.BIAS)] * factor.to(x.dtype)
    return x, edge_attr


def batch_rescalable(graph: Data, activations: frozenset[Activation]) -> torch.Tensor:
    """``[num_nodes]`` :func:`rescalable_nodes` over a graph or batch."""
    return per_node(graph, lambda spec, device: rescalable_nodes(spec, activations, device))


def batch_bias_nodes(graph: Data) -> torch.Tensor:
    """``[num_nodes]`` :func:`bias_nodes` over a graph or batch."""
    return per_node(graph, bias_nodes)
