"""``plot_graph``: a parameter graph drawn in layers, edges coloured by weight, symmetry groups shown.

Columns are the graph's layers (``ParamGraph.layer``: inputs on the left, outputs on the right);
inside a column the node spaces of that layer (``spec.spaces``: a layer's outputs, attention q / k / v,
a residual sum, a shortcut) are stacked top to bottom and labelled. Two drawings:

* ``"full"``: one marker per node (shape = :class:`~netgraph.types.NodeType`, fill = level-0
  symmetry group, rim = level-1 group, grey = never permuted) and one line per edge, coloured by
  its weight (the largest-magnitude entry of a conv kernel, sign kept); fixed edges (residual
  identities, product inputs) are dashed grey.
* ``"summary"`` (large graphs): one block per node space (fill = its symmetry group, height grows
  with log size) and one line per pair of connected spaces, its width growing with the number of
  edges and its colour the RMS of their weights.

``"auto"`` picks the full drawing up to ``max_edges`` edges and ``max_nodes`` nodes. All edges of a
drawing are one ``LineCollection``; no Python loop runs over edges or nodes.
"""

from __future__ import annotations

import re

import matplotlib as mpl
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from torch import nn

from ..graph import graph_specs
from ..spec import GraphSpec
from ..types import EdgeType, NodeType

__all__ = ["GRAPH_MODES", "plot_graph"]

GRAPH_MODES = ("auto", "full", "summary")
_MARKERS = {
    NodeType.INPUT: "s",
    NodeType.HIDDEN: "o",
    NodeType.OUTPUT: "p",
    NodeType.QUERY: "^",
    NodeType.KEY: "v",
    NodeType.VALUE: "D",
    NodeType.SUM: "P",
    NodeType.PRODUCT: "X",
}
_FIXED = (int(EdgeType.RESIDUAL), int(EdgeType.PRODUCT))
_NOT_PERMUTED = "#b0b0b0"
_COLUMN = 3.0  # horizontal distance between layers
_GAP = 1.5  # vertical gap between the spaces of one layer (in node heights)


def plot_graph(
    graph,
    ax: Axes | None = None,
    mode: str = "auto",
    max_edges: int = 4000,
    max_nodes: int = 400,
    cmap: str = "coolwarm",
    per_layer: bool | None = None,
    legend: bool = True,
    title: str | None = None,
) -> Figure:
    """Draw the parameter graph of one network.

    Args:
        graph: a :class:`~netgraph.ParamGraph` (or a batch holding one graph, or an ``nn.Module``,
            converted with :func:`netgraph.from_module`).
        ax: the Axes to draw on (``None``: a new figure sized to the graph).
        mode: ``"full"``, ``"summary"`` or ``"auto"`` (full up to ``max_edges`` edges and
            ``max_nodes`` nodes, see the module docstring).
        cmap: colour map of the edge weights (diverging for ``"full"``).
        per_layer: colour each edge by its weight over the largest ``|weight|`` of its layer (the
            target node's layer), so layers of very different scales (a SIREN's first layer and the
            rest) all show their pattern; ``None``: when those largest values differ more than 10x.
        legend: add the legend (node kinds, symmetry groups) and the colour bar.
        title: the axes title (default: the spec's size).

    Returns:
        The ``Figure``.

    Example:
        >>> import netgraph
        >>> from netgraph.architectures import mlp
        >>> fig = plot_graph(netgraph.from_module(mlp([2, 4, 1])))
        >>> len(fig.axes[0].collections) >= 2     # the edges and the nodes of each kind
        True
    """
    if isinstance(graph, nn.Module):
        from ..convert import from_module

        graph = from_module(graph)
    specs = graph_specs(graph)
    if len(specs) != 1:
        raise ValueError(
            f"plot_graph draws one network; got a batch of {len(specs)} graphs. "
            "Pass one of them, e.g. batch.get_example(0)"
        )
    if mode not in GRAPH_MODES:
        raise ValueError(f"mode={mode!r}; expected one of {GRAPH_MODES}")
    spec = specs[0]
    if mode == "auto":
        mode = "full" if spec.num_edges <= max_edges and spec.num_nodes <= max_nodes else "summary"
    layout = _Layout(spec, summary=mode == "summary")
    if ax is None:
        from ._figure import new_figure

        width = min(4.0 + 1.6 * layout.num_columns, 18.0)
        height = (
            min(max(3.5, 0.09 * layout.height + 1.5), 14.0)
            if mode == "full"
            else min(max(3.5, 0.35 * layout.height + 1.5), 14.0)
        )
        fig, (ax,) = new_figure((width, height))
    fig = ax.figure
    edge_attr = graph.edge_attr.detach().cpu().double().reshape(spec.num_edges, -1)
    if mode == "full":
        _draw_full(ax, spec, layout, edge_attr, cmap, legend, per_layer)
    else:
        _draw_summary(ax, spec, layout, edge_attr, cmap, legend)
    layout.label(ax)
    groups = f"{spec.num_groups} symmetry group{'' if spec.num_groups == 1 else 's'}"
    ax.set_title(
        title
        if title is not None
        else f"{spec.num_nodes:,} nodes, {spec.num_edges:,} edges, {groups}"
        + (" (per-layer summary)" if mode == "summary" else ""),
        fontsize=9,
    )
    ax.set_axis_off()
    return fig


class _Layout:
    """Where every space (and node) sits: a column per layer, the layer's spaces stacked."""

    def __init__(self, spec: GraphSpec, summary: bool):
        spaces = sorted(spec.spaces, key=lambda s: s.start)
        starts = torch.tensor([s.start for s in spaces], dtype=torch.long)
        sizes = torch.tensor([s.size for s in spaces], dtype=torch.long)
        if int(sizes.sum()) != spec.num_nodes or not torch.equal(starts, torch.cumsum(sizes, 0) - sizes):
            raise ValueError(
                "plot_graph needs spec.spaces to cover the nodes contiguously; this spec's spaces do not "
                "(was it built by netgraph.trace?)"
            )
        self.spaces, self.starts, self.sizes = spaces, starts, sizes
        self.space_of = torch.repeat_interleave(torch.arange(len(spaces)), sizes)  # [N]
        layers = sorted({s.layer for s in spaces})
        column = {layer: i for i, layer in enumerate(layers)}
        self.num_columns = len(layers)
        heights = (1.0 + torch.log2(sizes.double())) * 1.2 if summary else sizes.double()
        self.heights = heights
        per_layer = torch.zeros(len(layers), dtype=torch.float64).index_add_(
            0, torch.tensor([column[s.layer] for s in spaces]), heights
        )
        gap = max(_GAP, 0.07 * float(per_layer.max()))  # room for the label of the space below
        top = torch.zeros(len(spaces), dtype=torch.float64)  # y of each space's top edge
        self.x = torch.tensor([column[s.layer] * _COLUMN for s in spaces], dtype=torch.float64)
        column_height = {}
        for i, s in enumerate(spaces):  # a loop over spaces (layers), not nodes
            used = column_height.get(s.layer, -gap)
            top[i] = used + gap
            column_height[s.layer] = float(top[i] + heights[i])
        for i, s in enumerate(spaces):  # centre every column on y = 0
            top[i] -= column_height[s.layer] / 2
        self.top = top
        self.height = max(column_height.values())
        within = torch.arange(spec.num_nodes) - starts[self.space_of]
        self.node_x = self.x[self.space_of]
        self.node_y = -(top[self.space_of] + within.double() + 0.5)  # top to bottom
        self.gap = gap

    def label(self, ax: Axes) -> None:
        slanted = self.num_columns > 12
        for i, s in enumerate(self.spaces):
            ax.text(
                float(self.x[i]),
                -float(self.top[i]) + 0.15 * self.gap,
                f"{_short(s.name)} ({s.size})",
                ha="left" if slanted else "center",
                va="bottom",
                rotation=45 if slanted else 0,
                rotation_mode="anchor",
                fontsize=6.5,
                color="#333333",
            )
        ax.set_xlim(-0.6 * _COLUMN, (self.num_columns - 1 + (0.9 if slanted else 0.6)) * _COLUMN)
        ax.set_ylim(-self.height / 2 - self.gap, self.height / 2 + (0.35 * self.height if slanted else 2 * self.gap))


def _curves(start: torch.Tensor, end: torch.Tensor, rise: float, points: int = 12) -> torch.Tensor:
    """Polylines ``[E, points, 2]`` from ``start [E, 2]`` to ``end [E, 2]``: straight between neighbouring
    columns, arcs rising by ``rise`` per skipped column otherwise (so skips do not run through the nodes)."""
    span = ((end[:, 0] - start[:, 0]).abs() / _COLUMN).round()
    lift = (rise * (span - 1).clamp(min=0)).unsqueeze(1)  # [E, 1]
    s = torch.linspace(0, 1, points, dtype=torch.float64).unsqueeze(0)  # [1, P]
    x = start[:, :1] + (end[:, :1] - start[:, :1]) * s
    y = start[:, 1:] + (end[:, 1:] - start[:, 1:]) * s + lift * 4 * s * (1 - s)
    return torch.stack([x, y], -1)


def _draw_full(
    ax: Axes, spec: GraphSpec, layout: _Layout, edge_attr: torch.Tensor, cmap: str, legend: bool, per_layer: bool | None
) -> None:
    src, dst = spec.edge_index
    segments = _curves(
        torch.stack([layout.node_x[src], layout.node_y[src]], -1),
        torch.stack([layout.node_x[dst], layout.node_y[dst]], -1),
        0.12 * layout.height,
    )  # [E, P, 2]
    weight = (
        edge_attr.gather(1, edge_attr.abs().argmax(1, keepdim=True)).squeeze(1)
        if edge_attr.shape[1]
        else torch.zeros(spec.num_edges, dtype=torch.float64)
    )
    fixed = torch.isin(spec.edge_type, torch.tensor(_FIXED))
    layer = spec.layer[dst]
    largest = torch.zeros(int(spec.layer.max()) + 1, dtype=torch.float64).scatter_reduce(
        0, layer[~fixed], weight[~fixed].abs(), "amax"
    )  # [layers] largest |weight| into each layer
    present = largest[largest > 0]
    if per_layer is None:
        per_layer = len(present) > 1 and float(present.max() / present.min()) > 10
    if per_layer:
        weight = weight / largest[layer].clamp_min(1e-30)
    learned = (~fixed).nonzero().squeeze(1)
    learned = learned[weight[learned].abs().argsort()]  # strongest drawn last
    scale = float(weight[learned].abs().quantile(0.99)) if len(learned) else 1.0
    norm = Normalize(-scale or -1.0, scale or 1.0)
    lines = LineCollection(
        segments[learned].numpy(),
        array=weight[learned].numpy(),
        cmap=cmap,
        norm=norm,
        linewidths=0.8 if spec.num_edges < 1000 else 0.5,
        alpha=0.75,
        zorder=1,
    )
    ax.add_collection(lines)
    if bool(fixed.any()):
        ax.add_collection(
            LineCollection(segments[fixed].numpy(), colors="#707070", linestyles="--", linewidths=0.7, zorder=1)
        )
    finest = torch.where(spec.sym_group[:, 1] >= 0, spec.sym_group[:, 1], spec.sym_group[:, 0])
    face = _group_colours(finest)
    rim = "#202020"
    _unit_bars(ax, spec, layout)
    size = 36.0 if spec.num_nodes <= 80 else 16.0 if spec.num_nodes <= 200 else 7.0
    kinds = []
    for kind in sorted(set(spec.node_type.tolist())):  # a loop over node kinds
        mask = spec.node_type == kind
        ax.scatter(
            layout.node_x[mask].numpy(),
            layout.node_y[mask].numpy(),
            s=size,
            marker=_MARKERS[NodeType(kind)],
            c=face[mask.numpy()],
            edgecolors=rim,
            linewidths=0.6,
            zorder=2,
        )
        kinds.append(NodeType(kind))
    if legend:
        handles = [
            Line2D([], [], marker=_MARKERS[k], linestyle="", color="#888888", label=k.name.lower()) for k in kinds
        ]
        if bool(fixed.any()):
            handles.append(Line2D([], [], color="#707070", linestyle="--", label="fixed edge (residual)"))
        _legend(ax, spec, handles)
        label = "weight / largest |weight| of its layer" if per_layer else "weight"
        ax.figure.colorbar(
            lines,
            ax=ax,
            shrink=0.6,
            pad=0.01,
            label=label + (" (kernel: its max-|.| entry)" if spec.kernel_numel > 1 else ""),
        )


def _draw_summary(ax: Axes, spec: GraphSpec, layout: _Layout, edge_attr: torch.Tensor, cmap: str, legend: bool) -> None:
    num_spaces = len(layout.spaces)
    src, dst = layout.space_of[spec.edge_index[0]], layout.space_of[spec.edge_index[1]]
    fixed = torch.isin(spec.edge_type, torch.tensor(_FIXED))
    pair = (src * num_spaces + dst) * 2 + fixed.long()
    pairs, inverse, counts = torch.unique(pair, return_inverse=True, return_counts=True)
    energy = torch.zeros(len(pairs), dtype=torch.float64).index_add_(0, inverse, edge_attr.pow(2).sum(1))
    rms = (energy / (counts * max(edge_attr.shape[1], 1))).sqrt()
    a, b, is_fixed = pairs // 2 // num_spaces, pairs // 2 % num_spaces, (pairs % 2).bool()
    centre = -(layout.top + layout.heights / 2)
    half_width = 0.35
    start = torch.stack([layout.x[a] + half_width, centre[a]], -1)
    end = torch.stack([layout.x[b] - half_width, centre[b]], -1)
    segments = _curves(start, end, 0.12 * layout.height).numpy()
    widths = (0.6 + 1.2 * torch.log10(counts.double())).numpy()
    learned = ~is_fixed
    norm = Normalize(0.0, float(rms[learned].max()) if bool(learned.any()) else 1.0)
    lines = LineCollection(
        segments[learned.numpy()],
        array=rms[learned].numpy(),
        cmap="viridis" if cmap == "coolwarm" else cmap,
        norm=norm,
        linewidths=widths[learned.numpy()],
        alpha=0.85,
        zorder=1,
    )
    ax.add_collection(lines)
    if bool(is_fixed.any()):
        ax.add_collection(
            LineCollection(
                segments[is_fixed.numpy()],
                colors="#707070",
                linestyles="--",
                linewidths=widths[is_fixed.numpy()],
                zorder=1,
            )
        )
    group0 = spec.sym_group[layout.starts, 0]
    face = _group_colours(group0)
    boxes = [
        Rectangle(
            (float(layout.x[i]) - half_width, -float(layout.top[i] + layout.heights[i])),
            2 * half_width,
            float(layout.heights[i]),
        )
        for i in range(num_spaces)
    ]  # one box per space (layer)
    ax.add_collection(PatchCollection(boxes, facecolors=face, edgecolors="#303030", linewidths=0.6, zorder=2))
    if legend:
        handles = (
            [Line2D([], [], color="#707070", linestyle="--", label="fixed edges (residual)")]
            if bool(is_fixed.any())
            else []
        )
        _legend(ax, spec, handles)
        ax.figure.colorbar(lines, ax=ax, shrink=0.6, pad=0.01, label="RMS weight between two spaces")


def _unit_bars(ax: Axes, spec: GraphSpec, layout: _Layout) -> None:
    """A bar left of each run of nodes that one unit of a level-0 group holds inside a space (attention
    heads, channel groups), in the group's colour: the blocks that move together."""
    group, unit = spec.sym_group[:, 0], spec.sym_unit[:, 0]
    keep = (group >= 0).nonzero().squeeze(1)
    if len(keep) == 0:
        return
    key = (layout.space_of[keep] * (spec.num_groups + 1) + group[keep]) * (int(unit.max()) + 1) + unit[keep]
    keys, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    y = layout.node_y[keep]
    low = torch.full((len(keys),), float("inf"), dtype=torch.float64).scatter_reduce(0, inverse, y, "amin")
    high = torch.full((len(keys),), float("-inf"), dtype=torch.float64).scatter_reduce(0, inverse, y, "amax")
    runs = counts > 1
    if not bool(runs.any()):
        return
    first = torch.zeros(len(keys), dtype=torch.long).scatter_reduce(0, inverse, keep, "amax", include_self=False)
    x = layout.node_x[first] - (0.15 + 0.06 * (unit[first] % 2).double()) * _COLUMN  # neighbours side by side
    bars = torch.stack([torch.stack([x, low - 0.3], -1), torch.stack([x, high + 0.3], -1)], 1)[runs]
    ax.add_collection(LineCollection(bars.numpy(), colors=_group_colours(group[first][runs]), linewidths=3, zorder=2))


def _group_colours(groups: torch.Tensor, none: str = _NOT_PERMUTED):
    """RGBA ``[n, 4]`` per group index (``-1``: ``none``)."""
    import numpy as np

    palette = np.array(mpl.colormaps["tab20"].colors + mpl.colormaps["tab20b"].colors)
    colours = np.concatenate([palette, np.ones((len(palette), 1))], 1)[groups.clamp(min=0).numpy() % len(palette)]
    colours[(groups < 0).numpy()] = to_rgba(none)
    return colours


def _legend(ax: Axes, spec: GraphSpec, handles: list) -> None:
    import numpy as np

    shown = spec.groups[:12]
    colours = _group_colours(torch.tensor([g.index for g in shown], dtype=torch.long))
    handles = handles + [Patch(facecolor=_NOT_PERMUTED, label="not permuted")]
    handles += [
        Patch(facecolor=tuple(c), label=f"{'unit' if g.level == 0 else 'inside'}: {_short(g.name)} ({g.units})")
        for g, c in zip(shown, np.asarray(colours))
    ]
    if len(spec.groups) > len(shown):
        handles.append(Patch(facecolor="white", label=f"+ {len(spec.groups) - len(shown)} more groups"))
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=6.5,
        frameon=False,
        title="nodes / symmetry groups",
        title_fontsize=7,
    )


def _short(name: str) -> str:
    """``"module 'layers.0.conv1' (Conv2d) out"`` -> ``"layers.0.conv1 out"``."""
    match = re.match(r"module '([^']*)' \(([^)]*)\)\s*(.*)", name)
    if match is None:
        return name.replace("input features of ", "input ")
    path, kind, rest = match.groups()
    rest = rest.replace("input features of ", "input ")
    return f"{path} {rest}".strip() if path else rest or kind  # the root module: "sum", not its class name
