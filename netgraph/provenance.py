"""Provenance: every stored artifact carries the resolved config that made it and its hash.

A zoo, a training run, a pruned model and a generator each store ``provenance(config, inputs)``:
the full resolved config, its :func:`config_hash`, and the hashes of what it was made from (a run
records its zoo's hash, a zoo shard its build's hash). Loading calls :func:`check_provenance` with
what is asked for, and a mismatch is refused with :class:`~netgraph.errors.ProvenanceError` naming
the first differing field; nothing is loaded or rewritten over content it does not describe.

Example:
    >>> stored = provenance({"preset": "digits_cnn", "seed": 0, "epochs": 3})
    >>> stored["config_hash"] == config_hash({"epochs": 3, "seed": 0, "preset": "digits_cnn"})
    True
    >>> check_provenance(stored, {"preset": "digits_cnn", "seed": 0, "epochs": 3}, "zoo")
    >>> try:
    ...     check_provenance(stored, {"preset": "digits_cnn", "seed": 1, "epochs": 3}, "zoo")
    ... except ProvenanceError as err:
    ...     print(err.field)
    seed
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ProvenanceError

__all__ = ["config_hash", "provenance", "check_provenance", "first_difference", "differences", "canonical", "ABSENT"]

HASH_CHARS = 12  #: hex characters of a config hash (48 bits: collisions are not a practical concern)


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data: mappings with string keys, lists for sequences, paths as strings.

    OmegaConf containers and dataclasses are resolved first, so the same config always hashes the same.
    """
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - hydra is a dependency
        pass
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 2 and 2.0 are one config
    return value


def config_hash(config: Any) -> str:
    """Short SHA-256 of ``config`` in canonical JSON (sorted keys; ``2`` and ``2.0`` hash the same).

    Example:
        >>> config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1.0})
        True
    """
    text = json.dumps(canonical(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def provenance(config: Any, inputs: Mapping[str, str] | None = None) -> dict:
    """The record an artifact stores: ``{"config", "config_hash", "inputs", "netgraph_version"}``.

    ``inputs`` maps what the artifact was made from (``"zoo"``, ``"weights"``) to that input's hash.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        made_by = version("netgraph")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        made_by = "unknown"
    config = canonical(config)
    return {
        "config": config,
        "config_hash": config_hash(config),
        "inputs": dict(inputs or {}),
        "netgraph_version": made_by,
    }


class _Absent:
    """The value of a field one side does not have (prints as ``absent``)."""

    def __repr__(self) -> str:
        return "absent"


ABSENT = _Absent()


def differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted field, old value, new value)`` of every leaf that differs, in key order (``ABSENT`` for a
    field one side lacks); values are compared as given (canonicalise them first where 2 must equal 2.0).

    Example:
        >>> differences({"train": {"epochs": 50, "lr": 0.1}}, {"train": {"epochs": 3}})
        [('train.epochs', 50, 3), ('train.lr', 0.1, absent)]
    """
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found = []
        for key in dict.fromkeys([*old, *new]):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                found.append((name, old.get(key, ABSENT), new.get(key, ABSENT)))
            else:
                found += differences(old[key], new[key], name)
        return found
    return [] if old == new else [(prefix or "value", old, new)]


def first_difference(stored: Any, asked: Any) -> tuple[str, Any, Any] | None:
    """``(dotted field, stored value, asked value)`` of the first difference of the canonical forms, or ``None``.

    Example:
        >>> first_difference({"train": {"epochs": 50}}, {"train": {"epochs": 3}})
        ('train.epochs', 50, 3)
        >>> first_difference({"lr": 2}, {"lr": 2.0}) is None
        True
    """
    return next(iter(differences(canonical(stored), canonical(asked))), None)


def check_provenance(
    stored: Mapping, asked: Any, what: str | Path, ignore: Iterable[str] = (), remedy: str | None = None
) -> None:
    """Refuse ``stored`` provenance (or a bare stored config) that does not describe ``asked``.

    ``asked``: the config now asked for (or a provenance record); ``ignore``: top-level fields that may
    differ (e.g. ``("seed",)`` when grouping runs). Raises :class:`~netgraph.errors.ProvenanceError`.
    """
    stored_config = stored.get("config", stored) if isinstance(stored, Mapping) else stored
    if isinstance(asked, Mapping) and "config_hash" in asked and "config" in asked:
        asked = asked["config"]
    stored_config, asked = canonical(stored_config), canonical(asked)
    skip = set(ignore)
    if isinstance(stored_config, dict) and isinstance(asked, dict):
        stored_config = {k: v for k, v in stored_config.items() if k not in skip}
        asked = {k: v for k, v in asked.items() if k not in skip}
    found = first_difference(stored_config, asked)
    if found:
        raise ProvenanceError(what, *found, remedy=remedy)
