"""Small helpers shared by op handlers."""

from __future__ import annotations

from ..errors import UnsupportedModuleError
from ..trace.ir import Op, ParamRef, Value

__all__ = ["fail", "require_value", "param_or_none"]


def fail(op: Op, message: str) -> UnsupportedModuleError:
    """An error naming the module of ``op``, its traced target and what to do."""
    target = f" (operation `{op.target}`)" if op.target else ""
    return UnsupportedModuleError(f"{op.where}{target}: {message}")


def require_value(op: Op, value: object, role: str) -> Value:
    if isinstance(value, ParamRef):
        raise fail(op, f"parameter '{value.name}' is used as the {role}, where netgraph expects an "
                       "activation tensor. Parameters are only understood as weights/biases of known layers.")
    if not isinstance(value, Value):
        raise fail(op, f"expected a tensor as the {role}, got {type(value).__name__}")
    return value


def param_or_none(op: Op, value: object, role: str) -> ParamRef | None:
    if value is None:
        return None
    if not isinstance(value, ParamRef):
        raise fail(op, f"the {role} is a computed tensor, not a parameter of the module. netgraph maps "
                       "only parameters used directly by a layer (no weight normalisation or "
                       "re-parametrisation); remove the parametrisation before conversion.")
    return value
