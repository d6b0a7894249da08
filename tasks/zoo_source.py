"""Where a task's networks come from: a zoo preset (built once, then reused), a zoo folder, a Hub
repo, or published files read by the loaders of :mod:`netgraph.datasets`.

=================================================== ==============================================
``source``                                          zoo
=================================================== ==============================================
``{"preset": "digits_cnn", "root": "zoos/d", ...}`` :func:`~netgraph.datasets.zoo_config` with the
                                                    other keys as overrides; built with
                                                    :func:`~netgraph.datasets.build_zoo` when
                                                    ``root`` lacks it (a partial build resumes),
                                                    loaded when it is complete
``{"loader": "small_cnn_zoo", "path": ..., ...}``   published files: ``small_cnn_zoo`` (CIFAR10-GS
                                                    ...), ``dwsnets_inrs``, ``nfn_sirens``; other
                                                    keys go to the loader
``{"hub": "owner/name"}``                           :func:`netgraph.hub.load_zoo`
``"path/to/zoo"`` or ``{"path": ...}``              a netgraph zoo folder
a :class:`~netgraph.datasets.Zoo`                   itself
=================================================== ==============================================

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> zoo = load_task_zoo({"preset": "iris_mlp", "root": root, "num_nets": 4, "epochs": 1, "checkpoints": [1],
    ...                      "num_threads": 1}, progress=False)
    >>> len(zoo), len(load_task_zoo(root))                   # the second call reads the finished zoo
    (4, 4)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from netgraph.datasets import (
    Zoo,
    build_zoo,
    load_dwsnets_inrs,
    load_nfn_sirens,
    load_small_cnn_zoo,
    load_zoo,
    zoo_config,
)
from netgraph.datasets.storage import SHARDS_DIR, ZOO_JSON
from netgraph.io import CHECKSUMS_JSON
from netgraph.hub import load_from_hub

__all__ = ["load_task_zoo", "PUBLISHED_LOADERS"]

PUBLISHED_LOADERS = {
    "small_cnn_zoo": load_small_cnn_zoo,
    "dwsnets_inrs": load_dwsnets_inrs,
    "nfn_sirens": load_nfn_sirens,
}


def load_task_zoo(source: str | Path | Zoo | Mapping[str, Any], progress: bool = True) -> Zoo:
    """The :class:`~netgraph.datasets.Zoo` described by ``source`` (see the module docstring)."""
    if isinstance(source, Zoo):
        return source
    if isinstance(source, (str, Path)):
        return load_zoo(source)
    if not isinstance(source, Mapping):
        raise TypeError(
            f"a zoo source is a path, a Zoo or a mapping with 'preset', 'loader', 'hub' or 'path'; "
            f"got {type(source).__name__}"
        )
    options = dict(source)
    kinds = [k for k in ("preset", "loader", "hub", "path") if options.get(k) is not None]
    if "preset" in kinds:
        return _preset_zoo(options.pop("preset"), options, progress)
    if "loader" in kinds:
        name = options.pop("loader")
        if name not in PUBLISHED_LOADERS:
            raise ValueError(f"unknown zoo loader {name!r}; expected one of {sorted(PUBLISHED_LOADERS)}")
        if options.get("path") is None:
            raise ValueError(
                f"the {name} loader needs path=<folder or file of the published zoo>, e.g. "
                f"task.zoo.path=/data/{'cifar10' if name == 'small_cnn_zoo' else 'mnist-inrs'}"
            )
        return PUBLISHED_LOADERS[name](**options)
    if "hub" in kinds:
        return load_zoo(load_from_hub(options["hub"]))
    if "path" in kinds:
        return load_zoo(options["path"])
    raise ValueError(
        f"zoo source {dict(source)} names no zoo: give preset=<name> (and root), loader=<name> and "
        "path, hub=<repo id>, or path=<zoo folder>"
    )


def _preset_zoo(preset: str, overrides: dict[str, Any], progress: bool) -> Zoo:
    config = zoo_config(preset, **{k: v for k, v in overrides.items() if v is not None})
    root = Path(config.root)
    info_path = root / ZOO_JSON
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        complete = all((root / SHARDS_DIR / name).is_file() for name in info.get("shards", [None]))
        if complete and info.get("config") == config.recipe() and (root / CHECKSUMS_JSON).is_file():
            return load_zoo(root, config=config)
    # builds, resumes (a zoo of an older netgraph gains its provenance records), or explains a clashing root
    return load_zoo(build_zoo(config, progress=progress), config=config)
