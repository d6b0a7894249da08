"""Field checks for configs at the boundary (Python API and CLIs): one line per bad field.

A rule is a function of the value returning ``None`` when it is fine, else what was expected;
:func:`check_fields` applies rules to (dotted) fields of a mapping or dataclass and raises one
:class:`~netgraph.errors.ConfigError` listing every problem, ``field=value: expected ...``.

Example:
    >>> check_fields("demo config", {"epochs": 0, "lr": 1e-3, "train": {"batch_size": -8}},
    ...              {"epochs": integer(1), "lr": number(0, open_min=True), "train.batch_size": integer(1)})
    Traceback (most recent call last):
    ...
    netgraph.errors.ConfigError: invalid demo config (2 problems):
      epochs=0: expected an integer >= 1
      train.batch_size=-8: expected an integer >= 1
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable, Mapping

from .errors import ConfigError

__all__ = ["Rule", "check_fields", "field_problems", "integer", "number", "one_of", "optional", "flag"]

Rule = Callable[[Any], "str | None"]
_MISSING = object()


def integer(minimum: int | None = None, maximum: int | None = None) -> Rule:
    """An ``int`` (not a bool) within ``[minimum, maximum]``."""
    bounds = _bounds(minimum, maximum, False, False)

    def rule(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
        return None if ok else f"an integer{bounds}"

    return rule


def number(
    minimum: float | None = None, maximum: float | None = None, open_min: bool = False, open_max: bool = False
) -> Rule:
    """A finite real number within the bounds (``open_*``: the bound itself excluded)."""
    bounds = _bounds(minimum, maximum, open_min, open_max)

    def rule(value: Any) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (minimum is None or (value > minimum if open_min else value >= minimum))
        ok = ok and (maximum is None or (value < maximum if open_max else value <= maximum))
        return None if ok else f"a number{bounds}"

    return rule


def one_of(*choices: Any) -> Rule:
    """One of ``choices``."""

    def rule(value: Any) -> str | None:
        return None if value in choices else f"one of {list(choices)}"

    return rule


def flag() -> Rule:
    """``true`` or ``false``."""

    def rule(value: Any) -> str | None:
        return None if isinstance(value, bool) else "true or false"

    return rule


def optional(inner: Rule) -> Rule:
    """``None`` (``null``) or what ``inner`` accepts."""

    def rule(value: Any) -> str | None:
        problem = None if value is None else inner(value)
        return None if problem is None else f"null or {problem}"

    return rule


def field_problems(values: Any, rules: Mapping[str, Rule], prefix: str = "") -> list[str]:
    """``"field=value: expected ..."`` for every field of ``values`` that breaks its rule (absent
    fields are skipped: defaults apply)."""
    problems = []
    for name, rule in rules.items():
        value = _lookup(values, name)
        if value is _MISSING:
            continue
        expected = rule(value)
        if expected is not None:
            problems.append(f"{prefix}{name}={value!r}: expected {expected}")
    return problems


def check_fields(what: str, values: Any, rules: Mapping[str, Rule], extra: Iterable[str] = ()) -> None:
    """Raise :class:`~netgraph.errors.ConfigError` listing every bad field of ``values`` (and the
    ``extra`` problem lines found by the caller)."""
    problems = field_problems(values, rules) + list(extra)
    if problems:
        raise ConfigError(what, problems)


def _lookup(values: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(values, Mapping):
            values = values.get(part, _MISSING)
        elif dataclasses.is_dataclass(values):
            values = getattr(values, part, _MISSING)
        else:
            return _MISSING
        if values is _MISSING:
            return _MISSING
    return values


def _bounds(minimum, maximum, open_min: bool, open_max: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if open_min else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"{'<' if open_max else '<='} {maximum}")
    return (" " + " and ".join(parts)) if parts else ""
