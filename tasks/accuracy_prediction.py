"""Accuracy (generalisation) prediction from weights (Unterthiner et al. 2020; CIFAR10-GS protocol).

A metanet reads a trained classifier's weights and predicts its test accuracy. As in the
CIFAR10-GS protocol (NFN, Neural Graphs): one item per net at its final checkpoint, half of the
nets held out for test, the rest split 80 / 20 into train / val (fractions 0.4 / 0.1 / 0.5),
weights standardised per layer with train statistics, MSE loss, checkpoint chosen by validation
Kendall tau. Metrics: Kendall's tau-b, R^2 and MSE of the predicted accuracies.

Default zoo: the ``digits_cnn`` preset (256 Small-CNN-Zoo nets on scikit-learn digits, ReLU and
tanh). The published CIFAR10-GS files load with ``zoo={"loader": "small_cnn_zoo", "path": ...,
"steps": [86]}`` (``netgraph-train task=accuracy_prediction_cifar10gs task.zoo.path=...``).

Example:
    >>> from netgraph.tasks import create_task
    >>> task = create_task("accuracy_prediction")           # the protocol of configs/task/accuracy_prediction.yaml
    >>> task.monitor, task.mode, task.splits, task.zoo["preset"]
    ('kendall_tau', 'max', [0.4, 0.1, 0.5], 'digits_cnn')
"""

from __future__ import annotations

import torch

from .metrics import kendall_tau, mean_squared_error, r2_score
from .registry import register_task
from .regression import RegressionTask

__all__ = ["AccuracyPrediction"]


@register_task("accuracy_prediction")
class AccuracyPrediction(RegressionTask):
    """Predict ``test_acc`` (or another per-checkpoint metric) from weights; see the module docstring."""

    monitor = "kendall_tau"
    mode = "max"

    def metrics(self, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        prediction, target = outputs["prediction"], outputs["target"]
        return {
            "kendall_tau": kendall_tau(prediction[:, 0], target[:, 0]),
            "r2": r2_score(prediction, target),
            "mse": mean_squared_error(prediction, target),
        }
