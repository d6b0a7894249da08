"""Small helpers shared by op handlers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import UnsupportedModuleError
from ..ir import Op, ParamRef, Value

__all__ = ["fail", "require_value", "param_or_none", "weight_param", "WeightNorm", "ParameterSlice", "on_neurons"]


def fail(op: Op, message: str) -> UnsupportedModuleError:
    """An error naming the module of ``op``, its traced target and what to do."""
    target = f" (operation `{op.target}`)" if op.target else ""
    return UnsupportedModuleError(f"{op.where}{target}: {message}")


def require_value(op: Op, value: object, role: str) -> Value:
    if isinstance(value, ParamRef):
        raise fail(
            op,
            f"parameter '{value.name}' is used as the {role}, where netgraph expects an "
            "activation tensor. Parameters are only understood as weights/biases of known layers.",
        )
    if not isinstance(value, Value):
        raise fail(op, f"expected a tensor as the {role}, got {type(value).__name__}")
    return value


class WeightNorm:
    """The traced value ``g * v / ||v||`` of a weight-norm parametrisation (``aten._weight_norm``)."""

    def __init__(self, v: ParamRef, g: ParamRef, dim: int):
        self.v, self.g, self.dim = v, g, dim


@dataclass(frozen=True)
class ParameterSlice:
    """A parameter cut on some dims (``sliced``, negative), e.g. a position table cut to the sequence
    length (``self.pos[:, :T]``). Where it meets neurons it is placed as the whole parameter: exact as long
    as no neuron dim is cut, since permuting the neurons commutes with cutting the other dims."""

    param: ParamRef
    sliced: frozenset[int]

    @staticmethod
    def of(b, value: object) -> ParameterSlice | None:
        """``value`` as a parameter slice: a parameter (nothing cut), a recorded slice of one, else None."""
        if isinstance(value, ParamRef):
            return ParameterSlice(value, frozenset())
        raw = b.get_raw(value) if isinstance(value, Value) else None
        return raw if isinstance(raw, ParameterSlice) else None

    def cut(self, dims: dict[int, slice]) -> ParameterSlice:
        """This slice cut again on ``dims`` (tensor dim -> slice; full slices cut nothing)."""
        rank, shape = len(self.param.shape), self.param.shape
        cut = {d - rank if d >= 0 else d for d, part in dims.items() if not _whole(part, shape[d])}
        return ParameterSlice(self.param, self.sliced | cut)


def _whole(part: slice, size: int) -> bool:
    end = part.stop
    return (
        part.start in (None, 0) and part.step in (None, 1) and (end is None or (isinstance(end, int) and end >= size))
    )


def weight_param(b, op: Op, value: object, role: str) -> tuple[ParamRef | None, bool]:
    """``(parameter, pin_outputs)``: the parameter placed as a layer's weight: the parameter itself, or the
    direction ``v`` of a weight-norm parametrisation. Its gain ``g`` goes to ``aux``: a gain shared by all
    channels (``dim`` other than 0, e.g. Wav2Vec2's positional conv) is unchanged by permutations; a gain per
    output channel (``dim=0``) is not, so the caller pins the output channels (``pin_outputs``)."""
    raw = b.get_raw(value) if isinstance(value, Value) else None
    if isinstance(raw, WeightNorm):
        b.keep_in_aux(op, raw.g)
        return raw.v, raw.dim == 0
    return param_or_none(op, value, role), False


def param_or_none(op: Op, value: object, role: str) -> ParamRef | None:
    if value is None:
        return None
    if not isinstance(value, ParamRef):
        raise fail(
            op,
            f"the {role} is a computed tensor, not a parameter of the module. netgraph maps "
            "only parameters used directly by a layer (no weight normalisation or "
            "re-parametrisation); remove the parametrisation before conversion.",
        )
    return value


def on_neurons(handler: Callable[[Any, Op, Any, int | None], None]) -> Callable[[Any, Op], None]:
    """The prologue of the handlers that move a layout: ``handler(b, op, layout, ndim)`` runs only when the
    first operand holds neurons (``layout``, of rank ``ndim``, None when unknown); data passes untouched.

    >>> on_neurons(lambda b, op, layout, ndim: print("neurons")).__name__
    '<lambda>'
    """

    @functools.wraps(handler)
    def run(b, op: Op) -> None:
        layout = b.get(op.args[0])
        if layout is not None:
            handler(b, op, layout, b.ndim(op.args[0], layout))

    return run
