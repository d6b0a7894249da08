"""Classification data for pruning: scikit-learn's bundled sets by name, or your own tensors file.

The data interface, three ways:

* ``data="digits"`` (default; or ``iris``, ``wine``, ``breast_cancer``): an offline set with its
  fixed train / val / test split;
* a path to a ``.pt`` / ``.safetensors`` file holding ``x_train, y_train, x_val, y_val, x_test,
  y_test`` (e.g. CIFAR-10 as ``[N, 3, 32, 32]`` floats);
* ``"package.module:function"``: a callable taking no arguments and returning a
  :class:`~netgraph.datasets.offline_data.ClassificationData` or a mapping of those six tensors.

Example:
    >>> data = load_data("digits", flatten=True)
    >>> tuple(data.x["train"].shape[1:]), data.num_classes
    ((64,), 10)
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from netgraph.datasets.offline_data import CLASSIFICATION_DATASETS, SPLITS, ClassificationData, classification_data

__all__ = ["load_data", "data_shape"]


def load_data(
    data: str | ClassificationData, flatten: bool = False, device: torch.device | str = "cpu", split_seed: int = 0
) -> ClassificationData:
    """``data`` (a bundled set's name, a tensors file, or ``ClassificationData``) on ``device``;
    inputs flattened to ``[n, features]`` when ``flatten``."""
    if isinstance(data, ClassificationData):
        loaded = data
    elif data in CLASSIFICATION_DATASETS:
        loaded = classification_data(data, split_seed=split_seed)
    elif ":" in str(data) and not Path(str(data)).exists():
        loaded = _from_callable(str(data))
    else:
        loaded = _from_file(Path(str(data)))
    if flatten:
        loaded = ClassificationData(
            loaded.name,
            {k: v.flatten(1) for k, v in loaded.x.items()},
            loaded.y,
            (int(torch.tensor(loaded.input_shape).prod()),),
            loaded.num_classes,
        )
    return loaded.to(device)


def data_shape(data: ClassificationData) -> tuple[int, ...]:
    """The shape of one input of ``data``."""
    return tuple(data.x["train"].shape[1:])


def _from_file(path: Path) -> ClassificationData:
    if not path.is_file():
        raise FileNotFoundError(
            f"data={str(path)!r} is neither a bundled data set {list(CLASSIFICATION_DATASETS)} "
            "nor a file; give a .pt or .safetensors file with x_train, y_train, x_val, y_val, "
            "x_test, y_test"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
    else:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    return _from_tensors(path.stem, tensors, f"data file {path}")


def _from_tensors(name: str, tensors, what: str) -> ClassificationData:
    missing = [f"{p}_{s}" for s in SPLITS for p in ("x", "y") if f"{p}_{s}" not in tensors]
    if missing:
        raise ValueError(f"{what} lacks {missing}; it needs x_train, y_train, x_val, y_val, x_test, y_test")
    x = {s: tensors[f"x_{s}"].float() for s in SPLITS}
    y = {s: tensors[f"y_{s}"].long() for s in SPLITS}
    return ClassificationData(name, x, y, tuple(x["train"].shape[1:]), int(max(v.max() for v in y.values())) + 1)


def _from_callable(ref: str) -> ClassificationData:
    from netgraph.architectures import resolve_factory  # the same 'package.module:attr' import rule

    try:
        fn = resolve_factory(ref)
    except ValueError as exc:
        raise ValueError(f"data={ref!r}: {exc}".replace("an nn.Module", "ClassificationData or a tensor dict")) from exc
    result = fn()
    if isinstance(result, ClassificationData):
        return result
    if isinstance(result, Mapping):
        return _from_tensors(ref, result, f"data={ref!r} (its return value)")
    raise ValueError(
        f"data={ref!r} returned a {type(result).__name__}; it must return ClassificationData or a dict "
        "of x_train, y_train, x_val, y_val, x_test, y_test tensors"
    )
