"""``train_metanet``: one metanet on one task, start to finish (what ``netgraph-train`` runs).

Steps: set the task up (zoo built or reused, splits, statistics), build loaders (dense or graph
layout as the metanet needs, augmentations on the training batches), seed and build the metanet,
:class:`~netgraph.tasks.Trainer` ``.fit`` (resuming from ``run_dir`` when it holds a checkpoint),
evaluate the best checkpoint on the test split, and write ``results.json`` atomically with the
task's figure of the test predictions next to it (:func:`~netgraph.tasks.write_task_figure`).

A run's identity is everything that changes its result: the task config (target, splits,
normalisation, zoo source), the zoo's recipe, the metanet and its config, the augmentations and the
training recipe (seed included). Resuming a ``run_dir`` that holds a run of another identity is
refused, naming what differs, so a "new" result never comes from an old model.

Example:
    >>> import tempfile
    >>> zoo = {"preset": "iris_mlp", "root": tempfile.mkdtemp(), "num_nets": 12, "epochs": 1, "checkpoints": [1],
    ...        "num_threads": 1}
    >>> results = train_metanet({"name": "accuracy_prediction", "zoo": zoo, "splits": [0.5, 0.25, 0.25]}, "statnn",
    ...                         {"hidden": 8}, {"epochs": 2, "progress": False})
    >>> sorted(results["test"]), results["epochs_run"]
    (['kendall_tau', 'mse', 'r2'], 2)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence


from netgraph.augment import compose
from netgraph.datasets import ZooConfig
from netgraph.datasets.storage import zoo_config_hash
from netgraph.io import write_text
from netgraph.provenance import provenance
from netgraph.seeding import scoped_rng

from .base import Task
from .figures import write_task_figure
from .loader import GraphLoader, distributed_rank
from .models import build_metanet, is_dense_metanet
from .registry import create_task
from .trainer import TrainConfig, Trainer

__all__ = ["train_metanet", "build_augmentation", "RESULTS_JSON"]

RESULTS_JSON = "results.json"


def build_augmentation(items: Sequence[str | Mapping[str, Any]], task: Task | None = None):
    """The batch transform of ``netgraph.augment.compose(items)`` (names or ``{"name": ..., **kwargs}``).

    For classification tasks, ``mixup`` gets the task's ``num_classes`` unless given.
    """
    classes = getattr(task, "num_classes", None) if task is not None and hasattr(task, "classes") else None
    filled = []
    for item in items:
        entry = {"name": item} if isinstance(item, str) else dict(item)
        if entry.get("name") == "mixup" and classes is not None:
            entry.setdefault("num_classes", classes)
        filled.append(entry)
    return compose(filled)


def train_metanet(
    task: Task | str | Mapping[str, Any],
    metanet: str,
    metanet_config: Mapping[str, Any] | None = None,
    train: TrainConfig | Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
    augment: Sequence[str | Mapping[str, Any]] = (),
    resume: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``metanet`` on ``task`` and test it; returns (and writes to ``run_dir``) the results.

    Args:
        task: a :class:`~netgraph.tasks.Task`, a task name, or ``{"name": ..., **task config}``.
        metanet: a name of :func:`netgraph.metanets.list_metanets`.
        metanet_config: its arguments (``dim``, ``depth`` ...); the head and input sizes are filled in.
        train: :class:`~netgraph.tasks.TrainConfig` or a mapping of its fields.
        run_dir: checkpoints, ``history.csv``, ``results.json``, ``test_figure.png``; ``None``: nothing written,
            no resuming.
        augment: augmentations of the training batches (see :func:`build_augmentation`).
        resume: continue from ``run_dir``'s last checkpoint when there is one.
        extra: JSON-able facts copied into the results (e.g. the command line).

    Returns:
        ``{"task", "metanet", "test": {metric: value}, "val": {...}, "best_epoch", "epochs_run", ...}``.
    """
    cfg = TrainConfig.from_any(train)
    task = _task(task)
    config = {k: v for k, v in dict(metanet_config or {}).items() if k != "name"}
    data = task.setup(device=cfg.device, progress=cfg.progress)
    dense = is_dense_metanet(metanet)
    transform = build_augmentation(augment, task) if augment else None
    loaders = {
        "train": GraphLoader(
            data["train"], cfg.batch_size, shuffle=True, seed=cfg.seed, transform=transform, dense=dense
        )
    }
    for split in ("val", "test"):
        if len(data[split]):
            loaders[split] = GraphLoader(data[split], cfg.eval_batch_size, dense=dense, even_shards=False)
    if "test" not in loaders:
        raise ValueError(f"the test split of {task!r} is empty; give a test fraction > 0 (task splits)")
    with scoped_rng(cfg.seed):
        model = build_metanet(metanet, task, data["train"], **config)
    metadata = {
        "name": f"{task.name}/{metanet}",
        "metanet": metanet,
        "metanet_config": config,
        "task": task.config(),
        "augment": [a if isinstance(a, str) else dict(a) for a in augment],
    }
    zoo_info = data["train"].zoo.info
    zoo_hash = zoo_config_hash(data["train"].zoo)
    identity = {
        "task": _identity_of(task.config()),
        "metanet": metanet,
        "metanet_config": config,
        "augment": metadata["augment"],
        "zoo": {k: zoo_info.get(k) for k in ("name", "source", "config", "num_nets", "checkpoints")},
    }
    trainer = Trainer(model, task, cfg, run_dir, metadata, identity=identity)
    fit = trainer.fit(loaders["train"], loaders.get("val"), resume=resume)
    started = time.perf_counter()
    outputs = trainer.collect(loaders["test"])
    test = task.metrics(outputs)
    results = {
        "task": task.name,
        "metanet": metanet,
        "seed": cfg.seed,
        "test": test,
        "val": fit.best_metrics,
        "best_epoch": fit.best_epoch,
        "selected_by": fit.selected_by,
        "provenance": provenance({"identity": identity, "train": cfg.recipe()}, {"zoo": zoo_hash} if zoo_hash else {}),
        "epochs_run": fit.epochs_run,
        "stopped_early": fit.stopped_early,
        "train_seconds": round(fit.seconds, 2),
        "test_seconds": round(time.perf_counter() - started, 2),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_networks": {split: len(d) for split, d in data.items()},
        "zoo": data["train"].zoo.info.get("name"),
        "metanet_config": config,
        "task_config": task.config(),
        "train_config": cfg.recipe(),
        "augment": metadata["augment"],
        **dict(extra or {}),
    }
    if run_dir is not None and distributed_rank()[0] == 0:
        results["figure"] = write_task_figure(task, outputs, Path(run_dir), tensorboard=cfg.tensorboard)
        write_text(Path(run_dir) / RESULTS_JSON, json.dumps(results, indent=1))
    return results


def _identity_of(task_config: dict[str, Any]) -> dict[str, Any]:
    """The task config without the zoo source's settings that do not change the zoo (where it is
    stored, threads, device, progress bars): its content is covered by the zoo's recipe."""
    zoo = task_config.get("zoo")
    if isinstance(zoo, Mapping):
        ignored = {*ZooConfig.RUNTIME_FIELDS, "progress"}
        task_config = {**task_config, "zoo": {k: v for k, v in zoo.items() if k not in ignored}}
    return task_config


def _task(task: Task | str | Mapping[str, Any]) -> Task:
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return create_task(task)
    options = dict(task)
    if "name" not in options:
        raise ValueError(f"a task config needs 'name' (one of the registered tasks); got keys {sorted(options)}")
    return create_task(options.pop("name"), **options)
