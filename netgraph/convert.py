"""Converting between modules / state dicts and parameter graphs.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> g = netgraph.from_module(model)
    >>> sd = netgraph.to_state_dict(g)
    >>> all(torch.equal(sd[k], v) for k, v in model.state_dict().items())
    True
    >>> zoo = netgraph.from_state_dicts(model, [model.state_dict()] * 3)
    >>> zoo.num_graphs
    3
"""

from __future__ import annotations

import copy
import weakref
from typing import Mapping, Sequence

import torch
import torch.nn as nn
from torch_geometric.data import Batch, Data

from .graph import ParamGraph, graph_specs, make_batch, make_graph
from .spec import GraphSpec
from .trace import ExampleInputs, trace

__all__ = ["from_module", "from_state_dict", "from_state_dicts", "to_state_dict", "to_state_dicts",
           "to_module", "spec_of"]

_SPECS: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, GraphSpec]]" = weakref.WeakKeyDictionary()


def spec_of(model: nn.Module | GraphSpec, example_inputs: ExampleInputs | None = None,
            kernel_shape: tuple[int, ...] = ()) -> GraphSpec:
    """The :class:`GraphSpec` of ``model``, traced once and cached while the module lives.

    The cache key covers the parameter names/shapes/dtypes, the module types and the example input
    shapes, so editing the architecture re-traces.
    """
    if isinstance(model, GraphSpec):
        return model.with_kernel_shape(kernel_shape)
    key = _signature(model, example_inputs)
    cached = _SPECS.get(model)
    if cached is None or cached[0] != key:
        cached = (key, trace(model, example_inputs))
        _SPECS[model] = cached
    return cached[1].with_kernel_shape(kernel_shape)


def from_module(model: nn.Module, example_inputs: ExampleInputs | None = None, *,
                spec: GraphSpec | None = None, kernel_shape: tuple[int, ...] = ()) -> ParamGraph:
    """The parameter graph of ``model`` (on the device of its parameters).

    Args:
        model: any module built from supported layers (see :func:`netgraph.trace`).
        example_inputs: a tensor, a tuple of positional inputs or a dict of keyword inputs; when
            given the model is traced with ``torch.export`` (needed for e.g. Hugging Face models).
        spec: a spec traced before for this architecture (skips tracing).
        kernel_shape: minimum edge-feature kernel shape (to batch with other architectures).
    """
    spec = spec_of(spec or model, example_inputs, kernel_shape)
    return from_state_dict(spec, model.state_dict())


def from_state_dict(spec: GraphSpec, state_dict: Mapping[str, torch.Tensor]) -> ParamGraph:
    """The parameter graph of a state dict of the architecture ``spec``."""
    x, edge_attr, aux = spec.gather(state_dict)
    return make_graph(spec, x, edge_attr, aux)


def from_state_dicts(model: nn.Module | GraphSpec, state_dicts: Sequence[Mapping[str, torch.Tensor]] |
                     Mapping[str, torch.Tensor], example_inputs: ExampleInputs | None = None,
                     kernel_shape: tuple[int, ...] = ()) -> Batch:
    """Many networks of one architecture as one PyG ``Batch``.

    ``state_dicts`` is a list of state dicts, or one dict of stacked tensors (``[B, *shape]``). The
    topology is traced once; weights are only gathered (a few tensor ops per parameter).
    """
    spec = spec_of(model, example_inputs, kernel_shape)
    if isinstance(state_dicts, Mapping):
        stacked = state_dicts
    else:
        if len(state_dicts) == 0:
            raise ValueError("from_state_dicts needs at least one state dict")
        stacked = {k: torch.stack([sd[k] for sd in state_dicts]) for k in spec.keys if k not in spec.aliases}
    x, edge_attr, aux = spec.gather(stacked, batch_dims=1)
    return make_batch(spec, x, edge_attr, aux)


def to_state_dict(graph: Data) -> dict[str, torch.Tensor]:
    """The state dict a single graph stands for: the exact inverse of :func:`from_module`."""
    specs = graph_specs(graph)
    if len(specs) != 1:
        raise ValueError(f"to_state_dict takes one graph; got a batch of {len(specs)}: use to_state_dicts")
    return specs[0].scatter(graph.x, graph.edge_attr, graph.aux)


def to_state_dicts(batch: Batch, stacked: bool = False) -> list[dict[str, torch.Tensor]] | dict[str, torch.Tensor]:
    """State dicts of every graph of a batch.

    With ``stacked=True`` (one architecture only) returns one dict of ``[B, *shape]`` tensors, ready
    for ``torch.func.functional_call`` under ``vmap``.
    """
    specs = graph_specs(batch)
    first = specs[0]
    if all(s is first for s in specs):
        b = len(specs)
        out = first.scatter(batch.x.reshape(b, first.num_nodes, -1), batch.edge_attr.reshape(b, first.num_edges, -1),
                            batch.aux.reshape(b, -1), batch_dims=1)
        if stacked:
            return out
        return [{k: v[i] for k, v in out.items()} for i in range(b)]
    if stacked:
        raise ValueError("stacked=True needs all graphs of the batch to share one architecture")
    return [to_state_dict(g) for g in batch.to_data_list()]


def to_module(graph: Data, model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` carrying the weights of ``graph``."""
    clone = copy.deepcopy(model)
    clone.load_state_dict(to_state_dict(graph))
    return clone


def _signature(model: nn.Module, example_inputs: ExampleInputs | None) -> tuple:
    params = tuple((k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items())
    kinds = tuple(type(m) for m in model.modules())
    return params, kinds, _input_signature(example_inputs)


def _input_signature(obj) -> object:
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return ("tensor", tuple(obj.shape), obj.dtype)
    if isinstance(obj, Mapping):
        return tuple((k, _input_signature(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return tuple(_input_signature(v) for v in obj)
    return repr(obj)
