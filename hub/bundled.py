"""Pretrained generators shipped inside the package (``netgraph/hub/pretrained/<name>``), so that
the README demo runs with no network. Each is a folder in Hub layout (``config.json``,
``model.safetensors``, ``README.md``) written by a committed recipe (see ``docs/generate.md``).

Example:
    >>> "iris-mlp-hypernet" in bundled_generators()
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_generators", "bundled_path"]

PRETRAINED = "pretrained"


def _root() -> Path:
    return Path(str(resources.files("netgraph.hub") / PRETRAINED))


def bundled_generators() -> list[str]:
    """Names of the generators shipped with netgraph (load them with ``netgraph.hub.load_generator(name)``)."""
    root = _root()
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []


def bundled_path(name: str) -> Path | None:
    """The folder of the bundled generator ``name``, or ``None`` when there is none of that name."""
    return _root() / name if name in bundled_generators() else None
