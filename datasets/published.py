"""Loaders for published zoos in their original file formats, when the files are on disk.

Each returns a :class:`~.storage.Zoo` (use it with :class:`~.zoo_dataset.ZooDataset`, or save it
in the netgraph format with ``zoo.save(root)``). Nothing is downloaded.

* :func:`load_small_cnn_zoo` - the Small CNN Zoo (Unterthiner et al. 2020; CIFAR10-GS, SVHN-GS,
  MNIST, Fashion-MNIST): ``weights.npy`` (float32 ``[rows, 4970]``, one row per net and
  checkpoint), ``metrics.csv`` or ``metrics.csv.gz`` (one row per weights row: ``step``,
  ``test_accuracy``, ``test_loss``, ``train_accuracy``, ``train_loss``, ``modeldir``,
  ``config.*`` hyper-parameters) and ``layout.csv`` (``varname, start_idx, end_idx, shape``: where
  each Keras variable, e.g. ``sequential/conv2d/kernel:0`` of shape ``(3, 3, 1, 16)``, lies in a
  row). ``config.activation`` may be any of ``netgraph.architectures.ACTIVATIONS`` or the Keras names
  ``linear`` / ``swish``. Kernels are converted from Keras ``[kh, kw, in, out]`` / ``[in, out]`` to PyTorch layout;
  nets are :class:`netgraph.architectures.SmallCNN` with ``padding=0`` (Keras "valid", as trained),
  so a loaded net computes what the original did.
* :func:`load_dwsnets_inrs` - the DWSNets MNIST / Fashion-MNIST INRs: ``.pth`` state dicts of
  ``seq.{0,1,2}.{weight,bias}`` (SIREN 2 -> 32 -> 32 -> 1, w0 = 30, forward adds 0.5) listed by a
  splits JSON ``{"train": {"path": [...], "label": [...]}, "val": ..., "test": ...}``, or found in
  a folder laid out as ``mnist_png_<split>_<label>_<n>/checkpoints/*.pth``. The Fashion-MNIST INRs
  (DWSNets / Neural Graphs / ScaleGMN) carry their label as a ``"label"`` entry of each file: it is
  read from there, and only the weight / bias tensors are kept.
* :func:`load_nfn_sirens` - the NFN SIREN data sets: ``<prefix>_*/net<idx>.pth`` state dicts of
  ``net.0.linear.*``, ``net.1.linear.*``, ``net.2.*``, the label in the path as ``_<digit>s``.

Example:
    >>> import tempfile, torch
    >>> from netgraph.architectures import Siren
    >>> folder = tempfile.mkdtemp()
    >>> sd = {f"seq.{i}.{k}": v for i, layer in enumerate(Siren().layers) for k, v in layer.state_dict().items()}
    >>> import os; os.makedirs(f"{folder}/mnist_png_testing_7_0/checkpoints")
    >>> torch.save(sd, f"{folder}/mnist_png_testing_7_0/checkpoints/model_final.pth")
    >>> zoo = load_dwsnets_inrs(folder)
    >>> zoo.rows[0]["class"], zoo.rows[0]["split"], zoo.info["decode"]["offset"]
    (7, 'test', 0.5)
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from netgraph.architectures import ACTIVATIONS

from .storage import FORMAT, Zoo, ZooFormatError

__all__ = ["load_small_cnn_zoo", "load_dwsnets_inrs", "load_nfn_sirens"]

#: Keras activation names of the Small CNN Zoo configs that netgraph spells differently
KERAS_ACTIVATIONS = {"linear": "identity", "swish": "silu"}

_SMALL_CNN_METRICS = {
    "test_accuracy": "test_acc",
    "train_accuracy": "train_acc",
    "test_loss": "test_loss",
    "train_loss": "train_loss",
}


def load_small_cnn_zoo(
    path: str | Path, steps: Sequence[int] | None = None, order: str | Path | Sequence[int] | None = None
) -> Zoo:
    """Load a Small CNN Zoo folder (``weights.npy``, ``metrics.csv[.gz]``, ``layout.csv``).

    Args:
        path: the folder of one collection (e.g. ``cifar10``).
        steps: checkpoints (epochs, the ``step`` column) to keep; default: every step that occurs.
            Nets lacking one of them (runs that stopped early) are left out and counted in
            ``zoo.info["dropped_nets"]``; ``steps=[86]`` keeps every net that reached epoch 86.
        order: the shuffled row order of the NFN / Neural Graphs code (their index csv, one row
            index per line, or the indices): each net records ``shuffled_position``, the place of
            its last kept row in that order, which ``ZooDataset(splits="small_cnn_zoo")`` reads.
    Metrics ``test_acc``, ``train_acc``, ``test_loss``, ``train_loss`` are per checkpoint;
    ``config.*`` columns become row fields without the prefix (``activation``, ``learning_rate``...).
    """
    path = Path(path)
    weights_file, layout_file = path / "weights.npy", path / "layout.csv"
    metrics_file = next((p for p in (path / "metrics.csv", path / "metrics.csv.gz") if p.is_file()), None)
    for needed in (weights_file, layout_file, metrics_file):
        if needed is None or not needed.is_file():
            raise FileNotFoundError(
                f"{path} is not a Small CNN Zoo folder: {needed or 'metrics.csv[.gz]'} is missing "
                "(expected weights.npy, metrics.csv or metrics.csv.gz, layout.csv)"
            )
    try:
        flat = np.load(weights_file, mmap_mode="r")
    except ValueError as exc:
        raise ZooFormatError(f"{weights_file} is not a readable .npy array ({exc})") from exc
    table = _read_csv(metrics_file)
    layout = _read_csv(layout_file)
    if flat.ndim != 2 or flat.shape[0] != len(table):
        raise ZooFormatError(
            f"{weights_file} has shape {flat.shape} but {metrics_file} has {len(table)} rows; "
            "expected one weights row per metrics row"
        )
    ids = [row.get("modeldir", str(i)) for i, row in enumerate(table)]
    step_of = [int(float(row.get("step", 0))) for row in table]
    nets: dict[str, dict[int, int]] = {}
    for r, (net, step) in enumerate(zip(ids, step_of)):
        nets.setdefault(net, {})[step] = r
    chosen = sorted(set(steps) if steps is not None else set(step_of))
    kept = [n for n, s in nets.items() if all(c in s for c in chosen)]
    if not kept:
        raise ValueError(f"{path}: no net has every step of {chosen}; pass fewer steps=[...]")
    index = np.array([[nets[n][c] for c in chosen] for n in kept])  # [nets, C]
    position = _shuffled_positions(order, len(table), path) if order is not None else None
    state = _keras_to_small_cnn(flat, layout, index, layout_file)
    rows, architectures = [], []
    for i, net in enumerate(kept):
        first = table[nets[net][chosen[-1]]]
        config = {k[len("config.") :]: _parse(v) for k, v in first.items() if k.startswith("config.")}
        given = str(config.get("activation", "relu"))
        activation = KERAS_ACTIVATIONS.get(given.lower(), given.lower())
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"net {net} uses activation {given!r}, which netgraph cannot build; known: "
                f"{sorted(ACTIVATIONS)} and the Keras names {sorted(KERAS_ACTIVATIONS)}; add it to "
                "netgraph.architectures.ACTIVATIONS to load this zoo"
            )
        ref = {"factory": "SmallCNN", "kwargs": {**state["kwargs"], "activation": activation, "padding": 0}}
        if ref not in architectures:
            architectures.append(ref)
        extra = {"shuffled_position": int(position[nets[net][chosen[-1]]])} if position is not None else {}
        rows.append({"net_id": i, "arch": architectures.index(ref), "modeldir": net, **config, **extra})
    metrics = {
        ours: torch.tensor(
            [[_parse(table[r].get(theirs)) for r in line] for line in index.tolist()], dtype=torch.float64
        )
        for theirs, ours in _SMALL_CNN_METRICS.items()
        if theirs in table[0]
    }
    arch_of = torch.tensor([r["arch"] for r in rows], dtype=torch.long)
    members = [(arch_of == a).nonzero().flatten() for a in range(len(architectures))]
    weights = [{k: v[m] for k, v in state["tensors"].items()} for m in members]
    info = {
        "format": FORMAT,
        "name": path.name,
        "kind": "classifier",
        "source": "Small CNN Zoo (Unterthiner et al. 2020)",
        "architectures": architectures,
        "checkpoints": chosen,
        "checkpoint_unit": "epoch",
        "metrics": sorted(metrics),
        "dropped_nets": len(nets) - len(kept),
        "config": {},
        "categories": {},
        "default_target": "test_acc",
    }
    return Zoo(info, rows, metrics, weights, members)


def _shuffled_positions(order: str | Path | Sequence[int], num_rows: int, path: Path) -> np.ndarray:
    """``[num_rows]`` place of every metrics row in the shuffled ``order`` (a csv of row indices or the indices)."""
    if isinstance(order, (str, Path)):
        with open(order, newline="") as f:
            order = [int(float(line[0])) for line in csv.reader(f) if line]
    order = np.asarray(order, dtype=np.int64)
    if sorted(order.tolist()) != list(range(num_rows)):
        raise ValueError(
            f"order must be a permutation of the {num_rows} metrics rows of {path} (NFN's shuffled index "
            f"file); got {len(order)} indices"
        )
    position = np.empty(num_rows, dtype=np.int64)
    position[order] = np.arange(num_rows)
    return position


def _keras_to_small_cnn(flat: np.ndarray, layout: list[dict], index: np.ndarray, layout_file: Path) -> dict[str, Any]:
    """Slice every Keras variable out of the flat rows and convert it to the SmallCNN state dict."""
    convs = sorted({_layer(r["varname"]) for r in layout if "conv2d" in r["varname"]}, key=_suffix)
    if len(convs) != 3 or not any("dense" in r["varname"] for r in layout):
        raise ZooFormatError(
            f"{layout_file}: expected three conv2d layers and one dense layer, found {[r['varname'] for r in layout]}"
        )
    names = {layer: f"features.{2 * i}" for i, layer in enumerate(convs)}
    tensors: dict[str, torch.Tensor] = {}
    rows = torch.from_numpy(np.asarray(flat[index.reshape(-1)], dtype=np.float32))  # [nets * C, 4970]
    n, c = index.shape
    for r in layout:
        varname, start, end = r["varname"], int(r["start_idx"]), int(r["end_idx"])
        shape = tuple(ast.literal_eval(r["shape"]))
        values = rows[:, start:end].reshape(n, c, *shape)
        layer = _layer(varname)
        key = names.get(layer, "classifier")
        if varname.endswith("kernel:0"):
            values = values.permute(0, 1, 5, 4, 2, 3) if len(shape) == 4 else values.transpose(2, 3)
            tensors[f"{key}.weight"] = values.contiguous()
        elif varname.endswith("bias:0"):
            tensors[f"{key}.bias"] = values.contiguous()
        else:
            raise ZooFormatError(f"{layout_file}: variable {varname!r} is neither a kernel nor a bias")
    first = tensors["features.0.weight"]
    kwargs = {
        "in_channels": first.shape[3],
        "channels": first.shape[2],
        "num_classes": tensors["classifier.weight"].shape[2],
    }
    return {"tensors": tensors, "kwargs": kwargs}


def load_dwsnets_inrs(path: str | Path, offset: float = 0.5) -> Zoo:
    """Load the DWSNets INR data set from its splits JSON or from its folder of ``.pth`` files.

    Rows carry ``class`` (the digit / clothing label), ``split`` and ``path``; ``ZooDataset`` uses
    the stored split. ``zoo.info["decode"]`` renders an INR back to its 28x28 image with
    :func:`~.inr.render_inr` (``offset=0.5``, ``indexing="xy"``).
    """
    path = Path(path)
    if path.is_file():
        splits = json.loads(path.read_text())
        entries = []
        for split, content in splits.items():
            if not isinstance(content, Mapping) or "path" not in content:
                raise ZooFormatError(
                    f"{path}: split {split!r} must be {{'path': [...], 'label': [...]}} (labels may "
                    "instead be a 'label' entry in each file)"
                )
            labels = content.get("label") or [None] * len(content["path"])
            for file, label in zip(content["path"], labels):
                entries.append((_resolve(file, path.parent), None if label is None else int(label), split))
    elif path.is_dir():
        files = sorted(path.glob("*/**/*.pth"))
        if not files:
            raise FileNotFoundError(f"no .pth files under {path}/<run>/<...>/*.pth (DWSNets INR layout)")
        entries = [
            (f, _label_in_path(f.relative_to(path)), "train" if "train" in f.relative_to(path).as_posix() else "test")
            for f in files
        ]
    else:
        raise FileNotFoundError(f"{path} is neither a DWSNets splits JSON nor a folder of INRs")
    prefix = re.compile(r"^seq\.(\d+)\.(weight|bias)$")
    rows = [
        {"net_id": i, "class": label, "split": split, "path": str(file)}
        for i, (file, label, split) in enumerate(entries)
    ]
    zoo = _siren_zoo([f for f, _, _ in entries], prefix, rows, "DWSNets INRs (Navon et al. 2023)")
    unlabelled = [r["path"] for r in zoo.rows if r["class"] is None]
    if unlabelled:
        raise ZooFormatError(
            f"{unlabelled[0]} does not lie in a DWSNets run folder <name>_<label>_<n> (e.g. "
            "mnist_png_training_7_0/checkpoints/model_final.pth) and holds no 'label' entry "
            f"({len(unlabelled)} such files); move stray .pth files out of {path}"
        )
    zoo.info["decode"] = {"shape": [28, 28], "offset": offset, "indexing": "xy", "value_range": [0.0, 1.0]}
    return zoo


def load_nfn_sirens(
    path: str | Path,
    prefix: str = "randinit_smaller",
    split_points: Sequence[int] | None = None,
    image_shape: Sequence[int] = (28, 28),
) -> Zoo:
    """Load an NFN SIREN data set: ``<path>/<prefix>_*/net<idx>.pth``, label ``_<digit>s`` in the path.

    ``split_points=(45000, 50000)`` reproduces NFN's split (train below the first index, val below
    the second, test above); ``None`` leaves the split to ``ZooDataset``.
    """
    path = Path(path)
    files = sorted(path.glob(f"{prefix}_*/*.pth"))
    if not files:
        raise FileNotFoundError(f"no SIRENs matching {path}/{prefix}_*/*.pth (NFN layout)")
    found = {}
    for f in files:
        idx, label = re.search(r"net(\d+)\.pth$", f.name), re.search(r"_(\d)s", f.as_posix())
        if idx is None or label is None:
            raise ZooFormatError(f"{f}: expected a file name net<idx>.pth in a folder whose name holds _<digit>s")
        found[int(idx.group(1))] = (f, int(label.group(1)))
    order = sorted(found)
    if order != list(range(len(order))):
        raise ZooFormatError(f"{path}: net indices are not 0..{len(order) - 1} (files missing?)")
    rows = []
    for i in order:
        split = (
            None
            if split_points is None
            else ("train" if i < split_points[0] else "val" if i < split_points[1] else "test")
        )
        rows.append(
            {"net_id": i, "class": found[i][1], "path": str(found[i][0]), **({"split": split} if split else {})}
        )
    pattern = re.compile(r"^net\.(\d+)\.(?:linear\.)?(weight|bias)$")
    zoo = _siren_zoo([found[i][0] for i in order], pattern, rows, "NFN SIRENs (Zhou et al. 2023)")
    zoo.info["decode"] = {"shape": list(image_shape), "offset": 0.0, "indexing": "ij", "value_range": [-1.0, 1.0]}
    return zoo


def _label_in_path(relative: Path) -> int | None:
    """The label of a DWSNets MNIST INR from its run folder ``<name>_<label>_<index>`` (the first part of
    the path below the data folder), or ``None`` when the folder is not named so (the label is then
    read from the file)."""
    match = re.search(r"_(\d+)_(\d+)$", relative.parts[0]) if len(relative.parts) > 1 else None
    return int(match.group(1)) if match else None


def _siren_zoo(files: Sequence[Path], pattern: re.Pattern, rows: list[dict], source: str) -> Zoo:
    """Stack SIREN state dicts whose keys match ``pattern`` (layer index, weight|bias) into a Zoo.

    A ``"label"`` entry of a file (the Fashion-MNIST INRs of DWSNets / Neural Graphs / ScaleGMN)
    becomes the row's ``class``; it must agree with a label the row already has."""
    stacked: dict[str, list[torch.Tensor]] = {}
    for file, row in zip(files, rows):  # one file per net: reading them is the I/O itself
        state = torch.load(file, map_location="cpu", weights_only=True)
        if "label" in state:
            label = int(state.pop("label"))
            if row.get("class") is not None and row["class"] != label:
                raise ZooFormatError(
                    f"{file}: its 'label' entry is {label} but the split file / folder name says {row['class']}"
                )
            row["class"] = label
        mapped = {}
        for key, value in state.items():
            match = pattern.match(key)
            if match is None:
                raise ZooFormatError(f"{file}: unexpected key {key!r} for a SIREN (expected {pattern.pattern})")
            mapped[(int(match.group(1)), match.group(2))] = value
        layers = sorted({layer for layer, _ in mapped})
        for pos, layer in enumerate(layers):
            for kind in ("weight", "bias"):
                stacked.setdefault(f"layers.{pos}.{kind}", []).append(mapped[(layer, kind)])
    weights = {k: torch.stack(v).unsqueeze(1).float() for k, v in stacked.items()}  # [n, 1, *shape]
    first, last = weights["layers.0.weight"], weights[f"layers.{len(layers) - 1}.weight"]
    kwargs = {
        "in_features": first.shape[3],
        "hidden": first.shape[2],
        "layers": len(layers),
        "out_features": last.shape[2],
        "w0": 30.0,
    }
    info = {
        "format": FORMAT,
        "name": Path(files[0]).parent.name,
        "kind": "inr",
        "source": source,
        "architectures": [{"factory": "Siren", "kwargs": kwargs}],
        "checkpoints": [0],
        "checkpoint_unit": "final",
        "metrics": [],
        "config": {},
        "categories": {},
        "num_classes": 10,
        "default_target": "class",
    }
    return Zoo(info, rows, {}, [weights], [torch.arange(len(rows))])


def _resolve(file: str, base: Path) -> Path:
    for candidate in (Path(file), base / file, base.parent / file):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"INR file {file!r} listed in the splits JSON not found (tried it as given, relative to "
        f"{base} and to {base.parent}); move the JSON next to the INR folder"
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def _layer(varname: str) -> str:
    return varname.split("/")[-2]


def _suffix(layer: str) -> int:
    return int(layer.rsplit("_", 1)[1]) if layer.rsplit("_", 1)[-1].isdigit() else 0


def _parse(value: str | None) -> Any:
    if value is None or value == "":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(value, value)
