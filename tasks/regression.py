"""``RegressionTask``: predict ``k`` numbers per network with an invariant head (shared by accuracy
prediction and sine-wave regression).

Targets ``[n, k]`` are standardised per column with train-split statistics
(:class:`~netgraph.tasks.TargetScaler`); the loss is the mean squared error in those units, and
``outputs`` return predictions back in target units, so metrics read the real quantities.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.data import Batch

from netgraph.datasets import Zoo, ZooDataset

from .base import Task
from .normalization import TargetScaler

__all__ = ["RegressionTask"]


class RegressionTask(Task):
    """An invariant head of one output per target; MSE on standardised targets."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.scaler: TargetScaler | None = None
        self.target_names: list[str] = []

    def fit(self, train: ZooDataset, zoo: Zoo) -> None:
        super().fit(train, zoo)
        if not torch.is_floating_point(train.y):
            raise ValueError(
                f"{self.name} regresses numbers but target {train.targets} is categorical (classes "
                f"{train.classes}); pick a numeric target"
            )
        self.scaler = TargetScaler.fit(train.y)
        self.target_names = list(train.targets)

    def head(self) -> dict[str, Any]:
        if self.scaler is None:
            self._require_fitted("head()")
        return {"out_features": len(self.scaler.mean)}

    def predict(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Predictions ``[B, k]`` in target units."""
        if self.scaler is None:
            self._require_fitted("predict()")
        return self.scaler.decode(model(self.inputs(batch)))

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return F.mse_loss(model(self.inputs(batch)), self.scaler.encode(batch.y))

    def outputs(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        return {"prediction": self.predict(model, batch), "target": batch.y.reshape(batch.num_graphs, -1)}

    def figure(self, outputs: dict[str, torch.Tensor]):
        """Predicted vs true values, one panel per target, with Kendall's tau (:func:`netgraph.viz.plot_predictions`)."""
        from netgraph.viz import plot_predictions

        return plot_predictions(
            outputs["prediction"],
            outputs["target"],
            names=self.target_names or None,
            title=f"{self.name}: test networks",
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "targets": self.target_names,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.target_names = list(state["targets"])
        self.scaler = TargetScaler.from_state_dict(state["scaler"]) if state.get("scaler") is not None else None
