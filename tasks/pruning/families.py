"""The network families meta-pruning knows: how to build one, feed it data, and rebuild it pruned.

============ ==========================================================================================
``mlp``      ``mlp([in, *hidden, classes])`` on flattened inputs (digits: 64 -> 64 -> 64 -> 10)
``vgg``      :func:`~netgraph.architectures.vgg`: VGG-style conv3x3-ReLU stacks with max pooling, global pool, linear head
``resnet``   :func:`~netgraph.architectures.cifar_resnet` depth 20, width 8 (BatchNorm, residual ties)
``resnet56`` CIFAR ResNet-56 (width 16), the paper's CIFAR-10 model; bring CIFAR-shaped data
``vit``      :class:`~netgraph.architectures.TinyViT`: patch-2 ViT, dim 32, 2 blocks of 4 heads x 8 (heads + MLP)
============ ==========================================================================================

Input channels / features and the number of classes come from the data.

Example:
    >>> family = get_family("vgg")
    >>> model = family.build((1, 8, 8), 10)
    >>> tuple(model(family.example_inputs((1, 8, 8))).shape)
    (1, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from netgraph.architectures import TinyViT, cifar_resnet, mlp, vgg

__all__ = ["Family", "FAMILIES", "get_family"]


@dataclass(frozen=True)
class Family:
    """A buildable family: ``build(input_shape, num_classes, **kwargs)`` and its data layout.

    Attributes:
        name: the ``arch`` name.
        factory: ``(input_shape, num_classes, **kwargs) -> nn.Module``.
        defaults: default keyword arguments of the factory.
        flatten: the family takes flattened inputs (MLPs).
        kernel_shape: edge-feature kernel shape of its parameter graphs (for metanets).
        zoo_ready: zoos of it train with :func:`netgraph.datasets.train_classifiers` (no BatchNorm).
    """

    name: str
    factory: Callable[..., nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    flatten: bool = False
    kernel_shape: tuple[int, ...] = ()
    zoo_ready: bool = True

    def input_shape(self, data_shape: Sequence[int]) -> tuple[int, ...]:
        """The shape one input has for this family (flattened for MLPs)."""
        return (math.prod(data_shape),) if self.flatten else tuple(data_shape)

    def build(self, data_shape: Sequence[int], num_classes: int, **kwargs: Any) -> nn.Module:
        """A fresh network for inputs of ``data_shape`` (one example, no batch dim)."""
        return self.factory(self.input_shape(data_shape), num_classes, **{**self.defaults, **kwargs})

    def example_inputs(self, data_shape: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """One zero input ``[1, *input_shape]`` (for tracing and FLOP counting)."""
        return torch.zeros(1, *self.input_shape(data_shape), device=device)


def _mlp(shape, classes, hidden=(64, 64), activation="relu"):
    return mlp([shape[0], *hidden, classes], activation=activation)


def _image_channels(shape, name):
    if len(shape) != 3:
        raise ValueError(
            f"arch={name} needs image data [C, H, W]; this data has inputs of shape {list(shape)} "
            "(use arch=mlp for tabular data)"
        )
    return shape[0]


def _vgg(shape, classes, widths=(16, 16, "M", 32, 32, "M")):
    return vgg(widths, _image_channels(shape, "vgg"), classes)


def _resnet(shape, classes, depth=20, width=8):
    return cifar_resnet(depth, width, classes, _image_channels(shape, "resnet"))


def _vit(shape, classes, patch=2, dim=32, depth=2, heads=4, head_dim=8, mlp_hidden=64):
    channels = _image_channels(shape, "vit")
    if shape[1] != shape[2]:
        raise ValueError(f"arch=vit needs square images; this data has inputs of shape {list(shape)}")
    return TinyViT(shape[1], patch, channels, classes, dim, depth, heads, head_dim, mlp_hidden)


FAMILIES: dict[str, Family] = {
    "mlp": Family("mlp", _mlp, {"hidden": [64, 64]}, flatten=True),
    "vgg": Family("vgg", _vgg, {"widths": [16, 16, "M", 32, 32, "M"]}, kernel_shape=(3, 3)),
    "resnet": Family("resnet", _resnet, {"depth": 20, "width": 8}, kernel_shape=(3, 3), zoo_ready=False),
    "resnet56": Family("resnet56", _resnet, {"depth": 56, "width": 16}, kernel_shape=(3, 3), zoo_ready=False),
    "vit": Family(
        "vit",
        _vit,
        {"patch": 2, "dim": 32, "depth": 2, "heads": 4, "head_dim": 8, "mlp_hidden": 64},
        kernel_shape=(2, 2),
    ),
}


def get_family(name: str) -> Family:
    """The family called ``name`` (one of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown arch {name!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[name]
