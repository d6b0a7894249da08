"""Shape ops: views, reshapes, transposes and shape queries. They move the neuron axes of a layout
between tensor dims without creating nodes. Indexing and concatenation live in :mod:`.indexing`;
reductions, pooling, padding and resizing in :mod:`.pooling`.
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import SpecBuilder, _NeedShapes
from ..ir import Op, Value
from ..layout import Axis, Layout
from ._common import fail, on_neurons
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
@on_neurons
def transpose(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    d0, d1 = b.neg(int(op.args[1]), ndim), b.neg(int(op.args[2]), ndim)
    b.set(op.out, layout.with_dims({d0: d1, d1: d0}, ndim))


@bind_function(torch.permute, aten.permute)
@bind_method("permute")
def _permute(args, kwargs) -> Lowered:
    dims = args[1:] if len(args) > 2 or not isinstance(args[1], (list, tuple)) else args[1]
    return Lowered("permute", (args[0], tuple(dims)))


@register_op("permute", forwards=True)
@on_neurons
def permute(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    dims = op.args[1]
    rank = len(dims)  # known even where the traced shapes are not
    mapping = {b.neg(int(old), rank): new - rank for new, old in enumerate(dims)}
    b.set(op.out, layout.with_dims(mapping, rank))


@bind_function(torch.unsqueeze, aten.unsqueeze)
@bind_method("unsqueeze", "unsqueeze_")
def _unsqueeze(args, kwargs) -> Lowered:
    return Lowered("unsqueeze", (args[0], arg(args, kwargs, 1, "dim")))


@register_op("unsqueeze", forwards=True)
@on_neurons
def unsqueeze(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
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
@on_neurons
def squeeze(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    x: Value = op.args[0]
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
@on_neurons
def flatten(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    x: Value = op.args[0]
    if x.shape is not None and op.out.shape is not None:
        b.set(op.out, _reshape_layout(op, layout, x.shape, op.out.shape))
        return
    if ndim is None:
        raise _NeedShapes(f"{op.where}: flatten of a tensor of unknown rank; pass example_inputs to trace shapes")
    start, end = b.neg(int(op.args[1]), ndim), b.neg(int(op.args[2]), ndim)
    b.set(op.out, _merge_dims(op, layout, start, end, ndim))


@register_op("reshape", forwards=True)
@on_neurons
def reshape(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    x: Value = op.args[0]
    if x.shape is not None and op.out.shape is not None:
        b.set(op.out, _reshape_layout(op, layout, x.shape, op.out.shape))
        return
    # symbolic tracing: only the common "keep the feature dim last" and "flatten after the batch dim"
    target = op.args[1]
    if isinstance(target, Value) or target is None:
        raise _NeedShapes(f"{op.where}: reshape to a traced shape; pass example_inputs to trace shapes")
    target = tuple(target)
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
