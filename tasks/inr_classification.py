"""INR classification: predict the class of the image an implicit neural representation encodes.

Default zoo: the ``digits_inr`` preset, this project's stand-in for the DWSNets MNIST INRs: one
SIREN (2 -> 32 -> 32 -> 1, ``w0 = 30``) per scikit-learn digit image (1,797 images, 8x8), one INR
per image, fitted to PSNR 40 dB, no probe features; split 70 / 10 / 20 per net. The published
DWSNets MNIST INRs load with ``zoo={"loader": "dwsnets_inrs", "path": ...}`` and keep their own
55k / 5k / 10k split (``netgraph-train task=inr_classification_dwsnets task.zoo.path=...``).

Loss: cross-entropy (class indices, or class probabilities ``[B, classes]`` such as MixUp's mixed
labels). Metrics: accuracy and mean cross-entropy (``loss``).

Example:
    >>> from netgraph.tasks import create_task
    >>> task = create_task("inr_classification")
    >>> task.monitor, task.target, task.zoo["preset"]
    ('accuracy', 'class', 'digits_inr')
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.data import Batch

from netgraph.datasets import Zoo, ZooDataset

from .base import Task
from .metrics import accuracy
from .registry import register_task

__all__ = ["INRClassification"]


@register_task("inr_classification")
class INRClassification(Task):
    """Classify INRs by the class of their signal; see the module docstring."""

    monitor = "accuracy"
    mode = "max"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.classes: list = []

    def fit(self, train: ZooDataset, zoo: Zoo) -> None:
        super().fit(train, zoo)
        name = train.targets[0]
        if len(train.targets) != 1 or name not in train.classes:
            raise ValueError(
                f"{self.name} needs one categorical target, got {train.targets} (categorical ones: "
                f"{sorted(train.classes)}); use e.g. target='class'"
            )
        self.classes = list(train.classes[name])

    @property
    def num_classes(self) -> int:
        if not self.classes:
            self._require_fitted("num_classes")
        return len(self.classes)

    def head(self) -> dict[str, Any]:
        return {"out_features": self.num_classes}

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(model(self.inputs(batch)), _labels(batch.y))

    def outputs(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        return {"logits": model(self.inputs(batch)), "target": _labels(batch.y)}

    def metrics(self, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        logits, target = outputs["logits"].detach().double(), outputs["target"]
        target = target.double() if torch.is_floating_point(target) else target
        return {"accuracy": accuracy(logits, target), "loss": float(F.cross_entropy(logits, target))}

    def figure(self, outputs: dict[str, torch.Tensor]):
        """The confusion matrix of the test INRs (:func:`netgraph.viz.plot_confusion`)."""
        from netgraph.viz import plot_confusion

        target = outputs["target"]
        labels = target.argmax(1) if torch.is_floating_point(target) and target.dim() == 2 else target
        return plot_confusion(outputs["logits"], labels, classes=self.classes or None)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "classes": self.classes}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.classes = list(state["classes"])


def _labels(y: torch.Tensor) -> torch.Tensor:
    """Class indices ``[B]`` (long) or class probabilities ``[B, classes]`` (float) as cross-entropy takes them."""
    return y if torch.is_floating_point(y) and y.dim() == 2 else y.long().view(-1)
