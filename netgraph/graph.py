"""``ParamGraph``: one network as a PyG ``Data`` object, and fast batching of many networks.

Attributes of a ``ParamGraph`` (``N`` nodes, ``E`` edges, ``F = len(NODE_FEATURES)`` node features,
``K = prod(spec.kernel_shape)`` edge features):

========== ============ =====================================================================
x          [N, F]       bias, norm weight, norm bias, running mean, running var (0 if absent)
edge_index [2, E]       source (input neuron) -> target (output neuron)
edge_attr  [E, K]       the weight; conv kernels zero-padded and centred to ``spec.kernel_shape``
node_type  [N]          :class:`~netgraph.types.NodeType`
edge_type  [E]          :class:`~netgraph.types.EdgeType`
layer      [N]          depth of the node (inputs are layer 0)
node_act   [N]          :class:`~netgraph.types.Activation` applied at the node
node_norm  [N]          :class:`~netgraph.types.Norm` applied at the node
node_pos   [N]          position in its layer for nodes that are never permuted, else -1
aux        [A] float64  tensors kept verbatim (e.g. ``num_batches_tracked``)
spec       GraphSpec    the architecture (shared by all graphs of one architecture)
========== ============ =====================================================================

Batching is plain PyG: ``Batch.from_data_list([g1, g2])`` or a ``DataLoader`` works, also across
architectures (``batch.spec`` is then a list).

Example:
    >>> import torch.nn as nn, netgraph
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> g.x.shape, g.edge_index.shape, g.edge_attr.shape
    (torch.Size([6, 5]), torch.Size([2, 9]), torch.Size([9, 1]))
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from dataclasses import dataclass

from .spec import GraphSpec

__all__ = ["ParamGraph", "make_graph", "make_batch", "graph_specs", "SpecGroup", "split_by_spec"]

_TOPOLOGY = ("node_type", "layer", "node_act", "node_norm")


class ParamGraph(Data):
    """The parameter graph of one network (see the module docstring for its attributes)."""

    @property
    def num_params(self) -> int:
        """Number of values in the state dicts of the network(s) the graph stands for."""
        return sum(spec.num_params for spec in graph_specs(self))


def graph_specs(graph: Data) -> list[GraphSpec]:
    """The spec of each graph of a ``ParamGraph`` or of a batch (one entry per graph)."""
    spec = graph.spec
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


@dataclass(frozen=True)
class SpecGroup:
    """The graphs of a ``ParamGraph`` / batch that share one architecture, with their global ids."""

    spec: GraphSpec
    graphs: torch.Tensor  #: [B] graph ids in the batch
    nodes: torch.Tensor  #: [B, N] global node ids, in the spec's node order
    edges: torch.Tensor  #: [B, E] global edge ids, in the spec's edge order
    aux: torch.Tensor  #: [B, A] global ids in ``aux``, in the spec's order


def split_by_spec(graph: Data) -> list[SpecGroup]:
    """Group the graphs of a batch by architecture, so work can be vectorised per architecture.

    >>> import netgraph
    >>> from torch_geometric.data import Batch
    >>> from netgraph.architectures import mlp
    >>> a, b = netgraph.from_module(mlp([2, 3, 1])), netgraph.from_module(mlp([2, 4, 1]))
    >>> [tuple(group.nodes.shape) for group in split_by_spec(Batch.from_data_list([a, b, a]))]
    [(2, 6), (1, 7)]
    """
    device = graph.x.device
    groups: dict[int, tuple[GraphSpec, list[int]]] = {}
    for i, spec in enumerate(graph_specs(graph)):
        groups.setdefault(id(spec), (spec, []))[1].append(i)
    ptr = getattr(graph, "ptr", None)
    slices = getattr(graph, "_slice_dict", {}) if ptr is not None else {}
    edge_slices, aux_slices = slices.get("edge_attr"), slices.get("aux")
    zero = torch.zeros(1, dtype=torch.long, device=device)
    result = []
    for spec, ids in groups.values():
        index = torch.tensor(ids, device=device)
        node_starts, edge_starts, aux_starts = (zero if cuts is None else cuts.to(device)[index]
                                                for cuts in (ptr, edge_slices, aux_slices))
        result.append(SpecGroup(spec, index, node_starts.unsqueeze(1) + torch.arange(spec.num_nodes, device=device),
                                edge_starts.unsqueeze(1) + torch.arange(spec.num_edges, device=device),
                                aux_starts.unsqueeze(1) + torch.arange(spec.aux_size, device=device)))
    return result


def make_graph(spec: GraphSpec, x: torch.Tensor, edge_attr: torch.Tensor, aux: torch.Tensor) -> ParamGraph:
    """A ``ParamGraph`` of ``spec`` with the given feature tensors (topology from the spec)."""
    topo = spec.on(x.device)
    return ParamGraph(x=x, edge_index=topo["edge_index"], edge_attr=edge_attr, edge_type=topo["edge_type"],
                      node_pos=topo["pos_index"], aux=aux, spec=spec, **{k: topo[k] for k in _TOPOLOGY})


def make_batch(spec: GraphSpec, x: torch.Tensor, edge_attr: torch.Tensor, aux: torch.Tensor) -> Batch:
    """A PyG ``Batch`` of ``B`` graphs of one architecture from stacked tensors.

    ``x [B, N, F]``, ``edge_attr [B, E, K]``, ``aux [B, A]``. The topology is broadcast, not
    collated graph by graph, so this costs a few tensor ops whatever ``B`` is.
    """
    num_graphs, n, e = x.shape[0], spec.num_nodes, spec.num_edges
    device = x.device
    topo = spec.on(device)
    steps = torch.arange(num_graphs, device=device)
    edge_index = (topo["edge_index"].unsqueeze(0) + (steps * n).view(-1, 1, 1)).permute(1, 0, 2).reshape(2, -1)
    data = {
        "x": x.reshape(num_graphs * n, -1),
        "edge_index": edge_index,
        "edge_attr": edge_attr.reshape(num_graphs * e, -1),
        "edge_type": topo["edge_type"].repeat(num_graphs),
        "node_pos": topo["pos_index"].repeat(num_graphs),
        "aux": aux.reshape(-1),
        **{k: topo[k].repeat(num_graphs) for k in _TOPOLOGY},
    }
    batch = Batch(_base_cls=ParamGraph, **data)
    batch.spec = [spec] * num_graphs
    batch.batch = steps.repeat_interleave(n)
    batch.ptr = torch.arange(num_graphs + 1, device=device) * n
    sizes = {"x": n, "edge_index": e, "edge_attr": e, "edge_type": e, "node_pos": n, "aux": spec.aux_size,
             **{k: n for k in _TOPOLOGY}}
    steps_cpu = torch.arange(num_graphs + 1)
    batch._slice_dict = {k: steps_cpu * size for k, size in sizes.items()}
    batch._slice_dict["spec"] = steps_cpu.clone()
    zeros = torch.zeros(num_graphs, dtype=torch.long)
    batch._inc_dict = {k: zeros for k in sizes}
    batch._inc_dict["edge_index"] = steps_cpu[:-1] * n
    batch._inc_dict["spec"] = None
    batch._num_graphs = num_graphs
    return batch
