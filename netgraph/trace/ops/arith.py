"""Elementwise arithmetic: residual additions, gating products, scaling, learned per-feature terms.

* feature + feature (a residual connection): a new SUM space; identity edges (+1, or -1 for the
  subtracted operand) from both operands; both operands are coupled to it (permuted alike).
* feature * feature (gating): a new PRODUCT space with PRODUCT edges, coupled likewise.
* feature +/* constant or data: same neurons (no structure change). A constant that differs across
  neurons pins them (they are no longer permutable).
* feature + parameter (positional embeddings, learned biases): the parameter rows become INPUT
  "position" nodes with edges into a new SUM space.
* feature * parameter (per-feature scale, e.g. LayerScale): diagonal SCALE edges into a new space.
"""

from __future__ import annotations

import math
import operator

import torch

from ..builder import SpecBuilder
from ..ir import Op, ParamRef, Value
from ..layout import Layout
from ...types import EdgeType, NodeType
from ._common import ParameterSlice, fail
from .registry import Lowered, arg, bind_function, bind_method, register_op

aten = torch.ops.aten


def _binary(kind: str):
    def binding(args, kwargs):
        other = arg(args, kwargs, 1, "other")
        alpha = kwargs.get("alpha", 1)
        if alpha != 1:
            return Lowered("unknown", (args[0], other), {"reason": "add/sub with alpha != 1"})
        return Lowered(kind, (args[0], other))

    return binding


bind_function(operator.add, operator.iadd, torch.add, aten.add, aten.add_)(_binary("add"))
bind_method("add", "add_", "__add__", "__radd__")(_binary("add"))
bind_function(operator.sub, operator.isub, torch.sub, aten.sub, aten.sub_, aten.rsub)(_binary("sub"))
bind_method("sub", "sub_")(_binary("sub"))
bind_function(operator.mul, operator.imul, torch.mul, aten.mul, aten.mul_)(_binary("mul"))
bind_method("mul", "mul_")(_binary("mul"))
bind_function(operator.truediv, operator.itruediv, torch.div, aten.div, aten.div_)(_binary("div"))
bind_method("div", "div_")(_binary("div"))


@bind_function(torch.where, aten.where)
def _where(args, kwargs) -> Lowered:
    if len(args) < 3:
        return Lowered("meta", ())  # torch.where(cond): indices of data
    return Lowered("where", (args[0], args[1], args[2]))


@register_op("where")
def where(b: SpecBuilder, op: Op) -> None:
    """``where(cond, a, b)`` with one of ``a`` / ``b`` neurons and the other data or a constant (masking):
    the neurons keep their nodes; the condition and the fill are data (pinned if they vary across neurons)."""
    cond, left, right = op.args
    la, lb = b.get(left), b.get(right)
    if b.get(cond) is not None or (la is not None and lb is not None):
        raise fail(op, "selects between neurons elementwise (where on two neuron tensors / a neuron condition)")
    layout, other = (la, right) if la is not None else (lb, left)
    if layout is None:
        return
    if isinstance(other, ParamRef):
        raise fail(op, f"selects between neurons and parameter '{other.name}'")
    if not any(a.dim is None for a in layout.axes):
        pin_data(b, layout, cond)
        pin_data(b, layout, other)
    b.set(op.out, layout)


@bind_function(operator.neg, torch.neg, aten.neg)
@bind_method("neg", "__neg__")
def _neg(args, kwargs) -> Lowered:
    return Lowered("mul", (args[0], -1.0))


def _feature_sizes(shape: tuple[int, ...], layout: Layout) -> list[int]:
    """Sizes of ``shape`` (broadcast against the layout's tensor) on the layout's feature dims."""
    return [shape[d] if -d <= len(shape) else 1 for d in layout.dims]


@register_op("add")
def add(b: SpecBuilder, op: Op) -> None:
    _combine(b, op, sign=1.0)


@register_op("sub")
def sub(b: SpecBuilder, op: Op) -> None:
    _combine(b, op, sign=-1.0)


@register_op("mul")
def mul(b: SpecBuilder, op: Op) -> None:
    _combine(b, op, sign=None)


@register_op("div")
def div(b: SpecBuilder, op: Op) -> None:
    left, right = op.args
    if b.get(right) is not None or isinstance(right, ParamRef) or isinstance(left, ParamRef):
        raise fail(op, "division by neuron activations or by parameters is not supported")
    _with_constant(b, op, b.get(left), right)


def _combine(b: SpecBuilder, op: Op, sign: float | None) -> None:
    left, right = op.args
    la, lb = b.get(left), b.get(right)
    if la is None and lb is None:
        if isinstance(left, ParamRef) or isinstance(right, ParamRef):
            raise fail(
                op,
                "combines a parameter with input data directly; netgraph maps parameters only "
                "as weights of layers acting on neurons",
            )
        return
    if la is not None and lb is not None:
        _two_features(b, op, la, lb, sign)
    elif la is None and sign == -1.0:
        raise fail(op, "subtracts neurons from a constant; write it as an addition of negated features")
    else:
        layout, other = (la, right) if la is not None else (lb, left)
        parameter = ParameterSlice.of(b, other)
        if isinstance(other, ParamRef) or (
            parameter is not None and sign == 1.0 and not parameter.sliced & set(layout.dims)
        ):
            _with_parameter(b, op, layout, parameter.param, sign)
        elif parameter is not None:  # pinned, as data: the neurons are cut, or a slice is scaled / subtracted
            b.keep_in_aux(op, parameter.param)
            b.symmetry.fix(layout.nodes)
            b.set(op.out, layout)
        else:
            _with_constant(b, op, layout, other)


def _with_constant(b: SpecBuilder, op: Op, layout: Layout | None, other: object) -> None:
    if layout is None:
        return
    pin_data(b, layout, other)
    b.set(op.out, layout)


def pin_data(b: SpecBuilder, layout: Layout, other: object) -> None:
    """Data combined with neurons elementwise: if it may differ across neurons (its size on a
    neuron dim is above 1, or unknown under symbolic tracing) the neurons are pinned."""
    if isinstance(other, (int, float, bool)) or other is None:
        return
    shape = other.shape if isinstance(other, Value) else tuple(other.shape) if isinstance(other, torch.Tensor) else None
    if isinstance(other, Value) and other.name in b.expanded_from:  # constant along the dims it was expanded on
        shape = b.expanded_from[other.name]
    if shape is None:
        b.symmetry.fix(layout.nodes)
        return
    varies = [s > 1 for s in _feature_sizes(shape, layout)]
    node_dims = [a.dim for a in layout.node_axes]
    if (
        len(node_dims) == 2
        and not layout.has_reps
        and node_dims[0] != node_dims[1]
        and varies == [False, True]
        and layout.dims == tuple(sorted(node_dims))
        and node_dims[0] < node_dims[1]
    ):
        b.symmetry.fix_inner(layout.grid, layout.grid.shape[0])  # e.g. rotary cos/sin: same for every head
    elif any(varies):
        b.symmetry.fix(layout.nodes)


def _head_bias(b: SpecBuilder, scores: Layout, bias: Layout) -> bool:
    """Attention scores plus one value per head (a relative position bias): the bias neurons move with
    their heads. Returns False when the operands are not laid out that way."""
    heads = [a for a in scores.axes if a.dim is not None]
    if not any(a.dim is None for a in scores.axes) or len(heads) != 1 or len(bias.axes) != 1 or bias.has_reps:
        return False
    if bias.axes[0].dim != heads[0].dim or bias.axes[0].size != heads[0].size:
        return False
    b.symmetry.couple_heads(bias.grid, scores.grid, heads[0].size)
    return True


def _two_features(b: SpecBuilder, op: Op, la: Layout, lb: Layout, sign: float | None) -> None:
    if sign == 1.0 and (_head_bias(b, la, lb) or _head_bias(b, lb, la)):
        b.set(op.out, la if any(a.dim is None for a in la.axes) else lb)
        return
    if la.axes != lb.axes:
        raise fail(op, f"combines neurons laid out differently ({la.axes} vs {lb.axes})")
    if any(a.dim is None for a in la.axes):
        raise fail(op, "combines two attention score tensors; not supported")
    node_type = NodeType.PRODUCT if sign is None else NodeType.SUM
    out = b.new_space(
        op, la.grid.numel(), node_type, role="sum" if sign is not None else "product", inputs=[la.grid, lb.grid]
    ).reshape(la.grid.shape)
    edge_type = EdgeType.PRODUCT if sign is None else EdgeType.RESIDUAL
    b.const_edges(la.grid, out, 1.0, edge_type)
    b.const_edges(lb.grid, out, 1.0 if sign is None else sign, edge_type)
    b.symmetry.couple(la.grid, out)
    b.symmetry.couple(lb.grid, out)
    b.set(op.out, b.fresh_layout(op.out, out, la.axes, la.ndim))


def _with_parameter(b: SpecBuilder, op: Op, layout: Layout, param: ParamRef, sign: float | None) -> None:
    if len(layout.dims) != 1 or layout.has_reps:
        raise fail(op, f"a parameter combined with neurons on several dims / flattened maps ({layout.axes})")
    dim = layout.dims[0]
    n = layout.grid.numel()
    shape = tuple(param.shape)
    if -dim > len(shape) or shape[dim] != n:
        raise fail(op, f"parameter '{param.name}' {shape} does not hold one value per neuron on dim {dim} ({n})")
    rest = [s for i, s in enumerate(shape) if i != len(shape) + dim]
    positions = math.prod(rest)
    feature_axis = len(shape) + dim
    perm = (feature_axis, *[i for i in range(len(shape)) if i != feature_axis])
    if sign is None:
        if positions != 1:
            raise fail(op, f"multiplies neurons by parameter '{param.name}' {shape} that varies across positions")
        out = b.new_space(op, n, NodeType.HIDDEN, role="scaled", inputs=[layout.grid])
        b.weight_edges(
            op, param, out_nodes=out, in_nodes=layout.nodes, view=shape, perm=perm, groups=n, edge_type=EdgeType.SCALE
        )
    elif sign < 0:
        raise fail(op, f"subtracting parameter '{param.name}' from neurons is not supported; add its negation")
    else:
        tokens = b.new_space(op, positions, NodeType.INPUT, role=f"positions of {param.name}")
        b.symmetry.fix(tokens)
        out = b.new_space(op, n, NodeType.SUM, role="sum", inputs=[layout.grid])
        b.weight_edges(op, param, out_nodes=out, in_nodes=tokens, view=shape, perm=perm, edge_type=EdgeType.EMBEDDING)
        b.const_edges(layout.nodes, out, 1.0, EdgeType.RESIDUAL)
    grid = out.reshape(layout.grid.shape)
    b.symmetry.couple(layout.grid, grid)
    b.set(op.out, b.fresh_layout(op.out, grid, layout.axes, layout.ndim))
