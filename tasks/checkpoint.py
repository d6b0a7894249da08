"""Training checkpoints on disk: one folder per saved epoch, written atomically, and an index.

Layout of ``<run_dir>/checkpoints``::

    index.json                    {"last": "epoch-0012", "best": "epoch-0008"} (written atomically)
    epoch-0012/config.json        the model: PyTorchModelHubMixin (``from_pretrained`` /
    epoch-0012/model.safetensors  ``push_to_hub`` work on this folder as it is; README.md is
    epoch-0012/README.md          its model card)
    epoch-0012/training_state.safetensors   optimizer state tensors and RNG states
    epoch-0012/checkpoint.json    epoch, step, metrics, scheduler, early-stopping state, history,
                                  what the objective learned (``objective.state_dict()``), metadata
    epoch-0012/checksums.json     SHA-256 of every file above

A folder is written under a temporary name and renamed into place, then the index is replaced, so
a crash leaves either the previous checkpoint or the new one, never a partial one. Folders that the
index no longer names are deleted afterwards. Reading checks every file against ``checksums.json``
(``verify=False`` skips it); a damaged checkpoint raises :class:`CheckpointError` naming the file
and what to do.

Example:
    >>> import tempfile, torch
    >>> from netgraph.metanets import create_metanet
    >>> model = create_metanet("gmn", dim=8, depth=1, edge_features=1)
    >>> store = CheckpointStore(tempfile.mkdtemp())
    >>> folder = store.save("epoch-0001", model, {"epoch": 1}, {}, best=True)
    >>> sorted(p.name for p in folder.iterdir())
    ['README.md', 'checkpoint.json', 'checksums.json', 'config.json', 'model.safetensors', 'training_state.safetensors']
    >>> store.index()
    {'last': 'epoch-0001', 'best': 'epoch-0001'}
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from netgraph.errors import CorruptFileError
from netgraph.io import verify_checksums, write_checksums, write_text

__all__ = [
    "CheckpointStore",
    "CheckpointError",
    "check_folder",
    "optimizer_state",
    "load_optimizer_state",
    "rng_state",
    "set_rng_state",
    "CHECKPOINT_JSON",
    "MODEL_FILE",
    "TRAINING_STATE",
]

CHECKPOINT_JSON = "checkpoint.json"
MODEL_FILE = "model.safetensors"
TRAINING_STATE = "training_state.safetensors"
INDEX = "index.json"


RESUME_HINT = "resume=false starts the run over (deleting its checkpoints); or restore the file from a backup"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: a file missing, corrupt (checksum, JSON, safetensors) or
    not fitting the model; the message names the file and what to do."""


class CheckpointStore:
    """Checkpoints of one run under ``<run_dir>/checkpoints`` (see the module docstring).

    ``verify``: check every file of a checkpoint against its ``checksums.json`` when reading it.
    """

    def __init__(self, run_dir: str | Path, verify: bool = True):
        self.folder = Path(run_dir) / "checkpoints"
        self.verify = verify

    def index(self) -> dict[str, str]:
        """``{"last": name, "best": name}`` of the saved checkpoints (empty when there are none)."""
        path = self.folder / INDEX
        if not path.is_file():
            return {}
        try:
            index = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._recovered_index(f"{path} is corrupt ({exc})")
        if not isinstance(index, dict):
            return self._recovered_index(f"{path} is not a checkpoint index (a JSON object)")
        return index

    def _recovered_index(self, problem: str) -> dict[str, str]:
        """The index rebuilt from intact ``epoch-*`` folders (the newest is the last; the best is the
        epoch its trainer state names), written back with a warning; a ``CheckpointError`` when none is intact."""
        for folder in sorted((p for p in self.folder.glob("epoch-*") if p.is_dir()), reverse=True):
            try:
                saved, _ = self.read(folder, self.verify)
            except CheckpointError:
                continue
            best_epoch = int((saved.get("trainer") or {}).get("best_epoch") or 0)
            best = f"epoch-{best_epoch:04d}"
            index = {"last": folder.name, "best": best if (self.folder / best).is_dir() else folder.name}
            warnings.warn(f"{problem}; rebuilt it from the intact checkpoint folders: {index}", RuntimeWarning)
            write_text(self.folder / INDEX, json.dumps(index))
            return index
        raise CheckpointError(f"{problem}, and no checkpoint folder beside it is intact; {RESUME_HINT}")

    def candidates(self) -> list[Path]:
        """Checkpoint folders to resume from, best first: the last, then the best, or (when the index
        is unreadable) every ``epoch-*`` folder, newest first."""
        try:
            index = self.index()
            names = [index[k] for k in ("last", "best") if k in index]
        except CheckpointError:
            names = sorted((p.name for p in self.folder.glob("epoch-*") if p.is_dir()), reverse=True)
        return [self.folder / n for n in dict.fromkeys(names)]

    def path(self, which: str = "last") -> Path | None:
        """Folder of the ``"last"`` or ``"best"`` checkpoint, ``None`` when not saved yet."""
        name = self.index().get(which)
        return self.folder / name if name else None

    def save(
        self, name: str, model: nn.Module, state: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], best: bool
    ) -> Path:
        """Write checkpoint ``name`` and make it the last (and, when ``best``, the best) one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder))
        try:
            if hasattr(model, "save_pretrained"):
                model.save_pretrained(tmp)  # config.json + model.safetensors
            else:
                save_model(model, str(tmp / MODEL_FILE))
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / TRAINING_STATE))
            (tmp / CHECKPOINT_JSON).write_text(json.dumps(state, indent=1))
            write_checksums(tmp, [p.name for p in tmp.iterdir()])
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
            if target.exists():  # re-saved after a crash
                shutil.rmtree(target)
            os.replace(tmp, target)
        except (OSError, SafetensorError) as exc:  # a full disk surfaces as a bare SafetensorError
            shutil.rmtree(tmp, ignore_errors=True)
            raise OSError(
                f"could not write checkpoint {target} ({type(exc).__name__}: {exc}); free disk space or give "
                "another run_dir, then run the same command again: it resumes from the last complete checkpoint"
            ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        index = self.index()
        index = {"last": name, "best": name if best else index.get("best", name)}
        write_text(self.folder / INDEX, json.dumps(index))
        for old in self.folder.iterdir():  # drop what the index no longer names
            if old.is_dir() and old.name not in index.values():
                shutil.rmtree(old, ignore_errors=True)
        return target

    def clear(self) -> None:
        """Delete every checkpoint of the run (a fresh start)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def read(folder: Path, verify: bool = True) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """``(checkpoint.json content, training-state tensors)`` of a checkpoint folder; a missing or
        damaged file raises :class:`CheckpointError` naming it."""
        if verify:
            check_folder(folder)
        path = folder / CHECKPOINT_JSON
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint {folder} has no {CHECKPOINT_JSON} (it was not written by the Trainer, "
                f"or the file was deleted); {RESUME_HINT}"
            )
        try:
            saved = json.loads(path.read_text())
            tensors = load_file(str(folder / TRAINING_STATE))
        except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, FileNotFoundError) as exc:
            name = CHECKPOINT_JSON if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else TRAINING_STATE
            raise CheckpointError(
                f"{folder / name} is corrupt or missing ({type(exc).__name__}: {exc}); {RESUME_HINT}"
            ) from exc
        return saved, tensors

    @staticmethod
    def load_weights(model: nn.Module, folder: Path, verify: bool = False) -> None:
        """Load the model weights of a checkpoint folder into ``model`` (in place, on its device).

        A damaged file or weights that do not fit the model (another metanet config) raise
        :class:`CheckpointError`.
        """
        if verify:
            check_folder(folder)
        device = next(model.parameters()).device
        path = folder / MODEL_FILE
        try:
            missing, unexpected = load_model(model, str(path), device=str(device))
        except (SafetensorError, FileNotFoundError) as exc:
            raise CheckpointError(f"{path} is corrupt or missing ({type(exc).__name__}: {exc}); {RESUME_HINT}") from exc
        except RuntimeError as exc:  # size mismatches: the model changed since the save
            raise CheckpointError(
                f"{path} does not fit this {type(model).__name__} ({str(exc).splitlines()[0]} ...): "
                "the model's config changed since the checkpoint was written; use another run_dir "
                "for the new config, or resume=false to start over"
            ) from exc
        if missing or unexpected:
            raise CheckpointError(
                f"checkpoint {folder} does not fit the model: missing {missing}, unexpected "
                f"{unexpected}; use another run_dir for this model, or resume=false to start over"
            )


def check_folder(folder: Path) -> None:
    """Check a checkpoint folder's files against its ``checksums.json`` (:class:`CheckpointError` if damaged)."""
    try:
        verify_checksums(folder)
    except CorruptFileError as exc:
        raise CheckpointError(
            f"{exc.path} is corrupt: {exc.reason}; {RESUME_HINT} (resuming falls back to an older "
            "intact checkpoint of the run when there is one)"
        ) from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state as safetensors-ready tensors ``optimizer/<param>/<name>`` plus JSON."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{param}/{name}"] = value
            else:
                scalars.setdefault(str(param), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any]
) -> None:
    """Inverse of :func:`optimizer_state` (tensors are moved to the parameters' devices by torch)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, param, name = key.split("/", 2)
            state.setdefault(int(param), {})[name] = value
    for param, values in info["scalars"].items():
        state.setdefault(int(param), {}).update(values)
    current = optimizer.state_dict()["param_groups"]
    groups = [
        {k: (tuple(v) if isinstance(now.get(k), tuple) else v) for k, v in saved.items()}  # JSON lists back
        for saved, now in zip(info["param_groups"], current)
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> dict[str, torch.Tensor]:
    """The global torch RNG states (CPU and every CUDA device) as tensors ``rng/...``."""
    tensors = {"rng/cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"rng/cuda/{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return tensors


def set_rng_state(tensors: Mapping[str, torch.Tensor]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(tensors["rng/cpu"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k[9:]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
