"""The architecture fingerprint of a traced program, and the signature of example inputs.

Two modules with the same parameter shapes can compute different functions (layers called in another
order, a conv with another stride, a LeakyReLU with another slope, attention with other head counts, a
constant scale between layers). The parameter graph does not show these, so :func:`fingerprint` records
them: every traced operation in order, with its kind, what was called, where its tensor operands come
from (an earlier operation, an input, a parameter by name) and every non-tensor argument; a leaf module
contributes its configuration (``stride``, ``eps``, ``num_heads``...). Module paths and class names of
the surrounding code are left out (they do not change the function). ``to_module`` compares the
fingerprints of the graph's spec and of the target module (:func:`first_difference`).

Example:
    >>> import torch.nn as nn, netgraph
    >>> a = netgraph.trace(nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1)))
    >>> b = netgraph.trace(nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 1)))
    >>> print(first_difference(a.fingerprint, b.fingerprint))
    operation 2 of 3 (module '1' (LeakyReLU)): negative_slope=0.1 in the first, negative_slope=0.2 in the second
"""

from __future__ import annotations

import enum
import functools
from typing import Any, Mapping

import torch
import torch.nn as nn

from .ir import ParamRef, Program, Value

__all__ = [
    "OpPrint",
    "fingerprint",
    "first_difference",
    "input_signature",
    "inputs_like",
    "module_config",
    "config_items",
]

OpPrint = tuple[str, tuple[str, ...]]
"""One traced operation: ``(where, tokens)``; ``where`` names the module for messages, the ``tokens``
(``"op=conv"``, ``"stride=(2, 2)"``...) are what is compared."""

#: module attributes that do not change what a module computes
_IGNORED_ATTRIBUTES = frozenset({"training", "inplace"})


def fingerprint(program: Program, live: set[int] | None = None) -> tuple[OpPrint, ...]:
    """The fingerprint of ``program``: one :data:`OpPrint` per operation (only those whose ``id`` is in
    ``live`` when given), in program order."""
    names = {v.name: f"input{i}" for i, v in enumerate(program.inputs)}
    out = []
    for op in program.ops:
        if live is not None and id(op) not in live:
            continue
        tokens = [f"op={op.kind}", f"call={op.target}"]
        if isinstance(op.call, nn.Module):
            tokens += [f"{k}={v}" for k, v in module_config(op.call).items()]
            tokens += [f"arg{i}={_token(a, names)}" for i, a in enumerate(op.args)]
        elif op.call is not None:
            args, kwargs = op.call
            arg_names = _argument_names(op.target)
            tokens += [
                f"{arg_names[i] if i < len(arg_names) else f'arg{i}'}={_token(a, names)}" for i, a in enumerate(args)
            ]
            tokens += [f"{k}={_token(v, names)}" for k, v in sorted(kwargs.items())]
        else:
            tokens += [f"arg{i}={_token(a, names)}" for i, a in enumerate(op.args)]
        names[op.out.name] = f"%{len(out)}"
        out.append((op.where, tuple(tokens)))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _argument_names(target: str) -> tuple[str, ...]:
    """The argument names of an ATen op named like ``"aten.conv2d.default"`` (``()`` for anything else), so a
    fingerprint says ``stride=(2, 2)`` rather than ``arg3=(2, 2)``."""
    parts = target.split(".")
    if len(parts) != 3 or parts[0] != "aten":
        return ()
    overload = getattr(getattr(torch.ops.aten, parts[1], None), parts[2], None)
    schema = getattr(overload, "_schema", None)
    return tuple(a.name for a in schema.arguments) if schema is not None else ()


def module_config(module: nn.Module) -> dict[str, str]:
    """The non-tensor configuration of a module (``stride``, ``eps``, ``num_heads``, ``negative_slope``...)
    as sorted ``name -> text``; tensors, submodules and private attributes are left out.

    >>> module_config(nn.LeakyReLU(0.2))
    {'negative_slope': '0.2'}
    """
    return {k: _token(v, {}) for k, v in sorted(config_items(module)) if not isinstance(v, (tuple, list)) or _plain(v)}


def config_items(module: nn.Module) -> tuple[tuple[str, Any], ...]:
    """The raw ``(name, value)`` pairs :func:`module_config` describes, in attribute order (cheap: the spec
    cache key compares them on every ``from_module`` call)."""
    return tuple(
        (k, v)
        for k, v in vars(module).items()
        if type(v) in _CONFIG_TYPES and k[0] != "_" and k not in _IGNORED_ATTRIBUTES
    )


_CONFIG_TYPES = frozenset({bool, int, float, str, tuple, list, type(None), torch.dtype})


def _plain(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        v is None or isinstance(v, (bool, int, float, str)) or _plain(v) for v in value
    )


def _token(obj: Any, names: dict[str, str]) -> str:
    """A normalised text of one operand: tensors by their origin, constants by value."""
    if isinstance(obj, Value):
        return names.get(obj.name, "?")
    if isinstance(obj, ParamRef):
        return f"'{obj.name}'"
    if isinstance(obj, (tuple, list)):
        return "(" + ", ".join(_token(o, names) for o in obj) + ("," if len(obj) == 1 else "") + ")"
    if isinstance(obj, Mapping):
        return "{" + ", ".join(f"{k}: {_token(v, names)}" for k, v in obj.items()) + "}"
    if isinstance(obj, slice):
        return f"slice({_token(obj.start, names)}, {_token(obj.stop, names)}, {_token(obj.step, names)})"
    if isinstance(obj, enum.Enum):
        return obj.name.lower()
    if isinstance(obj, torch.Tensor):
        return f"tensor{tuple(obj.shape)}:{obj.dtype}"
    if isinstance(obj, (torch.device, nn.Module)):
        return type(obj).__name__  # the device does not change the function; a module is described by its op
    if obj is None or isinstance(obj, (bool, int, float, str, torch.dtype, torch.memory_format, torch.layout)):
        return repr(obj) if isinstance(obj, str) else str(obj)
    return type(obj).__name__


def first_difference(mine: tuple[OpPrint, ...], other: tuple[OpPrint, ...]) -> str | None:
    """The first operation where two fingerprints differ, readably (``None`` when they are equal)."""
    for i, ((where_a, a), (where_b, b)) in enumerate(zip(mine, other)):
        if a == b:
            continue
        place = where_a if where_a == where_b else f"{where_a} in the first, {where_b} in the second"
        diff = next(((x, y) for x, y in zip(a, b) if x != y), None)
        if diff is None:  # one has more operands
            longer, which = (a, "first") if len(a) > len(b) else (b, "second")
            detail = f"{', '.join(longer[min(len(a), len(b)) :][:4])} only in the {which}"
        else:
            detail = f"{diff[0]} in the first, {diff[1]} in the second"
        return f"operation {i + 1} of {len(mine)} ({place}): {detail}"
    if len(mine) != len(other):
        longer, which = (mine, "first") if len(mine) > len(other) else (other, "second")
        where, tokens = longer[min(len(mine), len(other))]
        return (
            f"the first has {len(mine)} operations, the second {len(other)}; the {which} goes on with "
            f"{' '.join(tokens[:2])} ({where})"
        )
    return None


def input_signature(obj: Any) -> Any:
    """A hashable description of example inputs: structure (dict keys, tuple lengths, ``None``), tensor
    shapes and dtypes, and other values as they are; ``None`` for no inputs.

    >>> input_signature({"x": torch.zeros(2, 3), "mask": None})
    ('dict', (('x', ('tensor', (2, 3), 'torch.float32')), ('mask', None)))
    """
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return ("tensor", tuple(obj.shape), str(obj.dtype))
    if isinstance(obj, Mapping):
        return ("dict", tuple((k, input_signature(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(input_signature(v) for v in obj))
    if isinstance(obj, (bool, int, float, str)):
        return ("value", obj)
    return ("other", type(obj).__name__, repr(obj))


def inputs_like(signature: Any, device: torch.device | str = "cpu") -> Any:
    """Inputs of the structure, shapes and dtypes ``signature`` describes (floats drawn from a fixed seed,
    integers and booleans ones: valid token ids and masks), to trace another module the same way; ``None``
    when the signature holds a value that cannot be rebuilt.

    >>> inputs_like(input_signature({"x": torch.zeros(2, 3)}))["x"].shape
    torch.Size([2, 3])
    """
    generator = torch.Generator().manual_seed(0)

    def build(sig: Any) -> Any:
        if sig is None:
            return None
        kind = sig[0]
        if kind == "tensor":
            dtype = getattr(torch, sig[2].removeprefix("torch."))
            if dtype.is_floating_point:
                return torch.randn(sig[1], generator=generator, dtype=dtype).to(device)
            return torch.ones(sig[1], dtype=dtype, device=device)
        if kind == "dict":
            return {k: build(v) for k, v in sig[1]}
        if kind in ("tuple", "list"):
            items = [build(v) for v in sig[1]]
            return items if kind == "list" else tuple(items)
        if kind == "value":
            return sig[1]
        raise _NotRebuildable

    try:
        return build(signature)
    except _NotRebuildable:
        return None


class _NotRebuildable(Exception):
    pass
