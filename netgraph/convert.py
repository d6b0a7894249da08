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

from .errors import NetgraphError, UnsupportedModuleError
from .graph import ParamGraph, graph_specs, make_batch, make_graph
from .spec import GraphSpec
from .trace import ExampleInputs, trace
from .types import Activation
from .trace.fingerprint import config_items, first_difference, input_signature, inputs_like
from .trace.synthesize import describe_inputs, synthesize_inputs
from .verify import NonFiniteWeightsError, check_conversion, non_finite_parameters

__all__ = [
    "from_module",
    "from_state_dict",
    "from_state_dicts",
    "to_state_dict",
    "to_state_dicts",
    "to_module",
    "spec_of",
    "spec_differences",
    "ArchitectureMismatchError",
]


class ArchitectureMismatchError(NetgraphError, ValueError):
    """A module or record of another architecture than the one asked for: ``to_module`` into a module that is
    not the graph's architecture, a generator's target (``netgraph.metanets``). The message names the first
    difference (a parameter, an activation, the wiring, or an operation and its attribute)."""


_SPECS: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, GraphSpec]]" = weakref.WeakKeyDictionary()
_CHECKED: "weakref.WeakKeyDictionary[nn.Module, GraphSpec]" = weakref.WeakKeyDictionary()

#: The default self-check (``verify=None``) runs on graphs of at most this many edge values (weights,
#: ``spec.num_values``; 32M: an ImageNet ResNet-50 is checked, GPT-2 small is not). The check permutes the
#: unpadded weights, so its cost follows the weights: 2.4-3.1x the unchecked first conversion's time and
#: 2.6-2.8x the state dict's memory on an ImageNet ResNet-50, a 124M-parameter decoder and a 61M-parameter
#: grouped-query Llama (``benchmarks/bench_verify.py --large``). The cap keeps a first call within issue
#: 15's budget of 10x a state-dict copy (ResNet-50 with the check: 8.9x; the decoder would be 13x, the
#: Llama 21x: BENCHMARKS.md). Larger models are checked with ``verify=True``.
DEFAULT_CHECK_MAX_VALUES = 2**25


def spec_of(
    model: nn.Module | GraphSpec, example_inputs: ExampleInputs | None = None, kernel_shape: tuple[int, ...] = ()
) -> GraphSpec:
    """The :class:`GraphSpec` of ``model``, traced once and cached while the module lives.

    The cache key covers everything that can change the trace: the parameter names / shapes / dtypes,
    the module types and their configuration (``stride``, ``eps``, slopes...), and the example inputs'
    structure (dict keys, tuple lengths, ``None`` for an optional input, shapes, dtypes); so editing the
    architecture or passing inputs that take another branch of ``forward`` re-traces. (The training mode
    is not in the key: tracing always runs in eval mode.)
    """
    if isinstance(model, GraphSpec):
        return model.with_kernel_shape(kernel_shape)
    key = _signature(model, example_inputs)
    cached = _SPECS.get(model)
    if cached is None or cached[0] != key:
        cached = (key, trace(model, example_inputs))
        _SPECS[model] = cached
    return cached[1].with_kernel_shape(kernel_shape)


def from_module(
    model: nn.Module,
    example_inputs: ExampleInputs | None = None,
    *,
    spec: GraphSpec | None = None,
    kernel_shape: tuple[int, ...] = (),
    verify: bool | None = None,
) -> ParamGraph:
    """The parameter graph of ``model`` (on the device of its parameters).

    Args:
        model: any module built from supported layers (see :func:`netgraph.trace`).
        example_inputs: a tensor, a tuple of positional inputs or a dict of keyword inputs; when
            given the model is traced with ``torch.export`` (needed for e.g. Hugging Face models).
        spec: a spec traced before for this architecture (skips tracing).
        kernel_shape: minimum edge-feature kernel shape (to batch with other architectures).
        verify: check the conversion (:func:`~netgraph.verify.check_conversion`: a random permutation
            of the graph must keep the module's outputs) and raise ``ConversionCheckError`` naming the
            operation at fault. ``None`` (default): check once per traced architecture when inputs are
            known (``example_inputs``, or synthesised from the first layer) and the graph has at most
            :data:`DEFAULT_CHECK_MAX_VALUES` edge values (32M weights: every test architecture, an
            ImageNet ResNet-50; not BERT-base or GPT-2: the check costs ~3x the unchecked first
            conversion), skip otherwise; ``True``: always check (an error if no inputs can be found);
            ``False``: never.
    """
    _require_values(model)
    given = spec is not None
    spec = spec_of(spec or model, example_inputs, kernel_shape)
    check = verify or (
        verify is None
        and not given
        and _CHECKED.get(model) is not _SPECS[model][1]
        and spec.num_values <= DEFAULT_CHECK_MAX_VALUES
    )
    if check and (bad := non_finite_parameters(model)):
        if verify:
            raise NonFiniteWeightsError(
                f"from_module(verify=True) cannot check {type(model).__name__}: {bad}; the check compares the "
                "module's outputs, which are not finite. Fix or re-initialise those weights, or pass verify=None "
                "(converts them as they are) / verify=False"
            )
        check = False  # the weights are copied exactly; the architecture is checked on a call with finite weights
    if check:
        _check(model, spec, example_inputs, required=bool(verify))
    return from_state_dict(spec, model.state_dict())


def _require_values(model: nn.Module) -> None:
    """A model on the meta device has shapes but no values: a parameter graph cannot be made from it."""
    meta = next((k for k, v in model.state_dict().items() if v.is_meta), None)
    if meta is not None:
        raise UnsupportedModuleError(
            f"from_module: {type(model).__name__} is on the meta device ('{meta}' has a shape but no values); "
            "load its weights first (model.to_empty(device='cpu') then load_state_dict(...)), or use "
            "netgraph.spec_of(model) for the architecture alone"
        )


def _check(model: nn.Module, spec: GraphSpec, example_inputs: ExampleInputs | None, required: bool) -> None:
    generator = torch.Generator().manual_seed(0)  # never the global RNG: conversion has no side effects
    if example_inputs is None:
        example_inputs = synthesize_inputs(model, generator)
        if example_inputs is None:
            if required:
                raise ValueError(
                    f"from_module(verify=True) needs inputs for {type(model).__name__}: {describe_inputs(model)}"
                )
            return
    check_conversion(model, spec, example_inputs, generator=generator)
    _CHECKED[model] = _SPECS[model][1]


def from_state_dict(spec: GraphSpec, state_dict: Mapping[str, torch.Tensor]) -> ParamGraph:
    """The parameter graph of a state dict of the architecture ``spec``."""
    _require_parameters(spec)
    x, values, aux = spec.gather_values(state_dict)
    return make_graph(spec, x, None, aux, edge_values=values)


def from_state_dicts(
    model: nn.Module | GraphSpec,
    state_dicts: Sequence[Mapping[str, torch.Tensor]] | Mapping[str, torch.Tensor],
    example_inputs: ExampleInputs | None = None,
    kernel_shape: tuple[int, ...] = (),
) -> Batch:
    """Many networks of one architecture as one PyG ``Batch``.

    ``state_dicts`` is a list of state dicts, or one dict of stacked tensors (``[B, *shape]``). The
    topology is traced once; weights are only gathered (a few tensor ops per parameter).
    """
    spec = spec_of(model, example_inputs, kernel_shape)
    _require_parameters(spec)
    if isinstance(state_dicts, Mapping):
        stacked = state_dicts
    else:
        if len(state_dicts) == 0:
            raise ValueError("from_state_dicts needs at least one state dict")
        stacked = _stack(spec, state_dicts)
    x, values, aux = spec.gather_values(stacked, batch_dims=1)
    return make_batch(spec, x, None, aux, edge_values=values)


def to_state_dict(graph: Data) -> dict[str, torch.Tensor]:
    """The state dict a single graph stands for: the exact inverse of :func:`from_module`."""
    specs = graph_specs(graph)
    if len(specs) != 1:
        raise ValueError(f"to_state_dict takes one graph; got a batch of {len(specs)}: use to_state_dicts")
    return specs[0].scatter_values(graph.x, graph.edge_values, graph.aux)


def to_state_dicts(batch: Batch, stacked: bool = False) -> list[dict[str, torch.Tensor]] | dict[str, torch.Tensor]:
    """State dicts of every graph of a batch.

    With ``stacked=True`` (one architecture only) returns one dict of ``[B, *shape]`` tensors, ready
    for ``torch.func.functional_call`` under ``vmap``.
    """
    specs = graph_specs(batch)
    first = specs[0]
    if all(s is first for s in specs):
        b = len(specs)
        out = first.scatter_values(
            batch.x.reshape(b, first.num_nodes, -1),
            batch.edge_values.reshape(b, -1),
            batch.aux.reshape(b, -1),
            batch_dims=1,
        )
        if stacked:
            return out
        return [{k: v[i] for k, v in out.items()} for i in range(b)]
    if stacked:
        raise ValueError("stacked=True needs all graphs of the batch to share one architecture")
    return [to_state_dict(g) for g in batch.to_data_list()]


def to_module(graph: Data, model: nn.Module, check: bool = True) -> nn.Module:
    """A deep copy of ``model`` carrying the weights of ``graph``.

    With ``check`` the architecture recorded in the graph must be ``model``'s: ``model`` is traced the way
    the graph's module was (``torch.fx``, or ``torch.export`` on inputs of the same structure and shapes)
    and the two specs must agree in parameters, activations, wiring and every operation with its
    attributes (order, stride / padding / dilation / groups, eps, slopes, head counts, constants);
    else an :class:`ArchitectureMismatchError` (a ``ValueError``) names the first difference.

    Example:
        >>> import torch.nn as nn, netgraph
        >>> graph = netgraph.from_module(nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Conv1d(2, 1, 3)))
        >>> strided = nn.Sequential(nn.Conv1d(1, 2, 3, stride=2), nn.ReLU(), nn.Conv1d(2, 1, 3))
        >>> try:
        ...     netgraph.to_module(graph, strided)
        ... except ArchitectureMismatchError as err:
        ...     print(str(err).split("module): ", 1)[1].split(". ")[0])
        the operations differ: operation 1 of 3 (module '0' (Conv1d)): stride=(1,) in the first, stride=(2,) in the second
    """
    if check:
        specs = graph_specs(graph)
        if len(specs) != 1:
            raise ValueError(f"to_module takes one graph; got a batch of {len(specs)}: use to_state_dicts")
        problems = _architecture_differences(specs[0], model)
        if problems:
            raise ArchitectureMismatchError(
                f"the graph was made from another architecture than {type(model).__name__} (the first below: the "
                "graph, the second: the module): "
                + "; ".join(problems)
                + ". Pass a module of the graph's architecture (the one it was "
                "made from), or check=False to load the weights anyway"
            )
    clone = copy.deepcopy(model)
    clone.load_state_dict(to_state_dict(graph))
    return clone


def spec_differences(mine: GraphSpec, other: GraphSpec) -> list[str]:
    """What differs between two architectures' specs (empty when they match): parameters and
    shapes first, then the activation of each node space, then the wiring.

    Example:
        >>> import torch.nn as nn
        >>> relu = spec_of(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
        >>> tanh = spec_of(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)))
        >>> spec_differences(relu, tanh)
        ["activations differ: module '0' (Linear) out is relu in the first, tanh in the second"]
    """
    if mine is other:
        return []
    out = []
    missing = [k for k in mine.keys if k not in other.shapes]
    extra = [k for k in other.keys if k not in mine.shapes]
    reshaped = [
        f"'{k}' {mine.shapes[k]} vs {other.shapes[k]}"
        for k in mine.keys
        if k in other.shapes and tuple(mine.shapes[k]) != tuple(other.shapes[k])
    ]
    for label, items in (
        ("parameters only in the first", missing),
        ("parameters only in the second", extra),
        ("parameters of other shapes", reshaped),
    ):
        if items:
            out.append(f"{label}: {items[:3]}{' ...' if len(items) > 3 else ''}")
    if out:
        return out
    operations = _operation_difference(mine, other)
    detail = f"; first differing operation: {operations}" if operations else ""
    if mine.num_nodes != other.num_nodes or mine.num_edges != other.num_edges:
        return [
            f"the graphs are wired differently ({mine.num_nodes} nodes / {mine.num_edges} edges in the first, "
            f"{other.num_nodes} / {other.num_edges} in the second: residual connections, normalisation, the "
            f"order of operations){detail}"
        ]
    acts = []
    for space in mine.spaces:
        a = mine.node_act[space.start : space.start + space.size].unique().tolist()
        b = other.node_act[space.start : space.start + space.size].unique().tolist()
        if a != b:
            acts.append(f"{space.name} is {_act_names(a)} in the first, {_act_names(b)} in the second")
    if acts:
        out.append("activations differ: " + "; ".join(acts[:3]) + (" ..." if len(acts) > 3 else ""))
    same = all(
        torch.equal(getattr(mine, name), getattr(other, name))
        for name in ("node_type", "layer", "node_norm", "edge_index", "edge_type")
    )
    if not same:
        out.append(
            "the graphs are wired differently (residual connections, normalisation, the order of operations "
            f"or which outputs feed which layer){detail}"
        )
    if not out and operations:
        out.append(f"the operations differ: {operations}")
    return out


def _operation_difference(mine: GraphSpec, other: GraphSpec) -> str | None:
    """The first differing traced operation of two specs traced the same way (``None`` when they match,
    or when a fingerprint is missing or the specs were traced differently, so not comparable)."""
    comparable = (
        mine.fingerprint
        and other.fingerprint
        and (mine.trace_mode, mine.input_signature) == (other.trace_mode, other.input_signature)
    )
    return first_difference(mine.fingerprint, other.fingerprint) if comparable else None


def _architecture_differences(spec: GraphSpec, model: nn.Module) -> list[str]:
    """What differs between the architecture of ``spec`` and ``model``, traced the same way: with
    ``torch.fx`` (or export on synthesised inputs, as ``trace`` falls back to) when ``spec`` was traced without
    example inputs, else with inputs of the structure, shapes and dtypes ``spec`` was traced with."""
    inputs = None
    if spec.input_signature is not None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        inputs = inputs_like(spec.input_signature, device)
        if inputs is None:
            return []  # inputs of a kind that cannot be rebuilt: only names and shapes (load_state_dict)
    try:
        target = spec_of(model, inputs)
    except UnsupportedModuleError as err:
        return [f"the module cannot be traced the way the graph's architecture was ({err})"]
    return spec_differences(spec, target)


def _act_names(codes: list[int]) -> str:
    return "/".join(Activation(c).name.lower() for c in codes)


def _require_parameters(spec: GraphSpec) -> None:
    if spec.num_nodes == 0 or not spec.keys:
        raise UnsupportedModuleError(
            "the module has no parameters, so there is nothing to put in a parameter graph; "
            "pass a network with at least one weight (e.g. an nn.Linear)"
        )


def _stack(spec: GraphSpec, state_dicts: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The state dicts stacked ``[B, *shape]``; one whose keys or shapes do not fit is named."""
    known = set(spec.keys)
    needed = [k for k in spec.keys if k not in spec.aliases]
    for i, sd in enumerate(state_dicts):  # key sets only (no tensor work): name the bad state dict
        missing, extra = [k for k in needed if k not in sd], sorted(set(sd) - known)
        if missing or extra:
            raise KeyError(
                f"state dict {i} of {len(state_dicts)} does not fit the architecture: missing {missing[:3]}"
                f"{' ...' if len(missing) > 3 else ''}, unexpected {extra[:3]}"
                f"{' ...' if len(extra) > 3 else ''}; pass state dicts of the architecture given as the "
                "first argument"
            )
    stacked = {}
    for k in needed:
        try:
            stacked[k] = torch.stack([sd[k] for sd in state_dicts])
        except RuntimeError as exc:
            shapes = [tuple(sd[k].shape) for sd in state_dicts]
            bad = next(i for i, shape in enumerate(shapes) if shape != tuple(spec.shapes[k]))
            raise ValueError(
                f"state dict {bad} of {len(state_dicts)}: '{k}' has shape {shapes[bad]}, the architecture "
                f"expects {tuple(spec.shapes[k])}"
            ) from exc
    return stacked


def _signature(model: nn.Module, example_inputs: ExampleInputs | None) -> tuple:
    """The spec cache key: everything that can change what ``trace`` makes of ``model`` (see :func:`spec_of`)."""
    params = tuple((k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items())
    kinds = tuple((type(m), config_items(m)) for m in model.modules())
    return params, kinds, input_signature(example_inputs)
