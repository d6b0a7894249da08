"""Which entries of a graph's features are learned parameters.

``x`` also holds BatchNorm running statistics (buffers) and zeros where a neuron has no such
parameter; ``edge_attr`` also holds constant edges (residual identities) and the zero padding of
smaller kernels. Merging and augmentations must only touch the learned entries: these masks say
which they are, found by gathering a state dict of ones through the spec (no per-architecture code).

Example:
    >>> import torch.nn as nn, netgraph
    >>> from netgraph.merge import parameter_masks
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1)))
    >>> node_mask, edge_mask = parameter_masks(g)
    >>> node_mask.sum(0).tolist()                # bias, norm weight, norm bias, running mean, running var
    [4, 3, 3, 0, 0]
    >>> int(edge_mask.sum()) == 2 * 3 + 3 * 1
    True
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from ..spec import GraphSpec
from ..types import NodeFeature
from .batching import per_edge, per_node

__all__ = ["parameter_masks", "spec_parameter_masks", "buffer_keys"]

_BUFFER_COLUMNS = (int(NodeFeature.RUNNING_MEAN), int(NodeFeature.RUNNING_VAR))


def spec_parameter_masks(spec: GraphSpec, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(node_mask [N, F], edge_mask [E, K])`` of one architecture: True at learned parameters."""
    key = ("netgraph.merge.parameter_masks", str(torch.device(device)))
    cached = spec._device_cache.get(key)
    if cached is None:
        ones = {k: torch.ones(spec.shapes[k]) for k in spec.keys if k not in spec.aliases}
        x, edge_attr, _ = spec.gather(ones)
        node_mask = x != 0
        node_mask[:, list(_BUFFER_COLUMNS)] = False
        edge_mask = edge_attr != 0
        for const in spec.const_edges:
            edge_mask[const.offset: const.offset + const.count] = False
        cached = (node_mask.to(device), edge_mask.to(device))
        spec._device_cache[key] = cached
    return cached


def parameter_masks(graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of a ``ParamGraph`` or a batch (any mix of architectures), shaped like ``graph.x``
    ``[num_nodes, F]`` and ``graph.edge_attr`` ``[num_edges, K]``."""
    return (per_node(graph, lambda spec, device: spec_parameter_masks(spec, device)[0]),
            per_edge(graph, lambda spec, device: spec_parameter_masks(spec, device)[1]))


def buffer_keys(spec: GraphSpec) -> set[str]:
    """State-dict keys that are statistics or counters, not learned (running stats, ``aux``)."""
    keys = {p.param for p in spec.node_pieces if p.column in _BUFFER_COLUMNS}
    return keys | {p.param for p in spec.aux_pieces}
