"""Indexing, splitting and concatenation: selecting positions keeps the neurons, slicing the neuron dim
selects nodes (and pins their order), splitting a fused layer's neuron dim cuts its space, and
concatenating token sequences merges like a residual sum.
"""

from __future__ import annotations

import math
import operator

import torch

from ..builder import SpecBuilder, _NeedShapes
from ..ir import Op, ParamRef, Value
from ..layout import Axis, Layout
from ...types import EdgeType, NodeType
from ._common import ParameterSlice, fail, on_neurons
from .arith import pin_data
from .registry import Lowered, arg, bind_function, bind_method, register_op

aten = torch.ops.aten


# ---------------------------------------------------------------- indexing
class SameForAll:
    """The layout of every element of a tuple output (``split`` / ``chunk`` on non-neuron dims)."""

    def __init__(self, layout: Layout | None):
        self.layout = layout


@bind_function(operator.getitem)
def _getitem(args, kwargs) -> Lowered:
    return Lowered("getitem", (args[0], args[1]))


@register_op("getitem", forwards=True)
def getitem(b: SpecBuilder, op: Op) -> None:
    source, index = op.args
    raw = b.get_raw(source) if isinstance(source, Value) else None
    if isinstance(raw, tuple):
        if raw[index] is not None:
            b.set(op.out, raw[index])
        return
    if isinstance(raw, SameForAll):
        if raw.layout is not None:
            b.set(op.out, raw.layout)
        return
    items = index if isinstance(index, tuple) else (index,)
    parameter = ParameterSlice.of(b, source)
    if parameter is not None and all(isinstance(i, slice) for i in items):  # self.pos[:, :T]
        b.set(op.out, parameter.cut(dict(enumerate(items))))
        return
    layout = b.get(source)
    if layout is None:
        return
    b.set(op.out, _index_layout(b, op, layout, source, index))


def _index_layout(b: SpecBuilder, op: Op, layout: Layout, source: Value, index) -> Layout:
    """Basic indexing (ints, slices, None, Ellipsis) that leaves the neuron dims whole."""
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (Value, list, torch.Tensor)) for i in items):
        raise fail(op, "advanced (tensor) indexing of a tensor of neurons is not supported")
    ndim = b.ndim(source, layout)
    known_rank = ndim is not None
    consuming = sum(1 for i in items if i is not None and i is not Ellipsis)
    if not known_rank:
        if Ellipsis not in items or not all(_full(i) for i in items[: items.index(Ellipsis)]):
            raise _NeedShapes(f"{op.where}: indexing a tensor of unknown rank; pass example_inputs")
        ndim = consuming + max(-d for d in layout.dims)  # any rank this large gives the same answer
    if Ellipsis in items:
        cut = items.index(Ellipsis)
        items = items[:cut] + (slice(None),) * (ndim - consuming) + items[cut + 1 :]
    else:
        items = items + (slice(None),) * (ndim - consuming)
    positions: dict[int, tuple[int, object] | None] = {}
    in_dim = out_dim = 0
    for item in items:
        if item is None:
            out_dim += 1
        elif isinstance(item, int):
            positions[in_dim] = None
            in_dim += 1
        else:
            positions[in_dim] = (out_dim, item)
            in_dim += 1
            out_dim += 1
    mapping: dict[int, int | None] = {}
    for d in layout.dims:
        where = positions[d + ndim]
        if where is None or not _full(where[1]):
            raise fail(op, "indexes or slices the neuron dim; selecting neurons is not supported")
        mapping[d] = where[0] - out_dim
    return layout.with_dims(mapping, out_dim if known_rank else None)


def _full(item) -> bool:
    return item is None or item is Ellipsis or (isinstance(item, slice) and item == slice(None))


@bind_function(aten.select, torch.select)
@bind_method("select")
def _select(args, kwargs) -> Lowered:
    return Lowered("select", (args[0], arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "index")))


@register_op("select", forwards=True)
@on_neurons
def select(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    d = b.neg(int(op.args[1]), ndim)
    if d in layout.dims:
        raise fail(op, "selects a single neuron; selecting neurons is not supported")
    mapping = {k: (k + 1 if k < d else k) for k in layout.dims}
    b.set(op.out, layout.with_dims(mapping, None if ndim is None else ndim - 1))


@bind_function(aten.slice, torch.narrow, aten.narrow)
@bind_method("narrow")
def _slice(args, kwargs) -> Lowered:
    return Lowered(
        "slice",
        (
            args[0],
            arg(args, kwargs, 1, "dim", 0),
            arg(args, kwargs, 2, "start"),
            arg(args, kwargs, 3, "end"),
            arg(args, kwargs, 4, "step", 1),
        ),
    )


@register_op("slice", forwards=True)
def slice_(b: SpecBuilder, op: Op) -> None:
    x, dim, start, end, step = op.args
    parameter = ParameterSlice.of(b, x)
    if parameter is not None:
        b.set(op.out, parameter.cut({int(dim): slice(start, end, step)}))
        return
    layout = b.get(x)
    if layout is None:
        return
    ndim = b.ndim(x, layout)
    d = b.neg(int(dim), ndim)
    if d in layout.dims:
        start, end, step = op.args[2:5]
        size = layout.size_on(d)
        full = start in (None, 0) and step in (None, 1) and (end is None or (size is not None and end >= size))
        if not full:
            b.set(op.out, _select_neurons(b, op, layout, d, slice(start, end, step)))
            return
    b.set(op.out, layout)


def _select_neurons(b: SpecBuilder, op: Op, layout: Layout, d: int, part: slice) -> Layout:
    """A slice of the neurons on dim ``d`` (e.g. a half of each head in rotary ``rotate_half``). The
    selected nodes are those of the input (no new nodes); since which neurons are selected depends on
    their order, the positions on that axis are pinned (inside each head when the heads are on another dim)."""
    on = [i for i, a in enumerate(layout.axes) if a.dim == d]
    if len(on) != 1 or layout.axes[on[0]].rep or layout.has_reps:
        raise fail(op, f"slices the neuron dim {d} of neurons laid out as {layout.axes}; not supported")
    grid_axis = sum(1 for a in layout.axes[: on[0]] if not a.rep)
    index = torch.arange(layout.grid.shape[grid_axis])[part]
    if index.numel() == 0:  # an empty part (a partial rotation over every dim leaves no rest): no nodes
        axes = tuple(Axis(a.dim, 0) if i == on[0] else a for i, a in enumerate(layout.axes))
        return Layout(layout.grid.index_select(grid_axis, index), axes, layout.state, layout.ndim)
    if layout.grid.dim() == 2 and grid_axis == 1 and layout.axes[0].dim < d:
        b.symmetry.fix_inner(layout.grid, layout.grid.shape[0])
    else:
        b.symmetry.fix(layout.nodes)
    selected = layout.grid.index_select(grid_axis, index)
    axes = tuple(Axis(a.dim, index.numel()) if i == on[0] else a for i, a in enumerate(layout.axes))
    return Layout(selected, axes, layout.state, layout.ndim)


# ------------------------------------------------------------ concatenation
@bind_function(torch.cat, torch.concat, torch.concatenate, aten.cat, aten.concat)
def _cat(args, kwargs) -> Lowered:
    return Lowered("cat", (tuple(args[0]), arg(args, kwargs, 1, "dim", 0)))


@register_op("cat")
def cat(b: SpecBuilder, op: Op) -> None:
    """Concatenating neurons (feature dim) lists their nodes side by side; concatenating token
    sequences (another dim) merges the sequences' neurons like a residual sum."""
    tensors, dim = op.args
    layouts = [b.get(t) for t in tensors]
    featured = [l for l in layouts if l is not None]
    if not featured:
        if any(isinstance(t, ParamRef) for t in tensors):
            raise fail(op, "concatenates parameters with data; not supported")
        return
    ndim = next((b.ndim(t, l) for t, l in zip(tensors, layouts) if b.ndim(t, l) is not None), None)
    d = b.neg(int(dim), ndim)
    first = featured[0]
    if d in first.dims:
        if any(l is None for l in layouts):
            raise fail(op, "concatenates neurons with data on the neuron dim")
        if all(l.is_vector_on(d) and l.dims == (d,) for l in featured):
            grid = torch.cat([l.nodes for l in featured])
            b.set(op.out, b.fresh_layout(op.out, grid, (Axis(d, grid.numel()),), ndim))
            return
        # several node axes (e.g. [heads, .., dims] halves of rotate_half): concatenate along d's grid axis
        on = [i for i, a in enumerate(first.axes) if a.dim == d]
        others = [tuple(a for a in l.axes if a.dim != d) for l in featured]
        if (
            len(on) != 1
            or first.has_reps
            or any(o != others[0] for o in others)
            or any(len([a for a in l.axes if a.dim == d]) != 1 or l.has_reps for l in featured)
        ):
            raise fail(op, "concatenates differently laid out tensors on the neuron dim")
        grid_axis = sum(1 for a in first.axes[: on[0]] if not a.rep)
        grid = torch.cat([l.grid for l in featured], dim=grid_axis)
        axes = tuple(Axis(d, grid.shape[grid_axis]) if i == on[0] else a for i, a in enumerate(first.axes))
        b.set(op.out, b.fresh_layout(op.out, grid, axes, ndim))
        return
    if any(l is not None and l.axes != first.axes for l in layouts):
        raise fail(op, "concatenates token sequences whose neurons are laid out differently")
    if any(a.rep or a.dim is None for a in first.axes) or len(first.dims) != 1:
        raise fail(op, "concatenates flattened maps or attention scores; not supported")
    out = b.new_space(op, first.grid.numel(), NodeType.SUM, role="concat", inputs=[l.grid for l in featured]).reshape(
        first.grid.shape
    )
    feature_dim = first.dims[0]
    for tensor, layout in zip(tensors, layouts):
        if layout is not None:
            b.const_edges(layout.grid, out, 1.0, EdgeType.RESIDUAL)
            b.symmetry.couple(layout.grid, out)
        elif isinstance(tensor, Value):
            pin_data(b, Layout(out, first.axes, first.state, ndim), tensor)
        elif isinstance(tensor, ParamRef):
            shape = tuple(tensor.shape)
            if -feature_dim > len(shape) or shape[feature_dim] != out.numel():
                raise fail(op, f"parameter '{tensor.name}' {shape} is not one vector per neuron on dim {feature_dim}")
            axis = len(shape) + feature_dim
            tokens = b.new_space(
                op, math.prod(shape) // out.numel(), NodeType.INPUT, role=f"positions of {tensor.name}"
            )
            b.symmetry.fix(tokens)
            b.weight_edges(
                op,
                tensor,
                out_nodes=out.reshape(-1),
                in_nodes=tokens,
                view=shape,
                perm=(axis, *[i for i in range(len(shape)) if i != axis]),
                edge_type=EdgeType.EMBEDDING,
            )
    b.set(op.out, b.fresh_layout(op.out, out, first.axes, ndim))


# --------------------------------------------------------------- splitting
@bind_function(torch.split, aten.split, aten.split_with_sizes)
@bind_method("split")
def _split(args, kwargs) -> Lowered:
    return Lowered("split", (args[0], arg(args, kwargs, 2, "dim", 0), ("size", arg(args, kwargs, 1, "split_size"))))


@bind_function(torch.chunk, aten.chunk)
@bind_method("chunk")
def _chunk(args, kwargs) -> Lowered:
    return Lowered("split", (args[0], arg(args, kwargs, 2, "dim", 0), ("chunks", arg(args, kwargs, 1, "chunks"))))


@bind_function(aten.unbind, torch.unbind)
@bind_method("unbind")
def _unbind(args, kwargs) -> Lowered:
    return Lowered("split", (args[0], arg(args, kwargs, 1, "dim", 0), ("unbind", None)))


def _part_sizes(total: int, how: tuple[str, object]) -> list[int] | None:
    kind, value = how
    if kind == "size" and isinstance(value, int):
        return [min(value, total - i) for i in range(0, total, value)]
    if kind == "size" and isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return list(value)
    if kind == "chunks" and isinstance(value, int):
        step = -(-total // value)
        return [min(step, total - i) for i in range(0, total, step)]
    return None


@register_op("split", forwards=True)
@on_neurons
def split(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    """Splitting token / spatial dims keeps the neurons; splitting the neuron dim of a fused layer
    (GPT-2's q/k/v projection) cuts its space into one space per part."""
    d = b.neg(int(op.args[1]), ndim)
    if d not in layout.dims:
        b.layouts[op.out.name] = SameForAll(layout)
        return
    if not layout.is_vector_on(d) and _split_node_axis(b, op, layout, d, ndim):
        return
    sizes = _part_sizes(layout.size_on(d) or 0, op.args[2]) if layout.is_vector_on(d) else None
    if sizes is None:
        raise fail(
            op,
            "splits the neuron dim into parts of unknown or uneven layout; give each part its own "
            "layer instead (e.g. separate q/k/v projections)",
        )
    parts = b.symmetry.split_space(layout.grid, sizes)
    if parts is None:  # the space is shared with other ops: keep it whole and pin the parts
        b.symmetry.fix(layout.grid)
        bounds = [sum(sizes[:k]) for k in range(len(sizes) + 1)]
        parts = [layout.grid.reshape(-1)[bounds[k] : bounds[k + 1]] for k in range(len(sizes))]
    b.layouts[op.out.name] = tuple(b.fresh_layout(op.out, p, (Axis(d, p.numel()),), ndim) for p in parts)


def _split_node_axis(b: SpecBuilder, op: Op, layout: Layout, d: int, ndim: int | None) -> bool:
    """Split (or unbind) one node axis of a layout with several (a fused q/k/v projection viewed per head:
    GPT-NeoX's ``[heads, 3 x dims]`` chunked on the last axis, Falcon's ``[heads + 2, dims]`` split on the
    first, ``[heads, 3, dims]`` unbound on the middle one). The space is renumbered part-major when the
    parts interleave, then cut into one space per part. False when the layout or the space does not allow it."""
    axes = layout.axes
    on = [i for i, a in enumerate(axes) if a.dim == d]
    if len(axes) < 2 or layout.has_reps or len(on) != 1:
        return False
    j = on[0]
    width = layout.grid.shape[j]
    unbind = op.args[2][0] == "unbind"
    sizes = [1] * width if unbind else _part_sizes(width, op.args[2])
    if sizes is None or len(sizes) < 2 or sum(sizes) != width:
        return False
    bounds = [sum(sizes[:k]) for k in range(len(sizes))]
    pieces = [layout.grid.narrow(j, start, n) for start, n in zip(bounds, sizes)]
    order = torch.cat([p.reshape(-1) for p in pieces])
    if not torch.equal(order, layout.grid.reshape(-1)) and not b.reorder_space(order):
        return False
    first = int(layout.grid.min())
    parts = b.symmetry.split_space(torch.arange(first, first + order.numel()), [p.numel() for p in pieces])
    if parts is None:
        return False
    results = []
    for part, piece in zip(parts, pieces):
        grid = part.reshape(piece.shape)
        part_axes = tuple(Axis(d, piece.shape[j]) if i == j else a for i, a in enumerate(axes))
        part_ndim = ndim
        if unbind:  # the axis goes; the dims left of it move one step right
            grid = grid.squeeze(j)
            part_axes = tuple(Axis(a.dim + 1 if a.dim < d else a.dim, a.size) for i, a in enumerate(axes) if i != j)
            part_ndim = None if ndim is None else ndim - 1
        elif piece.shape[j] == 1:  # one position left (Falcon's single key / value head): a plain size-1 dim
            grid = grid.squeeze(j)
            part_axes = tuple(a for i, a in enumerate(axes) if i != j)
        results.append(b.fresh_layout(op.out, grid, part_axes, part_ndim))
    b.layouts[op.out.name] = tuple(results)
    return True


@register_op("index_positions")
def index_positions(b: SpecBuilder, op: Op) -> None:
    """Advanced indexing of positions before the neuron dims (CLIP's text pooling ``hidden[arange(B),
    ids.argmax(-1)]``, a classifier reading each sequence's last token): the neurons keep their nodes."""
    x, indices = op.args
    layout = b.get(x)
    if layout is None:
        return
    ndim = b.ndim(x, layout)
    indexed = [i for i, t in enumerate(indices) if t is not None]
    if ndim is None:
        raise fail(op, "indexes a tensor of unknown rank; pass example_inputs")
    first_neuron = min((ndim + d for d in layout.dims), default=ndim)
    if any(isinstance(indices[i], ParamRef) for i in indexed) or (indexed and max(indexed) >= first_neuron):
        raise fail(op, "indexes the neuron dims (or with a parameter); only positions before them may be indexed")
    b.set(op.out, layout.with_dims({}, b.ndim(op.out)))
