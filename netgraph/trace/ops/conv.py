"""Convolutions: ``nn.Conv1d/2d/3d`` (grouped and depthwise too), ``F.conv*d``, ``aten.conv*``.

A kernel ``W[o, i]`` (``[k1, k2, ...]``) is one edge from input channel ``i`` to output channel ``o``
whose feature is the kernel, zero-padded and centred to the spec's common kernel shape. With
``groups > 1`` output channel ``o`` reads only the channels of its group, and whole groups may only be
permuted together on both sides (their order inside a group is free). A transposed convolution
(``nn.ConvTranspose1d/2d/3d``) has weights ``W[i, o / groups, *k]``: the same edges, read transposed.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import BIAS_LEVEL, SpecBuilder
from ..ir import Op, ParamRef
from ..layout import Axis
from ...types import EdgeType, NodeType
from ._common import WeightNorm, fail, param_or_none, require_value, weight_param
from .registry import Lowered, arg, bind_function, bind_module, register_op


@bind_module(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _conv_module(module: nn.Conv2d, path: str, args, kwargs) -> Lowered:
    bias = ParamRef(f"{path}.bias", tuple(module.bias.shape)) if module.bias is not None else None
    return Lowered("conv", (args[0], ParamRef(f"{path}.weight", tuple(module.weight.shape)), bias, module.groups))


@bind_module(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def _conv_transpose_module(module: nn.ConvTranspose2d, path: str, args, kwargs) -> Lowered:
    lowered = _conv_module(module, path, args, kwargs)
    lowered.attrs["transposed"] = True
    return lowered


@bind_function(
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
    torch.ops.aten.conv_transpose1d,
    torch.ops.aten.conv_transpose2d,
    torch.ops.aten.conv_transpose3d,
)
def _conv_transpose_function(args, kwargs) -> Lowered:
    return Lowered(
        "conv",
        (args[0], arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"), arg(args, kwargs, 6, "groups", 1)),
        {"transposed": True},
    )


@bind_function(F.conv1d, F.conv2d, F.conv3d, torch.ops.aten.conv1d, torch.ops.aten.conv2d, torch.ops.aten.conv3d)
def _conv_function(args, kwargs) -> Lowered:
    return Lowered(
        "conv",
        (args[0], arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"), arg(args, kwargs, 6, "groups", 1)),
    )


@bind_function(torch.ops.aten.convolution)
def _convolution(args, kwargs) -> Lowered:
    transposed = bool(arg(args, kwargs, 6, "transposed", False))
    return Lowered("conv", (args[0], args[1], args[2], arg(args, kwargs, 8, "groups", 1)), {"transposed": transposed})


@bind_function(torch.ops.aten._weight_norm)
def _weight_norm(args, kwargs) -> Lowered:
    return Lowered("weight_norm", (args[0], args[1], arg(args, kwargs, 2, "dim", 0)))


@register_op("weight_norm")
def weight_norm(b: SpecBuilder, op: Op) -> None:
    """``g * v / ||v||`` of two parameters: remembered, placed by the layer that uses it (its ``v``)."""
    v, g, dim = op.args
    if not isinstance(v, ParamRef) or not isinstance(g, ParamRef):
        raise fail(op, "weight norm of computed tensors; only of parameters")
    b.layouts[op.out.name] = WeightNorm(v, g, int(dim) % len(v.shape))


@register_op("conv")
def conv(b: SpecBuilder, op: Op) -> None:
    x = require_value(op, op.args[0], "input")
    weight, pin_out = weight_param(b, op, op.args[1], "weight")
    bias = param_or_none(op, op.args[2], "bias")
    groups = int(op.args[3])
    if weight is None:
        raise fail(op, "a convolution needs a weight parameter")
    transposed = op.attrs.get("transposed", False)
    if transposed:  # W[i, o / groups, *k]
        in_channels, out_per_group, *kernel = weight.shape
        out_channels, in_per_group = out_per_group * groups, in_channels // groups
        view = (groups, in_per_group, out_per_group, *kernel)
        perm = (0, 2, 1, *range(3, 3 + len(kernel)))
    else:
        out_channels, in_per_group, *kernel = weight.shape
        in_channels = in_per_group * groups
        view, perm = tuple(weight.shape), tuple(range(len(weight.shape)))
    channel_dim = -(len(kernel) + 1)
    layout = b.get(x)
    if layout is None:
        layout = b.input_layout(op, x, channel_dim, in_channels, b.ndim(x))
    if not layout.is_vector_on(channel_dim) or layout.size_on(channel_dim) != in_channels:
        raise fail(
            op,
            f"expects {in_channels} channels on dim {channel_dim}, but the input's neurons lie on "
            f"dims {layout.dims} ({layout.axes})",
        )
    in_nodes = layout.nodes
    out_nodes = b.new_space(op, out_channels, NodeType.HIDDEN, role="out", inputs=[in_nodes], level=BIAS_LEVEL)
    if transposed and groups == 1:
        view, perm = tuple(weight.shape), (1, 0, *range(2, 2 + len(kernel)))
    b.weight_edges(
        op,
        weight,
        out_nodes=out_nodes,
        in_nodes=in_nodes,
        view=view,
        perm=perm,
        kernel=tuple(kernel),
        groups=groups,
        edge_type=EdgeType.CONV,
        bias=bias,
        layer_name=op.where,
    )
    if groups > 1:
        b.symmetry.couple_heads(in_nodes, out_nodes, groups)
    if pin_out:
        b.symmetry.fix(out_nodes)
    ndim = b.ndim(op.out, layout) or (len(kernel) + 2)
    b.set(op.out, b.fresh_layout(op.out, out_nodes, (Axis(channel_dim, out_channels),), ndim))
