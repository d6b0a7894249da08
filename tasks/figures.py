"""The figure of a run's test predictions, written next to ``results.json`` (and to TensorBoard).

Each task draws its own figure (:meth:`~netgraph.tasks.Task.figure`): predicted vs true values with
Kendall's tau for the regression tasks, a confusion matrix for INR classification, original /
edited / target renderings for INR editing. Drawing needs matplotlib (``pip install
'netgraph[viz]'``); without it the run still finishes and writes no figure.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from netgraph.tasks import create_task
    >>> task = create_task("accuracy_prediction", zoo="unused")
    >>> task.target_names = ["test_acc"]
    >>> outputs = {"prediction": torch.rand(8, 1), "target": torch.rand(8, 1)}
    >>> write_task_figure(task, outputs, Path(tempfile.mkdtemp()))
    'test_figure.png'
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

__all__ = ["FIGURE_FILE", "write_figure", "write_task_figure"]

FIGURE_FILE = "test_figure.png"


def write_figure(
    draw: Callable[[ModuleType], Any], path: str | Path, tensorboard: str | Path | None = None, tag: str = "figure"
) -> Path | None:
    """Save the figure ``draw(netgraph.viz)`` returns to ``path`` (and to the TensorBoard run ``tensorboard``).

    The CLIs' one call that writes their figure next to their table. Returns the path, or ``None``
    when ``draw`` returns ``None`` or matplotlib is missing (a warning says how to install it).
    """
    if importlib.util.find_spec("matplotlib") is None:
        warnings.warn(
            f"matplotlib is not installed, so {Path(path).name} is not drawn: pip install 'netgraph[viz]'", stacklevel=2
        )
        return None
    from netgraph import viz

    figure = draw(viz)
    if figure is None:
        return None
    saved = viz.save_figure(figure, path)
    if tensorboard is not None:
        viz.log_figure(figure, tensorboard, tag)
    return saved


def write_task_figure(
    task, outputs: dict[str, torch.Tensor], run_dir: str | Path, tensorboard: bool = False, name: str = FIGURE_FILE
) -> str | None:
    """Draw ``task.figure(outputs)`` to ``run_dir / name`` (and ``run_dir/tensorboard`` when ``tensorboard``).

    Returns the file name, or ``None`` when the task draws no figure or matplotlib is missing.
    """
    run_dir = Path(run_dir)
    saved = write_figure(
        lambda viz: task.figure(outputs),
        run_dir / name,
        tensorboard=run_dir / "tensorboard" if tensorboard else None,
        tag=f"test/{task.name}",
    )
    return None if saved is None else name
