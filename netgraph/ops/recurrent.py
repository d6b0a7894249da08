"""Recurrent layers: ``nn.LSTM`` and ``nn.GRU`` (unidirectional, any number of layers; a leaf module under
``torch.fx``, ``aten.lstm`` / ``aten.gru`` under ``torch.export``).

The graph of one recurrent layer with ``H`` hidden units:

* one node space per gate (LSTM: ``i, f, g, o``; GRU: ``r, z, n``), ``H`` nodes each, with activation
  SIGMOID (``g`` and ``n``: TANH);
* ``weight_ih`` rows are LINEAR edges from the input nodes to the gate nodes;
* one space of ``H`` hidden-state nodes (PRODUCT nodes: the state is an elementwise combination of the
  gates; the LSTM cell state shares these nodes), reached from every gate by fixed PRODUCT edges;
* ``weight_hh`` rows are LINEAR edges from the hidden-state nodes back to the gate nodes (the recurrent
  loop: these edges go from a later layer index to an earlier one);
* ``bias_ih`` is the BIAS feature of the gate nodes; ``bias_hh`` (not foldable into ``bias_ih``: GRU's ``n``
  gate multiplies it by ``r``) is stored in the NORM_BIAS column of the gate nodes, which gates otherwise
  leave empty, so the node-feature width is the same as for every other graph.

The symmetry is the permutation of hidden units: one level-0 group moves hidden unit ``j`` together with
row ``j`` of every gate (and the ``j``-th column of ``weight_hh``). Permuting a gate's rows alone is not
a symmetry. Bidirectional layers, ``proj_size > 0`` and a user-given initial state are refused.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..trace.builder import BIAS_LEVEL, SpecBuilder
from ..trace.ir import Op, ParamRef, Value
from ..trace.layout import Axis
from ..types import Activation, EdgeType, NodeFeature, NodeType
from ._common import fail, require_value
from .registry import Lowered, arg, bind_function, bind_module, register_op

aten = torch.ops.aten

_GATES = {
    "lstm": (("i", Activation.SIGMOID), ("f", Activation.SIGMOID), ("g", Activation.TANH), ("o", Activation.SIGMOID)),
    "gru": (("r", Activation.SIGMOID), ("z", Activation.SIGMOID), ("n", Activation.TANH)),
}


def _params(module: nn.RNNBase, path: str) -> tuple[ParamRef | None, ...]:
    prefix = f"{path}." if path else ""
    refs = []
    for layer in range(module.num_layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            tensor = getattr(module, f"{name}_l{layer}", None)
            refs.append(None if tensor is None else ParamRef(f"{prefix}{name}_l{layer}", tuple(tensor.shape)))
    return tuple(refs)


@bind_module(nn.LSTM, nn.GRU)
def _rnn_module(module: nn.RNNBase, path: str, args, kwargs) -> Lowered:
    kind = "lstm" if isinstance(module, nn.LSTM) else "gru"
    attrs = {
        "cell": kind,
        "num_layers": module.num_layers,
        "bidirectional": module.bidirectional,
        "proj_size": getattr(module, "proj_size", 0),
        "nested": True,
    }
    hx = arg(args, kwargs, 1, "hx")
    return Lowered("rnn", (args[0], hx, _params(module, path)), attrs)


def _aten_binding(kind: str):
    def lower(args, kwargs) -> Lowered:
        params = tuple(args[2])
        has_biases, num_layers, bidirectional = args[3], args[4], args[7]
        per_layer = 4 if has_biases else 2
        refs: list[ParamRef | None] = []
        for layer in range(num_layers if not bidirectional else 0):
            chunk = list(params[layer * per_layer : (layer + 1) * per_layer])
            refs.extend(chunk if has_biases else [*chunk, None, None])
        projected = len(params) > num_layers * per_layer * (2 if bidirectional else 1)  # weight_hr_l* follow
        attrs = {"cell": kind, "num_layers": num_layers, "bidirectional": bidirectional, "proj_size": int(projected)}
        hx = tuple(args[1]) if isinstance(args[1], (list, tuple)) else (args[1],)
        return Lowered("rnn", (args[0], hx, tuple(refs)), {**attrs, "nested": False, "aten_hx": True})

    return lower


bind_function(aten.lstm.input)(_aten_binding("lstm"))
bind_function(aten.gru.input)(_aten_binding("gru"))


def _check_initial_state(b: SpecBuilder, op: Op, hx) -> None:
    """A user-given initial state would be data on the hidden units (not permuted with them): refused.
    Under ``torch.export`` the zeros the module creates itself are accepted."""
    if op.attrs.get("aten_hx"):
        makers = {o.out.name: o.target for o in b.program.ops}
        states = hx if isinstance(hx, (tuple, list)) else (hx,)
        if all(isinstance(h, Value) and "zeros" in str(makers.get(h.name, "")) for h in states):
            return
    elif hx is None:
        return
    raise fail(
        op,
        "an initial hidden state (h0 / c0) is passed to the recurrent layer; netgraph maps only the default zero "
        "state (the state's units are permuted with the hidden units). Call the layer without hx.",
    )


@register_op("rnn")
def recurrent(b: SpecBuilder, op: Op) -> None:
    x_value, hx, refs = op.args
    cell, num_layers = op.attrs["cell"], op.attrs["num_layers"]
    if op.attrs["bidirectional"]:
        raise fail(op, "bidirectional recurrent layers are not supported; use bidirectional=False")
    if op.attrs["proj_size"]:
        raise fail(op, "LSTM with proj_size > 0 is not supported; use proj_size=0")
    _check_initial_state(b, op, hx)
    x = require_value(op, x_value, "input")
    gates = _GATES[cell]
    hidden = refs[1].shape[1]
    input_size = refs[0].shape[1]
    layout = b.get(x) or b.input_layout(op, x, -1, input_size, b.ndim(x))
    if not layout.is_vector_on(-1) or layout.size_on(-1) != input_size:
        raise fail(op, f"the input must carry {input_size} neurons on the last dim, got {layout.axes}")
    in_nodes = layout.nodes
    states = []
    for layer in range(num_layers):
        w_ih, w_hh, b_ih, b_hh = refs[4 * layer : 4 * layer + 4]
        n_in = w_ih.shape[1]
        gate_nodes = []
        for k, (name, act) in enumerate(gates):
            nodes = b.new_space(
                op, hidden, NodeType.HIDDEN, role=f"layer {layer} gate {name}", inputs=[in_nodes], level=BIAS_LEVEL
            )
            b.spaces[b.space_index(int(nodes[0]))].act = act
            rows = (k * hidden, (k + 1) * hidden)
            b.weight_edges(
                op,
                w_ih,
                out_nodes=nodes,
                in_nodes=in_nodes,
                view=(hidden, n_in),
                perm=(0, 1),
                rows=rows,
                edge_type=EdgeType.LINEAR,
                claim=k == 0,
                layer_name=f"{op.where} layer {layer} gate {name} (input)",
            )
            if b_ih is not None:
                b.node_param(op, b_ih, nodes, NodeFeature.BIAS, rows=rows, claim=k == 0)
                b.node_param(op, b_hh, nodes, NodeFeature.NORM_BIAS, rows=rows, claim=k == 0)
            gate_nodes.append(nodes)
        state = b.new_space(op, hidden, NodeType.PRODUCT, role=f"layer {layer} hidden state", inputs=gate_nodes)
        for k, ((name, _), nodes) in enumerate(zip(gates, gate_nodes)):
            b.const_edges(nodes, state, 1.0, EdgeType.PRODUCT)
            b.weight_edges(
                op,
                w_hh,
                out_nodes=nodes,
                in_nodes=state,
                view=(hidden, hidden),
                perm=(0, 1),
                rows=(k * hidden, (k + 1) * hidden),
                edge_type=EdgeType.LINEAR,
                claim=k == 0,
                layer_name=f"{op.where} layer {layer} gate {name} (recurrent)",
            )
            b.couple(state, nodes)
        states.append(state)
        in_nodes = state
    ndim = b.ndim(x, layout)
    out = b.fresh_layout(op.out, states[-1], (Axis(-1, hidden),), ndim)
    final_ndim = None if ndim is None else (3 if ndim == 3 else 2)
    if num_layers == 1:
        final = b.fresh_layout(op.out, states[0], (Axis(-1, hidden),), final_ndim)
    else:  # [num_layers, (batch,) hidden]: selecting a layer's state is refused downstream, never misread
        lead = -3 if final_ndim == 3 else -2
        final = b.fresh_layout(op.out, torch.stack(states), (Axis(lead, num_layers), Axis(-1, hidden)), final_ndim)
    finals = (final, final) if cell == "lstm" else final
    if op.attrs["nested"]:
        b.layouts[op.out.name] = (out, finals)
    else:
        b.layouts[op.out.name] = (out, final, final) if cell == "lstm" else (out, final)
