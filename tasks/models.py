"""Metanets for tasks: build one with the head a task needs, and load a trained one back.

* :func:`build_metanet` fills in what the data decide (``layer_shapes`` for dense models,
  ``edge_features`` for graph models) and what the task decides (``out_features`` / ``edit``),
  then calls :func:`netgraph.metanets.create_metanet`.
* :func:`load_trained` returns ``(model, task)`` from a checkpoint folder, a run folder (its best
  checkpoint) or a Hub repo id: the model via ``from_pretrained``, the task with what it learned
  on its training split (weight and target statistics), ready for ``task.predict(model, batch)``.
* :func:`push_trained` uploads a run's best checkpoint (model, model card, ``checkpoint.json``;
  not the optimizer state) to a Hub model repo in one commit, for :func:`load_trained` to pull.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> batch = netgraph.from_state_dicts(mlp([2, 4, 1]), [mlp([2, 4, 1]).state_dict() for _ in range(3)])
    >>> is_dense_metanet("nfn_hnp"), is_dense_metanet("gmn")
    (True, False)
    >>> metanet_input_config("nfn_hnp", [batch.spec[0]])
    {'layer_shapes': [[4, 2], [1, 4]]}
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from netgraph.datasets import ZooDataset
from netgraph.metanets import DenseMetanet, create_metanet, layer_shapes_of, list_metanets, metanet_class
from netgraph.spec import GraphSpec

from .base import Task
from netgraph.errors import CorruptFileError
from netgraph.io import CHECKSUMS_JSON, verify_checksums

from .checkpoint import CHECKPOINT_JSON, CheckpointError, CheckpointStore
from .loader import dense_layout_spec
from .registry import create_task

__all__ = ["build_metanet", "is_dense_metanet", "metanet_input_config", "load_trained", "push_trained"]

#: the files of a checkpoint that a Hub repo of a trained metanet holds
HUB_FILES = ["config.json", "model.safetensors", "README.md", CHECKPOINT_JSON, CHECKSUMS_JSON]


def is_dense_metanet(name: str) -> bool:
    """Whether metanet ``name`` reads the dense weight space (one weight layout) rather than graphs."""
    return issubclass(metanet_class(name), DenseMetanet)


def metanet_input_config(name: str, specs: Sequence[GraphSpec]) -> dict[str, Any]:
    """The input arguments of metanet ``name`` for networks of ``specs``."""
    if is_dense_metanet(name):
        return {"layer_shapes": layer_shapes_of(specs[0])}
    sizes = sorted({spec.kernel_numel for spec in specs})
    if len(sizes) != 1:
        raise ValueError(
            f"the zoo's architectures have {sizes} edge features; build the dataset with one "
            "kernel_shape so graph metanets see one edge-feature size"
        )
    return {"edge_features": sizes[0]}


def build_metanet(
    name: str, task: Task, dataset: ZooDataset, device: torch.device | str | None = None, **config: Any
) -> nn.Module:
    """Metanet ``name`` for ``task`` on the networks of ``dataset`` (``config``: its other arguments).

    ``task`` must be set up (its head may depend on the data, e.g. the number of classes).
    """
    if name not in list_metanets():
        raise ValueError(f"unknown metanet {name!r}; expected one of {list_metanets()}")
    head = task.head()
    if head.get("edit") and "edit" not in inspect.signature(metanet_class(name)).parameters:
        editors = [n for n in list_metanets() if "edit" in inspect.signature(metanet_class(n)).parameters]
        raise ValueError(
            f"task {task.name} edits networks, but metanet {name!r} has no equivariant edit head; use one of {editors}"
        )
    if getattr(task, "probes", 0):
        if "probe_features" not in inspect.signature(metanet_class(name)).parameters:
            readers = [n for n in list_metanets() if "probe_features" in inspect.signature(metanet_class(n)).parameters]
            raise ValueError(
                f"task {task.name} adds {task.probes} probe features, but metanet {name!r} cannot read "
                f"them; use one of {readers} or task.probes=0"
            )
        head = {**head, "probe_features": task.probes}
    specs = [dense_layout_spec(dataset)] if is_dense_metanet(name) else dataset.specs
    return create_metanet(name, device=device, **{**metanet_input_config(name, specs), **head, **config})


def load_trained(
    source: str | Path,
    device: torch.device | str = "cpu",
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    verify: bool = True,
) -> tuple[nn.Module, Task]:
    """``(model in eval mode, task)`` from a checkpoint folder, a run folder or a Hub repo id
    (``revision`` / ``cache_dir`` go to :func:`netgraph.hub.snapshot`); ``verify`` checks the files
    against the checkpoint's ``checksums.json``."""
    folder = Path(source)
    if not folder.exists():
        from netgraph.hub import snapshot

        folder = snapshot(str(source), "model", revision, cache_dir, allow_patterns=HUB_FILES)
    folder = _checkpoint_folder(folder, source)
    if verify:
        try:
            verify_checksums(folder, [n for n in HUB_FILES if (folder / n).is_file() and n != CHECKSUMS_JSON])
        except CorruptFileError as exc:
            raise CheckpointError(
                f"{exc.path} is corrupt ({exc.reason}); restore it, download the repo again, or "
                "load with verify=False at your own risk"
            ) from exc
    saved = json.loads((folder / CHECKPOINT_JSON).read_text())
    metadata = saved.get("metadata", {})
    if "metanet" not in metadata or "task" not in metadata:
        raise ValueError(
            f"{folder} was not written by netgraph.tasks.train_metanet (its metadata lacks 'metanet' and "
            "'task'); load the model with its class's from_pretrained instead"
        )
    task = create_task(**metadata["task"])
    task.load_state_dict(saved["objective"])
    model = metanet_class(metadata["metanet"]).from_pretrained(str(folder)).to(device)
    return model.eval(), task


def push_trained(
    source: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    api: Any = None,
) -> str:
    """Upload the best checkpoint of a run folder (or a checkpoint folder) to the model repo ``repo_id``.

    Returns the commit URL; ``api`` defaults to ``huggingface_hub.HfApi(token=token)`` (see
    :func:`netgraph.hub.upload_files`).
    """
    from netgraph.hub import upload_files

    folder = _checkpoint_folder(Path(source), source)
    saved, _ = CheckpointStore.read(folder)  # refuse to upload a damaged checkpoint
    files = {name: folder / name for name in HUB_FILES if (folder / name).is_file()}
    name = saved.get("metadata", {}).get("name", folder.name)
    return upload_files(
        files,
        repo_id,
        "model",
        commit_message or f"Upload trained metanet {name}",
        token=token,
        private=private,
        revision=revision,
        api=api,
    )


def _checkpoint_folder(folder: Path, source: str | Path) -> Path:
    """``folder`` itself when it is a checkpoint, else the best checkpoint of the run it holds."""
    if (folder / CHECKPOINT_JSON).is_file():
        return folder
    best = CheckpointStore(folder).path("best")
    if best is None:
        raise FileNotFoundError(
            f"{source} is neither a checkpoint folder (with {CHECKPOINT_JSON}) nor a run "
            "folder with checkpoints/index.json; pass one written by netgraph-train / Trainer"
        )
    return best
