"""Embeddings: ``nn.Embedding``, ``F.embedding``, ``aten.embedding``.

An embedding is a linear map of a one-hot token: each token of the vocabulary is an INPUT node and
``W[t, d]`` is an edge from token node ``t`` to feature node ``d``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import BIAS_LEVEL, SpecBuilder
from ..ir import Op, ParamRef
from ..layout import Axis
from ...types import EdgeType, NodeType
from ._common import fail, param_or_none, require_value
from .registry import Lowered, arg, bind_function, bind_module, register_op


@bind_module(nn.Embedding)
def _embedding_module(module: nn.Embedding, path: str, args, kwargs) -> Lowered:
    return Lowered("embedding", (args[0], ParamRef(f"{path}.weight", tuple(module.weight.shape))))


@bind_function(F.embedding)
def _embedding_function(args, kwargs) -> Lowered:
    return Lowered("embedding", (args[0], arg(args, kwargs, 1, "weight")))


@bind_function(torch.ops.aten.embedding)
def _embedding_aten(args, kwargs) -> Lowered:
    return Lowered("embedding", (args[1], args[0]))


@bind_function(torch.ops.aten.index)
def _index_aten(args, kwargs) -> Lowered:
    indices = args[1]
    if (
        isinstance(args[0], ParamRef)
        and isinstance(indices, (list, tuple))
        and len(indices) == 1
        and indices[0] is not None
    ):
        return Lowered("embedding", (indices[0], args[0]))  # table[ids]: rows picked by data
    if not isinstance(args[0], ParamRef) and isinstance(indices, (list, tuple)):
        return Lowered("index_positions", (args[0], tuple(indices)))  # e.g. hidden[batch, last token]
    return Lowered("unknown", tuple(args), {"reason": "advanced indexing"})


@register_op("embedding")
def embedding(b: SpecBuilder, op: Op) -> None:
    ids = require_value(op, op.args[0], "token ids")
    weight = param_or_none(op, op.args[1], "weight")
    if weight is None or len(weight.shape) != 2:
        raise fail(op, "an embedding needs a 2-D weight parameter")
    if b.get(ids) is not None:
        raise fail(op, "the token ids are computed from neuron activations; only data ids are supported")
    vocab, dim = weight.shape
    tokens = b.new_space(op, vocab, NodeType.INPUT, role="tokens")
    b.symmetry.fix(tokens)
    out_nodes = b.new_space(op, dim, NodeType.HIDDEN, role="out", inputs=[tokens], level=BIAS_LEVEL)
    b.weight_edges(
        op,
        weight,
        out_nodes=out_nodes,
        in_nodes=tokens,
        view=(vocab, dim),
        perm=(1, 0),
        edge_type=EdgeType.EMBEDDING,
        layer_name=op.where,
    )
    ndim = None if b.ndim(ids) is None else b.ndim(ids) + 1
    b.set(op.out, b.fresh_layout(op.out, out_nodes, (Axis(-1, dim),), ndim))
