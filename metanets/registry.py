"""A timm-style registry of metanetworks: ``create_metanet(name, **config)`` and ``list_metanets()``.

Every registered class is an ``nn.Module`` with ``PyTorchModelHubMixin``, so the config passed here
is exactly what ``save_pretrained`` writes to ``config.json`` and ``from_pretrained`` rebuilds from.

A metanet's default settings live in one place, ``netgraph/configs/metanet/<name>.yaml`` (what the
CLI's ``metanet=<name>`` selects, :func:`metanet_preset`): :func:`create_metanet` starts from them
and ``config`` overrides them; the classes themselves take those settings without defaults.

Example:
    >>> from netgraph.metanets import create_metanet, list_metanets
    >>> "gmn" in list_metanets()
    True
    >>> model = create_metanet("gmn", dim=8, depth=1, edge_features=1)
    >>> type(model).__name__, metanet_preset("gmn")["head_hidden"]     # the rest from configs/metanet/gmn.yaml
    ('GMN', 64)
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch
import torch.nn as nn

from netgraph.configs import load_preset, preset_names
from netgraph.registry import Registry

__all__ = [
    "register_metanet",
    "create_metanet",
    "list_metanets",
    "metanet_class",
    "metanet_preset",
    "metanet_preset_names",
]

_METANETS: Registry = Registry("metanet")
_FIXED: dict[str, dict] = {}  #: settings a registered name fixes (one class can back several names)
M = TypeVar("M", bound=type[nn.Module])


def register_metanet(name: str, **fixed) -> Callable[[M], M]:
    """Class decorator adding a metanet class to the registry under ``name``; ``fixed`` config values
    are passed on every :func:`create_metanet` call (one class can back several names)."""

    def add(cls: M) -> M:
        _METANETS.register(name)(cls)
        _FIXED[name] = dict(fixed)
        return cls

    return add


def metanet_class(name: str) -> type[nn.Module]:
    """The class registered under ``name`` (e.g. to call its ``from_pretrained`` or ``from_spec``)."""
    return _METANETS.get(name)


def metanet_preset_names() -> list[str]:
    """Metanets with a settings file in ``netgraph/configs/metanet``."""
    return preset_names("metanet")


def metanet_preset(name: str) -> dict[str, Any]:
    """The settings of ``netgraph/configs/metanet/<name>.yaml`` (``name`` + the metanet's default arguments)."""
    return load_preset("metanet", name)


def create_metanet(name: str, device: torch.device | str | None = None, **config) -> nn.Module:
    """A new metanet ``name`` built from its settings file overridden by ``config`` (JSON-serialisable
    keyword arguments), on ``device``.

    Dense models (``dwsnet``, ``nfn_np``, ``nfn_hnp``, ``mlp``, ``statnn``) need ``layer_shapes``
    (from :func:`netgraph.metanets.layer_shapes_of`); graph models (``gmn``, ``ngt``) take graphs of
    any architecture whose edge features have ``edge_features`` values.
    """
    cls = metanet_class(name)
    fixed = _FIXED[name]
    defaults = metanet_preset(name) if name in metanet_preset_names() else {}
    defaults.pop("name", None)
    clashes = {k: config[k] for k in fixed if k in config and config[k] != fixed[k]}
    if clashes:
        raise ValueError(
            f"metanet {name!r} fixes {fixed}; got {clashes}. Pick the name that has the setting you want "
            f"(one of {list_metanets()})"
        )
    model = cls(**{**defaults, **config, **fixed})
    return model.to(device) if device is not None else model


def list_metanets() -> list[str]:
    """Names accepted by :func:`create_metanet`, sorted."""
    return _METANETS.names()
