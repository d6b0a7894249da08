"""Normalisation layers: BatchNorm (1d/2d/3d), LayerNorm and RMSNorm (over the feature dim), GroupNorm.

Their affine parameters and running statistics are node features of the channels they act on
(``NORM_WEIGHT``, ``NORM_BIAS``, ``RUNNING_MEAN``, ``RUNNING_VAR``); ``node_norm`` records the kind.
GroupNorm additionally restricts permutations to whole groups and channels within a group.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import NORM_LEVEL, SpecBuilder
from ..ir import Op, ParamRef, Value
from ..layout import Layout
from ...types import NodeFeature, Norm
from ._common import fail, param_or_none, require_value
from .registry import Lowered, arg, bind_function, bind_module, bind_module_name, register_op


def _ref(module: nn.Module, path: str, name: str, is_parameter: bool = True) -> ParamRef | None:
    tensor = getattr(module, name, None)
    if tensor is None:
        return None
    return ParamRef(f"{path}.{name}", tuple(tensor.shape), is_parameter)


@bind_module(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def _batch_norm_module(module: nn.BatchNorm2d, path: str, args, kwargs) -> Lowered:
    return Lowered(
        "batch_norm",
        (
            args[0],
            _ref(module, path, "weight"),
            _ref(module, path, "bias"),
            _ref(module, path, "running_mean", False),
            _ref(module, path, "running_var", False),
        ),
    )


@bind_function(F.batch_norm)
def _batch_norm_function(args, kwargs) -> Lowered:
    return Lowered(
        "batch_norm",
        (
            args[0],
            arg(args, kwargs, 3, "weight"),
            arg(args, kwargs, 4, "bias"),
            arg(args, kwargs, 1, "running_mean"),
            arg(args, kwargs, 2, "running_var"),
        ),
    )


@bind_function(torch.ops.aten.batch_norm, torch.ops.aten._native_batch_norm_legit_no_training)
def _batch_norm_aten(args, kwargs) -> Lowered:
    return Lowered("batch_norm", (args[0], args[1], args[2], args[3], args[4]))


@bind_module(nn.LayerNorm)
def _layer_norm_module(module: nn.LayerNorm, path: str, args, kwargs) -> Lowered:
    return Lowered(
        "layer_norm",
        (args[0], tuple(module.normalized_shape), _ref(module, path, "weight"), _ref(module, path, "bias")),
    )


@bind_function(F.layer_norm, torch.ops.aten.layer_norm)
def _layer_norm_function(args, kwargs) -> Lowered:
    return Lowered(
        "layer_norm",
        (
            args[0],
            tuple(arg(args, kwargs, 1, "normalized_shape")),
            arg(args, kwargs, 2, "weight"),
            arg(args, kwargs, 3, "bias"),
        ),
    )


@bind_module(nn.RMSNorm)
def _rms_norm_module(module: nn.RMSNorm, path: str, args, kwargs) -> Lowered:
    return Lowered("rms_norm", (args[0], tuple(module.normalized_shape), _ref(module, path, "weight")))


@bind_function(F.rms_norm, torch.ops.aten.rms_norm)
def _rms_norm_function(args, kwargs) -> Lowered:
    return Lowered(
        "rms_norm", (args[0], tuple(arg(args, kwargs, 1, "normalized_shape")), arg(args, kwargs, 2, "weight"))
    )


@bind_module_name("*RMSNorm", "T5LayerNorm")
def _rms_norm_named(module: nn.Module, path: str, args, kwargs) -> Lowered:
    """Hugging Face RMSNorm modules (Llama, Mistral, Qwen, T5...): a per-feature ``weight``."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 1:
        return Lowered("unknown", (args[0],), {"reason": "an RMSNorm without a 1-D weight"})
    return Lowered("rms_norm", (args[0], (weight.shape[0],), _ref(module, path, "weight")))


@bind_module(nn.GroupNorm)
def _group_norm_module(module: nn.GroupNorm, path: str, args, kwargs) -> Lowered:
    return Lowered("group_norm", (args[0], module.num_groups, _ref(module, path, "weight"), _ref(module, path, "bias")))


@bind_function(F.group_norm, torch.ops.aten.group_norm)
def _group_norm_function(args, kwargs) -> Lowered:
    return Lowered(
        "group_norm",
        (args[0], arg(args, kwargs, 1, "num_groups"), arg(args, kwargs, 2, "weight"), arg(args, kwargs, 3, "bias")),
    )


def _channel_layout(b: SpecBuilder, op: Op, x: Value, size: int, channel_dim_pos: int = 1) -> Layout:
    """Layout of a norm input whose channels are on dim 1 (BatchNorm / GroupNorm)."""
    layout = b.get(x)
    ndim = b.ndim(x, layout)
    if layout is None:
        if ndim is None:
            raise fail(op, "normalises a model input of unknown rank; pass example_inputs")
        return b.input_layout(op, x, channel_dim_pos - ndim, size, ndim)
    dims = layout.dims
    if len(dims) != 1 or (ndim is not None and dims[0] != channel_dim_pos - ndim):
        raise fail(op, f"normalises dim {channel_dim_pos} but the neurons lie on dims {dims}")
    if not layout.is_vector_on(dims[0]) or layout.size_on(dims[0]) != size:
        raise fail(
            op,
            f"expects {size} channels; the input carries {layout.axes}. Per-position norm "
            "parameters (e.g. BatchNorm1d after flatten) are not per-neuron and not supported.",
        )
    return layout


def _place(b: SpecBuilder, op: Op, layout: Layout, refs: list[tuple[object, NodeFeature]]) -> None:
    for ref, column in refs:
        ref = param_or_none(op, ref, column.name.lower())
        if ref is not None:
            b.node_param(op, ref, layout.nodes, column)


@register_op("batch_norm")
def batch_norm(b: SpecBuilder, op: Op) -> None:
    x = require_value(op, op.args[0], "input")
    weight, bias, mean, var = op.args[1:5]
    size = next((r.shape[0] for r in (weight, bias, mean, var) if isinstance(r, ParamRef)), None)
    if size is None:
        raise fail(op, "BatchNorm without affine parameters or running statistics has nothing to place")
    layout = b.annotate(op, _channel_layout(b, op, x, size), NORM_LEVEL, norm=Norm.BATCH)
    _place(
        b,
        op,
        layout,
        [
            (weight, NodeFeature.NORM_WEIGHT),
            (bias, NodeFeature.NORM_BIAS),
            (mean, NodeFeature.RUNNING_MEAN),
            (var, NodeFeature.RUNNING_VAR),
        ],
    )
    b.set(op.out, layout)


@register_op("layer_norm")
def layer_norm(b: SpecBuilder, op: Op) -> None:
    shape, weight, bias = op.args[1:4]
    _feature_norm(b, op, "LayerNorm", shape, [(weight, NodeFeature.NORM_WEIGHT), (bias, NodeFeature.NORM_BIAS)])


@register_op("rms_norm")
def rms_norm(b: SpecBuilder, op: Op) -> None:
    # recorded as the LAYER kind with no NORM_BIAS: a new Norm kind would resize the metanets' norm tables
    shape, weight = op.args[1:3]
    _feature_norm(b, op, "RMSNorm", shape, [(weight, NodeFeature.NORM_WEIGHT)])


def _feature_norm(b: SpecBuilder, op: Op, kind: str, shape, params: list) -> None:
    """A norm over the feature (last) dim: its nodes get the LAYER norm kind and ``params`` as features."""
    x = require_value(op, op.args[0], "input")
    if len(shape) != 1:
        raise fail(
            op,
            f"{kind} over {len(shape)} dims {tuple(shape)} has per-position parameters; only "
            f"{kind} over the feature dim (normalized_shape of length 1) is supported",
        )
    layout = b.get(x)
    if layout is None:
        layout = b.input_layout(op, x, -1, shape[0], b.ndim(x))
    heads = _heads_before(layout, shape[0])
    if heads:
        return _per_head_norm(b, op, layout, heads, params)
    if not layout.is_vector_on(-1) or layout.size_on(-1) != shape[0]:
        raise fail(op, f"normalises the last dim ({shape[0]}) but the neurons lie on {layout.axes}")
    layout = b.annotate(op, layout, NORM_LEVEL, norm=Norm.LAYER)
    _place(b, op, layout, params)
    b.set(op.out, layout)


def _heads_before(layout: Layout, size: int) -> int:
    """The number of heads when ``layout`` is ``[.., heads, .., dims]`` with ``size`` dims on the last dim
    and the heads on another one (attention heads before a per-head norm), else 0."""
    axes = layout.axes
    if len(axes) == 2 and not layout.has_reps and axes[1].dim == -1 and axes[1].size == size and axes[0].dim != -1:
        return axes[0].size
    return 0


def _per_head_norm(b: SpecBuilder, op: Op, layout: Layout, heads: int, params: list) -> None:
    """A norm over each attention head's dims with one weight for all heads (query / key norm of Qwen3,
    OLMo 2, Gemma 3): the weight is placed on every head's nodes; heads may still move as blocks, but a
    dim may not move inside its head (every head would have to move it alike, with the weight)."""
    layout = b.annotate(op, layout, NORM_LEVEL, norm=Norm.LAYER)
    b.symmetry.fix_inner(layout.grid, heads)
    for ref, column in params:
        ref = param_or_none(op, ref, column.name.lower())
        if ref is not None:
            for head, nodes in enumerate(layout.grid.reshape(heads, -1)):
                b.node_param(op, ref, nodes, column, claim=head == 0, tie=False)
    b.set(op.out, layout)


@register_op("group_norm")
def group_norm(b: SpecBuilder, op: Op) -> None:
    x = require_value(op, op.args[0], "input")
    groups, weight, bias = op.args[1:4]
    layout = b.get(x)
    size = next((r.shape[0] for r in (weight, bias) if isinstance(r, ParamRef)), None)
    if size is None:
        if layout is None:
            raise fail(op, "GroupNorm without affine parameters on a model input has nothing to place")
        size = layout.size_on(layout.dims[0])
    layout = b.annotate(op, _channel_layout(b, op, x, size), NORM_LEVEL, norm=Norm.GROUP)
    if 1 < groups:
        b.symmetry.require_split(layout.nodes, int(groups))
    _place(b, op, layout, [(weight, NodeFeature.NORM_WEIGHT), (bias, NodeFeature.NORM_BIAS)])
    b.set(op.out, layout)
