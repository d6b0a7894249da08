"""Augmentations by name, so a training config can list them.

Example:
    >>> from netgraph.augment import create, compose
    >>> create("gaussian_noise", std=0.05)
    GaussianNoise(std=0.05)
    >>> compose(["permutation", {"name": "sign_flip", "p": 0.5}])
    Compose([
      RandomPermutation(),
      SignFlip(p=0.5)
    ])
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from torch_geometric.transforms import Compose

from .base import GraphAugmentation
from .mixup import MixUp
from .noise import GaussianNoise, QuantileZeroing, WeightDropout
from .symmetries import RandomPermutation, ReLUScaling, SignFlip, SirenBiasShift

__all__ = ["AUGMENTATIONS", "register", "create", "compose"]

AUGMENTATIONS: dict[str, Callable[..., GraphAugmentation]] = {
    "permutation": RandomPermutation,
    "relu_scaling": ReLUScaling,
    "sign_flip": SignFlip,
    "siren_bias_shift": SirenBiasShift,
    "gaussian_noise": GaussianNoise,
    "dropout": WeightDropout,
    "quantile_zeroing": QuantileZeroing,
    "mixup": MixUp,
}


def register(name: str) -> Callable:
    """Class decorator adding an augmentation to the registry under ``name``."""
    def deco(cls):
        if name in AUGMENTATIONS:
            raise ValueError(f"an augmentation named {name!r} is already registered ({AUGMENTATIONS[name].__name__})")
        AUGMENTATIONS[name] = cls
        return cls
    return deco


def create(name: str, **kwargs: Any) -> GraphAugmentation:
    """The augmentation registered as ``name``, built with ``kwargs``."""
    if name not in AUGMENTATIONS:
        raise KeyError(f"unknown augmentation {name!r}; registered: {sorted(AUGMENTATIONS)}. Add one with "
                       "@netgraph.augment.register(name).")
    return AUGMENTATIONS[name](**kwargs)


def compose(items: Iterable[str | Mapping[str, Any]]) -> Compose:
    """A ``Compose`` of augmentations from names or ``{"name": ..., **kwargs}`` mappings (config lists)."""
    transforms = []
    for item in items:
        if isinstance(item, str):
            transforms.append(create(item))
        elif isinstance(item, Mapping) and "name" in item:
            transforms.append(create(item["name"], **{k: v for k, v in item.items() if k != "name"}))
        else:
            raise TypeError(f"each augmentation is a name or a mapping with a 'name' key, got {item!r}")
    return Compose(transforms)
