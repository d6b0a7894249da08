"""Reductions, pooling, padding and resizing: they combine or move positions the same way for every
channel, so the neurons keep their nodes as long as they do not lie on the dims acted on.
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import SpecBuilder, _NeedShapes
from ..ir import Op, Value
from ..layout import Layout
from ._common import fail, on_neurons
from .registry import Lowered, arg, bind_function, bind_method, bind_module, register_op

aten = torch.ops.aten


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
@on_neurons
def reduce(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    """Reducing non-neuron dims (global pooling, token means) keeps the neurons; reducing the neuron
    dim makes an invariant (data)."""
    x, dims, keepdim = op.args
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
@on_neurons
def pool(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
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
@on_neurons
def resize(b: SpecBuilder, op: Op, layout: Layout, ndim: int | None) -> None:
    """Padding / resizing some dims (``"spatial"``: every dim after the channel dim) moves values between
    positions, the same way for every channel: the neurons must not lie on those dims."""
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
