"""Hydra configurations of the ``netgraph-*`` command-line apps (``pkg://netgraph.configs``).

The YAML files are also the one source of the library's presets and defaults (zoos, tasks,
metanets): :func:`preset_names` lists a group, :func:`load_preset` reads one file.

Example:
    >>> from netgraph.configs import load_preset, preset_names
    >>> "gmn" in preset_names("metanet"), load_preset("metanet", "gmn")["name"]
    (True, 'gmn')
"""

from __future__ import annotations

from importlib import resources
from typing import Any

__all__ = ["preset_names", "load_preset"]


def preset_names(group: str) -> list[str]:
    """Names of the presets in ``netgraph/configs/<group>`` (``zoo``, ``task``, ``metanet`` ...)."""
    folder = resources.files(__name__) / group
    if not folder.is_dir():
        raise ValueError(f"no config group {group!r} in netgraph/configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(group: str, name: str, what: str | None = None, resolve: bool = True) -> dict[str, Any]:
    """The contents of ``netgraph/configs/<group>/<name>.yaml`` (interpolations resolved unless ``resolve=False``).

    Raises:
        ValueError: no such preset, naming the available ones (``what`` names the kind in the message).
    """
    from omegaconf import OmegaConf

    names = preset_names(group)
    if name not in names:
        raise ValueError(
            f"unknown {what or group} {name!r}: no {group} config {name}.yaml in netgraph/configs; available: {names}"
        )
    text = (resources.files(__name__) / group / f"{name}.yaml").read_text()
    return OmegaConf.to_container(OmegaConf.create(text), resolve=resolve)
