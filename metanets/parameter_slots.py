"""The learnable values of an architecture as one flat vector per network, read from and written to
parameter graphs: the output layout of MLP hypernetworks.

The *parameter slots* of a graph (weights, biases, norm affine parameters; see
:func:`~.edit.spec_parameter_masks`) are numbered in graph order: node features first
(``x [N, F]`` row-major), then edge features (``edge_attr [E, K]``). Tied weights are one slot,
kernel padding and buffers (running statistics, ``num_batches_tracked``) are not slots: a graph
built by :func:`fill_parameter_slots` takes those from PyTorch's defaults (running variance 1, the
rest 0).

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> spec = netgraph.trace(mlp([4, 16, 3]))
    >>> batch = fill_parameter_slots(spec, torch.randn(2, num_parameter_slots(spec)))
    >>> batch.num_graphs, torch.equal(read_parameter_slots(batch), read_parameter_slots(batch))
    (2, True)
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

from netgraph.graph import graph_specs, make_batch
from netgraph.spec import GraphSpec
from netgraph.types import NodeFeature

from .edit import spec_parameter_masks

__all__ = ["num_parameter_slots", "parameter_slot_index", "fill_parameter_slots", "read_parameter_slots"]


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
        raise ValueError(f"values must be [n, {len(nodes) + len(edges)}] (one per parameter slot of the architecture), "
                         f"got {tuple(values.shape)}")
    n, dtype, device = values.shape[0], spec.dtype, values.device
    x = torch.zeros(n, spec.num_nodes * spec.num_node_features, dtype=dtype, device=device)
    var = torch.zeros(spec.num_nodes, spec.num_node_features, dtype=torch.bool, device=device)
    for piece in spec.node_pieces:
        if piece.column == NodeFeature.RUNNING_VAR:
            var[piece.nodes.to(device), piece.column] = True
    x[:, var.flatten()] = 1.0
    x[:, nodes] = values[:, :len(nodes)].to(dtype)
    edge_attr = torch.zeros(n, spec.num_edges * spec.kernel_numel, dtype=dtype, device=device)
    edge_attr[:, edges] = values[:, len(nodes):].to(dtype)
    aux = torch.zeros(n, spec.aux_size, dtype=torch.float64, device=device)
    return make_batch(spec, x.view(n, spec.num_nodes, -1), edge_attr.view(n, spec.num_edges, -1), aux)


def read_parameter_slots(batch: Batch) -> torch.Tensor:
    """The parameter-slot values ``[n, P]`` of a batch of one architecture."""
    specs = graph_specs(batch)
    spec = specs[0]
    if any(s is not spec for s in specs):
        raise ValueError("read_parameter_slots needs a batch of one architecture")
    n = len(specs)
    nodes, edges = parameter_slot_index(spec, batch.x.device)
    return torch.cat([batch.x.reshape(n, -1)[:, nodes], batch.edge_attr.reshape(n, -1)[:, edges]], dim=1)
