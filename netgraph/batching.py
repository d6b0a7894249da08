"""Per-architecture tensors spread over a ``ParamGraph`` or a batch mixing architectures.

Transforms that act on whole batches need, for every node or edge of the batch, a value derived
from its architecture (a mask, a layer index) and the graph it belongs to. These helpers build them
with one tensor op per *architecture* in the batch, never per network.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> from netgraph.batching import per_node, graph_index
    >>> m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> batch = netgraph.from_state_dicts(m, [m.state_dict()] * 2)
    >>> per_node(batch, lambda spec, device: spec.layer.to(device)).tolist()
    [0, 0, 1, 1, 1, 2, 0, 0, 1, 1, 1, 2]
    >>> graph_index(batch, "edge").tolist()
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
"""

from __future__ import annotations

from typing import Callable

import torch
from torch_geometric.data import Data

from .graph import graph_specs, split_by_spec
from .spec import GraphSpec

__all__ = ["per_node", "per_edge", "graph_index", "num_graphs", "cached"]

SpecTensor = Callable[[GraphSpec, torch.device], torch.Tensor]


def cached(spec: GraphSpec, key: tuple, device: torch.device | str, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``build()`` computed once per spec, key and device (kept in the spec's device cache)."""
    full = (*key, str(torch.device(device)))
    if full not in spec._device_cache:
        spec._device_cache[full] = build().to(device)
    return spec._device_cache[full]


def per_node(graph: Data, fn: SpecTensor) -> torch.Tensor:
    """``[num_nodes, ...]``: ``fn(spec, device)`` (``[N, ...]``) for every graph, in batch order."""
    return _spread(graph, fn, "node")


def per_edge(graph: Data, fn: SpecTensor) -> torch.Tensor:
    """``[num_edges, ...]``: ``fn(spec, device)`` (``[E, ...]``) for every graph, in batch order."""
    return _spread(graph, fn, "edge")


def num_graphs(graph: Data) -> int:
    return len(graph_specs(graph))


def graph_index(graph: Data, kind: str = "node") -> torch.Tensor:
    """Index of the graph each node (``kind="node"``) or edge (``"edge"``) belongs to."""
    if kind not in ("node", "edge"):
        raise ValueError(f"kind must be 'node' or 'edge', got {kind!r}")
    if kind == "node" and getattr(graph, "batch", None) is not None:
        return graph.batch
    return _offsets(graph, kind)


def _offsets(graph: Data, kind: str) -> torch.Tensor:
    """Graph index of every node / edge (built per architecture)."""
    device = graph.x.device
    size = graph.num_nodes if kind == "node" else graph.num_edges
    out = torch.zeros(size, dtype=torch.long, device=device)
    for group in split_by_spec(graph):
        ids = group.nodes if kind == "node" else group.edges
        out[ids.reshape(-1)] = group.graphs.unsqueeze(1).expand_as(ids).reshape(-1)
    return out


def _spread(graph: Data, fn: SpecTensor, kind: str) -> torch.Tensor:
    device = graph.x.device
    specs = graph_specs(graph)
    if len(specs) == 1:
        return fn(specs[0], device)
    groups = split_by_spec(graph)
    if len(groups) == 1:
        value = fn(groups[0].spec, device)
        return value.repeat(len(specs), *([1] * (value.dim() - 1)))
    size = graph.num_nodes if kind == "node" else graph.num_edges
    out = None
    for group in groups:
        value = fn(group.spec, device)
        ids = group.nodes if kind == "node" else group.edges
        if out is None:
            out = torch.zeros(size, *value.shape[1:], dtype=value.dtype, device=device)
        out[ids.reshape(-1)] = value.repeat(len(group.graphs), *([1] * (value.dim() - 1)))
    return out
