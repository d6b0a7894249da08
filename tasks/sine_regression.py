"""Sine-wave regression: read a 1-D SIREN ``A sin(2 pi f x + phi)`` and predict its amplitude and
frequency.

Default zoo: the ``sine_inr`` preset (1,000 SIRENs 1 -> 32 -> 32 -> 1, ``A ~ U[0.1, 1]``,
``f ~ U[0.5, 3]``, ``phi ~ U[0, 2 pi)``), split 80 / 10 / 10 per net. Targets are standardised
per column; metrics are the R^2 and MSE of each target (``r2_amplitude``, ``mse_frequency`` ...)
and their mean R^2 (``r2``, the validation metric).

Example:
    >>> from netgraph.tasks import create_task
    >>> create_task("sine_regression").target
    ['amplitude', 'frequency']
"""

from __future__ import annotations

import torch

from .metrics import mean_squared_error, r2_score
from .registry import register_task
from .regression import RegressionTask

__all__ = ["SineRegression"]


@register_task("sine_regression")
class SineRegression(RegressionTask):
    """Predict ``amplitude`` and ``frequency`` (or any numeric targets) of sine INRs."""

    monitor = "r2"
    mode = "max"

    def metrics(self, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        prediction, target = outputs["prediction"], outputs["target"]
        result = {"r2": r2_score(prediction, target), "mse": mean_squared_error(prediction, target)}
        for column, name in enumerate(self.target_names):
            result[f"r2_{name}"] = r2_score(prediction[:, column], target[:, column])
            result[f"mse_{name}"] = mean_squared_error(prediction[:, column], target[:, column])
        return result
