"""``Trainer``: the training loop every netgraph task (and meta-pruning, weight generation) reuses.

Plain PyTorch: AdamW, linear warm-up then cosine decay (per step), gradient clipping, one
validation pass per epoch on the objective's ``monitor`` metric, best-checkpoint selection and
early stopping, a tqdm bar, ``history.csv`` (one row per epoch), optional TensorBoard, and
checkpoints (:class:`~netgraph.tasks.CheckpointStore`) from which ``fit`` resumes *exactly*: the
model, optimizer, scheduler and RNG states, the epoch and the early-stopping state are restored,
and loaders draw each epoch's order from ``(seed, epoch)``, so an interrupted run finishes with the
same weights as an uninterrupted one.

What is optimised is an :class:`~netgraph.tasks.Objective` (``loss(model, batch)``,
``outputs(model, batch)``, ``metrics(outputs)``, ``monitor``, ``mode``); batches come from any
iterable (a :class:`~netgraph.tasks.GraphLoader`, a PyG ``DataLoader``), and ``set_epoch(epoch)``
is called on it when it has one.

Distributed: when ``torch.distributed`` is initialised (``torchrun``), the model is wrapped in
DistributedDataParallel around the objective's loss (so objectives calling ``model.edit`` or any
method sync gradients too), each rank evaluates its share and the outputs are gathered before
the metrics, and only rank 0 writes files.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import create_metanet
    >>> nets = [mlp([2, 4, 1]) for _ in range(8)]
    >>> batch = netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])
    >>> batch.y = torch.randn(8, 1)
    >>> model = create_metanet("gmn", dim=8, depth=1, edge_features=1)
    >>> from netgraph.tasks import FunctionObjective
    >>> objective = FunctionObjective(loss=lambda m, b: (m(b) - b.y).pow(2).mean())
    >>> result = Trainer(model, objective, TrainConfig(epochs=3, progress=False)).fit([batch], [batch])
    >>> result.epochs_run, len(result.history)
    (3, 3)
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from netgraph.io import write_text
from netgraph.provenance import differences
from netgraph.seeding import deterministic, scoped_rng
from netgraph.validation import check_fields, flag, integer, number, optional

from .checkpoint import (
    CheckpointError,
    CheckpointStore,
    load_optimizer_state,
    optimizer_state,
    rng_state,
    set_rng_state,
)
from .loader import distributed_rank
from .objective import MODES, Objective

__all__ = ["Trainer", "TrainConfig", "FitResult", "warmup_cosine"]

#: fields of TrainConfig that do not change what is computed (may differ when resuming)
RUNTIME_FIELDS = ("progress", "tensorboard", "device", "eval_batch_size")
TRAIN_LOSS = "train_loss"  #: what selects checkpoints when the monitored validation metric is not finite


#: what each TrainConfig field accepts (an untrained model is never reported as a finished run)
TRAIN_RULES = {
    "epochs": integer(1),
    "batch_size": integer(1),
    "eval_batch_size": integer(1),
    "lr": number(0, open_min=True),
    "weight_decay": number(0),
    "warmup": number(0, 1, open_max=True),
    "grad_clip": optional(number(0, open_min=True)),
    "patience": optional(integer(1)),
    "seed": integer(0),
    "progress": flag(),
    "tensorboard": flag(),
    "deterministic": flag(),
}


@dataclass
class TrainConfig:
    """Settings of the loop.

    Attributes:
        epochs: passes over the training loader.
        batch_size, eval_batch_size: networks per training / evaluation batch (global under DDP);
            used by :func:`~netgraph.tasks.train_metanet` to build loaders.
        lr, weight_decay: AdamW.
        warmup: fraction of all steps with a linear warm-up, then cosine decay to 0.
        grad_clip: maximal global gradient norm (``None``: no clipping).
        patience: stop after this many epochs without a better validation ``monitor`` (``None``: never).
        seed: seeds the model's initialisation (in ``train_metanet``), the loaders' orders and the
            global RNG (dropout, augmentations; ``seed + rank`` under DDP).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... (under torchrun each rank uses its local GPU).
        progress: show a tqdm bar; tensorboard: write TensorBoard scalars to ``<run_dir>/tensorboard``.
        deterministic: ``torch.use_deterministic_algorithms(True)`` during :meth:`Trainer.fit` (slower on GPU).
    """

    epochs: int = 100
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    grad_clip: float | None = 1.0
    patience: int | None = None
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    tensorboard: bool = False
    deterministic: bool = False

    @classmethod
    def from_any(cls, config: "TrainConfig | Mapping[str, Any] | None") -> "TrainConfig":
        if config is None:
            return cls()
        if not isinstance(config, TrainConfig):
            names = set(cls.__dataclass_fields__)
            unknown = sorted(set(config) - names)
            if unknown:
                raise ValueError(f"unknown training option(s) {unknown}; expected keys from {sorted(names)}")
            config = cls(**dict(config))
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`~netgraph.errors.ConfigError` listing every out-of-range field (one line each)."""
        check_fields("training config", self, TRAIN_RULES)

    def recipe(self) -> dict[str, Any]:
        """The settings that change the result (resuming requires them unchanged)."""
        return {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns."""

    best_epoch: int  #: epoch (1-based) whose weights the model holds after fit
    best_metrics: dict[str, float]  #: its validation metrics (empty without validation)
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  #: training time, summed over resumed sessions
    selected_by: str = ""  #: the metric that chose the checkpoint (the monitor, or "train_loss" when it was not finite)


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR factor of step ``s``: ``s / warmup_steps`` during warm-up, then ``(1 + cos(pi t)) / 2``, ``t``
    going from 0 to 1 over the remaining steps.

    >>> f = warmup_cosine(10, 2)
    >>> [round(f(s), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class _LossModule(nn.Module):
    """``model`` with ``forward = objective.loss``: what DistributedDataParallel wraps."""

    def __init__(self, model: nn.Module, objective: Objective):
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, batch: Any) -> torch.Tensor:
        return self.objective.loss(self.model, batch)


class Trainer:
    """Trains ``model`` on ``objective`` (see the module docstring).

    Args:
        model: any ``nn.Module``; saved with ``save_pretrained`` when it has one (metanets), else as
            ``model.safetensors``.
        objective: an :class:`~netgraph.tasks.Objective` (a task, or a :class:`FunctionObjective`).
        config: :class:`TrainConfig` or a mapping of its fields.
        run_dir: folder for checkpoints, ``history.csv`` and TensorBoard; ``None`` keeps the best
            weights in memory only (no resuming).
        metadata: JSON-able facts saved in every checkpoint (e.g. the metanet's registry name).
        callbacks: ``fn(trainer, row)`` called after every epoch with its history row (and after
            its checkpoint is written).
        identity: JSON-able description of everything else that changes the result (task, data
            splits, model config, augmentations, data recipe); resuming a run whose identity or
            training recipe differs is refused, naming what differs.
        verify: check the checksums of a checkpoint before resuming from it.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        config: TrainConfig | Mapping[str, Any] | None = None,
        run_dir: str | Path | None = None,
        metadata: Mapping[str, Any] | None = None,
        callbacks: Sequence[Callable[["Trainer", dict[str, Any]], None]] = (),
        identity: Mapping[str, Any] | None = None,
        verify: bool = True,
    ):
        if getattr(objective, "mode", None) not in MODES or not isinstance(getattr(objective, "monitor", None), str):
            raise TypeError(
                f"objective must have monitor (a metric name) and mode in {MODES}; got "
                f"{type(objective).__name__} with monitor={getattr(objective, 'monitor', None)!r}, "
                f"mode={getattr(objective, 'mode', None)!r}"
            )
        self.config = TrainConfig.from_any(config)
        self.rank, self.world_size = distributed_rank()
        self.device = _device(self.config.device)
        self.model = model.to(self.device)
        self.objective = objective
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.store = CheckpointStore(self.run_dir, verify=verify) if self.run_dir is not None else None
        self.metadata = dict(metadata or {})
        self.identity = {"train": self.config.recipe(), **_jsonable(identity or {})}
        self.callbacks = list(callbacks)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        self._wrapped: nn.Module | None = None
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._wrapped = DistributedDataParallel(_LossModule(self.model, objective), device_ids=ids)

    # ----------------------------------------------------------------- public API
    def fit(self, train_loader: Iterable, val_loader: Iterable | None = None, resume: bool = True) -> FitResult:
        """Train for ``config.epochs`` (fewer when stopping early), then load the best weights.

        With ``resume`` and a checkpoint in ``run_dir``, training continues where it stopped (a
        finished run only reloads its best weights); ``resume=False`` deletes the run's checkpoints.
        The global RNG (seeded from ``config.seed``, dropout and augmentations read it) and the
        deterministic-algorithms setting are restored when ``fit`` returns.
        """
        with scoped_rng(), deterministic(self.config.deterministic):
            return self._fit(train_loader, val_loader, resume)

    def _fit(self, train_loader: Iterable, val_loader: Iterable | None, resume: bool) -> FitResult:
        cfg = self.config
        steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
        if steps_per_epoch == 0:
            raise ValueError("the training loader yields no batches; check the train split and batch_size")
        total = cfg.epochs * steps_per_epoch
        scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, warmup_cosine(total, round(cfg.warmup * total)))
        state = self._start(scheduler, resume)
        writer = self._tensorboard()
        bar = tqdm(
            total=cfg.epochs,
            initial=state["epoch"],
            unit="epoch",
            disable=not cfg.progress or self.rank > 0,
            desc=str(self.metadata.get("name", "fit")),
        )
        while state["epoch"] < cfg.epochs and not state["stopped"]:
            epoch = state["epoch"] + 1
            started = time.perf_counter()
            train_loss = self._train_epoch(train_loader, scheduler, state, epoch)
            val = self.evaluate(val_loader) if val_loader is not None else {}
            state["seconds"] += time.perf_counter() - started
            improved = self._update_best(state, epoch, val, train_loss)
            row = {
                "epoch": epoch,
                "step": state["step"],
                "lr": self.optimizer.param_groups[0]["lr"],
                "train_loss": train_loss,
                **{f"val_{k}": v for k, v in val.items()},
                "seconds": round(state["seconds"], 3),
            }
            state["history"].append(row)
            state["epoch"] = epoch
            self._save(state, scheduler, improved)
            if writer is not None:
                for key, value in row.items():
                    if key not in ("epoch", "step"):
                        writer.add_scalar(key.replace("_", "/", 1), value, epoch)
                writer.flush()
            bar.update(1)
            bar.set_postfix(
                {
                    "loss": f"{train_loss:.4g}",
                    **{f"val_{k}": f"{v:.4g}" for k, v in val.items() if k == self.objective.monitor},
                }
            )
            for callback in self.callbacks:
                callback(self, row)
        bar.close()
        if writer is not None:
            writer.close()
        self._load_best(state)
        return FitResult(
            state["best_epoch"],
            state["best_metrics"],
            state["epoch"],
            state["stopped"],
            state["history"],
            state["seconds"],
            state.get("selected_by") or self.objective.monitor,
        )

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """The objective's metrics on every batch of ``loader`` (gathered across ranks under DDP)."""
        return self.objective.metrics(self.collect(loader))

    @torch.no_grad()
    def collect(self, loader: Iterable) -> dict[str, torch.Tensor]:
        """The objective's ``outputs`` over every batch of ``loader``, concatenated (gathered across ranks)."""
        was_training = self.model.training
        self.model.eval()
        parts: dict[str, list[torch.Tensor]] = {}
        for batch in loader:
            for key, value in self.objective.outputs(self.model, batch).items():
                parts.setdefault(key, []).append(value.detach())
        self.model.train(was_training)
        outputs = {k: torch.cat(v) for k, v in parts.items()}
        if self.world_size > 1:
            gathered: list[dict[str, torch.Tensor]] = [{} for _ in range(self.world_size)]
            dist.all_gather_object(gathered, {k: v.cpu() for k, v in outputs.items()})
            outputs = {k: torch.cat([g[k] for g in gathered if k in g]) for k in set().union(*gathered)}
        if not outputs:
            raise ValueError("evaluate got an empty loader; check the split sizes")
        return outputs

    # ----------------------------------------------------------------- one epoch
    def _train_epoch(
        self, loader: Iterable, scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict[str, Any], epoch: int
    ) -> float:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        self.model.train()
        total, count = torch.zeros((), dtype=torch.float64, device=self.device), 0
        for batch in loader:
            loss = self._wrapped(batch) if self._wrapped is not None else self.objective.loss(self.model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss is {loss.item()} at epoch {epoch}, step {state['step']}; "
                    f"lower the learning rate (lr={self.config.lr}) or check the inputs"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            scheduler.step()
            state["step"] += 1
            total += loss.detach().double()
            count += 1
        if self.world_size > 1:
            dist.all_reduce(total)
            total /= self.world_size
        return float(total) / max(count, 1)

    def _update_best(self, state: dict[str, Any], epoch: int, val: dict[str, float], train_loss: float) -> bool:
        monitor, mode = self.objective.monitor, self.objective.mode
        if not val:  # no validation: the last epoch is the best
            state.update(best_epoch=epoch, best_metrics={})
            return True
        if monitor not in val:
            raise KeyError(f"the objective monitors {monitor!r} but its metrics are {sorted(val)}")
        score, best = val[monitor], state["best_score"]
        if state.get("selected_by") == TRAIN_LOSS or not math.isfinite(score):
            if state.get("selected_by") != TRAIN_LOSS:  # said once, loudly, and recorded in the results
                warnings.warn(
                    f"the monitored validation metric {monitor}={score} at epoch {epoch} is not finite (e.g. a "
                    "rank correlation of a validation split with one network, or NaN weights in it), so it "
                    "cannot choose checkpoints: from this epoch on the run selects by the training loss "
                    f"(selected_by='{TRAIN_LOSS}' in its results); give a larger validation split to select by "
                    f"{monitor}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                state["selected_by"], best = TRAIN_LOSS, None
            score, mode = train_loss, "min"
        improved = math.isfinite(score) and (best is None or (score > best if mode == "max" else score < best))
        if improved:
            state.update(best_epoch=epoch, best_score=score, best_metrics=dict(val), bad_epochs=0)
            if self.store is None:
                state["best_weights"] = copy.deepcopy(self.model.state_dict())
        else:
            state["bad_epochs"] += 1
            state["stopped"] = self.config.patience is not None and state["bad_epochs"] >= self.config.patience
        return improved

    # ----------------------------------------------------------------- state, checkpoints, logs
    def _start(self, scheduler: torch.optim.lr_scheduler.LRScheduler, resume: bool) -> dict[str, Any]:
        state = {
            "epoch": 0,
            "step": 0,
            "best_epoch": 0,
            "best_score": None,
            "best_metrics": {},
            "bad_epochs": 0,
            "stopped": False,
            "history": [],
            "seconds": 0.0,
        }
        found = self._readable_checkpoint() if resume and self.store is not None else None
        if found is not None:
            folder, saved, tensors = found
            self._check_identity(saved)
            CheckpointStore.load_weights(self.model, folder)
            load_optimizer_state(self.optimizer, tensors, saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            set_rng_state(tensors)
            state.update(saved["trainer"])
            return state
        if self.store is not None and self.rank == 0:
            self.store.clear()
        torch.manual_seed(self.config.seed * 1_000_003 + self.rank)
        return state

    def _readable_checkpoint(self) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]] | None:
        """The newest intact checkpoint ``(folder, checkpoint.json, tensors)``; a damaged last one is
        skipped with a warning (resuming from an older one is exact too); ``None`` when there is none."""
        assert self.store is not None
        candidates = self.store.candidates()
        errors = []
        for folder in candidates:
            try:
                saved, tensors = CheckpointStore.read(folder, verify=self.store.verify)
            except CheckpointError as exc:
                errors.append(str(exc))
                continue
            if errors:
                warnings.warn(f"{errors[0]}; resuming from the older checkpoint {folder} instead", stacklevel=4)
            return folder, saved, tensors
        if errors:
            raise CheckpointError(f"no intact checkpoint in {self.store.folder} to resume from: " + " | ".join(errors))
        return None

    def _check_identity(self, saved: Mapping[str, Any]) -> None:
        """Refuse to resume a run of another configuration (naming what differs)."""
        recorded = saved.get("identity", {"train": saved.get("train_config")})
        differ = _differences(recorded, self.identity)
        if differ:
            shown = "; ".join(differ[:6]) + (f"; ... ({len(differ)} in all)" if len(differ) > 6 else "")
            raise ValueError(
                f"{self.run_dir} holds a run of another configuration ({shown}); resuming would mix the "
                "two silently. Give this configuration its own run_dir (netgraph-train: another variant= or "
                "run_dir=), restore the old settings, or pass resume=False to start over"
            )

    def _save(self, state: dict[str, Any], scheduler: torch.optim.lr_scheduler.LRScheduler, improved: bool) -> None:
        if self.store is None or self.rank > 0:
            return
        tensors, optimizer_info = optimizer_state(self.optimizer)
        objective_state = self.objective.state_dict() if hasattr(self.objective, "state_dict") else None
        saved = {
            "trainer": {k: v for k, v in state.items() if k != "best_weights"},
            "train_config": self.config.recipe(),
            "identity": self.identity,
            "optimizer": optimizer_info,
            "scheduler": scheduler.state_dict(),
            "objective": objective_state,
            "metadata": self.metadata,
        }
        self.store.save(f"epoch-{state['epoch']:04d}", self.model, saved, {**tensors, **rng_state()}, best=improved)
        write_text(self.run_dir / "history.csv", _csv(state["history"]))

    def _load_best(self, state: dict[str, Any]) -> None:
        if self.world_size > 1:
            dist.barrier()  # rank 0 has written the best checkpoint
        if self.store is not None:
            best = self.store.path("best")
            if best is not None:
                CheckpointStore.load_weights(self.model, best)
        elif "best_weights" in state:
            self.model.load_state_dict(state["best_weights"])

    def _tensorboard(self):
        if not self.config.tensorboard or self.rank > 0 or self.run_dir is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError(
                "tensorboard=true needs the tensorboard package: pip install 'netgraph[tensorboard]' "
                "(or tensorboard=false)"
            ) from exc
        return SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so identities compare equal after a save."""
    return json.loads(json.dumps(value, default=str))


def _differences(old: Any, new: Any) -> list[str]:
    """``key: old -> new`` for every leaf that differs between two JSON-able values (dotted keys)."""
    return [f"{name}: {a!r} -> {b!r}" for name, a, b in differences(old, new)]


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and dist.is_available() and dist.is_initialized():
        device = torch.device("cuda", torch.cuda.current_device())  # torchrun: this rank's GPU
    return device


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
