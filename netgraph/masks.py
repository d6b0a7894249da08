"""Parameter slots: which entries of a graph's features are learned parameters, and their flat layout.

A *parameter slot* is a value of ``x`` or ``edge_attr`` that holds a learnable parameter of the
network: weights (inside their kernel window, not the zero padding), biases and normalisation
affine parameters. ``x`` also holds BatchNorm running statistics (buffers) and zeros where a neuron
has no such parameter; ``edge_attr`` also holds constant edges (residual identities, the -1 of a
subtraction) and the zero padding of smaller kernels. Merging, augmentations, residual edits and
generators touch slots only:

* :func:`spec_parameter_masks` / :func:`parameter_masks`: boolean masks shaped like ``x`` and
  ``edge_attr`` (one architecture / any ``ParamGraph`` or batch);
* :func:`parameter_slot_index`, :func:`num_parameter_slots`, :func:`fill_parameter_slots`,
  :func:`read_parameter_slots`: the slots as one flat vector ``[P]`` per network, numbered in graph
  order (node features first, ``x [N, F]`` row-major, then ``edge_attr [E, K]``), the output layout
  of MLP hypernetworks. Tied weights are one slot; a graph built by :func:`fill_parameter_slots`
  takes its buffers from PyTorch's defaults (running variance 1, the rest 0);
* :func:`buffer_keys`: the state-dict keys that are statistics or counters.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> from netgraph.masks import fill_parameter_slots, num_parameter_slots, parameter_masks, read_parameter_slots
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    >>> node_mask, edge_mask = parameter_masks(netgraph.from_module(model))
    >>> node_mask.sum(0).tolist()                # bias, norm weight, norm bias, running mean, running var
    [4, 3, 3, 0, 0]
    >>> int(edge_mask.sum()) == 2 * 3 + 3 * 1
    True
    >>> spec = netgraph.trace(model)
    >>> values = torch.randn(2, num_parameter_slots(spec))          # [networks, P]
    >>> torch.equal(read_parameter_slots(fill_parameter_slots(spec, values)), values)
    True
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from .batching import per_edge, per_node
from .graph import graph_specs, make_batch
from .spec import GraphSpec
from .types import NodeFeature

__all__ = [
    "parameter_masks",
    "spec_parameter_masks",
    "buffer_keys",
    "parameter_slot_index",
    "num_parameter_slots",
    "fill_parameter_slots",
    "read_parameter_slots",
]

_PARAMETER_COLUMNS = (NodeFeature.BIAS, NodeFeature.NORM_WEIGHT, NodeFeature.NORM_BIAS)
_BUFFER_COLUMNS = (int(NodeFeature.RUNNING_MEAN), int(NodeFeature.RUNNING_VAR))


def spec_parameter_masks(spec: GraphSpec, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(node_mask [N, F], edge_mask [E, K])`` of one architecture: True at parameter slots.

    Built from the spec's pieces (node pieces in parameter columns, edge pieces' kernel windows), so
    constant edges and padding are never slots. Cached per spec and device: do not modify the result.
    """
    key = ("netgraph.masks.spec_parameter_masks", str(torch.device(device)))
    cached = spec._device_cache.get(key)
    if cached is None:
        node_mask = torch.zeros(spec.num_nodes, spec.num_node_features, dtype=torch.bool)
        for piece in spec.node_pieces:
            if piece.column in _PARAMETER_COLUMNS:
                node_mask[piece.nodes, piece.column] = True
        edge_mask = torch.zeros(1, spec.num_edges, *spec.kernel_shape)
        for piece in spec.edge_pieces:
            spec.write_edge_block(edge_mask, piece, torch.ones(1, piece.num_edges, *piece.kernel))
        cached = (node_mask.to(device), edge_mask.reshape(spec.num_edges, spec.kernel_numel).bool().to(device))
        spec._device_cache[key] = cached
    return cached


def parameter_masks(graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """Parameter slots of a ``ParamGraph`` or a batch (mixed architectures included), shaped like
    ``graph.x`` ``[num_nodes, F]`` and ``graph.edge_attr`` ``[num_edges, K]``, on the graph's device.

    Vectorised over the graphs of each architecture (one loop over architectures).

    Raises:
        ValueError: a graph whose kernel shape differs from the batch's edge-feature width.
    """
    width = graph.edge_attr.shape[1]
    for spec in {id(s): s for s in graph_specs(graph)}.values():
        if spec.kernel_numel != width:
            raise ValueError(
                f"a graph of the batch has kernel shape {spec.kernel_shape} ({spec.kernel_numel} edge "
                f"features) but the batch has {width}: build every graph with the same kernel_shape "
                "(from_module(m, kernel_shape=...))"
            )
    return (
        per_node(graph, lambda spec, device: spec_parameter_masks(spec, device)[0]),
        per_edge(graph, lambda spec, device: spec_parameter_masks(spec, device)[1]),
    )


def buffer_keys(spec: GraphSpec) -> set[str]:
    """State-dict keys that are statistics or counters, not learned (running stats, ``aux``)."""
    keys = {p.param for p in spec.node_pieces if p.column in _BUFFER_COLUMNS}
    return keys | {p.param for p in spec.aux_pieces}


def parameter_slot_index(spec: GraphSpec, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Flat positions of the parameter slots: ``(in x.view(-1) [P_nodes], in edge_attr.view(-1) [P_edges])``."""
    node_mask, edge_mask = spec_parameter_masks(spec, device)
    return node_mask.flatten().nonzero().squeeze(1), edge_mask.flatten().nonzero().squeeze(1)


def num_parameter_slots(spec: GraphSpec) -> int:
    """``P``: the number of learnable values of one network of ``spec``."""
    nodes, edges = parameter_slot_index(spec)
    return len(nodes) + len(edges)


def fill_parameter_slots(spec: GraphSpec, values: torch.Tensor) -> Batch:
    """``n`` graphs of ``spec`` whose parameter slots hold ``values [n, P]`` (differentiably); buffers
    take PyTorch's defaults."""
    nodes, edges = parameter_slot_index(spec, values.device)
    if values.dim() != 2 or values.shape[1] != len(nodes) + len(edges):
        raise ValueError(
            f"values must be [n, {len(nodes) + len(edges)}] (one per parameter slot of the architecture), "
            f"got {tuple(values.shape)}"
        )
    n, dtype, device = values.shape[0], spec.dtype, values.device
    x = torch.zeros(n, spec.num_nodes * spec.num_node_features, dtype=dtype, device=device)
    var = torch.zeros(spec.num_nodes, spec.num_node_features, dtype=torch.bool, device=device)
    for piece in spec.node_pieces:
        if piece.column == NodeFeature.RUNNING_VAR:
            var[piece.nodes.to(device), piece.column] = True
    x[:, var.flatten()] = 1.0
    x[:, nodes] = values[:, : len(nodes)].to(dtype)
    edge_attr = torch.zeros(n, spec.num_edges * spec.kernel_numel, dtype=dtype, device=device)
    edge_attr[:, edges] = values[:, len(nodes) :].to(dtype)
    aux = torch.zeros(n, spec.aux_size, dtype=torch.float64, device=device)
    return make_batch(spec, x.view(n, spec.num_nodes, -1), edge_attr.view(n, spec.num_edges, -1), aux)


def read_parameter_slots(batch: Batch) -> torch.Tensor:
    """The parameter-slot values ``[n, P]`` of a batch of one architecture."""
    specs = graph_specs(batch)
    spec = specs[0]
    if any(s is not spec for s in specs):
        raise ValueError("read_parameter_slots needs a batch of one architecture; split it with netgraph.split_by_spec")
    n = len(specs)
    nodes, edges = parameter_slot_index(spec, batch.x.device)
    return torch.cat([batch.x.reshape(n, -1)[:, nodes], batch.edge_attr.reshape(n, -1)[:, edges]], dim=1)
