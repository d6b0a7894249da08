"""Base class of weight-space augmentations: PyG transforms that act on a graph or a whole batch.

An augmentation is a ``torch_geometric.transforms.BaseTransform``: ``aug(data) -> data`` on a
``ParamGraph`` (as a dataset ``transform=``) or on a collated ``Batch`` (in the training step, on the
device), composable with ``torch_geometric.transforms.Compose``. Randomness is drawn per graph, per
neuron or per weight in single tensor ops over the batch (never a Python loop over networks), from
``generator`` when given (a ``torch.Generator``; samples are drawn on its device and moved) or from
the global RNG of the data's device. Inputs are never modified: a shallow copy with new ``x`` /
``edge_attr`` (and ``y`` for MixUp) is returned.
"""

from __future__ import annotations

import copy

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

__all__ = ["GraphAugmentation"]


class GraphAugmentation(BaseTransform):
    """Common plumbing: random draws on the data's device and copy-on-write outputs."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator

    def rand(self, *shape: int, device: torch.device) -> torch.Tensor:
        """Uniform ``[0, 1)`` samples of ``shape`` on ``device``."""
        if self.generator is None:
            return torch.rand(*shape, device=device)
        return torch.rand(*shape, generator=self.generator, device=self.generator.device).to(device)

    def randn(self, *shape: int, device: torch.device) -> torch.Tensor:
        """Standard normal samples of ``shape`` on ``device``."""
        if self.generator is None:
            return torch.randn(*shape, device=device)
        return torch.randn(*shape, generator=self.generator, device=self.generator.device).to(device)

    @staticmethod
    def replaced(graph: Data, **features: torch.Tensor) -> Data:
        """A shallow copy of ``graph`` with some attributes replaced (``x``, ``edge_attr``, ``y``)."""
        out = copy.copy(graph)
        for name, value in features.items():
            setattr(out, name, value)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator" and not k.startswith("_"))
        return f"{type(self).__name__}({args})"
