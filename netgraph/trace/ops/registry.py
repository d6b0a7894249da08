"""The op table: how traced operations become parameter-graph structure.

Supporting a new operation is one file in ``netgraph/trace/ops`` with

* a *handler* ``@register_op("kind")`` that reads operand layouts and calls the
  :class:`~netgraph.trace.builder.SpecBuilder`, and
* *bindings* that lower what the tracers see into that kind: ``@bind_module(nn.Linear)`` for a leaf
  module under ``torch.fx``, ``@bind_function(F.linear, torch.ops.aten.linear)`` for functions and
  ATen ops, ``@bind_method("view")`` for tensor methods.

A binding receives the call's operands with traced tensors replaced by
:class:`~netgraph.trace.ir.Value` / :class:`~netgraph.trace.ir.ParamRef` and returns a
:class:`Lowered`. Example (a hypothetical ``Scale`` module)::

    @bind_module(Scale)
    def _scale(module, path, args, kwargs):
        return Lowered("mul", (args[0], ParamRef(f"{path}.gamma", tuple(module.gamma.shape))))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn

__all__ = [
    "Lowered",
    "register_op",
    "bind_module",
    "bind_function",
    "bind_method",
    "HANDLERS",
    "FORWARDING",
    "MODULE_BINDINGS",
    "FUNCTION_BINDINGS",
    "METHOD_BINDINGS",
    "COMPOSITE_MODULES",
    "NAMED_MODULES",
    "bind_module_name",
    "module_binding",
    "arg",
]


@dataclass
class Lowered:
    """A traced call lowered to an op kind with normalised operands."""

    kind: str
    args: tuple[Any, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Any, Any], None]
HANDLERS: dict[str, Handler] = {}
FORWARDING: set[str] = set()
MODULE_BINDINGS: dict[type, Callable[..., Lowered]] = {}
COMPOSITE_MODULES: set[type] = set()
NAMED_MODULES: dict[str, Callable[..., Lowered]] = {}
FUNCTION_BINDINGS: dict[Any, Callable[..., Lowered]] = {}
METHOD_BINDINGS: dict[str, Callable[..., Lowered]] = {}


def register_op(kind: str, *, forwards: bool = False) -> Callable[[Handler], Handler]:
    """Register the handler of an op kind. ``forwards=True`` marks view-like ops whose output holds
    the same neuron values as their input (used to decide in-place node annotation)."""

    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        if forwards:
            FORWARDING.add(kind)
        return fn

    return deco


def bind_module(*types: type[nn.Module], composite: bool = False):
    """Bind leaf modules (matched by exact type). ``composite=True``: under ``torch.export`` all ATen
    ops inside the module are collapsed into this one op (used for ``nn.MultiheadAttention``)."""

    def deco(fn):
        for t in types:
            MODULE_BINDINGS[t] = fn
            if composite:
                COMPOSITE_MODULES.add(t)
        return fn

    return deco


def bind_module_name(*names: str):
    """Bind modules by class name (``"NewGELUActivation"``, or ``"*RMSNorm"`` for a suffix), for
    libraries netgraph does not import (Hugging Face ``transformers``). Such a module is a leaf under
    ``torch.fx``, and under ``torch.export`` its ATen ops are collapsed into this one op; the binding
    receives the module's one input tensor as ``args[0]``."""

    def deco(fn):
        for n in names:
            NAMED_MODULES[n] = fn
        return fn

    return deco


def module_binding(module: nn.Module) -> Callable[..., Lowered] | None:
    """The binding of a module: by exact type, else by class name (exact, then ``*suffix``)."""
    found = MODULE_BINDINGS.get(type(module))
    if found is not None:
        return found
    name = type(module).__name__
    if name in NAMED_MODULES:
        return NAMED_MODULES[name]
    return next((fn for key, fn in NAMED_MODULES.items() if key.startswith("*") and name.endswith(key[1:])), None)


def bind_function(*targets: Any):
    """Bind Python functions (fx ``call_function``) and ATen ops (OpOverloadPacket or OpOverload)."""

    def deco(fn):
        for t in targets:
            FUNCTION_BINDINGS[t] = fn
        return fn

    return deco


def bind_method(*names: str):
    """Bind tensor methods seen by fx as ``call_method`` (the tensor is ``args[0]``)."""

    def deco(fn):
        for n in names:
            METHOD_BINDINGS[n] = fn
        return fn

    return deco


def arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """Positional-or-keyword argument lookup."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)
