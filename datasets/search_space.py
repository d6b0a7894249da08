"""Hyper-parameter search spaces of a zoo, sampled once for all its nets (vectorised, seeded).

A space maps each name to a fixed value or a distribution:

* ``0.01`` (any scalar or string): the same value for every net,
* ``{"choice": [a, b, ...]}``: uniform over the listed values,
* ``{"uniform": [low, high]}`` / ``{"log_uniform": [low, high]}``: continuous (``low > 0`` for log).

Each name draws from its own stream ``(seed, crc32(name))``, so adding a hyper-parameter to a
space leaves the values of the others unchanged.

Example:
    >>> cols = sample_hparams({"lr": {"log_uniform": [1e-3, 1e-1]}, "act": {"choice": ["relu", "tanh"]},
    ...                        "epochs": 3}, num=4, seed=0)
    >>> sorted(cols), len(cols["lr"]), set(cols["act"]) <= {"relu", "tanh"}, cols["epochs"]
    (['act', 'epochs', 'lr'], 4, True, [3, 3, 3, 3])
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping

import numpy as np

__all__ = ["sample_hparams", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("choice", "uniform", "log_uniform")


def sample_hparams(space: Mapping[str, Any], num: int, seed: int) -> dict[str, list]:
    """Draw ``num`` values of every hyper-parameter of ``space``: ``{name: [value_0, ..., value_num-1]}``."""
    return {name: _sample(name, spec, num, seed) for name, spec in space.items()}


def _sample(name: str, spec: Any, num: int, seed: int) -> list:
    if not isinstance(spec, Mapping):
        return [spec] * num
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ValueError(
            f"hyper-parameter {name!r}: got {dict(spec)!r}; expected a fixed value or one of "
            f"{{'choice': [...]}}, {{'uniform': [low, high]}}, {{'log_uniform': [low, high]}}"
        )
    kind, args = next(iter(spec.items()))
    args = list(args)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if kind == "choice":
        if not args:
            raise ValueError(f"hyper-parameter {name!r}: 'choice' needs at least one value")
        return [args[i] for i in rng.integers(0, len(args), num)]
    if len(args) != 2 or not args[0] <= args[1]:
        raise ValueError(f"hyper-parameter {name!r}: {kind} needs [low, high] with low <= high, got {args}")
    low, high = float(args[0]), float(args[1])
    if kind == "uniform":
        return rng.uniform(low, high, num).tolist()
    if low <= 0:
        raise ValueError(f"hyper-parameter {name!r}: log_uniform needs low > 0, got {low}")
    return np.exp(rng.uniform(np.log(low), np.log(high), num)).tolist()
