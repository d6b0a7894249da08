"""``ParamGraph``: one network as a PyG ``Data`` object, and fast batching of many networks.

Layout. A graph stores what is particular to its network: the weights, once, unpadded, plus small
per-node tensors. Everything that is the same for every network of an architecture lives on the
:class:`~netgraph.spec.GraphSpec` (built once per architecture, shared by all its graphs), and the
edge-level views are computed on demand. For ``N`` nodes, ``E`` edges, ``P`` edge values (the sum of
every edge's kernel size), ``F = len(NODE_FEATURES)`` node features, ``K = prod(spec.kernel_shape)``:

Stored (what ``Batch.from_data_list`` concatenates):

=========== ============ =====================================================================
x           [N, F]       bias, norm weight, norm bias, running mean, running var (0 if absent)
edge_values [P]          every edge's own kernel, unpadded, edge after edge (weights in state-dict order)
aux         [A] float64  tensors kept verbatim (e.g. ``num_batches_tracked``)
node_type   [N]          :class:`~netgraph.types.NodeType`
layer       [N]          depth of the node (inputs are layer 0)
node_act    [N]          :class:`~netgraph.types.Activation` applied at the node
node_norm   [N]          :class:`~netgraph.types.Norm` applied at the node
node_pos    [N]          position in its layer for nodes that are never permuted, else -1
spec        GraphSpec    the architecture (shared by all graphs of one architecture)
=========== ============ =====================================================================

Computed on demand (properties; the topology is cached per architecture and device):

=========== ============ =====================================================================
edge_index  [2, E]       source (input neuron) -> target (output neuron), int64
edge_type   [E]          :class:`~netgraph.types.EdgeType`
edge_attr   [E, K]       the weights; conv kernels zero-padded and centred to ``spec.kernel_shape``
                         (a view of ``edge_values`` when no edge needs padding). Assigning
                         ``graph.edge_attr = t`` stores ``t`` back into ``edge_values`` (padding dropped).
=========== ============ =====================================================================

Batching is plain PyG: ``Batch.from_data_list([g1, g2])`` or a ``DataLoader`` works, also across
architectures (``batch.spec`` is then a list and ``batch.edge_attr`` pads every graph to the common
kernel shape).

Example:
    >>> import torch.nn as nn, netgraph
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> g.x.shape, g.edge_index.shape, g.edge_attr.shape, g.edge_values.shape
    (torch.Size([6, 5]), torch.Size([2, 9]), torch.Size([9, 1]), torch.Size([9]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch_geometric.data import Batch, Data

from .spec import GraphSpec, common_kernel_shape

__all__ = ["ParamGraph", "make_graph", "make_batch", "graph_specs", "SpecGroup", "split_by_spec"]

_TOPOLOGY = ("node_type", "layer", "node_act", "node_norm")


class ParamGraph(Data):
    """The parameter graph of one network, or a batch of them (see the module docstring for its attributes)."""

    @property
    def num_params(self) -> int:
        """Number of values in the state dicts of the network(s) the graph stands for."""
        return sum(spec.num_params for spec in graph_specs(self))

    @property
    def num_edges(self) -> int:
        """Number of edges (of all graphs of a batch)."""
        return sum(spec.num_edges for spec in graph_specs(self))

    @property
    def edge_index(self) -> torch.Tensor:
        """``[2, E]`` int64 edges, source -> target (built from the spec(s), cached)."""
        return self._topology("edge_index")

    @property
    def edge_type(self) -> torch.Tensor:
        """``[E]`` :class:`~netgraph.types.EdgeType` of every edge (built from the spec(s), cached)."""
        return self._topology("edge_type")

    @property
    def edge_attr(self) -> torch.Tensor:
        """``[E, K]`` padded edge features, made from ``edge_values`` on each access (see the module docstring)."""
        values = self.edge_values
        specs = graph_specs(self)
        first = specs[0]
        if all(s is first for s in specs):
            return first.edge_attr_of(values.view(len(specs), first.num_values)).reshape(-1, first.kernel_numel)
        kernel_shape = common_kernel_shape([s.kernel_shape for s in specs])
        parts = []
        for group in split_by_spec(self):
            spec = group.spec.with_kernel_shape(kernel_shape)
            parts.append(
                (group.edges.reshape(-1), spec.edge_attr_of(values[group.values]).reshape(-1, spec.kernel_numel))
            )
        out = values.new_zeros(self.num_edges, parts[0][1].shape[1])
        for edges, attr in parts:
            out = out.index_put((edges,), attr)
        return out

    @edge_attr.setter
    def edge_attr(self, edge_attr: torch.Tensor) -> None:
        specs = graph_specs(self)
        first = specs[0]
        kernel_shape = common_kernel_shape([s.kernel_shape for s in specs])
        expected = (sum(s.num_edges for s in specs), math.prod(kernel_shape))
        if tuple(edge_attr.shape) != expected:
            raise ValueError(
                f"edge features of shape {tuple(edge_attr.shape)} do not fit this graph: expected "
                f"{list(expected)} (edges x prod(kernel_shape {kernel_shape})); assign features of "
                "the shape `graph.edge_attr` has"
            )
        if all(s is first for s in specs):
            self.edge_values = first.values_of(edge_attr.reshape(len(specs), first.num_edges, -1)).reshape(-1)
            return
        out = edge_attr.new_zeros(sum(s.num_values for s in specs))
        for group in split_by_spec(self):
            spec = group.spec.with_kernel_shape(kernel_shape)
            out = out.index_put((group.values.reshape(-1),), spec.values_of(edge_attr[group.edges]).reshape(-1))
        self.edge_values = out

    def _topology(self, name: str) -> torch.Tensor:
        spec = self.spec
        device = self.edge_values.device
        if isinstance(spec, GraphSpec):
            return spec.on(device)[name]
        specs = graph_specs(self)
        cache = self.__dict__.setdefault("_edge_topology", {})
        key = (name, str(device), tuple(id(s) for s in specs))
        if key not in cache:
            cache.clear()
            cache[key] = _batch_topology(self, specs, name, device)
        return cache[key]


def _batch_topology(graph: Data, specs: list[GraphSpec], name: str, device: torch.device) -> torch.Tensor:
    """``edge_index`` (offset by each graph's first node) or ``edge_type`` of a batch."""
    first = specs[0]
    if all(s is first for s in specs):
        topo = first.on(device)[name]
        if name == "edge_type":
            return topo.repeat(len(specs))
        starts = torch.arange(len(specs), device=device) * first.num_nodes
        return (topo.unsqueeze(1) + starts.view(1, -1, 1)).reshape(2, -1)
    shape = (2, graph.num_edges) if name == "edge_index" else (graph.num_edges,)
    out = torch.empty(shape, dtype=torch.long, device=device)
    for group in split_by_spec(graph):
        topo = group.spec.on(device)[name]
        if name == "edge_index":
            out[:, group.edges.reshape(-1)] = (topo.unsqueeze(1) + group.nodes[:, :1].unsqueeze(0)).reshape(2, -1)
        else:
            out[group.edges.reshape(-1)] = topo.repeat(len(group.graphs))
    return out


def graph_specs(graph: Data) -> list[GraphSpec]:
    """The spec of each graph of a ``ParamGraph`` or of a batch (one entry per graph)."""
    spec = graph.spec
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


@dataclass(frozen=True)
class SpecGroup:
    """The graphs of a ``ParamGraph`` / batch that share one architecture, with their global ids.

    ``whole`` is True when these are all the graphs (in order): their ids are then ``0 .. count - 1``
    and the batch's tensors are this group's, unindexed. The edge / aux / value ids are made on access
    (one int64 per weight: callers that can use views should check ``whole`` first)."""

    spec: GraphSpec
    graphs: torch.Tensor  #: [B] graph ids in the batch
    nodes: torch.Tensor  #: [B, N] global node ids, in the spec's node order
    first: torch.Tensor  #: [B, 4] first node / edge / aux / value id of each graph
    whole: bool

    @property
    def edges(self) -> torch.Tensor:
        """[B, E] global edge ids, in the spec's edge order."""
        return self._ids(1, self.spec.num_edges)

    @property
    def aux(self) -> torch.Tensor:
        """[B, A] global ids in ``aux``, in the spec's order."""
        return self._ids(2, self.spec.aux_size)

    @property
    def values(self) -> torch.Tensor:
        """[B, P] global ids in ``edge_values``, in the spec's order."""
        return self._ids(3, self.spec.num_values)

    def _ids(self, column: int, size: int) -> torch.Tensor:
        return self.first[:, column : column + 1] + torch.arange(size, device=self.first.device)


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
    specs = graph_specs(graph)
    groups: dict[int, tuple[GraphSpec, list[int]]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(id(spec), (spec, []))[1].append(i)
    sizes = torch.tensor([[s.num_nodes, s.num_edges, s.aux_size, s.num_values] for s in specs])
    starts = (sizes.cumsum(0) - sizes).to(device)  # [B, 4] first node / edge / aux / value id of every graph
    result = []
    for spec, ids in groups.values():
        index = torch.tensor(ids, device=device)
        first = starts[index]
        nodes = first[:, :1] + torch.arange(spec.num_nodes, device=device)
        result.append(SpecGroup(spec, index, nodes, first, whole=len(groups) == 1))
    return result


def make_graph(
    spec: GraphSpec,
    x: torch.Tensor,
    edge_attr: torch.Tensor | None,
    aux: torch.Tensor,
    *,
    edge_values: torch.Tensor | None = None,
) -> ParamGraph:
    """A ``ParamGraph`` of ``spec`` from ``x [N, F]``, padded ``edge_attr [E, K]`` (or ``edge_values [P]``
    instead, then ``edge_attr=None``) and ``aux [A]``; the topology comes from the spec."""
    if edge_values is None:
        edge_values = spec.values_of(edge_attr.reshape(1, spec.num_edges, -1)).reshape(-1)
    topo = spec.on(x.device)
    return ParamGraph(
        x=x, edge_values=edge_values, node_pos=topo["pos_index"], aux=aux, spec=spec, **{k: topo[k] for k in _TOPOLOGY}
    )


def make_batch(
    spec: GraphSpec,
    x: torch.Tensor,
    edge_attr: torch.Tensor | None,
    aux: torch.Tensor,
    *,
    edge_values: torch.Tensor | None = None,
) -> Batch:
    """A PyG ``Batch`` of ``B`` graphs of one architecture from stacked tensors.

    ``x [B, N, F]``, ``edge_attr [B, E, K]`` (or ``edge_values [B, P]`` instead, then ``edge_attr=None``),
    ``aux [B, A]``. The node topology is broadcast, not collated graph by graph, so this costs a few
    tensor ops whatever ``B`` is.
    """
    num_graphs, n = x.shape[0], spec.num_nodes
    device = x.device
    if edge_values is None:
        edge_values = spec.values_of(edge_attr.reshape(num_graphs, spec.num_edges, -1))
    topo = spec.on(device)
    steps = torch.arange(num_graphs, device=device)
    data = {
        "x": x.reshape(num_graphs * n, -1),
        "edge_values": edge_values.reshape(-1),
        "node_pos": topo["pos_index"].repeat(num_graphs),
        "aux": aux.reshape(-1),
        **{k: topo[k].repeat(num_graphs) for k in _TOPOLOGY},
    }
    batch = Batch(_base_cls=ParamGraph, **data)
    batch.spec = [spec] * num_graphs
    batch.batch = steps.repeat_interleave(n)
    batch.ptr = torch.arange(num_graphs + 1, device=device) * n
    sizes = {"x": n, "edge_values": spec.num_values, "node_pos": n, "aux": spec.aux_size, **{k: n for k in _TOPOLOGY}}
    steps_cpu = torch.arange(num_graphs + 1)
    batch._slice_dict = {k: steps_cpu * size for k, size in sizes.items()}
    batch._slice_dict["spec"] = steps_cpu.clone()
    zeros = torch.zeros(num_graphs, dtype=torch.long)
    batch._inc_dict = {k: zeros for k in sizes}
    batch._inc_dict["spec"] = None
    batch._num_graphs = num_graphs
    return batch
