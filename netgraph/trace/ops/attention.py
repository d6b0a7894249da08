"""Attention: ``nn.MultiheadAttention`` (one composite op), scaled-dot-product attention and the
matrix products of hand-written attention (``q @ k.transpose(-2, -1)``, ``probs @ v``).

Queries, keys and values are node spaces (QUERY / KEY / VALUE). The symmetries of attention are
encoded as couplings: heads may be permuted (the same head permutation for q, k, v and the output
projection's inputs); inside a head, query and key dims are permuted together, and value dims
independently (the output projection's input edges follow the value nodes).
"""

from __future__ import annotations

import operator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import BIAS_LEVEL, SpecBuilder
from ..ir import Op, ParamRef
from ..layout import Axis, Layout
from ...types import EdgeType, NodeFeature, NodeType
from ._common import fail, require_value
from .registry import Lowered, arg, bind_function, bind_method, bind_module, register_op

aten = torch.ops.aten


@bind_module(nn.MultiheadAttention, composite=True)
def _mha_module(module: nn.MultiheadAttention, path: str, args, kwargs) -> Lowered:
    query = arg(args, kwargs, 0, "query")
    key = arg(args, kwargs, 1, "key", query)
    value = arg(args, kwargs, 2, "value", key)
    return Lowered("mha", (query, key, value), {"module": module, "path": path})


@register_op("mha")
def multihead_attention(b: SpecBuilder, op: Op) -> None:
    module: nn.MultiheadAttention = op.attrs["module"]
    path = op.attrs["path"]
    if module.bias_k is not None or module.bias_v is not None:
        raise fail(op, "nn.MultiheadAttention with add_bias_kv=True is not supported")
    embed, heads = module.embed_dim, module.num_heads
    in_sizes = (embed, module.kdim, module.vdim)
    prefix = f"{path}." if path else ""

    def ref(name: str) -> ParamRef | None:
        try:
            tensor = module.get_parameter(name)
        except AttributeError:
            return None
        return None if tensor is None else ParamRef(prefix + name, tuple(tensor.shape))

    spaces = []
    roles = (("q", NodeType.QUERY), ("k", NodeType.KEY), ("v", NodeType.VALUE))
    for i, ((role, node_type), operand, size) in enumerate(zip(roles, op.args[:3], in_sizes)):
        x = require_value(op, operand, f"{role} input")
        layout = b.get(x) or b.input_layout(op, x, -1, size, b.ndim(x))
        if not layout.is_vector_on(-1) or layout.size_on(-1) != size:
            raise fail(op, f"the {role} input must carry {size} neurons on the last dim, got {layout.axes}")
        nodes = b.new_space(op, embed, node_type, role=role, inputs=[layout.nodes], level=BIAS_LEVEL)
        rows = (i * embed, (i + 1) * embed)
        bias = ref("in_proj_bias")
        if module._qkv_same_embed_dim:
            weight, weight_rows, claim = ref("in_proj_weight"), rows, i == 0
        else:
            weight, weight_rows, claim = ref(f"{role}_proj_weight"), None, True
        b.weight_edges(
            op,
            weight,
            out_nodes=nodes,
            in_nodes=layout.nodes,
            view=(embed, size),
            perm=(0, 1),
            rows=weight_rows,
            edge_type=EdgeType.LINEAR,
            claim=claim,
            layer_name=f"{op.where} {role}",
        )
        if bias is not None:
            b.node_param(op, bias, nodes, NodeFeature.BIAS, rows=rows, claim=i == 0)
        spaces.append(nodes)
    q, k, v = spaces
    b.symmetry.couple(q, k)
    if heads > 1:
        b.symmetry.couple_heads(q, v, heads)
    out = b.new_space(op, embed, NodeType.HIDDEN, role="out", inputs=[v], level=BIAS_LEVEL)
    b.weight_edges(
        op,
        ref("out_proj.weight"),
        out_nodes=out,
        in_nodes=v,
        view=(embed, embed),
        perm=(0, 1),
        edge_type=EdgeType.LINEAR,
        bias=ref("out_proj.bias"),
        layer_name=f"{op.where} out",
    )
    layout = b.fresh_layout(op.out, out, (Axis(-1, embed),), b.ndim(op.args[0]))
    b.layouts[op.out.name] = layout if op.attrs.get("direct_output") else (layout, None)


def _heads(op: Op, layout: Layout | None, role: str) -> tuple[int, int]:
    """(heads, dims per head) of a q/k/v layout ``[.., heads, tokens, dims]`` or ``[.., tokens, dims]``."""
    if layout is None:
        raise fail(op, f"the attention {role} does not come from a layer of the module")
    if layout.is_vector_on(-1):
        return 1, layout.grid.numel()
    if layout.axes == (Axis(-3, layout.grid.shape[0]), Axis(-1, layout.grid.shape[1])):
        return layout.grid.shape[0], layout.grid.shape[1]
    raise fail(op, f"attention {role} neurons must be laid out as [.., heads, tokens, dims]; got {layout.axes}")


@bind_function(F.scaled_dot_product_attention, aten.scaled_dot_product_attention)
def _sdpa(args, kwargs) -> Lowered:
    if kwargs.get("enable_gqa"):
        return Lowered("unknown", args[:3], {"reason": "grouped-query attention"})
    return Lowered("sdpa", (*args[:3], arg(args, kwargs, 3, "attn_mask")))


def _repeated_heads(layout: Layout | None) -> tuple[int, int, int] | None:
    """(kv heads, repeats, dims) of a key/value layout repeated for grouped-query attention
    (``[.., kv_heads * repeats, tokens, dims]`` made by ``repeat_kv``), else None."""
    if layout is None or len(layout.axes) != 3:
        return None
    heads, rep, dims = layout.axes
    if heads.dim == rep.dim == -3 and not heads.rep and rep.rep and dims.dim == -1 and not dims.rep:
        return heads.size, rep.size, dims.size
    return None


def _grouped_query(b: SpecBuilder, op: Op, lq: Layout, lk: Layout, lv: Layout) -> bool:
    """Grouped-query attention: each key/value head serves a group of consecutive query heads.

    The output gets its own nodes, one per query head and value dim, each fed by a fixed edge from the
    value node it copies, so the output projection reads ordinary neurons. Symmetry: a key/value head
    moves with its query-head group and their outputs (level 0); inside a group, the query heads move
    with their outputs (level 1), the value dims with the outputs' dims, and the key dims with the dims
    of every query head of the group (level 1; pinned when rotary embeddings rearrange them)."""
    rk, rv = _repeated_heads(lk), _repeated_heads(lv)
    if rk is None and rv is None and _one_broadcast_head(lk) and _one_broadcast_head(lv):
        # multi-query attention: one key/value head broadcast over every query head (a size-1 head
        # dim expanded by repeat_kv leaves only the dims axis); the query heads are its repeats
        hq, _ = _heads(op, lq, "query")
        if hq > 1:
            rk = rv = (1, hq, lk.grid.numel())
    if rk is None or rv is None or rk[:2] != rv[:2]:
        return False
    hq, dq = _heads(op, lq, "query")
    kv_heads, repeats, dk = rk
    if hq != kv_heads * repeats or dq != dk:
        raise fail(
            op,
            f"grouped-query attention with {hq} query heads of {dq} dims and {kv_heads} x {repeats} "
            f"key heads of {dk} dims does not match",
        )
    b.symmetry.fix_inner(lq.grid, hq)
    b.symmetry.couple_heads(lq.grid, lk.grid, kv_heads)
    b.symmetry.couple_heads(lq.grid, lv.grid, kv_heads)
    out = b.new_space(op, hq * dk, NodeType.VALUE, role="value of each query head", inputs=[lv.grid])
    copied = lv.grid.reshape(kv_heads, 1, dk).expand(kv_heads, repeats, dk)  # value node of each output
    b.const_edges(copied.reshape(-1), out, 1.0, EdgeType.RESIDUAL)
    grid = out.reshape(hq, dk)
    b.symmetry.fix_inner(grid, kv_heads)
    b.symmetry.couple_heads(lq.grid, grid, kv_heads)
    b.symmetry.query_groups(lq.grid, lk.grid, lv.grid, out, kv_heads)
    b.set(op.out, b.fresh_layout(op.out, grid, (Axis(-3, hq), Axis(-1, dk)), b.ndim(op.out, lv)))
    return True


def _one_broadcast_head(layout: Layout | None) -> bool:
    """A key/value layout ``[.., 1 or broadcast, tokens, dims]``: neurons only on the last dim."""
    return layout is not None and len(layout.axes) == 1 and layout.is_vector_on(-1)


def _mask_bias(b: SpecBuilder, op: Op, lq: Layout) -> None:
    """An additive attention mask computed from neurons (T5's relative position bias, one value per head
    on dim -3): its neurons move with the query heads."""
    mask = op.args[3] if len(op.args) > 3 else None
    layout = b.get(mask)
    if layout is None:
        return
    heads, _ = _heads(op, lq, "query")
    if len(layout.axes) != 1 or layout.axes[0] != Axis(-3, heads) or heads < 1:
        raise fail(
            op,
            f"the attention mask carries neurons laid out as {layout.axes}; only one value per head "
            "(dim -3) is supported",
        )
    b.symmetry.couple_heads(layout.grid, lq.grid, heads)


@register_op("sdpa")
def scaled_dot_product_attention(b: SpecBuilder, op: Op) -> None:
    lq, lk, lv = (b.get(a) for a in op.args[:3])
    if len(op.args) > 3 and b.get(op.args[3]) is not None:
        _mask_bias(b, op, lq)
    if _grouped_query(b, op, lq, lk, lv):
        return
    (hq, dq), (hk, dk), (hv, _) = _heads(op, lq, "query"), _heads(op, lk, "key"), _heads(op, lv, "value")
    if not hq == hk == hv or dq != dk:
        raise fail(
            op, f"query/key/value heads differ ({hq}x{dq}, {hk}x{dk}, {hv}); grouped-query attention is not supported"
        )
    b.symmetry.couple(lq.grid, lk.grid)
    if hq > 1:
        b.symmetry.couple_heads(lq.grid, lv.grid, hq)
    b.set(op.out, b.fresh_layout(op.out, lv.grid, lv.axes, b.ndim(op.out, lv)))


@bind_function(torch.matmul, operator.matmul, torch.bmm, aten.matmul, aten.bmm)
@bind_method("matmul", "bmm", "__matmul__")
def _matmul(args, kwargs) -> Lowered:
    return Lowered("matmul", (args[0], args[1]))


@register_op("matmul")
def matmul(b: SpecBuilder, op: Op) -> None:
    left, right = op.args
    if isinstance(left, ParamRef) or isinstance(right, ParamRef):
        raise fail(op, "a matrix product with a parameter; express the layer as nn.Linear / F.linear")
    la, lr = b.get(left), b.get(right)
    if la is None and lr is None:
        return
    if lr is None:
        if any(a.dim == -1 for a in la.axes):
            raise fail(op, "contracts neurons with data")
        b.set(op.out, la)
    elif la is None:
        if any(a.dim == -2 for a in lr.axes):
            raise fail(op, "contracts neurons with data")
        b.set(op.out, lr)
    elif all(a.dim is not None for a in la.axes):
        _scores(b, op, la, lr)
    else:
        _weighted_values(b, op, la, lr)


def _scores(b: SpecBuilder, op: Op, lq: Layout, lk: Layout) -> None:
    """``q @ k^T``: contracting dims of q and k are tied; heads survive in the scores."""
    head_axes = [a for a in lq.axes if a.dim != -1]
    expected_k = tuple(Axis(-2 if a.dim == -1 else a.dim, a.size) for a in lq.axes)
    if lk.axes != expected_k or lq.grid.shape != lk.grid.shape or any(a.dim != -3 for a in head_axes):
        raise fail(
            op,
            f"matrix product of neurons laid out as {lq.axes} and {lk.axes} is not an attention "
            "score q @ k^T; not supported",
        )
    b.symmetry.couple(lq.grid, lk.grid)
    if head_axes:
        axes = tuple(Axis(None, a.size) if a.dim == -1 else a for a in lq.axes)
        b.set(op.out, Layout(lq.grid, axes, lq.state, b.ndim(op.out, lq)))


def _weighted_values(b: SpecBuilder, op: Op, scores: Layout, lv: Layout) -> None:
    """``softmax(scores) @ v``: heads of the scores (hence of q) are tied to heads of v."""
    heads, _ = _heads(op, lv, "value")
    if scores.grid.shape[0] != heads:
        raise fail(op, "attention scores and values have different numbers of heads")
    b.symmetry.couple_heads(scores.grid, lv.grid, heads)
    b.set(op.out, b.fresh_layout(op.out, lv.grid, lv.axes, b.ndim(op.out, lv)))
