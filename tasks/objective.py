"""What :class:`~netgraph.tasks.Trainer` optimises: the ``Objective`` contract.

An objective has

* ``loss(model, batch) -> Tensor``: the scalar training loss (differentiable);
* ``outputs(model, batch) -> {name: Tensor [B, ...]}``: per-network results of one evaluation
  batch, concatenated over the split (and gathered across ranks under DDP);
* ``metrics(outputs) -> {name: float}``: metrics over the whole split;
* ``monitor`` (a key of ``metrics``) and ``mode`` (``"max"`` / ``"min"``): what selects the best
  checkpoint and stops training early;
* optionally ``state_dict() -> dict`` (JSON-able), saved with every checkpoint.

Every :class:`~netgraph.tasks.Task` is one. For anything else (meta-pruning: the task loss of the
edited network plus a sparsity term; weight generation) wrap plain functions in
:class:`FunctionObjective`; without ``outputs`` / ``metrics`` it evaluates the mean loss.

Example:
    >>> import torch
    >>> objective = FunctionObjective(loss=lambda model, batch: (model(batch) - batch.y).pow(2).mean())
    >>> objective.monitor, objective.mode
    ('loss', 'min')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import torch
import torch.nn as nn

__all__ = ["Objective", "FunctionObjective", "MODES"]

MODES = ("max", "min")


@runtime_checkable
class Objective(Protocol):
    """The contract of the module docstring (a ``typing.Protocol``: no subclassing needed)."""

    monitor: str
    mode: str

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor: ...

    def outputs(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]: ...

    def metrics(self, outputs: dict[str, torch.Tensor]) -> dict[str, float]: ...


@dataclass
class FunctionObjective:
    """An :class:`Objective` from functions.

    Args:
        loss: ``(model, batch) -> scalar``.
        outputs: ``(model, batch) -> {name: [B, ...]}``; default ``{"loss": [1]}`` (the batch loss) and
            ``{"count": [1]}`` (its number of graphs).
        metrics: ``outputs -> {name: float}``; default: the graph-weighted mean ``loss``.
        monitor, mode: the validation metric and its direction.
    """

    loss: Callable[[nn.Module, Any], torch.Tensor]
    outputs: Callable[[nn.Module, Any], dict[str, torch.Tensor]] | None = None
    metrics: Callable[[dict[str, torch.Tensor]], dict[str, float]] | None = None
    monitor: str = "loss"
    mode: str = "min"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.outputs is None:
            self.outputs = self._batch_loss
        if self.metrics is None:
            self.metrics = self._mean_loss

    def _batch_loss(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        count = float(getattr(batch, "num_graphs", 1) or 1)
        return {
            "loss": self.loss(model, batch).detach().reshape(1).double(),
            "count": torch.tensor([count], dtype=torch.float64),
        }

    @staticmethod
    def _mean_loss(outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        count = outputs["count"].to(outputs["loss"].device)
        return {"loss": float((outputs["loss"] * count).sum() / count.sum())}
