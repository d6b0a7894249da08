"""Fully connected layers: ``nn.Linear``, ``F.linear``, ``aten.linear``.

Each weight ``W[o, i]`` is an edge from input node ``i`` to output node ``o``; the bias is the BIAS
feature of the output nodes. A linear layer reading a flattened feature map (``flatten`` after a
conv) gets one edge per (channel, output) whose feature holds the spatial weights, like a kernel.
``aten.addmm(bias, x, W)`` (Hugging Face ``Conv1D``, GPT-2) is a linear layer with a transposed
weight ``W[i, o]``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import BIAS_LEVEL, SpecBuilder
from ..ir import Op, ParamRef, Value
from ..layout import Axis
from ...types import EdgeType, NodeType
from ._common import WeightNorm, fail, param_or_none, require_value, weight_param
from .registry import Lowered, arg, bind_function, bind_module, bind_module_name, register_op


@bind_module(nn.Linear)
def _linear_module(module: nn.Linear, path: str, args, kwargs) -> Lowered:
    bias = ParamRef(f"{path}.bias", tuple(module.bias.shape)) if module.bias is not None else None
    return Lowered("linear", (args[0], ParamRef(f"{path}.weight", tuple(module.weight.shape)), bias))


@bind_module_name("FalconLinear")
def _weight_transposed_linear(module: nn.Module, path: str, args, kwargs) -> Lowered:
    """Hugging Face's ``FalconLinear``: ``x @ weight.T (+ bias)``, an ``nn.Linear`` written by hand."""
    weight, bias = module.weight, getattr(module, "bias", None)
    bias_ref = ParamRef(f"{path}.bias", tuple(bias.shape)) if bias is not None else None
    return Lowered("linear", (args[0], ParamRef(f"{path}.weight", tuple(weight.shape)), bias_ref))


@bind_function(F.linear, torch.ops.aten.linear)
def _linear_function(args, kwargs) -> Lowered:
    return Lowered("linear", (args[0], arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias")))


@bind_function(torch.ops.aten.addmm)
def _addmm(args, kwargs) -> Lowered:
    if arg(args, kwargs, 3, "beta", 1) != 1 or arg(args, kwargs, 4, "alpha", 1) != 1:
        return Lowered("unknown", args, {"reason": "addmm with alpha/beta != 1"})
    return Lowered("linear", (args[1], args[2], args[0]), {"transposed": True})


@register_op("linear")
def linear(b: SpecBuilder, op: Op) -> None:
    weight_normed = isinstance(op.args[1], Value) and isinstance(b.get_raw(op.args[1]), WeightNorm)
    if b.get(op.args[0]) is None and not weight_normed and not any(isinstance(a, ParamRef) for a in op.args[1:3]):
        return  # a product of data (masks, positions): nothing to place
    x = require_value(op, op.args[0], "input")
    weight, pin_out = weight_param(b, op, op.args[1], "weight")
    bias = param_or_none(op, op.args[2], "bias")
    if weight is None or len(weight.shape) != 2:
        raise fail(op, "a linear layer needs a 2-D weight parameter")
    transposed = op.attrs.get("transposed", False)
    out_features, in_features = reversed(weight.shape) if transposed else weight.shape
    layout = b.get(x)
    if layout is None:
        layout = b.input_layout(op, x, -1, in_features, b.ndim(x))
    if any(a.dim != -1 for a in layout.axes):
        raise fail(
            op,
            f"the layer mixes dim -1 but the neurons of its input lie on dims {layout.dims}; "
            "a linear map over positions/tokens (e.g. MLP-Mixer token mixing) is not a "
            "neuron-to-neuron weight and is not supported.",
        )
    layout = layout.resolved_reps(-1, in_features)
    if layout.size_on(-1) != in_features:
        raise fail(op, f"weight expects {in_features} inputs but the input carries {layout.size_on(-1)}")
    axes = layout.axes_on(-1)
    node_pos = [i + 1 for i, a in enumerate(axes) if not a.rep]
    rep_pos = [i + 1 for i, a in enumerate(axes) if a.rep]
    kernel = tuple(axes[i - 1].size for i in rep_pos)
    in_nodes = layout.nodes
    out_nodes = b.new_space(op, out_features, NodeType.HIDDEN, role="out", inputs=[in_nodes], level=BIAS_LEVEL)
    if transposed:  # W[i, o]: the input axes come first
        view, perm = (*(a.size for a in axes), out_features), (len(axes), *(p - 1 for p in node_pos + rep_pos))
    else:
        view, perm = (out_features, *(a.size for a in axes)), (0, *node_pos, *rep_pos)
    b.weight_edges(
        op,
        weight,
        out_nodes=out_nodes,
        in_nodes=in_nodes,
        view=view,
        perm=perm,
        kernel=kernel,
        edge_type=EdgeType.FLATTEN if kernel else EdgeType.LINEAR,
        bias=bias,
        layer_name=op.where,
    )
    if pin_out:
        b.symmetry.fix(out_nodes)
    b.set(op.out, b.fresh_layout(op.out, out_nodes, (Axis(-1, out_features),), b.ndim(op.out, layout)))
