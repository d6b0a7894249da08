"""Checks for metanet symmetry: perturbations that are *not* symmetries of the input networks.

A metanet test is only meaningful if it can fail: next to "the output does not change under
``netgraph.random_permutation``", check that it *does* change under these look-alikes.

* :func:`break_coupling`: permutes the output neurons of one weight layer (rows of its weight and
  its bias) without permuting the next layer's inputs: the network computes a different function.
* :func:`permute_fixed_nodes`: relabels the input neurons consistently (a graph isomorphism that
  moves nodes the core never permutes); models that tell inputs apart (positional embeddings,
  io-embeddings, HNP layers) must see it.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets.testing import break_coupling
    >>> model = mlp([3, 8, 2])
    >>> g = netgraph.from_module(model)
    >>> x = torch.randn(4, 3)
    >>> torch.allclose(netgraph.to_module(break_coupling(g), model)(x), model(x))
    False
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

import netgraph
from netgraph.types import NodeType

__all__ = ["break_coupling", "permute_fixed_nodes"]


def break_coupling(graph: Data, layer: int = 0) -> Data:
    """``graph`` (one architecture) with the rows of weight layer ``layer`` (``spec.layers``) and its
    biases rolled by one place, the next layer untouched."""
    ws = netgraph.weight_space(graph)
    if not -len(ws) <= layer < len(ws):
        raise IndexError(f"layer {layer} out of range: the architecture has {len(ws)} weight layers")
    if ws.weights[layer].shape[1] < 2:
        raise ValueError(f"layer {layer} has a single output neuron: nothing to permute; pick another layer")
    ws.weights[layer] = ws.weights[layer].roll(1, dims=1)
    ws.biases[layer] = ws.biases[layer].roll(1, dims=1)
    return ws.to_graph()


def permute_fixed_nodes(graph: Data, node_type: NodeType = NodeType.INPUT) -> Data:
    """``graph`` with the nodes of ``node_type`` that have a position (``node_pos >= 0``) rolled by one
    place within each graph, edges and features moved along (no permutation check)."""
    perm = torch.arange(graph.num_nodes, device=graph.x.device)
    chosen = (graph.node_type == node_type) & (graph.node_pos >= 0)
    ids = chosen.nonzero().squeeze(1)
    if ids.numel() < 2:
        raise ValueError(f"fewer than 2 fixed nodes of type {node_type.name}: nothing to permute")
    graph_of = getattr(graph, "batch", None)
    graph_of = torch.zeros_like(perm) if graph_of is None else graph_of
    # roll inside each graph: the last chosen node of a graph goes to the first one of that graph
    same_next = torch.cat([graph_of[ids[1:]] == graph_of[ids[:-1]], torch.tensor([False], device=ids.device)])
    starts = torch.cat([torch.tensor([True], device=ids.device), ~same_next[:-1]])
    first = ids[torch.cummax(torch.where(starts, torch.arange(len(ids), device=ids.device), 0), 0).values]
    perm[ids] = torch.where(same_next, ids.roll(-1), first)
    return netgraph.permute(graph, perm, check=False)
