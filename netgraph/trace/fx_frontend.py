"""Lower a module to a :class:`Program` with ``torch.fx`` symbolic tracing (no example inputs).

Modules with a binding in the op table (``nn.Linear``, ``nn.Conv2d``, norms, activations...) are
leaves; everything else is traced through, so custom modules built from those pieces and functional
code (``F.relu``, ``x + y``, ``torch.flatten``) work. Symbolic tracing knows no tensor shapes; ops
that need them ask for ``example_inputs`` (which switches to ``torch.export``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from ..errors import UnsupportedModuleError
from .ops.registry import FUNCTION_BINDINGS, METHOD_BINDINGS, Lowered, module_binding
from .ir import Op, ParamRef, Program, Value, flatten_args as _flatten, resolve_args as _resolve

__all__ = ["lower_fx", "FxTraceError"]


class FxTraceError(UnsupportedModuleError):
    """``torch.fx`` could not trace the forward pass (data-dependent Python, shape checks...)."""


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_binding(m) is not None


def lower_fx(model: nn.Module, state_names: set[str]) -> Program:
    """Trace ``model`` symbolically; ``state_names`` are its state-dict keys (parameters/buffers)."""
    try:
        graph = _LeafTracer().trace(model)
    except Exception as err:  # fx raises many error types for data-dependent code
        raise FxTraceError(
            f"{type(model).__name__}: torch.fx could not trace the forward pass ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Pass example_inputs=... to from_module so "
            "netgraph traces with torch.export instead."
        ) from err
    env: dict[fx.Node, Any] = {}
    inputs: list[Value] = []
    outputs: list[Value] = []
    ops: list[Op] = []
    root = f"<root> ({type(model).__name__})"
    order = {node: i for i, node in enumerate(graph.nodes)}
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = Value(node.name)
            inputs.append(env[node])
        elif node.op == "get_attr":
            env[node] = _get_attr(model, node, state_names)
        elif node.op == "output":
            outputs = [v for v in _flatten(_resolve(node.args[0], env)) if isinstance(v, Value)]
        else:
            args = _resolve(node.args, env)
            kwargs = _resolve(node.kwargs, env)
            lowered, where, target = _lower(model, node, args, kwargs, root)
            if _updates_a_tensor_read_later(node, order):
                lowered.attrs["in_place_read_later"] = True
            if lowered.kind == "identity" and isinstance(lowered.args[0], ParamRef):
                env[node] = lowered.args[0]  # a view / broadcast of a parameter is the parameter
                continue
            out = Value(node.name)
            env[node] = out
            call = model.get_submodule(node.target) if node.op == "call_module" else (args, kwargs)
            ops.append(Op(lowered.kind, tuple(lowered.args), out, lowered.attrs, where, target, call))
    return Program(inputs, ops, outputs, "fx")


def _updates_a_tensor_read_later(node: fx.Node, order: dict[fx.Node, int]) -> bool:
    """An in-place method (``h.mul_(scale)``) whose first operand other nodes read after it: torch.fx records
    those reads from the operand, not from the update, so the dataflow it shows would be wrong."""
    if node.op != "call_method" or not node.target.endswith("_") or node.target.startswith("__"):
        return False
    first = node.args[0] if node.args else None
    return isinstance(first, fx.Node) and any(order[u] > order[node] for u in first.users if u is not node)


def _lower(model: nn.Module, node: fx.Node, args: tuple, kwargs: dict, root: str) -> tuple[Lowered, str, str]:
    if node.op == "call_module":
        module = model.get_submodule(node.target)
        where = f"module '{node.target}' ({type(module).__name__})"
        return module_binding(module)(module, node.target, args, kwargs), where, type(module).__name__
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, kind = list(stack.values())[-1]
        kind_name = kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1]
        where = f"module '{path}' ({kind_name})"
    else:
        where = root
    if node.op == "call_function":
        binding = FUNCTION_BINDINGS.get(node.target)
        name = getattr(node.target, "__name__", str(node.target))
    else:
        binding = METHOD_BINDINGS.get(node.target)
        name = f"Tensor.{node.target}"
    if binding is None:
        return Lowered("unknown", tuple(args) + tuple(kwargs.values())), where, name
    return binding(args, kwargs), where, name


def _get_attr(model: nn.Module, node: fx.Node, state_names: set[str]) -> Any:
    value = model
    for part in node.target.split("."):
        value = getattr(value, part)
    if isinstance(value, torch.Tensor):
        if node.target in state_names and (isinstance(value, nn.Parameter) or torch.is_floating_point(value)):
            return ParamRef(node.target, tuple(value.shape), isinstance(value, nn.Parameter))
        return value  # an integer / non-persistent buffer or a tensor constant: data
    return value
