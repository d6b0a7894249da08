"""Tracing a module into a :class:`~netgraph.spec.GraphSpec`.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    >>> netgraph.trace(model, torch.randn(1, 3, 8, 8)).kernel_shape   # flatten -> Linear: 6x6 spatial weights
    (6, 6)
    >>> netgraph.trace(model).kernel_shape   # torch.fx knows no shapes: the 36 positions stay flat
    (3, 36)
"""

from __future__ import annotations

import logging
import re
import sys
import types
from typing import Mapping

import torch
import torch.nn as nn

from . import ops as _ops  # noqa: F401  (registers the op table)
from ..errors import NetgraphError, UnsupportedModuleError
from ..inputs import ExampleInputs, split_inputs
from .ops.registry import FORWARDING, FUNCTION_BINDINGS, HANDLERS, METHOD_BINDINGS, MODULE_BINDINGS, NAMED_MODULES
from ..spec import GraphSpec
from .builder import SpecBuilder, _NeedShapes
from .export_frontend import lower_export
from .fx_frontend import FxTraceError, lower_fx
from .synthesize import call_kwargs, describe_inputs, synthesize_inputs
from .fingerprint import fingerprint as _fingerprint, input_signature
from .ir import Op, ParamRef, Program, Value
from .layout import Layout

__all__ = ["trace", "ExampleInputs"]


def trace(
    model: nn.Module, example_inputs: ExampleInputs | None = None, kernel_shape: tuple[int, ...] = ()
) -> GraphSpec:
    """Trace ``model`` once into the :class:`GraphSpec` of its architecture.

    Without ``example_inputs`` the forward pass is traced symbolically with ``torch.fx``; with them
    (a tensor, a tuple of positional inputs or a dict of keyword inputs) ``torch.export`` is used,
    which handles arbitrary Python (e.g. Hugging Face models) and knows every shape. When ``torch.fx``
    cannot trace the module (control flow on shapes, ops that need ranks), inputs are synthesised
    from its first layers (:func:`~netgraph.trace.synthesize.synthesize_inputs`) and ``torch.export`` is
    used with them. The model is
    traced in eval mode (dropout off, BatchNorm on running statistics); its mode is restored after.
    ``kernel_shape`` sets a minimum edge-feature kernel shape (e.g. ``(3, 3)`` so MLP and CNN graphs
    can be batched together).

    Raises:
        UnsupportedModuleError: naming the module and operation that cannot be represented.
    """
    state = model.state_dict(keep_vars=True)
    keys = list(state.keys())
    aliases = _tied_keys(state)
    params = {k: v.detach() for k, v in state.items()}
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            if example_inputs is not None:
                program = _export_given(model, example_inputs)
            else:
                try:
                    return build_spec(lower_fx(model, set(keys)), params, keys, aliases, tuple(kernel_shape))
                except (FxTraceError, _NeedShapes) as err:
                    program = _export_synthesised(model, err)
    finally:
        for module, mode in modes.items():
            module.training = mode
    spec = build_spec(program, params, keys, aliases, tuple(kernel_shape))
    spec.input_signature = input_signature(example_inputs)
    return spec


def _export_given(model: nn.Module, example_inputs: ExampleInputs) -> Program:
    """``torch.export`` on the caller's inputs; inputs the forward pass cannot take are one error saying what
    was given and what the first layer expects (not torch's traceback)."""
    args, kwargs = split_inputs(example_inputs)
    fake_tensor_log = logging.getLogger("torch._subclasses.fake_tensor")
    level = fake_tensor_log.level
    fake_tensor_log.setLevel(logging.CRITICAL)  # it logs the whole failing traceback before raising
    try:
        return lower_export(model, args, call_kwargs(model, kwargs))
    except UnsupportedModuleError as err:
        if isinstance(err.__cause__, NetgraphError) or err.__cause__ is None:
            raise
        cause = str(err.__cause__).strip().splitlines()
        raise UnsupportedModuleError(
            f"{type(model).__name__}: the example_inputs do not fit its forward pass: given "
            f"{_describe_given(example_inputs)}; torch.export says {type(err.__cause__).__name__}: "
            f"{cause[0].rstrip('.') if cause else ''}. Expected: {describe_inputs(model)} (a tensor, a tuple of "
            "positional inputs or a dict of keyword inputs)."
        ) from None
    finally:
        fake_tensor_log.setLevel(level)


def _describe_given(obj) -> str:
    """Example inputs in a few words: tensor shapes and dtypes, dict keys, tuple lengths."""
    if isinstance(obj, torch.Tensor):
        return f"a tensor {list(obj.shape)} ({str(obj.dtype).removeprefix('torch.')})"
    if isinstance(obj, Mapping):
        return "a dict {" + ", ".join(f"{k!r}: {_describe_given(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)} (" + ", ".join(_describe_given(v) for v in obj) + ")"
    return f"{type(obj).__name__} {obj!r}"[:80]


def build_spec(
    program: Program,
    params: dict[str, torch.Tensor],
    keys: list[str],
    aliases: dict[str, str],
    kernel_shape: tuple[int, ...] = (),
) -> GraphSpec:
    """Run the op handlers over a lowered program."""
    builder = SpecBuilder(program, params, keys, aliases, frozenset(FORWARDING))
    live = _live_ops(program)
    for op in program.ops:
        if id(op) not in live:  # its result is never used (e.g. BART's `inputs_embeds[:, :, -1]`, read for its shape)
            continue
        if op.attrs.get("in_place_read_later") and builder.get(op.args[0]) is not None:
            raise UnsupportedModuleError(
                f"{op.where}: in-place `{op.target}` updates neuron activations that later operations read; "
                "torch.fx shows those reads before the update, so the graph would be wired wrong. Write it out "
                "of place (`h = h * scale`), or pass example_inputs=... to trace with torch.export."
            )
        handler = HANDLERS.get(op.kind)
        if handler is None:
            _check_opaque(builder, op)
            continue
        try:
            handler(builder, op)
        except _NeedShapes as err:
            raise _NeedShapes(
                f"{op.where} (operation `{op.target}`): {err}. Symbolic tracing (no example_inputs) does not "
                "know tensor ranks or shapes here; pass example_inputs=... to from_module / trace so netgraph "
                "traces with torch.export."
            ) from None
    outputs = [builder.get(v) for v in program.outputs]
    spec = builder.finish([o for o in outputs if isinstance(o, Layout)], program.mode, kernel_shape)
    spec.fingerprint = _fingerprint(program, live)
    return spec


def _live_ops(program: Program) -> set[int]:
    """``id`` of the ops whose result reaches an output of the program (the others cannot change the
    function). Only ``torch.export`` programs are functional; under ``torch.fx`` an unused result may be an
    in-place update (``x.mul_(scale)``), so every op is kept."""
    if program.mode != "export":
        return {id(op) for op in program.ops}
    live_values = {v.name for v in program.outputs}
    live: set[int] = set()
    for op in reversed(program.ops):
        if op.out.name in live_values:
            live.add(id(op))
            live_values.update(v.name for v in _values_in((op.args, op.attrs)))
    return live


def _values_in(obj) -> list[Value]:
    """Every :class:`Value` inside nested lists, tuples and dicts."""
    if isinstance(obj, Value):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [v for item in obj for v in _values_in(item)]
    if isinstance(obj, dict):
        return [v for item in obj.values() for v in _values_in(item)]
    return []


def _export_synthesised(model: nn.Module, fx_error: UnsupportedModuleError) -> Program:
    """Trace with ``torch.export`` on inputs synthesised from the first layer, after ``torch.fx`` failed."""
    inputs = synthesize_inputs(model, torch.Generator().manual_seed(0))
    if inputs is None:
        raise UnsupportedModuleError(
            f"{fx_error} netgraph could not synthesise an input from the first layer: {describe_inputs(model)}."
        ) from None
    try:
        return lower_export(model, inputs, call_kwargs(model, {}))
    except UnsupportedModuleError as err:
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        raise UnsupportedModuleError(f"{fx_error} With synthesised inputs of shapes {shapes}, {err}") from None


def _check_opaque(builder: SpecBuilder, op: Op) -> None:
    """An op without a rule is fine on data (masks, ids, shapes) but never on neurons or parameters."""
    touches = [v for v in op.values() if builder.get(v) is not None or builder.get_raw(v) is not None]
    params = [a for a in op.args if isinstance(a, ParamRef)]
    if not touches and not params:
        return
    reason = op.attrs.get("reason")
    kind = "parameter" if params and params[0].is_parameter else "buffer"
    what = f"{kind} '{params[0].name}'" if params else "neuron activations"
    raise UnsupportedModuleError(
        f"{op.where}: operation `{op.target}` acts on {what}"
        f"{f' ({reason})' if reason else ''} and netgraph has no rule for it. Supported: {supported_modules()}. "
        "Replace the module, or register a handler for it (netgraph.trace.ops.register_op + bind_function / bind_module)."
    )


def supported_modules() -> str:
    """The modules netgraph converts, read from the op registry (1d/2d/3d variants joined), and the
    functional forms it binds.

    >>> "Conv1d/2d/3d" in supported_modules() and "RMSNorm" in supported_modules()
    True
    """
    names = sorted({t.__name__ for t in MODULE_BINDINGS} | {n.replace("*", "any ") for n in NAMED_MODULES})
    joined: dict[str, list[str]] = {}
    for name in names:
        match = re.fullmatch(r"(.*?)([123]d)", name)
        stem, dims = (match.group(1), match.group(2)) if match else (name, "")
        joined.setdefault(stem, []).append(dims)
    modules = [stem + "/".join(dims) if dims != [""] else stem for stem, dims in joined.items()]
    hf_conv1d = " (Hugging Face Conv1D)" if torch.ops.aten.addmm in FUNCTION_BINDINGS else ""
    return (
        ", ".join(modules) + f"; and {len(FUNCTION_BINDINGS)} functions / ATen ops (their functional forms, "
        f"arithmetic, reshapes, addmm{hf_conv1d}) and {len(METHOD_BINDINGS)} tensor methods"
    )


def _tied_keys(state: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """State-dict keys that are the same tensor as an earlier key (tied weights)."""
    first: dict[int, str] = {}
    aliases: dict[str, str] = {}
    for key, tensor in state.items():
        ident = id(tensor)
        if ident in first:
            aliases[key] = first[ident]
        else:
            first[ident] = key
    return aliases


class _TracePackage(types.ModuleType):
    """``netgraph.trace`` is this package and its :func:`trace` function at once: ``netgraph.trace(model)``
    calls the function, ``netgraph.trace.ops`` or ``netgraph.trace.synthesize`` reach the submodules (a plain
    re-export of the function would hide the package behind it).

    >>> import netgraph, torch.nn as nn
    >>> netgraph.trace(nn.Linear(2, 3)).num_nodes, netgraph.trace.ops.register_op.__name__
    (5, 'register_op')
    """

    def __call__(
        self, model: nn.Module, example_inputs: ExampleInputs | None = None, kernel_shape: tuple[int, ...] = ()
    ) -> GraphSpec:
        return trace(model, example_inputs, kernel_shape)


sys.modules[__name__].__class__ = _TracePackage
