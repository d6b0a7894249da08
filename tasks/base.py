"""``Task``: a weight-space benchmark = a zoo and its splits, a model head, a loss and metrics.

A task is an :class:`~netgraph.tasks.Objective` (``loss``, ``outputs``, ``metrics``, ``monitor``,
``mode``), so :class:`~netgraph.tasks.Trainer` trains any metanet on it. Its life:

1. ``task = create_task("accuracy_prediction")``: configuration only, nothing loaded (the
   protocol's settings come from ``configs/task/<name>.yaml``, see :func:`~netgraph.tasks.task_preset`);
2. ``data = task.setup(device)``: loads (or builds) the zoo, makes the per-net ``train`` /
   ``val`` / ``test`` :class:`~netgraph.datasets.ZooDataset` s and fits the input statistics
   (per-parameter weight standardisation, target scaling) on ``train``;
3. ``task.head()``: the metanet head it needs (``out_features`` / ``edit``);
4. ``task.loss(model, batch)`` in training, ``task.outputs`` + ``task.metrics`` in evaluation,
   ``task.figure(outputs)`` draws the test predictions (``netgraph-train`` saves it in the run);
5. ``task.state_dict()`` (JSON) is saved with every checkpoint; ``load_state_dict`` restores a
   trained task without its zoo, for inference on new networks.

Subclasses set ``monitor`` / ``mode`` (the validation metric that selects checkpoints and stops
training early) and implement ``head``, ``loss``, ``outputs`` and ``metrics``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import torch
import torch.nn as nn
from torch_geometric.data import Batch

from netgraph.datasets import Zoo, ZooDataset, build_architecture
from netgraph.datasets.zoo_dataset import SPLIT_NAMES
from netgraph.metanets import probe_features

from .normalization import WeightStandardizer
from .zoo_source import load_task_zoo

__all__ = ["Task"]


class Task:
    """Base class of the weight-space tasks (see the module docstring).

    Args:
        zoo: where the networks come from (see :func:`~netgraph.tasks.load_task_zoo`).
        target: the :class:`~netgraph.datasets.ZooDataset` target(s); ``None``: the zoo's default.
        checkpoints: which stored checkpoints are items (``"last"``, ``"all"`` or a list).
        splits: train / val / test fractions of the nets; ``None``: the zoo's stored split if it
            has one (published zoos), else ``ZooDataset``'s default (0.8, 0.1, 0.1); a name: a
            published protocol's split (``"small_cnn_zoo"``, see :class:`~netgraph.datasets.ZooDataset`).
        split_seed: seed of the split (fixed across training seeds, so seeds share a test set).
        normalize: standardise each parameter tensor with its train-set mean and std; ``"scale"``:
            divide by the std only (keeps sign / scale symmetries exact, for ScaleGMN).
        probes: add probe features (Neural Graphs): what every neuron computes on this many fixed
            inputs drawn uniformly in [-1, 1] (seed 0), as ``batch.probe`` for graph metanets built
            with ``probe_features`` (:func:`~netgraph.tasks.build_metanet` sets it); 0: none.
    """

    name: ClassVar[str] = ""
    monitor: ClassVar[str] = "loss"
    mode: ClassVar[str] = "min"

    def __init__(
        self,
        zoo: str | Mapping[str, Any] | Zoo | None = None,
        target: str | Sequence[str] | None = None,
        checkpoints: str | Sequence[int] = "last",
        splits: Sequence[float] | str | None = None,
        split_seed: int = 0,
        normalize: bool | str = True,
        probes: int = 0,
    ):
        self.zoo, self.target = zoo, target
        self.checkpoints = checkpoints if isinstance(checkpoints, str) else [int(c) for c in checkpoints]
        self.splits = splits if splits is None or isinstance(splits, str) else [float(s) for s in splits]
        if normalize not in (True, False, "scale"):
            raise ValueError(f"normalize={normalize!r}; expected true, false or 'scale' (divide by the std only)")
        if probes < 0:
            raise ValueError(f"probes={probes}; expected the number of probe inputs (0: no probe features)")
        self.split_seed, self.normalize, self.probes = split_seed, normalize, int(probes)
        self._probe_inputs: tuple[list[nn.Module], torch.Tensor] | None = None
        self.standardizer: WeightStandardizer | None = None
        self.data: dict[str, ZooDataset] = {}

    # ----------------------------------------------------------------- configuration and data
    def config(self) -> dict[str, Any]:
        """JSON-able arguments that rebuild this task with :func:`~netgraph.tasks.create_task` (``name`` included)."""
        zoo = self.zoo if not isinstance(self.zoo, Zoo) else str(self.zoo.root or self.zoo.info.get("name"))
        return {
            "name": self.name,
            "zoo": zoo,
            "target": self.target,
            "checkpoints": self.checkpoints,
            "splits": self.splits,
            "split_seed": self.split_seed,
            "normalize": self.normalize,
            **({"probes": self.probes} if self.probes else {}),
        }

    def setup(self, device: torch.device | str = "cpu", progress: bool = True) -> dict[str, ZooDataset]:
        """Load the zoo, make the splits, fit the statistics on ``train``; returns ``{split: ZooDataset}``."""
        if self.zoo is None:
            raise ValueError(
                f"task {self.name!r} has no zoo; give zoo=<preset mapping, folder, Zoo or loader> "
                "(see netgraph.tasks.load_task_zoo), or create it with create_task(name) for its "
                "protocol's zoo"
            )
        zoo = load_task_zoo(self.zoo, progress=progress)
        self.data = {
            split: ZooDataset(
                zoo,
                split=split,
                target=self.target,
                checkpoints=self.checkpoints,
                splits=self.splits,
                split_seed=self.split_seed,
                device=device,
            )
            for split in SPLIT_NAMES
        }
        if len(self.data["train"]) == 0:
            raise ValueError(
                f"the train split of zoo {zoo.info.get('name')!r} is empty ({len(zoo)} nets, splits "
                f"{self.splits}); use a larger zoo or a larger train fraction"
            )
        self.fit(self.data["train"], zoo)
        return self.data

    def fit(self, train: ZooDataset, zoo: Zoo) -> None:
        """Fit what the task learns from the training split before training (called by :meth:`setup`)."""
        self.standardizer = (
            WeightStandardizer.fit(train.state_dicts(), center=self.normalize is True) if self.normalize else None
        )
        if self.probes:
            self._probe_inputs = _probe_inputs(zoo, self.probes)

    def inputs(self, batch: Batch) -> Batch:
        """The batch as the metanet sees it (standardised weights when ``normalize``; probe features
        of the unstandardised networks when ``probes``)."""
        if self.probes:
            if self._probe_inputs is None:
                self._require_fitted("inputs (probe inputs)")
            templates, probes = self._probe_inputs
            batch = batch.clone()
            batch.probe = probe_features(batch, templates, probes)
        return self.standardizer(batch) if self.standardizer is not None else batch

    # ----------------------------------------------------------------- the objective
    def head(self) -> dict[str, Any]:
        """Metanet arguments the task needs, e.g. ``{"out_features": 1}`` or ``{"out_features": 0, "edit": True}``."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Scalar training loss of ``model`` on ``batch`` (differentiable)."""
        raise NotImplementedError

    def outputs(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """Per-network tensors ``[B, ...]`` of one batch; concatenated over a split for :meth:`metrics`."""
        raise NotImplementedError

    def metrics(self, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        """Metrics over a whole split from the concatenated :meth:`outputs`."""
        raise NotImplementedError

    def figure(self, outputs: dict[str, torch.Tensor]):
        """A matplotlib ``Figure`` of the concatenated :meth:`outputs` of a split, or ``None`` (no figure)."""
        return None

    # ----------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """What the task learned in :meth:`fit` (JSON-able), saved with checkpoints."""
        return {"standardizer": self.standardizer.state_dict() if self.standardizer is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        stats = state.get("standardizer")
        self.standardizer = WeightStandardizer.from_state_dict(stats) if stats is not None else None

    def _require_fitted(self, what: str) -> None:
        raise RuntimeError(
            f"{type(self).__name__}.{what} is only known after task.setup(...) (or load_state_dict of "
            "a saved task); call setup first"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items() if k != 'name')})"


def _probe_inputs(zoo: Zoo, count: int) -> tuple[list[nn.Module], torch.Tensor]:
    """One template module per architecture of ``zoo`` and ``count`` probe inputs ``[P, *input_shape]``,
    uniform in [-1, 1] (the domain of INR coordinates and of the zoos' scaled images), seed 0."""
    templates = [build_architecture(ref) for ref in zoo.architectures]
    shape = zoo.info.get("input_shape")
    if shape is None:
        sizes = {ref["kwargs"].get("in_features") for ref in zoo.architectures}
        if None in sizes or len(sizes) != 1:
            raise ValueError(
                f"probes={count}: cannot tell the input shape of zoo {zoo.info.get('name')!r} (no "
                "'input_shape' in zoo.json, no in_features); use probes=0"
            )
        shape = [sizes.pop()]
    probes = torch.rand(count, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return templates, probes
