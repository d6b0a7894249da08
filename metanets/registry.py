"""A timm-style registry of metanetworks: ``create_metanet(name, **config)`` and ``list_metanets()``.

Every registered class is an ``nn.Module`` with ``PyTorchModelHubMixin``, so the config passed here
is exactly what ``save_pretrained`` writes to ``config.json`` and ``from_pretrained`` rebuilds from.

Example:
    >>> from netgraph.metanets import create_metanet, list_metanets
    >>> "gmn" in list_metanets()
    True
    >>> model = create_metanet("gmn", dim=8, depth=1, edge_features=1)
    >>> type(model).__name__
    'GMN'
"""

from __future__ import annotations

from typing import Callable, TypeVar

import torch
import torch.nn as nn

__all__ = ["register_metanet", "create_metanet", "list_metanets", "metanet_class"]

_REGISTRY: dict[str, tuple[type[nn.Module], dict]] = {}
M = TypeVar("M", bound=type[nn.Module])


def register_metanet(name: str, **fixed) -> Callable[[M], M]:
    """Class decorator adding a metanet class to the registry under ``name``; ``fixed`` config values
    are passed on every :func:`create_metanet` call (one class can back several names)."""

    def add(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name][0] is not cls:
            raise ValueError(f"a metanet named {name!r} is already registered ({_REGISTRY[name][0].__name__}); "
                             "pick another name")
        _REGISTRY[name] = (cls, dict(fixed))
        return cls

    return add


def metanet_class(name: str) -> type[nn.Module]:
    """The class registered under ``name`` (e.g. to call its ``from_pretrained`` or ``from_spec``)."""
    if name not in _REGISTRY:
        raise KeyError(f"no metanet named {name!r}; expected one of {list_metanets()}")
    return _REGISTRY[name][0]


def create_metanet(name: str, device: torch.device | str | None = None, **config) -> nn.Module:
    """A new metanet ``name`` built from ``config`` (JSON-serialisable keyword arguments), on ``device``.

    Dense models (``dwsnet``, ``nfn_np``, ``nfn_hnp``, ``mlp``, ``statnn``) need ``layer_shapes``
    (from :func:`netgraph.metanets.layer_shapes_of`); graph models (``gmn``, ``ngt``) take graphs of
    any architecture whose edge features have ``edge_features`` values.
    """
    cls = metanet_class(name)
    fixed = _REGISTRY[name][1]
    clashes = {k: config[k] for k in fixed if k in config and config[k] != fixed[k]}
    if clashes:
        raise ValueError(f"metanet {name!r} fixes {fixed}; got {clashes}. Pick the name that has the setting you want "
                         f"(one of {list_metanets()})")
    model = cls(**{**config, **fixed})
    return model.to(device) if device is not None else model


def list_metanets() -> list[str]:
    """Names accepted by :func:`create_metanet`, sorted."""
    return sorted(_REGISTRY)
