"""A small, frontend-independent program representation that the spec builder reads.

Both tracers (``torch.fx`` symbolic tracing and ``torch.export``) lower a module into a list of
:class:`Op` in topological order. Tensor operands are :class:`Value` (a traced tensor, with its shape
when the tracer knows it), :class:`ParamRef` (a parameter or buffer of the module, by state-dict name)
or plain Python constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Value", "ParamRef", "Op", "Program", "resolve_args", "flatten_args"]


@dataclass(frozen=True)
class Value:
    """A tensor (or non-tensor) produced by the traced program."""

    name: str
    shape: tuple[int, ...] | None = None  #: full shape when known (torch.export), else None
    is_tensor: bool = True

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)


@dataclass(frozen=True)
class ParamRef:
    """A parameter or buffer of the traced module, by its state-dict key."""

    name: str
    shape: tuple[int, ...]
    is_parameter: bool = True


@dataclass
class Op:
    """One operation of the program.

    Attributes:
        kind: normalised operation kind, a key of the op registry (``"linear"``, ``"add"``...).
        args: operands: Values, ParamRefs, constants (kind-specific order, see the op's module).
        out: the produced Value (tuple-producing ops produce one Value read with ``getitem``).
        attrs: extra normalised attributes (e.g. activation name, module for composite ops).
        where: ``"path.to.module (ModuleType)"`` for error messages.
        target: the raw traced target, for error messages.
        call: what the tracer saw, for the architecture fingerprint: the leaf module called, or the
            ``(args, kwargs)`` of a function call (operands resolved to Values / ParamRefs); ``None``
            when unknown (then the normalised ``args`` stand for it).
    """

    kind: str
    args: tuple[Any, ...]
    out: Value
    attrs: dict[str, Any] = field(default_factory=dict)
    where: str = "<root>"
    target: str = ""
    call: Any = None

    def values(self) -> list[Value]:
        """All Value operands (also inside lists / tuples)."""
        found: list[Value] = []
        for a in self.args:
            if isinstance(a, Value):
                found.append(a)
            elif isinstance(a, (list, tuple)):
                found.extend(x for x in a if isinstance(x, Value))
        return found

    def params(self) -> list[ParamRef]:
        found: list[ParamRef] = []
        for a in list(self.args) + list(self.attrs.get("params", {}).values()):
            if isinstance(a, ParamRef):
                found.append(a)
            elif isinstance(a, (list, tuple)):
                found.extend(x for x in a if isinstance(x, ParamRef))
        return found


@dataclass
class Program:
    """A traced module: inputs, ops in topological order, outputs."""

    inputs: list[Value]
    ops: list[Op]
    outputs: list[Value]
    mode: str  #: "fx" or "export"


def resolve_args(obj: Any, env: dict) -> Any:
    """Replace traced graph nodes in (nested) call arguments by what ``env`` maps them to."""
    if isinstance(obj, tuple):
        return tuple(resolve_args(o, env) for o in obj)
    if isinstance(obj, list):
        return [resolve_args(o, env) for o in obj]
    if isinstance(obj, dict):
        return {k: resolve_args(v, env) for k, v in obj.items()}
    if isinstance(obj, slice):
        return slice(resolve_args(obj.start, env), resolve_args(obj.stop, env), resolve_args(obj.step, env))
    try:
        return env[obj]
    except (KeyError, TypeError):
        return obj


def flatten_args(obj: Any) -> list[Any]:
    """Leaves of nested lists / tuples / dicts (model outputs)."""
    if isinstance(obj, (list, tuple)):
        return [x for o in obj for x in flatten_args(o)]
    if isinstance(obj, dict):
        return [x for o in obj.values() for x in flatten_args(o)]
    return [obj]
