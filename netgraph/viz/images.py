"""``plot_inrs``: the images a zoo's INRs compute, in rows (original, edited, target ...)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._figure import figure_axes

__all__ = ["montage", "plot_inrs"]


def montage(images: torch.Tensor, pad: int = 1, fill: float = float("nan")) -> torch.Tensor:
    """Tile ``images [R, B, C, H, W]`` into one ``[R * (H + pad) - pad, B * (W + pad) - pad, C]`` picture.

    >>> montage(torch.zeros(2, 3, 1, 4, 5)).shape
    torch.Size([9, 17, 1])
    """
    r, b, c, h, w = images.shape
    padded = torch.full((r, b, c, h + pad, w + pad), fill, dtype=images.dtype)
    padded[..., :h, :w] = images
    tiled = padded.permute(0, 3, 1, 4, 2).reshape(r * (h + pad), b * (w + pad), c)
    return tiled[: r * (h + pad) - pad, : b * (w + pad) - pad]


def plot_inrs(
    images: Mapping[str, torch.Tensor] | torch.Tensor,
    ax: Axes | None = None,
    max_images: int = 8,
    value_range: tuple[float, float] | None = None,
    cmap: str = "gray",
    title: str | None = None,
) -> Figure:
    """Images rendered by INRs, one row per variant (e.g. ``original``, ``edited``, ``target``).

    Args:
        images: ``{row name: [B, C, H, W]}`` (the same ``B`` INRs in every row; ``C`` is 1 or 3), or
            one tensor ``[B, C, H, W]``. Render INRs with ``netgraph.tasks.render_inrs``.
        ax: the Axes (``None``: a new figure). The grid is one montage image.
        max_images: the first ``max_images`` INRs are shown.
        value_range: the colour range (default: the images' minimum and maximum).

    Returns:
        The ``Figure`` (one image: the montage, rows labelled on the left).

    Example:
        >>> import torch
        >>> fig = plot_inrs({"original": torch.rand(3, 1, 8, 8), "edited": torch.rand(3, 1, 8, 8)})
        >>> fig.axes[0].images[0].get_array().shape
        (17, 26)
    """
    rows = {"": images} if isinstance(images, torch.Tensor) else dict(images)
    if not rows:
        raise ValueError("plot_inrs needs images: {row name: [B, C, H, W]}")
    tensors = [torch.as_tensor(v).detach().cpu().float() for v in rows.values()]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4 or next(iter(shapes))[1] not in (1, 3):
        raise ValueError(
            f"plot_inrs takes images [B, C, H, W] with C = 1 or 3, the same in every row; got shapes "
            f"{ {name: tuple(t.shape) for name, t in zip(rows, tensors)} }"
        )
    stack = torch.stack(tensors)[:, :max_images]  # [R, B, C, H, W]
    low, high = value_range if value_range is not None else (float(stack.min()), float(stack.max()))
    grid = montage(stack)
    r, b, _, h, _ = stack.shape
    fig, (a,) = figure_axes(ax, 1, (1.0 + 0.9 * b, 0.4 + 0.9 * r), "plot_inrs")
    if grid.shape[-1] == 1:
        a.imshow(
            grid[..., 0].numpy(),
            cmap=mpl.colormaps[cmap].with_extremes(bad="white"),
            vmin=low,
            vmax=high,
            interpolation="nearest",
        )
    else:
        scaled = ((grid - low) / (high - low or 1.0)).clamp(0, 1)
        a.imshow(scaled.nan_to_num(1.0).numpy(), interpolation="nearest")
    a.set_xticks([])
    a.set_yticks([(h + 1) * i + (h - 1) / 2 for i in range(r)], list(rows), fontsize=8)
    a.tick_params(length=0)
    for side in a.spines.values():
        side.set_visible(False)
    if title:
        a.set_title(title, fontsize=9)
    return fig
