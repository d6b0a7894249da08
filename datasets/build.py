"""``build_zoo``: train a zoo shard by shard, resumably; ``merge_zoos``: join zoos built by separate jobs.

A build is *planned* from its config alone (hyper-parameters of every net, which nets share an
architecture, which shard each net goes to, the seed of each shard), so re-running the same config
finds the same plan: finished shards are verified and skipped, missing ones are trained. Nets of
one architecture are trained together (:func:`~.train_classifiers.train_classifiers` or
:func:`~.inr.fit_inrs`), one shard at a time, and each shard is written atomically, so a crash
loses at most the shard in progress, never a finished net.

Example:
    >>> import tempfile
    >>> cfg = zoo_config("iris_mlp", num_nets=4, epochs=1, checkpoints=[1], num_threads=1, root=tempfile.mkdtemp())
    >>> root = build_zoo(cfg, progress=False)
    >>> sorted(p.name for p in root.iterdir())
    ['checksums.json', 'metadata.csv', 'shards', 'zoo.json']
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from netgraph.errors import ConfigError, NetgraphError
from netgraph.io import CHECKSUMS_JSON, create_text, remove_stale_temporaries, write_checksums, write_text
from netgraph.provenance import check_provenance, provenance
from netgraph.validation import check_fields, flag, integer, number, one_of, optional

from .config import KINDS, ZooConfig, zoo_config
from .inr import INR_METRICS, fit_inrs, inr_grid
from .offline_data import (
    CLASSIFICATION_DATASETS,
    classification_data,
    digit_images,
    mnist_images,
    sine_waves,
    split_indices,
)
from .search_space import sample_hparams
from .storage import (
    FORMAT,
    METADATA_CSV,
    SHARDS_DIR,
    ZOO_JSON,
    Shard,
    Zoo,
    ZooFormatError,
    build_architecture,
    load_zoo,
    read_shard,
    read_zoo,
    shard_header,
    shard_path,
    write_metadata_table,
    write_shard,
    zoo_config_hash,
)
from .train_classifiers import CLASSIFIER_METRICS, TRAINING_HPARAMS, train_classifiers

__all__ = ["build_zoo", "merge_zoos", "plan_zoo", "ZooPlan", "ShardPlan", "ZooRootError"]

INR_SIGNALS = {"digits": (), "mnist": (), "sine": ("amplitude", "frequency", "phase")}


class ZooRootError(NetgraphError, OSError):
    """The zoo's folder cannot be written (read-only, no permission, full disk); the message names it and the fix."""


@dataclass
class ShardPlan:
    """Nets ``net_ids`` of architecture ``arch``, trained together with generator seed ``seed``."""

    index: int
    arch: int
    net_ids: list[int]
    seed: int


@dataclass
class ZooPlan:
    """Everything decided before training: ``zoo.json`` content, one row per net, the shards."""

    info: dict[str, Any]
    rows: list[dict[str, Any]]
    shards: list[ShardPlan]


def plan_zoo(config: ZooConfig | Mapping[str, Any]) -> ZooPlan:
    """The deterministic plan of a zoo (no training); see the module docstring."""
    cfg = ZooConfig.from_any(config)
    _validate(cfg)
    unit = "epoch" if cfg.kind == "classifier" else "step"
    length = cfg.epochs if cfg.kind == "classifier" else cfg.steps
    checkpoints = sorted(set(int(c) for c in cfg.checkpoints) | {length})
    if checkpoints[0] < 0 or checkpoints[-1] > length:
        inside = sorted({c for c in checkpoints if 0 <= c <= length} | {length})
        field_name = "epochs" if unit == "epoch" else "steps"
        other = f" or checkpoints=[{','.join(map(str, inside))}]" if len(inside) > 2 else ""
        raise ConfigError(
            f"zoo config {cfg.name!r}",
            [
                f"checkpoints={list(cfg.checkpoints)}: expected {field_name} in [0, {length}] (0 is the "
                f"initialisation, {length} the last {unit} of training); with {field_name}={length} pass e.g. "
                f"checkpoints=[0,{length}]{other}"
            ],
        )
    signals = _image_rows(cfg) if cfg.kind == "inr" and cfg.data == "mnist" else None
    num_nets = len(signals) if signals is not None else cfg.num_nets
    hparams = sample_hparams(cfg.hparams, num_nets, cfg.seed)
    io_kwargs, extra_info = _io_kwargs(cfg)
    architectures: list[dict[str, Any]] = []
    rows = []
    for i in range(num_nets):  # metadata only: one small dict per net
        kwargs = {**cfg.arch_kwargs, **io_kwargs, **{k: hparams[k][i] for k in cfg.arch_hparams}}
        kwargs = _factory_kwargs(cfg.architecture, kwargs)
        ref = {"factory": cfg.architecture, "kwargs": kwargs}
        if ref not in architectures:
            architectures.append(ref)
        rows.append(
            {
                "net_id": i,
                "arch": architectures.index(ref),
                "seed": cfg.seed,
                **{k: v[i] for k, v in hparams.items()},
                **(signals[i] if signals is not None else {}),
            }
        )
    if cfg.kind == "inr" and cfg.data == "digits":
        _, labels = digit_images()
        for row in rows:
            row.update(image_index=row["net_id"], **{"class": int(labels[row["net_id"]])})
    shards = []
    for arch in range(len(architectures)):
        ids = [r["net_id"] for r in rows if r["arch"] == arch]
        for chunk in np.array_split(np.array(ids), math.ceil(len(ids) / cfg.nets_per_shard)):  # near-equal shards
            index = len(shards)
            seed = int(np.random.SeedSequence([cfg.seed, index]).generate_state(1)[0])
            shards.append(ShardPlan(index, arch, chunk.tolist(), seed))
    for plan in shards:
        for i in plan.net_ids:
            rows[i].update(shard=plan.index, shard_seed=plan.seed)
    categories = {
        k: list(v["choice"])
        for k, v in cfg.hparams.items()
        if isinstance(v, Mapping) and "choice" in v and all(isinstance(c, str) for c in v["choice"])
    }
    info = {
        "format": FORMAT,
        "name": cfg.name,
        "kind": cfg.kind,
        "data": cfg.data,
        "config": cfg.recipe(),
        "architectures": architectures,
        "checkpoints": checkpoints,
        "checkpoint_unit": unit,
        "num_nets": num_nets,
        "shards": [shard_path("", s.index).name for s in shards],
        "metrics": list(CLASSIFIER_METRICS if cfg.kind == "classifier" else INR_METRICS),
        "hparams": sorted(cfg.hparams),
        "categories": categories,
        **extra_info,
        "provenance": provenance(cfg.recipe()),
    }
    return ZooPlan(info, rows, shards)


def build_zoo(config: ZooConfig | Mapping[str, Any] | str, progress: bool = True) -> Path:
    """Build (or finish) the zoo described by ``config`` under ``config.root``; returns the root.

    ``config`` is a :class:`ZooConfig`, a mapping / hydra config of its fields, or a preset name
    (``"digits_cnn"``). Safe to re-run: finished shards are checked (their SHA-256 and the config
    hash in their header) and kept; a corrupt shard is moved aside and rebuilt; a shard or
    ``zoo.json`` of another config is refused (:class:`~.storage.ZooFormatError` /
    :class:`~netgraph.errors.ProvenanceError`) before anything is written; an unwritable root raises
    :class:`ZooRootError` naming it.
    """
    cfg = zoo_config(config) if isinstance(config, str) else ZooConfig.from_any(config)
    plan = plan_zoo(cfg)
    root = Path(cfg.root)
    try:
        adopt_unhashed = _claim_root(root, plan.info)
        (root / CHECKSUMS_JSON).unlink(missing_ok=True)  # the content changes: written again at the end
        remove_stale_temporaries(root / SHARDS_DIR)
        device = torch.device(cfg.device)
        threads = torch.get_num_threads()
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        try:
            _train_missing_shards(cfg, plan, root, device, progress, adopt_unhashed)
        finally:
            torch.set_num_threads(threads)
        zoo = read_zoo(root, "cpu", verify=True, manifest=False)
        write_metadata_table(root, zoo.rows, zoo.metrics, zoo.checkpoints)
        write_checksums(root, [ZOO_JSON, METADATA_CSV])
    except OSError as exc:
        if isinstance(exc, NetgraphError):
            raise
        raise ZooRootError(
            f"cannot write the zoo into {root}: {exc.strerror or exc}; pick a writable folder with "
            f"root=<folder> (netgraph-zoo root=<folder>), or make {root} writable"
        ) from exc
    return root


def _train_missing_shards(
    cfg: ZooConfig, plan: ZooPlan, root: Path, device: torch.device, progress: bool, adopt_unhashed: bool
) -> None:
    config_hash = plan.info["provenance"]["config_hash"]
    todo = [s for s in plan.shards if not _finished(root, s, config_hash, adopt_unhashed)]
    done_nets = len(plan.rows) - sum(len(s.net_ids) for s in todo)
    bar = tqdm(
        total=len(plan.rows), initial=done_nets, unit="net", desc=f"zoo {cfg.name}", disable=not progress, smoothing=0.1
    )
    trainer = _ClassifierTrainer(cfg, device) if cfg.kind == "classifier" else _InrTrainer(cfg, device)
    for shard in todo:
        before = bar.n
        result = trainer.train(
            plan.info["architectures"][shard.arch],
            [plan.rows[i] for i in shard.net_ids],
            plan.info["checkpoints"],
            torch.Generator(device).manual_seed(shard.seed),
            lambda fraction, n=len(shard.net_ids): bar.update(n * fraction),
        )
        write_shard(
            shard_path(root, shard.index),
            Shard(
                shard.arch,
                shard.net_ids,
                result.weights,
                result.metrics,
                [plan.rows[i] for i in shard.net_ids],
                plan.info["checkpoints"],
                plan.info["architectures"][shard.arch],
                config_hash,
            ),
        )
        bar.update(before + len(shard.net_ids) - bar.n)
    bar.close()


def merge_zoos(parts: Sequence[str | Path], root: str | Path) -> Path:
    """Join zoos built by separate jobs (e.g. a ``-m seed=range(4)`` sweep) into one zoo at ``root``.

    The parts must share everything but ``seed`` and ``num_nets``. Net ids are renumbered part
    after part; each row keeps its ``seed`` and gains ``part`` (the index in ``parts``).
    """
    if not parts:
        raise ValueError("merge_zoos needs at least one part (a folder written by build_zoo)")
    zoos = [load_zoo(p) for p in parts]
    reference = {k: v for k, v in zoos[0].info["config"].items() if k not in ("seed", "num_nets")}
    for path, zoo in zip(parts[1:], zoos[1:]):
        other = {k: v for k, v in zoo.info["config"].items() if k not in ("seed", "num_nets")}
        differ = sorted(k for k in set(reference) | set(other) if reference.get(k) != other.get(k))
        if differ or zoo.checkpoints != zoos[0].checkpoints:
            raise ValueError(
                f"cannot merge {path} with {parts[0]}: their configs differ in {differ or ['checkpoints']}; "
                "only seed and num_nets may differ between the parts of one zoo"
            )
    architectures: list[dict[str, Any]] = []
    rows, metrics, weights, members = [], {k: [] for k in zoos[0].metrics}, {}, {}
    for p, zoo in enumerate(zoos):
        offset = len(rows)
        remap = []
        for ref in zoo.architectures:
            if ref not in architectures:
                architectures.append(ref)
            remap.append(architectures.index(ref))
        rows += [{**r, "net_id": r["net_id"] + offset, "arch": remap[r["arch"]], "part": p} for r in zoo.rows]
        for k in metrics:
            metrics[k].append(zoo.metrics[k])
        for a, (w, ids) in enumerate(zip(zoo.weights, zoo.members)):
            weights.setdefault(remap[a], []).append(w)
            members.setdefault(remap[a], []).append(ids + offset)
    parts_info = [
        {"root": str(p), "seed": z.info["config"]["seed"], "num_nets": len(z), "config_hash": zoo_config_hash(z)}
        for p, z in zip(parts, zoos)
    ]
    info = {
        **zoos[0].info,
        "architectures": architectures,
        "parts": parts_info,
        "provenance": provenance(
            {"merge_of": [z.info["config"] for z in zoos]},
            inputs={f"part{i}": str(part["config_hash"]) for i, part in enumerate(parts_info)},
        ),
    }
    merged = Zoo(
        info,
        rows,
        {k: torch.cat(v) for k, v in metrics.items()},
        [{k: torch.cat([w[k] for w in weights[a]]) for k in weights[a][0]} for a in range(len(architectures))],
        [torch.cat(members[a]) for a in range(len(architectures))],
    )
    return merged.save(root, nets_per_shard=int(zoos[0].info["config"].get("nets_per_shard", 4096)))


class _ClassifierTrainer:
    def __init__(self, cfg: ZooConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.data = classification_data(
            cfg.data, cfg.split_seed, cfg.val_fraction, cfg.test_fraction, device, path=cfg.data_path
        )

    def train(self, arch: Mapping[str, Any], rows: list[dict], checkpoints: list[int], generator, on_fraction):
        names = [k for k in self.cfg.hparams if k in TRAINING_HPARAMS]
        hparams = {k: [r[k] for r in rows] for k in names}
        epochs = checkpoints[-1]
        return train_classifiers(
            build_architecture(arch),
            self.data,
            hparams,
            epochs,
            checkpoints,
            self.cfg.batch_size,
            generator,
            self.device,
            on_epoch=lambda e: on_fraction(1 / epochs),
        )


class _InrTrainer:
    def __init__(self, cfg: ZooConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        if cfg.data in ("digits", "mnist"):
            images, _ = digit_images(device) if cfg.data == "digits" else mnist_images(cfg.data_path, device)
            self.coords = inr_grid(images.shape[1:], device=device)
            self.images = images.flatten(1).unsqueeze(-1)  # [N, H * W, 1]
        else:
            self.points = int(cfg.signal.get("points", 64))

    def train(self, arch: Mapping[str, Any], rows: list[dict], checkpoints: list[int], generator, on_fraction):
        if self.cfg.data in ("digits", "mnist"):
            coords, targets = self.coords, self.images[[r["image_index"] for r in rows]]
        else:
            coords, targets = sine_waves(
                *(torch.tensor([r[k] for r in rows]) for k in INR_SIGNALS["sine"]),
                points=self.points,
                device=self.device,
            )
        steps = checkpoints[-1]
        if self.cfg.shared_init:  # the same draw in every shard
            generator = torch.Generator(self.device).manual_seed(self.cfg.seed)
        return fit_inrs(
            build_architecture(arch),
            coords,
            targets,
            steps,
            checkpoints,
            self.cfg.lr,
            self.cfg.psnr_stop,
            generator,
            self.device,
            on_step=lambda s: on_fraction(1 / steps),
            shared_init=self.cfg.shared_init,
        )


#: range of every numeric field of a zoo config (checked before anything is built)
FIELD_RULES = {
    "kind": one_of(*KINDS),
    "num_nets": integer(1),
    "nets_per_shard": integer(1),
    "seed": integer(0),
    "epochs": integer(1),
    "steps": integer(1),
    "batch_size": integer(1),
    "lr": number(0, open_min=True),
    "psnr_stop": number(0, open_min=True),
    "shared_init": flag(),
    "split_seed": integer(0),
    "val_fraction": number(0, 1, open_max=True),
    "test_fraction": number(0, 1, open_min=True, open_max=True),
    "num_threads": optional(integer(1)),
}


def _validate(cfg: ZooConfig) -> None:
    extra = []
    if not (
        isinstance(cfg.checkpoints, (list, tuple))
        and cfg.checkpoints
        and all(isinstance(c, int) and not isinstance(c, bool) for c in cfg.checkpoints)
    ):
        extra.append(f"checkpoints={cfg.checkpoints!r}: expected a non-empty list of integers (epochs or steps)")
    fractions = (cfg.val_fraction, cfg.test_fraction)
    if all(isinstance(f, (int, float)) for f in fractions) and sum(fractions) >= 1:
        extra.append(f"val_fraction + test_fraction = {sum(fractions):g}: expected < 1 (the rest is the train split)")
    check_fields(f"zoo config {cfg.name!r}", cfg, FIELD_RULES, extra)
    if cfg.kind == "classifier":
        if cfg.data not in CLASSIFICATION_DATASETS:
            raise ValueError(f"classifier zoos train on {list(CLASSIFICATION_DATASETS)}; got data={cfg.data!r}")
        allowed = set(TRAINING_HPARAMS) | set(cfg.arch_hparams)
        if cfg.shared_init:
            raise ValueError(
                "shared_init=true applies to INR zoos only; classifier zoos draw their init per net "
                "(see the 'init' hyper-parameter)"
            )
    else:
        if cfg.data not in INR_SIGNALS:
            raise ValueError(f"INR zoos fit {sorted(INR_SIGNALS)}; got data={cfg.data!r}")
        if cfg.data == "digits" and cfg.num_nets > 1797:
            raise ValueError(f"num_nets={cfg.num_nets}, but there are 1797 digit images (one INR per image)")
        if cfg.data == "mnist":
            available = len(mnist_images(cfg.data_path)[1])
            if cfg.num_nets > available:
                raise ValueError(
                    f"num_nets={cfg.num_nets}, but the MNIST file has {available} images (num_nets counts "
                    "images; signal.train_copies INRs are fitted per training image)"
                )
            copies = cfg.signal.get("train_copies", 1)
            if not isinstance(copies, int) or copies < 1:
                raise ValueError(f"signal.train_copies={copies!r}; expected an integer >= 1 (INRs per training image)")
        allowed = set(INR_SIGNALS[cfg.data])
        missing = allowed - set(cfg.hparams)
        if missing:
            raise ValueError(f"INR zoo of {cfg.data!r} needs hparams for {sorted(missing)} (the signal parameters)")
    unknown = sorted(set(cfg.hparams) - allowed)
    if unknown:
        raise ValueError(
            f"unknown hyper-parameter(s) {unknown} for a {cfg.kind} zoo of {cfg.data!r}; expected names "
            f"from {sorted(allowed)} (list structural ones such as 'activation' in arch_hparams)"
        )
    absent = sorted(set(cfg.arch_hparams) - set(cfg.hparams))
    if absent:
        raise ValueError(f"arch_hparams {absent} have no entry in hparams; add them to the search space")


def _io_kwargs(cfg: ZooConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Input / output sizes of the architecture from the data, and data facts for ``zoo.json``."""
    if cfg.kind == "classifier":
        data = classification_data(cfg.data, cfg.split_seed, cfg.val_fraction, cfg.test_fraction, path=cfg.data_path)
        info = {
            "num_classes": data.num_classes,
            "input_shape": list(data.input_shape),
            "split_sizes": {k: len(v) for k, v in data.y.items()},
        }
        return {"input_shape": data.input_shape, "num_classes": data.num_classes}, {
            **info,
            "default_target": "test_acc",
        }
    recipe = {
        "optimizer": "adam",
        "lr": cfg.lr,
        "steps": cfg.steps,
        "psnr_stop": cfg.psnr_stop,
        "init": "siren, one draw shared by every net" if cfg.shared_init else "siren",
        "loss": "mse, full batch",
        "psnr": "10 log10(range^2 / mse), range = max - min of the target",
    }
    if cfg.data in ("digits", "mnist"):
        shape = [8, 8] if cfg.data == "digits" else [28, 28]
        decode = {"shape": shape, "offset": 0.0, "indexing": "ij", "value_range": [0.0, 1.0]}
        return {"in_features": 2, "out_features": 1}, {
            "recipe": recipe,
            "decode": decode,
            "num_classes": 10,
            "default_target": "class",
        }
    points = int(cfg.signal.get("points", 64))
    decode = {"shape": [points], "offset": 0.0, "indexing": "ij", "signal": "A sin(2 pi f x + phase), x in [-1, 1]"}
    return {"in_features": 1, "out_features": 1}, {
        "recipe": recipe,
        "decode": decode,
        "default_target": ["amplitude", "frequency"],
    }


def _image_rows(cfg: ZooConfig) -> list[dict[str, Any]]:
    """One row per INR of an MNIST zoo: ``image_index``, ``class``, ``split``, ``copy``.

    The images are split like ``classification_data("mnist")`` (same seed and fractions); a zoo of
    ``num_nets < N`` images takes the first images of each part, in proportion, so its test images
    are test images of the classifier zoos too. Training images get ``signal.train_copies`` INRs each.
    """
    _, labels = mnist_images(cfg.data_path)
    n = len(labels)
    parts = split_indices(n, cfg.split_seed, cfg.val_fraction, cfg.test_fraction)
    copies = int(cfg.signal.get("train_copies", 1))
    rows = []
    for split in ("train", "val", "test"):
        take = parts[split][: round(len(parts[split]) * cfg.num_nets / n)].tolist()
        for image in take:
            for copy in range(copies if split == "train" else 1):
                rows.append({"image_index": image, "class": int(labels[image]), "split": split, "copy": copy})
    return rows


def _factory_kwargs(factory: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Translate generic sizes into the factory's own arguments."""
    kwargs = dict(kwargs)
    shape, classes = kwargs.pop("input_shape", None), kwargs.pop("num_classes", None)
    if factory == "SmallCNN":
        if shape is not None:
            if len(shape) != 3:
                raise ValueError(f"SmallCNN needs image data [C, H, W]; this data has inputs of shape {list(shape)}")
            kwargs.update(in_channels=shape[0], num_classes=classes)
    elif factory == "mlp":
        if shape is not None:
            if len(shape) != 1:
                raise ValueError(
                    f"mlp zoos take tabular data; this data has inputs of shape {list(shape)} (use SmallCNN)"
                )
            kwargs["sizes"] = [shape[0], *kwargs.pop("hidden", [32]), classes]
    elif factory == "Siren":
        pass
    else:
        raise ValueError(f"zoo architecture {factory!r} is not supported; use SmallCNN, mlp or Siren")
    return kwargs


def _claim_root(root: Path, info: dict[str, Any]) -> bool:
    """Create ``zoo.json`` or check that the one there describes the same zoo; nothing is written over a
    zoo of another config.

    Returns whether shards without a recorded config hash may be adopted: only when ``zoo.json`` was
    written by an older netgraph for exactly this config (an in-progress build resumes). A lost or
    unreadable ``zoo.json`` (moved aside) is written again once every shard already there is shown to
    be of this config by the hash in its header.
    """
    path = root / ZOO_JSON
    text = json.dumps(info, indent=1)
    existing = _existing_info(path)
    if existing is None:
        _check_unclaimed_shards(root, info)
        if create_text(path, text):
            return False
        existing = _existing_info(path)  # another builder won the race
        if existing is None:
            raise ZooFormatError(f"{path} was written by another builder but cannot be read; run the build again")
    remedy = f"Give this build its own root (for sweeps e.g. root='zoos/${{name}}-seed${{seed}}') or delete {root}."
    stored = existing.get("provenance")
    what = f"{root} already holds a different zoo: it"
    if isinstance(stored, dict) and stored.get("config_hash"):
        if stored["config_hash"] != info["provenance"]["config_hash"]:
            check_provenance(stored, info["provenance"], what, remedy=remedy)
        adopt_unhashed = False
    else:  # written by netgraph before zoos recorded provenance: adopted only for exactly this config
        check_provenance({"config": existing.get("config", {})}, info["config"], what, remedy=remedy)
        adopt_unhashed = True
    if existing != info:  # same config (e.g. a hand-edited or older zoo.json): rewrite it from the config
        write_text(path, text)
    return adopt_unhashed


def _existing_info(path: Path) -> dict[str, Any] | None:
    """The ``zoo.json`` at ``path``, ``None`` when absent; an unreadable one is moved aside (with a warning)."""
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        if isinstance(info, dict) and info.get("format") == FORMAT:
            return info
        problem = f"it is not a {FORMAT} description"
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        problem = f"it is not valid JSON ({exc})"
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    warnings.warn(
        f"{path}: {problem}; moved it to {aside}, writing it again from the config once every shard there "
        "is shown to be of this config",
        stacklevel=4,
    )
    return None


def _check_unclaimed_shards(root: Path, info: Mapping[str, Any]) -> None:
    """With no ``zoo.json``, every readable shard in ``root`` must carry this config's hash (checked
    before anything is written); damaged ones are left for :func:`_finished` to move aside."""
    expected = info["provenance"]["config_hash"]
    for path in sorted((root / SHARDS_DIR).glob("shard-*.safetensors")):
        try:
            found = shard_header(path).get("config_hash")
        except ZooFormatError:
            continue
        if found != expected:
            made = f"by config {found}" if found else "by a netgraph that recorded no config hash"
            raise ZooFormatError(
                f"{root} has no {ZOO_JSON}, and its shard {path} was built {made}, not by this config "
                f"({expected}): the folder belongs to another build, so nothing was written; give this build "
                f"its own root, restore that build's {ZOO_JSON}, or move {root / SHARDS_DIR} away"
            )


def _finished(root: Path, shard: ShardPlan, config_hash: str, adopt_unhashed: bool) -> bool:
    """Whether shard ``shard`` is on disk, intact and of this plan and config; a corrupt one is moved aside
    (``<name>.corrupt``, with a warning) so that it is rebuilt; one of another config is refused."""
    path = shard_path(root, shard.index)
    if not path.exists():
        return False
    try:
        stored = read_shard(path)
    except ZooFormatError as exc:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        reason = getattr(exc.__cause__, "reason", None) or str(exc.__cause__ or exc)
        warnings.warn(
            f"zoo shard {path} is corrupt or truncated ({reason}); moved it to {aside} and rebuilding it", stacklevel=3
        )
        return False
    if stored.net_ids != shard.net_ids or stored.arch != shard.arch:
        raise ZooFormatError(
            f"{path} holds nets {stored.net_ids[:5]}... of architecture {stored.arch}, but the plan "
            f"puts nets {shard.net_ids[:5]}... of architecture {shard.arch} there; delete it to rebuild"
        )
    if stored.config_hash is None and adopt_unhashed:  # an older netgraph's shard of exactly this config
        stored.config_hash = config_hash
        write_shard(path, stored)
    elif stored.config_hash != config_hash:
        raise ZooFormatError(
            f"zoo shard {path} was built by config {stored.config_hash or '<unrecorded>'}, not by this build's "
            f"config ({config_hash}): it was copied from another build; delete it to rebuild it, or give this "
            "build its own root"
        )
    return True
