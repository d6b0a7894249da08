"""Zoo storage: safetensors shards of stacked weights, a metadata table, and the in-memory ``Zoo``.

Layout of a zoo folder (every file written atomically)::

    zoo.json                       what the zoo is: config, architectures, checkpoints, recipe, decoding,
                                   and its provenance (the resolved build config and its hash)
    shards/shard-00000.safetensors one architecture each: "weight/<param>" [n, C, *shape],
                                   "metric/<name>" [n, C] (float64); header: net ids, metadata rows,
                                   the architecture and checkpoints, the build's config hash, and
                                   the file's SHA-256
    metadata.csv                   one row per net: hyper-parameters, seed, signal / class, metrics
                                   at every checkpoint ("test_acc@4") and at the last ("test_acc")
    checksums.json                 SHA-256 of zoo.json and metadata.csv (written when the zoo is complete)

A shard is the unit of work of a build: it is written once, complete, or not at all, so an
interrupted build resumes at the first missing shard. The shards alone are authoritative (they
hold the rows); ``metadata.csv`` is the same table for people and pandas.

Loading checks what it reads and fails closed: ``zoo.json`` and ``metadata.csv`` against
``checksums.json`` (so a hand edit of ``categories`` or ``default_target`` is refused), every shard
against the SHA-256 in its header, every shard's config hash against the one ``zoo.json`` records
(a shard copied from a sibling build is refused), ``zoo.json`` against the shards' own headers (the
shard list, the number of nets, the checkpoints, each shard's architecture), shard names that would
leave the folder, and, when ``config=`` is given, the stored build config against the asked one. A
missing manifest, checksum or provenance record is an error too; ``verify=False`` skips the
checksum and provenance-presence checks on purpose (zoos built before netgraph recorded them).

Example:
    >>> import tempfile, torch
    >>> zoo = Zoo({"name": "demo", "architectures": [{"factory": "mlp", "kwargs": {"sizes": [2, 3]}}],
    ...            "checkpoints": [0]}, rows=[{"net_id": 0, "arch": 0}],
    ...           metrics={"test_acc": torch.tensor([[0.5]], dtype=torch.float64)},
    ...           weights=[{"0.weight": torch.zeros(1, 1, 3, 2), "0.bias": torch.zeros(1, 1, 3)}], members=[torch.tensor([0])])
    >>> root = zoo.save(tempfile.mkdtemp())
    >>> load_zoo(root).model(0)
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
    )
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
import torch.nn as nn
from safetensors import safe_open

from netgraph import architectures
from netgraph.errors import CorruptFileError, NetgraphError
from netgraph.io import (
    CHECKSUMS_JSON,
    save_safetensors,
    verify_checksums,
    verify_safetensors,
    write_checksums,
    write_text,
)
from netgraph.provenance import check_provenance, provenance

__all__ = [
    "Zoo",
    "Shard",
    "ZooFormatError",
    "load_zoo",
    "load_model",
    "build_architecture",
    "read_shard",
    "write_shard",
    "shard_path",
    "shard_header",
    "zoo_config_hash",
    "write_metadata_table",
    "FORMAT",
    "ZOO_JSON",
    "METADATA_CSV",
    "SHARDS_DIR",
]

FORMAT = "netgraph-zoo/1"
ZOO_JSON = "zoo.json"
METADATA_CSV = "metadata.csv"
SHARDS_DIR = "shards"


SHARD_NAME = re.compile(r"shard-\d+\.safetensors")
REBUILD = (
    "run the build again with the same config (it rewrites zoo.json from the config and checks every "
    "shard against it; finished nets are kept, a zoo of an older netgraph gains its records without "
    "training), or load_zoo(root, verify=False) to read it unchecked"
)


class ZooFormatError(NetgraphError, ValueError):
    """A zoo file is missing, corrupt, truncated, inconsistent or from another build (the message names the file)."""


def build_architecture(ref: Mapping[str, Any]) -> nn.Module:
    """The module built by the registered architecture ``factory`` with ``kwargs`` (``{"factory", "kwargs"}``,
    as stored in ``zoo.json``); names are looked up in :data:`netgraph.architectures.ARCHITECTURES` only."""
    name = str(ref.get("factory"))
    if name not in architectures.ARCHITECTURES:
        raise ValueError(
            f"unknown architecture factory {name!r}; expected one of "
            f"{architectures.list_architectures()} (register your own with "
            "netgraph.architectures.register_architecture before loading)"
        )
    return architectures.create_architecture(name, **ref.get("kwargs", {}))


def shard_path(root: str | Path, index: int) -> Path:
    return Path(root) / SHARDS_DIR / f"shard-{index:05d}.safetensors"


@dataclass
class Shard:
    """The nets of one shard: ``weights[name] [n, C, *shape]``, ``metrics[name] [n, C]``, ``rows``."""

    arch: int
    net_ids: list[int]
    weights: dict[str, torch.Tensor]
    metrics: dict[str, torch.Tensor]
    rows: list[dict[str, Any]]
    checkpoints: list[int] | None = None  #: the zoo's checkpoints (recorded in the header)
    architecture: dict[str, Any] | None = None  #: ``{"factory", "kwargs"}`` of ``arch`` (recorded too)
    config_hash: str | None = None  #: the hash of the build config that made it (``zoo.json``'s provenance)


def write_shard(path: str | Path, shard: Shard) -> None:
    """Write ``shard`` atomically (nets, checkpoints, weights and rows must agree in size)."""
    n = len(shard.net_ids)
    sizes = {k: tuple(v.shape[:2]) for k, v in {**shard.weights, **shard.metrics}.items()}
    if len(shard.rows) != n or len(set(s[0] for s in sizes.values())) != 1 or next(iter(sizes.values()))[0] != n:
        raise ValueError(
            f"shard {path}: {n} net ids, {len(shard.rows)} rows and tensors of leading sizes "
            f"{sorted(set(sizes.values()))} disagree; every tensor must be [nets, checkpoints, ...]"
        )
    tensors = {f"weight/{k}": v for k, v in shard.weights.items()}
    tensors.update({f"metric/{k}": v.double() for k, v in shard.metrics.items()})
    header = {
        "format": FORMAT,
        "arch": str(shard.arch),
        "net_ids": json.dumps(shard.net_ids),
        "rows": json.dumps(shard.rows),
    }
    if shard.checkpoints is not None:
        header["checkpoints"] = json.dumps(shard.checkpoints)
    if shard.architecture is not None:
        header["architecture"] = json.dumps(shard.architecture)
    if shard.config_hash is not None:
        header["config_hash"] = shard.config_hash
    save_safetensors(path, tensors, header)


def read_shard(path: str | Path, device: torch.device | str = "cpu", verify: bool = True) -> Shard:
    """Read a shard; a corrupt or truncated file raises :class:`ZooFormatError` naming it.

    ``verify`` checks the file against the SHA-256 recorded in its header (a shard without one is
    refused; ``verify=False`` reads it unchecked).
    """
    path = Path(path)
    try:
        if verify:
            verify_safetensors(path)
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if header.get("format") != FORMAT:
            raise ValueError(f"format is {header.get('format')!r}, expected {FORMAT!r}")
        net_ids, rows = json.loads(header["net_ids"]), json.loads(header["rows"])
        shard = Shard(
            int(header["arch"]),
            net_ids,
            {k[len("weight/") :]: v for k, v in tensors.items() if k.startswith("weight/")},
            {k[len("metric/") :]: v for k, v in tensors.items() if k.startswith("metric/")},
            rows,
            json.loads(header["checkpoints"]) if "checkpoints" in header else None,
            json.loads(header["architecture"]) if "architecture" in header else None,
            header.get("config_hash"),
        )
        bad = {k: tuple(v.shape) for k, v in {**shard.weights, **shard.metrics}.items() if v.shape[0] != len(net_ids)}
        if bad or len(rows) != len(net_ids):
            raise ValueError(f"{len(net_ids)} nets in the header but tensors {bad} / {len(rows)} rows")
    except Exception as exc:  # safetensors raises its own error types for bad headers / sizes
        reason = exc.reason if isinstance(exc, CorruptFileError) else f"{type(exc).__name__}: {exc}"
        raise ZooFormatError(
            f"zoo shard {path} is corrupt or truncated ({reason}); run the build again with the same "
            "config (it moves the bad shard aside and rebuilds only it), or delete it and rebuild; "
            "a published zoo: download it again"
        ) from exc
    return shard


def shard_header(path: str | Path) -> dict[str, str]:
    """The metadata of a shard's header (net ids, rows, config hash, ...), reading the header only;
    :class:`ZooFormatError` when it cannot be read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ZooFormatError(f"zoo shard {path} cannot be read ({type(exc).__name__}: {exc})") from exc


def zoo_config_hash(zoo: "str | Path | Mapping[str, Any] | Zoo") -> str | None:
    """The config hash of a zoo (a folder, its ``zoo.json`` content, or a :class:`Zoo`): what runs record
    as their input; ``None`` for a zoo built before netgraph recorded provenance."""
    if isinstance(zoo, Zoo):
        info: Mapping[str, Any] = zoo.info
    elif isinstance(zoo, Mapping):
        info = zoo
    else:
        info = _read_info(Path(zoo))
    record = info.get("provenance")
    return record.get("config_hash") if isinstance(record, Mapping) else None


@dataclass
class Zoo:
    """A zoo in memory.

    Attributes:
        info: the content of ``zoo.json`` (``architectures``: list of ``{"factory", "kwargs"}``,
            ``checkpoints``: list of epochs / steps, ``name``, ``kind``, ``config``, ...).
        rows: one dict per net, ordered by net id (``rows[i]["net_id"] == i``); ``rows[i]["arch"]``
            indexes ``info["architectures"]``.
        metrics: ``{name: [num_nets, C]}`` float64, one column per checkpoint.
        weights: per architecture, stacked state dicts ``{param: [n_arch, C, *shape]}``.
        members: per architecture, the net ids ``[n_arch]`` of the rows of ``weights``.
    """

    info: dict[str, Any]
    rows: list[dict[str, Any]]
    metrics: dict[str, torch.Tensor]
    weights: list[dict[str, torch.Tensor]]
    members: list[torch.Tensor]
    root: Path | None = None
    net_arch: torch.Tensor = field(init=False, repr=False)  #: [num_nets] architecture of each net
    net_row: torch.Tensor = field(init=False, repr=False)  #: [num_nets] its row in ``weights[arch]``

    def __post_init__(self) -> None:
        self.net_arch = torch.full((len(self.rows),), -1, dtype=torch.long)
        self.net_row = torch.full((len(self.rows),), -1, dtype=torch.long)
        for arch, ids in enumerate(self.members):  # a loop over architectures, not nets
            self.net_arch[ids] = arch
            self.net_row[ids] = torch.arange(len(ids))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def checkpoints(self) -> list[int]:
        return list(self.info["checkpoints"])

    @property
    def architectures(self) -> list[dict[str, Any]]:
        return list(self.info["architectures"])

    def position(self, net_id: int) -> tuple[int, int]:
        """``(architecture index, row in that architecture's stacked weights)`` of a net."""
        if not 0 <= net_id < len(self) or int(self.net_arch[net_id]) < 0:
            raise IndexError(f"net {net_id} is not in this zoo of {len(self)} nets (ids 0..{len(self) - 1})")
        return int(self.net_arch[net_id]), int(self.net_row[net_id])

    def checkpoint_index(self, checkpoint: int | None) -> int:
        """Column of ``checkpoint`` (an epoch / step of ``self.checkpoints``); ``None`` is the last."""
        if checkpoint is None:
            return len(self.checkpoints) - 1
        if checkpoint not in self.checkpoints:
            raise ValueError(f"checkpoint {checkpoint} not stored; this zoo has checkpoints {self.checkpoints}")
        return self.checkpoints.index(checkpoint)

    def state_dict(self, net_id: int, checkpoint: int | None = None) -> dict[str, torch.Tensor]:
        """The state dict of one net at ``checkpoint`` (default: the last)."""
        arch, row = self.position(net_id)
        c = self.checkpoint_index(checkpoint)
        return {k: v[row, c] for k, v in self.weights[arch].items()}

    def model(self, net_id: int, checkpoint: int | None = None) -> nn.Module:
        """The net rebuilt from its recorded architecture, with its weights, in eval mode."""
        arch, _ = self.position(net_id)
        module = build_architecture(self.architectures[arch])
        module.load_state_dict(self.state_dict(net_id, checkpoint))
        return module.eval()

    def save(self, root: str | Path, nets_per_shard: int = 4096) -> Path:
        """Write this zoo to ``root`` in the netgraph format (shards of ``nets_per_shard`` nets).

        ``info["provenance"]`` is kept when present, else made from ``info`` (its description of the zoo).
        """
        root = Path(root)
        record = self.info.get("provenance") or provenance(
            {k: v for k, v in self.info.items() if k not in ("format", "num_nets", "shards", "provenance")}
        )
        shard = 0
        for arch, ids in enumerate(self.members):
            for start in range(0, len(ids), nets_per_shard):
                part = ids[start : start + nets_per_shard]
                write_shard(
                    shard_path(root, shard),
                    Shard(
                        arch,
                        part.tolist(),
                        {k: v[start : start + nets_per_shard] for k, v in self.weights[arch].items()},
                        {k: v[part] for k, v in self.metrics.items()},
                        [self.rows[i] for i in part.tolist()],
                        self.checkpoints,
                        self.architectures[arch],
                        record["config_hash"],
                    ),
                )
                shard += 1
        names = [shard_path(root, i).name for i in range(shard)]
        info = {**self.info, "format": FORMAT, "num_nets": len(self), "shards": names, "provenance": record}
        write_text(root / ZOO_JSON, json.dumps(info, indent=1))
        write_metadata_table(root, self.rows, self.metrics, self.checkpoints)
        write_checksums(root, [ZOO_JSON, METADATA_CSV])
        return root


def load_zoo(root: str | Path, device: torch.device | str = "cpu", verify: bool = True, config: Any = None) -> Zoo:
    """Read a zoo folder written by :func:`~netgraph.datasets.build_zoo` or :meth:`Zoo.save`.

    ``verify`` checks ``zoo.json`` and ``metadata.csv`` against ``checksums.json`` and every shard
    against the SHA-256 in its header, and requires the zoo's provenance record (``False`` skips
    these, for zoos made before netgraph wrote them). Always checked: shard names stay inside the
    folder, each shard's config hash equals ``zoo.json``'s, ``zoo.json`` agrees with the shards'
    headers. ``config``: the build config asked for (a :class:`~netgraph.datasets.ZooConfig` or a
    mapping of its fields); a zoo built with another one is refused naming the first differing
    field (:class:`~netgraph.errors.ProvenanceError`). Problems raise :class:`ZooFormatError`
    naming the file and what to do.
    """
    return read_zoo(Path(root), device, verify, manifest=verify, config=config)


def read_zoo(root: Path, device: torch.device | str, verify: bool, manifest: bool, config: Any = None) -> Zoo:
    """:func:`load_zoo` with the manifest check separate (the builder reads its zoo before writing it)."""
    info = _read_info(root)
    if manifest:
        _check_checksums(root)
    record = info.get("provenance")
    if verify and not (isinstance(record, Mapping) and record.get("config_hash")):
        raise ZooFormatError(
            f"{root / ZOO_JSON} records no provenance (the build config and its hash): the zoo was made "
            f"before netgraph recorded it, so its shards cannot be traced to a config; {REBUILD}"
        )
    if config is not None:
        _check_asked(root, info, config)
    missing = [name for name in info["shards"] if not (root / SHARDS_DIR / name).is_file()]
    if missing:
        raise ZooFormatError(
            f"zoo {root} is incomplete: {len(missing)} of {len(info['shards'])} shards missing "
            f"({missing[:3]}...); finish it with build_zoo / netgraph-zoo on the same config"
        )
    unlisted = sorted(p.name for p in (root / SHARDS_DIR).glob("shard-*.safetensors") if p.name not in info["shards"])
    if unlisted:
        raise ZooFormatError(
            f"{root / ZOO_JSON} lists {len(info['shards'])} shards but {root / SHARDS_DIR} also holds "
            f"{unlisted[:3]}: zoo.json was edited or belongs to another build; restore zoo.json (or "
            "rebuild it with the same config), or move the extra shards away"
        )
    shards = [read_shard(root / SHARDS_DIR / name, device, verify) for name in info["shards"]]
    _check_shard_hashes(root, info, shards, verify)  # first: a foreign shard explains any other mismatch
    _check_manifest(root, info, shards)
    return _assemble(info, shards, root)


def _check_checksums(root: Path) -> None:
    """``zoo.json`` and ``metadata.csv`` against ``checksums.json`` (fail closed)."""
    try:
        verify_checksums(root, [ZOO_JSON, METADATA_CSV])
    except CorruptFileError as exc:
        if exc.path.name == CHECKSUMS_JSON and not exc.path.is_file():
            reason = (
                f"{exc.path} is missing: the build did not finish (run it again with the same config: it "
                "resumes), the zoo was made before netgraph recorded checksums, or the file was removed"
            )
        elif exc.path.name == ZOO_JSON:
            reason = (
                f"{exc.path} does not match the SHA-256 recorded in {CHECKSUMS_JSON} ({exc.reason}): it was "
                "edited by hand (categories, default_target, ...) or damaged"
            )
        else:
            reason = str(exc)
        raise ZooFormatError(f"{reason}; {REBUILD}") from exc


def _check_asked(root: Path, info: Mapping[str, Any], config: Any) -> None:
    """The stored build config must be the asked one (runtime fields such as ``root`` aside)."""
    from .config import ZooConfig

    asked = ZooConfig.from_any(config).recipe()
    record = info.get("provenance")
    stored = record if isinstance(record, Mapping) else {"config": info.get("config", {})}
    check_provenance(
        stored,
        asked,
        root,
        remedy="Load the zoo built with the asked config, or ask for the config this one was built with.",
    )


def _check_shard_hashes(root: Path, info: Mapping[str, Any], shards: Sequence[Shard], verify: bool) -> None:
    """Every shard must have been built by the config ``zoo.json`` records (a sibling build's shard is refused)."""
    expected = zoo_config_hash(info)
    for name, s in zip(info["shards"], shards):
        if not verify and (s.config_hash is None or expected is None):
            continue
        if s.config_hash != expected:
            raise ZooFormatError(
                f"zoo shard {root / SHARDS_DIR / name} was built by config {s.config_hash or '<unrecorded>'}, but "
                f"{root / ZOO_JSON} describes config {expected}: the shard comes from another build (copied from a "
                "sibling zoo?) or zoo.json does; restore the shard from this zoo's own build, or delete it and run "
                "the build again with this zoo's config (it rebuilds only the missing shard)"
            )


def _check_manifest(root: Path, info: Mapping[str, Any], shards: Sequence[Shard]) -> None:
    """``zoo.json`` must agree with the shards' own headers (what they hold is authoritative)."""
    path = root / ZOO_JSON
    problems = []
    total = sum(len(s.net_ids) for s in shards)
    if "num_nets" in info and int(info["num_nets"]) != total:
        problems.append(f"num_nets is {info['num_nets']} but the shards hold {total} nets")
    checkpoints = list(info.get("checkpoints", []))
    for name, s in zip(info["shards"], shards):
        columns = {v.shape[1] for v in {**s.weights, **s.metrics}.values() if v.dim() > 1}
        if s.arch >= len(info.get("architectures", [])):
            problems.append(
                f"{name} holds architecture {s.arch}, but only {len(info.get('architectures', []))} are listed"
            )
        elif s.architecture is not None and s.architecture != info["architectures"][s.arch]:
            problems.append(
                f"architecture {s.arch} is {info['architectures'][s.arch]} but {name} was trained as {s.architecture}"
            )
        if s.checkpoints is not None and s.checkpoints != checkpoints:
            problems.append(f"checkpoints are {checkpoints} but {name} stores {s.checkpoints}")
        elif columns and columns != {len(checkpoints)}:
            problems.append(f"{len(checkpoints)} checkpoints are listed but {name} stores {sorted(columns)} per net")
    if problems:
        raise ZooFormatError(
            f"{path} does not match its shards: "
            + "; ".join(problems[:4])
            + ". zoo.json was edited or damaged: restore it, or rebuild it by running the build again "
            "with the same config"
        )


def _read_info(root: Path) -> dict[str, Any]:
    path = root / ZOO_JSON
    if not path.is_file():
        raise ZooFormatError(
            f"{path} not found: {root} is not a netgraph zoo (build one with build_zoo / "
            "netgraph-zoo, or load a published format with load_small_cnn_zoo / load_dwsnets_inrs)"
        )
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooFormatError(
            f"{path} is not valid JSON ({exc}); restore it, or run the build again with the same config (it "
            "moves the damaged zoo.json aside and checks every shard against the config)"
        ) from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        found = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise ZooFormatError(f"{path}: format {found!r}, expected {FORMAT!r}")
    shards = info.get("shards")
    if not isinstance(shards, list) or not all(isinstance(n, str) for n in shards):
        raise ZooFormatError(f"{path}: 'shards' must be a list of shard file names; restore it or rebuild")
    outside = [n for n in shards if not SHARD_NAME.fullmatch(n)]
    if outside:
        raise ZooFormatError(
            f"{path} lists shard {outside[0]!r}: shards are files shards/shard-<n>.safetensors inside the zoo "
            "(nothing outside the folder is read); restore zoo.json or rebuild"
        )
    return info


def _assemble(info: dict[str, Any], shards: Sequence[Shard], root: Path | None) -> Zoo:
    n_arch = len(info["architectures"])
    by_arch: list[list[Shard]] = [[s for s in shards if s.arch == a] for a in range(n_arch)]
    weights = [
        {k: torch.cat([s.weights[k] for s in group]) for k in group[0].weights} if group else {} for group in by_arch
    ]
    members = [torch.tensor([i for s in group for i in s.net_ids], dtype=torch.long) for group in by_arch]
    num = sum(len(s.net_ids) for s in shards)
    rows: list[dict[str, Any] | None] = [None] * num
    metrics = {k: torch.empty(num, *shards[0].metrics[k].shape[1:], dtype=torch.float64) for k in shards[0].metrics}
    for s in shards:
        ids = torch.tensor(s.net_ids, dtype=torch.long)
        if ids.numel() and (int(ids.max()) >= num or int(ids.min()) < 0):
            raise ZooFormatError(f"shard of architecture {s.arch} holds net ids outside 0..{num - 1}")
        for k in metrics:
            metrics[k][ids] = s.metrics[k].to(metrics[k].device)
        for i, row in zip(s.net_ids, s.rows):
            rows[i] = row
    if any(r is None for r in rows):
        raise ZooFormatError(f"zoo {root}: net ids are not 0..{num - 1} (some nets missing or duplicated)")
    return Zoo(info, rows, metrics, weights, members, root)  # type: ignore[arg-type]


def load_model(zoo: str | Path | Zoo, index: int, checkpoint: int | None = None) -> nn.Module:
    """Rebuild net ``index`` of a zoo (a folder or a :class:`Zoo`) as a module with its weights.

    ``checkpoint`` is an epoch (classifier zoos) or step (INR zoos) among ``zoo.checkpoints``;
    default: the last. The module is in eval mode.
    """
    zoo = zoo if isinstance(zoo, Zoo) else load_zoo(zoo)
    return zoo.model(index, checkpoint)


def write_metadata_table(
    root: str | Path, rows: Sequence[Mapping[str, Any]], metrics: Mapping[str, torch.Tensor], checkpoints: Sequence[int]
) -> Path:
    """Write ``metadata.csv`` (one row per net) atomically; returns its path."""
    columns = _columns(rows)
    metric_columns = [f"{m}@{c}" for m in metrics for c in checkpoints] + list(metrics)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns + metric_columns)
    table = {k: v.tolist() for k, v in metrics.items()}
    for i, row in enumerate(rows):
        values = [_cell(row.get(c)) for c in columns]
        values += [_cell(table[m][i][j]) for m in metrics for j in range(len(checkpoints))]
        values += [_cell(table[m][i][-1]) for m in metrics]
        writer.writerow(values)
    path = Path(root) / METADATA_CSV
    write_text(path, buffer.getvalue())
    return path


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return "" if value is None else value
