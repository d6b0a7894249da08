"""``plot_weight_stats``: per-layer weight distributions of several sets of networks (generated vs trained)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._figure import figure_axes

__all__ = ["plot_weight_stats"]

_SKIPPED = ("num_batches_tracked", "running_mean", "running_var")


def plot_weight_stats(
    sources: Mapping[str, Mapping[str, torch.Tensor]],
    ax: Axes | None = None,
    keys: Sequence[str] | None = None,
    max_values: int = 20000,
    generator: torch.Generator | None = None,
    title: str | None = None,
) -> Figure:
    """Violins of each layer's weights, side by side for every set of networks.

    Args:
        sources: ``{name: stacked state dict {key: [n, *shape]}}``, e.g. ``{"generated":
            nets.state_dicts(), "trained": zoo_weights}`` (``GeneratedNetworks.state_dicts()`` is one).
        ax: the Axes (``None``: a new figure).
        keys: the state-dict keys to show (default: the floating-point keys all sources share,
            BatchNorm statistics left out).
        max_values: values per violin, sampled uniformly with ``generator`` when there are more.

    Returns:
        The ``Figure`` (one violin per key and source).

    Example:
        >>> import torch
        >>> a = {"0.weight": torch.randn(4, 3, 2), "0.bias": torch.randn(4, 3)}
        >>> fig = plot_weight_stats({"generated": a, "trained": {k: 2 * v for k, v in a.items()}})
        >>> len(fig.axes[0].collections)      # 2 keys x 2 sources
        4
    """
    if not sources:
        raise ValueError("plot_weight_stats needs {name: stacked state dict}")
    names = list(sources)
    if keys is None:
        common = [k for k, v in sources[names[0]].items() if torch.is_floating_point(v) and not k.endswith(_SKIPPED)]
        keys = [k for k in common if all(k in s for s in sources.values())]
    keys = list(keys)
    if not keys:
        raise ValueError(f"the sources {names} share no floating-point state-dict keys; pass keys=")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    fig, (a,) = figure_axes(
        ax, 1, (min(1.6 + 0.9 * len(keys) * max(len(names), 2) / 2, 24.0), 3.8), "plot_weight_stats"
    )
    width = 0.8 / len(names)
    colours = [f"C{i}" for i in range(len(names))]
    for j, name in enumerate(names):  # a loop over sources, then layers
        values = []
        for key in keys:
            flat = torch.as_tensor(sources[name][key]).detach().cpu().float().reshape(-1)
            if flat.numel() > max_values:
                flat = flat[torch.randint(flat.numel(), (max_values,), generator=generator)]
            values.append(flat.numpy())
        positions = [i + (j - (len(names) - 1) / 2) * width for i in range(len(keys))]
        parts = a.violinplot(values, positions=positions, widths=width * 0.95, showextrema=False, showmeans=False)
        for body in parts["bodies"]:
            body.set_facecolor(colours[j])
            body.set_edgecolor(colours[j])
            body.set_alpha(0.6)
    a.set_xticks(
        range(len(keys)),
        keys,
        rotation=45 if len(keys) > 4 else 0,
        ha="right" if len(keys) > 4 else "center",
        fontsize=7,
    )
    a.set_ylabel("value")
    a.grid(axis="y", alpha=0.3)
    a.legend(handles=[Patch(facecolor=c, alpha=0.6, label=n) for n, c in zip(names, colours)], fontsize=8)
    if title:
        a.set_title(title, fontsize=9)
    return fig
