"""Augmentations by name, so a training config can list them.

Example:
    >>> from netgraph.augment import compose, create_augmentation, list_augmentations
    >>> create_augmentation("gaussian_noise", std=0.05)
    GaussianNoise(std=0.05)
    >>> compose(["permutation", {"name": "sign_flip", "p": 0.5}])
    Compose([
      RandomPermutation(),
      SignFlip(p=0.5)
    ])
    >>> "mixup" in list_augmentations()
    True
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from torch_geometric.transforms import Compose

from ..registry import Registry
from .base import GraphAugmentation
from .mixup import MixUp
from .noise import GaussianNoise, QuantileZeroing, WeightDropout
from .symmetries import RandomPermutation, ReLUScaling, SignFlip, SirenBiasShift

__all__ = ["register_augmentation", "create_augmentation", "list_augmentations", "compose"]

_AUGMENTATIONS: Registry = Registry("augmentation")
for _name, _cls in {
    "permutation": RandomPermutation,
    "relu_scaling": ReLUScaling,
    "sign_flip": SignFlip,
    "siren_bias_shift": SirenBiasShift,
    "gaussian_noise": GaussianNoise,
    "dropout": WeightDropout,
    "quantile_zeroing": QuantileZeroing,
    "mixup": MixUp,
}.items():
    _AUGMENTATIONS.register(_name)(_cls)


def register_augmentation(name: str) -> Callable:
    """Class decorator adding an augmentation to the registry under ``name``."""
    return _AUGMENTATIONS.register(name)


def create_augmentation(name: str, **kwargs: Any) -> GraphAugmentation:
    """The augmentation registered as ``name``, built with ``kwargs``."""
    return _AUGMENTATIONS.create(name, **kwargs)


def list_augmentations() -> list[str]:
    """Names accepted by :func:`create_augmentation`, sorted."""
    return _AUGMENTATIONS.names()


def compose(items: Iterable[str | Mapping[str, Any]]) -> Compose:
    """A ``Compose`` of augmentations from names or ``{"name": ..., **kwargs}`` mappings (config lists)."""
    transforms = []
    for item in items:
        if isinstance(item, str):
            transforms.append(create_augmentation(item))
        elif isinstance(item, Mapping) and "name" in item:
            transforms.append(create_augmentation(item["name"], **{k: v for k, v in item.items() if k != "name"}))
        else:
            raise TypeError(f"each augmentation is a name or a mapping with a 'name' key, got {item!r}")
    return Compose(transforms)
