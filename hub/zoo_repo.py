"""Zoos on the Hugging Face Hub: a dataset repo holding the shards, ``zoo.json``, ``metadata.csv``
and a dataset card (``README.md``).

* :func:`push_to_hub` uploads a zoo folder in one commit (the card is generated from ``zoo.json``).
* :func:`load_from_hub` returns a local folder of the zoo: the folder itself when given a path, or
  the cached snapshot of a repo id (``huggingface_hub.snapshot_download``; with
  ``HF_HUB_OFFLINE=1`` it is served from the local cache, nothing is downloaded). A missing repo,
  a malformed id or a folder that is not a zoo raises :class:`~.errors.HubRepoError`; the shards
  carry their own SHA-256, checked by :func:`~netgraph.datasets.load_zoo`.

Example:
    >>> import tempfile
    >>> from netgraph.datasets import build_zoo, zoo_config
    >>> cfg = zoo_config("iris_mlp", num_nets=2, epochs=1, checkpoints=[1], num_threads=1, root=tempfile.mkdtemp())
    >>> root = build_zoo(cfg, progress=False)
    >>> dataset_card(root).splitlines()[:3]
    ['---', 'license: mit', 'tags:']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from netgraph.io import CHECKSUMS_JSON
from netgraph.datasets.storage import METADATA_CSV, SHARDS_DIR, ZOO_JSON, load_zoo

from .errors import HubRepoError
from .fetch import check_repo_id, snapshot, upload_files

__all__ = ["push_to_hub", "load_from_hub", "dataset_card", "ZOO_FILES"]

ZOO_FILES = [ZOO_JSON, METADATA_CSV, CHECKSUMS_JSON, f"{SHARDS_DIR}/*.safetensors", "README.md"]


def dataset_card(root: str | Path) -> str:
    """The dataset card (``README.md`` with Hub YAML metadata) of the zoo at ``root``."""
    zoo = load_zoo(root)
    info = zoo.info
    archs = "\n".join(
        f"| {i} | `{a['factory']}` | `{json.dumps(a.get('kwargs', {}))}` |" for i, a in enumerate(zoo.architectures)
    )
    metrics = ", ".join(f"`{m}`" for m in zoo.metrics) or "none"
    columns = ", ".join(f"`{c}`" for c in dict.fromkeys(k for r in zoo.rows for k in r))
    recipe = json.dumps(info.get("recipe") or info.get("config") or {}, indent=1)
    return f"""---
license: mit
tags:
- netgraph
- model-zoo
- weight-space-learning
size_categories:
- {_size_category(len(zoo))}
---

# {info.get("name", "zoo")}: a model zoo for weight-space learning

{len(zoo)} trained {info.get("kind", "")} networks stored by netgraph
({info.get("source", "built with netgraph.datasets.build_zoo")}), with checkpoints at
{info.get("checkpoint_unit", "epoch")}s {zoo.checkpoints}.

## Files

* `zoo.json`: what the zoo is (config, architectures, checkpoints, training recipe, decoding of INRs).
* `shards/*.safetensors`: stacked weights `weight/<param> [nets, checkpoints, *shape]`, metrics
  `metric/<name> [nets, checkpoints]`, and the metadata rows of their nets in the header.
* `metadata.csv`: one row per net ({columns}; metrics at every checkpoint as `name@checkpoint`).

Metrics per checkpoint: {metrics}.

## Architectures

| index | factory (`netgraph.architectures`) | arguments |
|---|---|---|
{archs}

## Use

```python
from netgraph.datasets import ZooDataset, load_model
from netgraph.hub import load_zoo as load_from_hub
root = load_from_hub("<this repo id>")
train = ZooDataset(root, split="train", target="{"test_acc" if "test_acc" in zoo.metrics else "class"}")
net = load_model(root, 0)          # any stored net as a torch module
```

## Recipe

```json
{recipe}
```
"""


def push_to_hub(
    root: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    revision: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload the zoo at ``root`` to the dataset repo ``repo_id`` (created if needed) in one commit.

    Returns the commit URL. The dataset card is generated from ``zoo.json``.
    """
    root = Path(root)
    zoo = load_zoo(root)  # refuse to upload an incomplete or corrupt zoo
    files: dict[str, Path | bytes] = {
        f.relative_to(root).as_posix(): f
        for f in [root / ZOO_JSON, root / METADATA_CSV, root / CHECKSUMS_JSON]
        + [root / SHARDS_DIR / name for name in zoo.info["shards"]]
    }
    files["README.md"] = dataset_card(root).encode()
    return upload_files(
        files,
        repo_id,
        "dataset",
        commit_message or f"Upload zoo {zoo.info.get('name')}",
        token=token,
        private=private,
        revision=revision,
        api=api,
    )


def load_from_hub(
    repo_id: str | Path,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> Path:
    """A local folder holding the zoo ``repo_id`` (a Hub dataset repo id, or a local folder).

    Extra keyword arguments go to ``huggingface_hub.snapshot_download`` (e.g. ``local_files_only``).
    """
    local = Path(repo_id)
    if local.is_dir():
        if not (local / ZOO_JSON).is_file():
            raise HubRepoError(
                f"{local} has no {ZOO_JSON}: not a netgraph zoo folder (build one with "
                "netgraph-zoo, or pass a Hub dataset repo id)"
            )
        return local
    check_repo_id(repo_id, "a zoo folder")
    folder = snapshot(str(repo_id), "dataset", revision, cache_dir, token, allow_patterns=ZOO_FILES, **kwargs)
    if not (folder / ZOO_JSON).is_file():
        raise HubRepoError(f"dataset repo {repo_id} (snapshot {folder}) has no {ZOO_JSON}; it is not a netgraph zoo")
    return folder


def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((name for bound, name in bounds if n < bound), "n>1M")
