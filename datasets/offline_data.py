"""Real data available offline: scikit-learn's bundled data sets, and generated 1-D sine waves.

* :func:`classification_data` - ``digits`` (1,797 8x8 grey images, 10 classes, as ``[N, 1, 8, 8]``
  scaled to [-1, 1] like the Small CNN Zoo), and the tabular ``iris``, ``wine``, ``breast_cancer``
  (``[N, features]``, standardised with training-split statistics); fixed train/val/test splits.
* :func:`digit_images` - the digits as ``[N, 8, 8]`` images in [0, 1], the signals of INR zoos.
* :func:`sine_waves` - ``A sin(2 pi f x + phi)`` sampled on ``[-1, 1]``, for 1-D INR regression.

Example:
    >>> data = classification_data("iris")
    >>> data.input_shape, data.num_classes, tuple(data.x["train"].shape)
    ((4,), 3, (105, 4))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

__all__ = ["ClassificationData", "classification_data", "digit_images", "sine_waves", "CLASSIFICATION_DATASETS",
           "SPLITS"]

SPLITS = ("train", "val", "test")
CLASSIFICATION_DATASETS = ("digits", "iris", "wine", "breast_cancer")


@dataclass
class ClassificationData:
    """Inputs ``x[split]`` ``[n, *input_shape]`` (float32) and labels ``y[split]`` ``[n]`` (int64)."""

    name: str
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    input_shape: tuple[int, ...]
    num_classes: int

    def to(self, device: torch.device | str) -> "ClassificationData":
        return ClassificationData(self.name, {k: v.to(device) for k, v in self.x.items()},
                                  {k: v.to(device) for k, v in self.y.items()}, self.input_shape, self.num_classes)


@functools.lru_cache(maxsize=None)
def _load_sklearn(name: str):
    """The scikit-learn bunch (read once per process; callers copy what they keep)."""
    from sklearn import datasets as skd

    loaders = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
               "breast_cancer": skd.load_breast_cancer}
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(loaders)} "
                         "(scikit-learn's bundled data sets, available offline)")
    return loaders[name]()


def classification_data(name: str, split_seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
                        device: torch.device | str = "cpu") -> ClassificationData:
    """A bundled classification data set split into train/val/test by a seeded permutation.

    The split depends only on ``(name, split_seed, val_fraction, test_fraction)``, so every net of
    a zoo (and every job of a sharded build) sees the same test set.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in (0, 1) "
                         "and sum to less than 1")
    raw = _load_sklearn(name)
    y = torch.as_tensor(raw.target, dtype=torch.long)
    if name == "digits":
        x = torch.as_tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # [N, 1, 8, 8] in [-1, 1]
    else:
        x = torch.as_tensor(raw.data, dtype=torch.float32)
    n = len(y)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    xs = {k: x[idx] for k, idx in parts.items()}
    if name != "digits":  # standardise tabular features with training statistics only
        mean, std = xs["train"].mean(0), xs["train"].std(0).clamp_min(1e-6)
        xs = {k: (v - mean) / std for k, v in xs.items()}
    data = ClassificationData(name, xs, {k: y[idx] for k, idx in parts.items()}, tuple(x.shape[1:]),
                              int(y.max()) + 1)
    return data.to(device)


def digit_images(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 digits as images ``[N, 8, 8]`` in [0, 1] and their labels ``[N]``."""
    raw = _load_sklearn("digits")
    images = torch.as_tensor(raw.images, dtype=torch.float32) / 16.0
    return images.to(device), torch.as_tensor(raw.target, dtype=torch.long, device=device)


def sine_waves(amplitude: torch.Tensor, frequency: torch.Tensor, phase: torch.Tensor, points: int = 64,
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``A sin(2 pi f x + phi)`` at ``points`` evenly spaced ``x`` in [-1, 1].

    Args:
        amplitude, frequency, phase: ``[B]`` wave parameters.
    Returns:
        ``coords [points, 1]`` and ``values [B, points, 1]``.

    >>> coords, values = sine_waves(torch.tensor([2.0]), torch.tensor([0.25]), torch.tensor([0.0]), points=3)
    >>> values.flatten().tolist()
    [-2.0, 0.0, 2.0]
    """
    coords = torch.linspace(-1.0, 1.0, points, device=device).unsqueeze(1)
    a, f, p = (torch.as_tensor(t, dtype=torch.float32, device=device).view(-1, 1) for t in (amplitude, frequency, phase))
    values = a * torch.sin(2 * math.pi * f * coords.view(1, -1) + p)
    return coords, values.unsqueeze(-1)
