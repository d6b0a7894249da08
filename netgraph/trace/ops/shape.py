"""Shape and data-movement ops: views, reshapes, transposes, indexing, concatenation, pooling,
reductions, and shape queries. They move the neuron axes of a layout between tensor dims without
creating nodes (concatenating token sequences is the exception: it merges like a residual sum).
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import SpecBuilder, _NeedShapes
from ..ir import Op, ParamRef, Value
from ..layout import Axis, Layout
from ...types import EdgeType, NodeType
from ._common import fail
from .arith import pin_data
from .registry import Lowered, arg, bind_function, bind_method, bind_module, register_op

aten = torch.ops.aten


# ------------------------------------------------------------------ identity
@bind_module(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
def _identity_module(module, path, args, kwargs) -> Lowered:
    return Lowered("identity", (args[0],))


@bind_function(
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    torch.clone,
    aten.dropout,
    aten.feature_dropout,
    aten.alpha_dropout,
    aten.contiguous,
    aten.clone,
    aten.alias,
    aten.detach,
    aten.lift_fresh_copy,
    aten._to_copy,
    aten.to,
    aten.type_as,
    aten.masked_fill,
    aten._assert_tensor_metadata,
    aten.lift_fresh,
)
@bind_method(
    "contiguous",
    "clone",
    "detach",
    "to",
    "type",
    "type_as",
    "float",
    "double",
    "half",
    "bfloat16",
    "cuda",
    "cpu",
    "masked_fill",
    "masked_fill_",
    "requires_grad_",
)
def _identity_function(args, kwargs) -> Lowered:
    return Lowered("identity", (args[0],))


@bind_function(aten.expand, aten.expand_as)
@bind_method("expand", "expand_as")
def _expand(args, kwargs) -> Lowered:
    return Lowered("expand", (args[0],))


@register_op("expand", forwards=True)
def expand(b: SpecBuilder, op: Op) -> None:
    """Neurons keep their nodes; data remembers the shape it was expanded from (``b.expanded_from``), so
    combining it with neurons pins nothing along the expanded dims (``x / ||x||`` as export writes it)."""
    source = op.args[0]
    if b.get(source) is not None:
        return identity(b, op)
    if isinstance(source, Value) and source.shape is not None:
        b.expanded_from[op.out.name] = b.expanded_from.get(source.name, tuple(source.shape))


@register_op("identity", forwards=True)
def identity(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is not None:
        out_ndim = b.ndim(op.out, layout)
        b.set(op.out, layout.with_dims({}, out_ndim))


# ------------------------------------------------------------- shape queries
@bind_method("size", "dim", "numel", "nelement", "data_ptr", "get_device", "is_contiguous")
@bind_function(aten.sym_size, aten.sym_numel, aten.sym_stride, torch.numel)
def _meta(args, kwargs) -> Lowered:
    return Lowered("meta", ())


@register_op("meta")
def meta(b: SpecBuilder, op: Op) -> None:
    """Shape / dtype queries: data, whatever the operand."""


@bind_function(getattr)
def _getattr(args, kwargs) -> Lowered:
    if args[1] in ("shape", "dtype", "device", "ndim", "is_cuda", "requires_grad"):
        return Lowered("meta", ())
    if args[1] in ("T", "mT") and isinstance(args[0], Value):
        return Lowered("transpose", (args[0], -2, -1))
    return Lowered("unknown", (args[0],), {"reason": f"attribute {args[1]!r} of a tensor"})


# ------------------------------------------------------------- dims moving
@bind_function(torch.transpose, aten.transpose)
@bind_method("transpose", "transpose_", "swapaxes", "swapdims")
def _transpose(args, kwargs) -> Lowered:
    return Lowered("transpose", (args[0], arg(args, kwargs, 1, "dim0"), arg(args, kwargs, 2, "dim1")))


@bind_function(aten.t, torch.t)
@bind_method("t")
def _t(args, kwargs) -> Lowered:
    return Lowered("transpose", (args[0], -2, -1))


@register_op("transpose", forwards=True)
def transpose(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    ndim = b.ndim(op.args[0], layout)
    d0, d1 = b.neg(int(op.args[1]), ndim), b.neg(int(op.args[2]), ndim)
    b.set(op.out, layout.with_dims({d0: d1, d1: d0}, ndim))


@bind_function(torch.permute, aten.permute)
@bind_method("permute")
def _permute(args, kwargs) -> Lowered:
    dims = args[1:] if len(args) > 2 or not isinstance(args[1], (list, tuple)) else args[1]
    return Lowered("permute", (args[0], tuple(dims)))


@register_op("permute", forwards=True)
def permute(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    dims = op.args[1]
    ndim = len(dims)
    mapping = {b.neg(int(old), ndim): new - ndim for new, old in enumerate(dims)}
    b.set(op.out, layout.with_dims(mapping, ndim))


@bind_function(torch.unsqueeze, aten.unsqueeze)
@bind_method("unsqueeze", "unsqueeze_")
def _unsqueeze(args, kwargs) -> Lowered:
    return Lowered("unsqueeze", (args[0], arg(args, kwargs, 1, "dim")))


@register_op("unsqueeze", forwards=True)
def unsqueeze(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    ndim = b.ndim(op.args[0], layout)
    new_ndim = None if ndim is None else ndim + 1
    d = b.neg(int(op.args[1]), new_ndim)
    b.set(op.out, layout.with_dims({k: (k if k > d else k - 1) for k in layout.dims}, new_ndim))


@bind_function(torch.squeeze, aten.squeeze)
@bind_method("squeeze", "squeeze_")
def _squeeze(args, kwargs) -> Lowered:
    dims = arg(args, kwargs, 1, "dim")
    if isinstance(dims, int):
        dims = (dims,)
    return Lowered("squeeze", (args[0], None if dims is None else tuple(dims)))


@register_op("squeeze", forwards=True)
def squeeze(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    x: Value = op.args[0]
    ndim = b.ndim(x, layout)
    dims = op.args[1]
    if dims is None:
        if x.shape is None:
            raise _NeedShapes(f"{op.where}: squeeze() without dims needs shapes; pass example_inputs")
        dims = tuple(i for i, s in enumerate(x.shape) if s == 1)
    if x.shape is not None:
        dims = tuple(d for d in dims if x.shape[d] == 1)
    removed = sorted(b.neg(int(d), ndim) for d in dims)
    if set(removed) & set(layout.dims):
        raise fail(op, "squeezes a neuron dim")
    mapping = {k: k + sum(1 for r in removed if r > k) for k in layout.dims}
    b.set(op.out, layout.with_dims(mapping, None if ndim is None else ndim - len(removed)))


# ------------------------------------------------------------------ reshape
@bind_module(nn.Flatten)
def _flatten_module(module: nn.Flatten, path, args, kwargs) -> Lowered:
    return Lowered("flatten", (args[0], module.start_dim, module.end_dim))


@bind_function(torch.flatten, aten.flatten)
@bind_method("flatten")
def _flatten(args, kwargs) -> Lowered:
    return Lowered("flatten", (args[0], arg(args, kwargs, 1, "start_dim", 0), arg(args, kwargs, 2, "end_dim", -1)))


@bind_function(torch.reshape, aten.view, aten.reshape, aten._unsafe_view)
@bind_method("view", "reshape")
def _reshape(args, kwargs) -> Lowered:
    shape = args[1:] if len(args) > 2 else (args[1] if len(args) > 1 else kwargs.get("shape"))
    if isinstance(shape, int):
        shape = (shape,)
    return Lowered("reshape", (args[0], shape))


@bind_function(aten.unflatten, torch.unflatten)
@bind_method("unflatten", "view_as", "reshape_as")
def _reshape_traced_shape(args, kwargs) -> Lowered:
    return Lowered("reshape", (args[0], None))


@register_op("flatten", forwards=True)
def flatten(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    x: Value = op.args[0]
    if x.shape is not None and op.out.shape is not None:
        b.set(op.out, _reshape_layout(op, layout, x.shape, op.out.shape))
        return
    ndim = b.ndim(x, layout)
    if ndim is None:
        raise _NeedShapes(f"{op.where}: flatten of a tensor of unknown rank; pass example_inputs to trace shapes")
    start, end = b.neg(int(op.args[1]), ndim), b.neg(int(op.args[2]), ndim)
    b.set(op.out, _merge_dims(op, layout, start, end, ndim))


@register_op("reshape", forwards=True)
def reshape(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    x: Value = op.args[0]
    if x.shape is not None and op.out.shape is not None:
        b.set(op.out, _reshape_layout(op, layout, x.shape, op.out.shape))
        return
    # symbolic tracing: only the common "keep the feature dim last" and "flatten after the batch dim"
    target = op.args[1]
    if isinstance(target, Value) or target is None:
        raise _NeedShapes(f"{op.where}: reshape to a traced shape; pass example_inputs to trace shapes")
    target = tuple(target)
    ndim = b.ndim(x, layout)
    last = target[-1]
    if layout.is_vector_on(-1) and isinstance(last, int) and last == layout.size_on(-1):
        b.set(op.out, layout.with_dims({}, len(target)))
    elif len(target) == 2 and last == -1 and ndim is not None:
        b.set(op.out, _merge_dims(op, layout, 1 - ndim, -1, ndim))
    else:
        raise _NeedShapes(f"{op.where}: reshape of neurons to {target} needs shapes; pass example_inputs")


def _tagged(layout: Layout) -> list[tuple[int | None, Axis]]:
    """Axes of ``layout`` paired with their grid axis index (None for rep axes)."""
    tagged, node = [], 0
    for a in layout.axes:
        tagged.append((None, a) if a.rep else (node, a))
        node += 0 if a.rep else 1
    return tagged


def _with_axes(layout: Layout, tagged: list[tuple[int | None, Axis]], ndim: int | None) -> Layout:
    """A layout with the given (grid index, axis) list; the grid is permuted to follow it."""
    order = [i for i, _ in tagged if i is not None]
    grid = layout.grid.permute(*order) if order else layout.grid
    return Layout(grid, tuple(a for _, a in tagged), layout.state, ndim).normalized()


def _merge_dims(op: Op, layout: Layout, start: int, end: int, ndim: int) -> Layout:
    """Flatten dims ``start..end`` (negative) without knowing their sizes (symbolic tracing)."""
    if start >= end:
        return layout
    merged = end - start
    tagged = _tagged(layout)
    in_range = any(start <= d <= end for d in layout.dims)
    inside: list[tuple[int | None, Axis]] = []
    for d in range(start, end + 1):
        on = [(i, a) for i, a in tagged if a.dim == d]
        if on:
            inside.extend((i, Axis(end, a.size, a.rep)) for i, a in on)
        elif in_range and not (inside and inside[-1][0] is None and inside[-1][1].size is None):
            inside.append((None, Axis(end, None, True)))
    outside = [
        (i, Axis(a.dim + merged, a.size, a.rep) if a.dim is not None and a.dim < start else a)
        for i, a in tagged
        if a.dim is None or not start <= a.dim <= end
    ]
    return _with_axes(layout, inside + outside, ndim - merged)


def _reshape_layout(op: Op, layout: Layout, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Layout:
    """Follow the neuron axes through a reshape with known shapes.

    Every input dim is a row-major sequence of *atoms* (node axes, rep axes, or a plain dim); the
    output dims consume atoms in order, splitting an atom when an output dim needs part of it (this
    is how ``[.., 384] -> [.., 12, 32]`` splits neurons into attention heads).
    """
    n_in, n_out = len(in_shape), len(out_shape)
    if any(a.dim is None for a in layout.axes):
        raise fail(op, "reshapes attention scores; not supported")
    layout = _resolve_all_reps(op, layout, in_shape)
    tagged = _tagged(layout)
    atoms: list[list] = []  # [size, grid index or None, kind]
    for i in range(n_in):
        on = [(k, a) for k, a in tagged if a.dim == i - n_in]
        if not on:
            atoms.append([in_shape[i], None, "plain"])
        for k, a in on:
            atoms.append([a.size, k, "rep" if a.rep else "node"])
    walk = [a[1] for a in atoms if a[2] == "node"]
    grid = layout.grid.permute(*walk) if walk else layout.grid
    queue = [a for a in atoms if a[0] != 1 or a[2] == "node"]
    out_axes: list[Axis] = []
    node_sizes: list[int] = []
    for j, size in enumerate(out_shape):
        taken: list[list] = []
        acc = 1
        while acc < size:
            if not queue:
                raise fail(op, f"cannot follow neurons through reshape {in_shape} -> {out_shape}")
            atom = queue.pop(0)
            need = size // acc
            if need % atom[0] == 0:
                taken.append(atom)
                acc *= atom[0]
            elif atom[0] % need == 0:
                taken.append([need, atom[1], atom[2]])
                queue.insert(0, [atom[0] // need, atom[1], atom[2]])
                acc *= need
            elif atom[2] == "plain" and queue and queue[0][2] == "plain":
                queue.insert(0, [atom[0] * queue.pop(0)[0], None, "plain"])
            else:
                raise fail(op, f"reshape {in_shape} -> {out_shape} splits a neuron axis unevenly")
        while queue and queue[0][0] == 1 and queue[0][2] == "node":
            taken.append(queue.pop(0))
        has_nodes = any(a[2] == "node" for a in taken)
        for a in taken:
            if a[2] == "node":
                out_axes.append(Axis(j - n_out, a[0]))
                node_sizes.append(a[0])
            elif has_nodes and a[0] > 1:
                out_axes.append(Axis(j - n_out, a[0], True))
    if any(a[2] == "node" for a in queue):
        raise fail(op, f"cannot follow neurons through reshape {in_shape} -> {out_shape}")
    grid = grid.reshape(node_sizes) if node_sizes else grid
    return Layout(grid, tuple(out_axes), layout.state, n_out).normalized()


def _resolve_all_reps(op: Op, layout: Layout, shape: tuple[int, ...]) -> Layout:
    for d in layout.dims:
        total = shape[d]
        layout = layout.resolved_reps(d, total)
        if layout.size_on(d) != total:
            raise fail(op, f"dim {d} has {total} entries but its neurons account for {layout.size_on(d)}")
    return layout


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
def select(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    ndim = b.ndim(op.args[0], layout)
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
    layout = b.get(op.args[0])
    if layout is None:
        return
    x: Value = op.args[0]
    ndim = b.ndim(x, layout)
    d = b.neg(int(op.args[1]), ndim)
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
        b.fix_inner(layout.grid, layout.grid.shape[0])
    else:
        b.fix(layout.nodes)
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
            b.couple(layout.grid, out)
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
            b.fix(tokens)
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
def split(b: SpecBuilder, op: Op) -> None:
    """Splitting token / spatial dims keeps the neurons; splitting the neuron dim of a fused layer
    (GPT-2's q/k/v projection) cuts its space into one space per part."""
    layout = b.get(op.args[0])
    if layout is None:
        return
    ndim = b.ndim(op.args[0], layout)
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
    parts = b.split_space(layout.grid, sizes)
    if parts is None:  # the space is shared with other ops: keep it whole and pin the parts
        b.fix(layout.grid)
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
    parts = b.split_space(torch.arange(first, first + order.numel()), [p.numel() for p in pieces])
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


# -------------------------------------------------------------- reductions
def _reduction(args, kwargs) -> Lowered:
    dims = arg(args, kwargs, 1, "dim")
    keepdim = arg(args, kwargs, 2, "keepdim", False)
    if isinstance(dims, int):
        dims = (dims,)
    return Lowered("reduce", (args[0], None if dims is None else tuple(dims), bool(keepdim)))


bind_function(
    torch.mean,
    torch.sum,
    torch.amax,
    torch.amin,
    torch.logsumexp,
    torch.std,
    torch.var,
    aten.mean,
    aten.sum,
    aten.amax,
    aten.amin,
    aten.logsumexp,
    aten.norm,
    torch.norm,
)(_reduction)
bind_method("mean", "sum", "amax", "amin", "logsumexp", "std", "var", "norm")(_reduction)


@bind_function(torch.linalg.vector_norm, aten.linalg_vector_norm)
def _vector_norm(args, kwargs) -> Lowered:
    dims = arg(args, kwargs, 2, "dim")
    keepdim = arg(args, kwargs, 3, "keepdim", False)
    return Lowered("reduce", (args[0], (dims,) if isinstance(dims, int) else dims, bool(keepdim)))


@bind_function(F.normalize)
def _normalize(args, kwargs) -> Lowered:
    """``x / ||x||`` over some dims: a per-sample scale, invariant to permutations inside those dims, so
    the neurons keep their nodes (the same graph as ``torch.export``'s decomposition, norm then divide)."""
    return Lowered("identity", (args[0],))


@bind_function(torch.max, torch.min, aten.max, aten.min)
@bind_method("max", "min")
def _max(args, kwargs) -> Lowered:
    dims = arg(args, kwargs, 1, "dim")
    if isinstance(dims, Value):
        return Lowered("unknown", args, {"reason": "elementwise max/min of two tensors"})
    lowered = _reduction(args, kwargs)
    lowered.attrs["tuple"] = dims is not None
    return lowered


@register_op("reduce", forwards=True)
def reduce(b: SpecBuilder, op: Op) -> None:
    """Reducing non-neuron dims (global pooling, token means) keeps the neurons; reducing the neuron
    dim makes an invariant (data)."""
    layout = b.get(op.args[0])
    if layout is None:
        return
    x, dims, keepdim = op.args
    ndim = b.ndim(x, layout)
    if dims is None or len(dims) == 0:
        return
    removed = sorted(b.neg(int(d), ndim) for d in dims)
    hit = set(removed) & set(layout.dims)
    result: object = None
    if hit:
        if hit != set(layout.dims):
            raise fail(op, "reduces some but not all neuron dims")
    else:
        mapping = {} if keepdim else {k: k + sum(1 for r in removed if r > k) for k in layout.dims}
        result = layout.with_dims(mapping, None if ndim is None else ndim - (0 if keepdim else len(removed)))
    if op.attrs.get("tuple"):
        b.layouts[op.out.name] = (result, None)
    elif result is not None:
        b.set(op.out, result)


# ------------------------------------------------------------------ pooling
def _pool_module(module, path, args, kwargs) -> Lowered:
    spatial = int(type(module).__name__[-2])
    return Lowered("pool", (args[0], spatial))


bind_module(
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)(_pool_module)


def _pool_function(spatial: int, returns_tuple: bool = False):
    def binding(args, kwargs) -> Lowered:
        tuple_out = returns_tuple or bool(kwargs.get("return_indices", False))
        return Lowered("pool", (args[0], spatial), {"tuple": tuple_out})

    return binding


for _k in (1, 2, 3):
    bind_function(
        getattr(F, f"adaptive_avg_pool{_k}d"),
        getattr(F, f"avg_pool{_k}d"),
        getattr(F, f"max_pool{_k}d"),
        getattr(F, f"adaptive_max_pool{_k}d"),
        getattr(aten, f"adaptive_avg_pool{_k}d"),
        getattr(aten, f"avg_pool{_k}d"),
        getattr(aten, f"max_pool{_k}d"),
    )(_pool_function(_k))
    bind_function(getattr(aten, f"adaptive_max_pool{_k}d"))(_pool_function(_k, True))
for _k in (2, 3):
    bind_function(getattr(aten, f"max_pool{_k}d_with_indices"))(_pool_function(_k, True))
bind_function(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d)(_pool_function(2))


@register_op("pool", forwards=True)
def pool(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return
    spatial = op.args[1]
    if any(a.dim is not None and a.dim >= -spatial for a in layout.axes):
        raise fail(op, f"pools over the last {spatial} dims, which carry neurons {layout.axes}")
    if op.attrs.get("tuple"):
        b.layouts[op.out.name] = (layout, None)
    else:
        b.set(op.out, layout)


@bind_function(torch.roll, aten.roll)
@bind_method("roll")
def _roll(args, kwargs) -> Lowered:
    dims = arg(args, kwargs, 2, "dims", None)
    dims = (dims,) if isinstance(dims, int) else dims
    return Lowered("resize", (args[0], None if not dims else tuple(dims)), {"positive_dims": True})


# ------------------------------------------------- padding and resizing
@bind_function(
    F.pad,
    aten.pad,
    aten.constant_pad_nd,
    aten.reflection_pad1d,
    aten.reflection_pad2d,
    aten.reflection_pad3d,
    aten.replication_pad1d,
    aten.replication_pad2d,
    aten.replication_pad3d,
)
def _pad(args, kwargs) -> Lowered:
    pad = arg(args, kwargs, 1, "pad")
    if not isinstance(pad, (list, tuple)):
        return Lowered("resize", (args[0], None))
    padded = tuple(-(i + 1) for i in range(len(pad) // 2) if pad[2 * i] != 0 or pad[2 * i + 1] != 0)
    return Lowered("resize", (args[0], padded))


@bind_module(
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
)
def _pad_module(module, path, args, kwargs) -> Lowered:
    return Lowered("resize", (args[0], tuple(range(-(len(module.padding) // 2), 0))))


@bind_module(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def _upsample_module(module, path, args, kwargs) -> Lowered:
    return Lowered("resize", (args[0], "spatial"))


@bind_function(
    F.interpolate,
    F.upsample,
    aten.upsample_nearest1d,
    aten.upsample_nearest2d,
    aten.upsample_nearest3d,
    aten.upsample_linear1d,
    aten.upsample_bilinear2d,
    aten.upsample_trilinear3d,
    aten.upsample_bicubic2d,
    aten._upsample_nearest_exact1d,
    aten._upsample_nearest_exact2d,
    aten._upsample_nearest_exact3d,
)
def _interpolate(args, kwargs) -> Lowered:
    return Lowered("resize", (args[0], "spatial"))


@register_op("resize", forwards=True)
def resize(b: SpecBuilder, op: Op) -> None:
    """Padding / resizing some dims (``"spatial"``: every dim after the channel dim) moves values between
    positions, the same way for every channel: the neurons must not lie on those dims."""
    layout = b.get(op.args[0])
    if layout is None:
        return
    ndim = b.ndim(op.args[0], layout)
    dims = op.args[1]
    if op.attrs.get("positive_dims") and dims is not None:
        dims = tuple(b.neg(int(d), ndim) for d in dims)
    if dims == "spatial":
        if ndim is None:
            raise _NeedShapes(f"{op.where}: resizing a tensor of unknown rank; pass example_inputs")
        dims = tuple(range(2 - ndim, 0))
    if dims is None or any(a.dim is None or a.dim in dims for a in layout.axes) or layout.has_reps:
        raise fail(
            op,
            f"pads / resizes dims {dims}, which carry neurons ({layout.axes}); only spatial "
            "dims may be padded or resized",
        )
    b.set(op.out, b.fresh_layout(op.out, layout.grid, layout.axes, b.ndim(op.out, layout)))
