"""Figures without a display: matplotlib ``Figure`` objects on the Agg canvas, never ``pyplot``.

Every plot function of :mod:`netgraph.viz` draws on the ``ax`` it is given (the figure is then
``ax.figure``) or on a new :class:`matplotlib.figure.Figure` attached to an Agg canvas. Nothing here
touches ``pyplot``'s global state or the user's backend, so the functions run headless (servers,
CI, DDP workers), leak no open figures in loops, and still display inline in Jupyter.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

try:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "netgraph.viz draws with matplotlib, which is not installed: pip install 'netgraph[viz]' "
        "(or pip install matplotlib)"
    ) from exc

from netgraph.io import atomic_write

__all__ = ["figure_axes", "log_figure", "new_figure", "save_figure"]


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **subplot_kw) -> tuple[Figure, list[Axes]]:
    """A new headless figure (Agg canvas, constrained layout) and its ``nrows * ncols`` axes, row-major."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, [a for row in axes for a in row]


def figure_axes(
    ax: Axes | Sequence[Axes] | None, count: int, figsize: tuple[float, float], what: str, ncols: int | None = None
) -> tuple[Figure, list[Axes]]:
    """The ``count`` axes to draw on: the given ``ax`` (one Axes, or a sequence of ``count``) or new ones."""
    if ax is None:
        return _fresh(figsize, count, ncols or count)
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != count or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(
            f"{what} draws {count} panel(s); ax= must be {'an Axes' if count == 1 else f'{count} Axes'}"
            f", got {type(ax).__name__} of {len(axes)}. Pass ax=None for a new figure"
        )
    return axes[0].figure, axes


def _fresh(figsize: tuple[float, float], count: int, ncols: int) -> tuple[Figure, list[Axes]]:
    fig, axes = new_figure(figsize, (count + ncols - 1) // ncols, ncols)
    for extra in axes[count:]:
        extra.remove()
    return fig, axes[:count]


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, e.g. ``.png`` / ``.pdf`` / ``.svg``).

    >>> import tempfile, os
    >>> fig, (ax,) = new_figure((2, 2))
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> os.path.getsize(save_figure(fig, os.path.join(tempfile.mkdtemp(), "line.png"))) > 0
    True
    """
    path = Path(path)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png"))


def log_figure(fig: Figure, log_dir: str | Path, tag: str, step: int = 0) -> None:
    """Add ``fig`` to the TensorBoard run in ``log_dir`` under ``tag`` (``SummaryWriter.add_figure``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ImportError(
            "logging figures to TensorBoard needs the tensorboard package: pip install 'netgraph[tensorboard]'"
        ) from exc
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_figure(tag, fig, global_step=step, close=False)
    finally:
        writer.close()
