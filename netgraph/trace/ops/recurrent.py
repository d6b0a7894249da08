"""Recurrent layers: ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` (tanh or ReLU), any number of layers, one
or two directions (a leaf module under ``torch.fx``; ``aten.lstm`` / ``aten.gru`` / ``aten.rnn_tanh`` /
``aten.rnn_relu`` under ``torch.export``).

The graph of one recurrent layer and direction with ``H`` hidden units:

* one node space per gate (LSTM: ``i, f, g, o``; GRU: ``r, z, n``; RNN: one gate ``h``), ``H`` nodes
  each, with activation SIGMOID (``g``, ``n`` and RNN's ``h``: TANH, or RELU for ``nonlinearity="relu"``);
* ``weight_ih`` rows are LINEAR edges from the input nodes to the gate nodes;
* one space of ``H`` hidden-state nodes (PRODUCT nodes: the state is an elementwise combination of the
  gates, RNN's the gate itself; the LSTM cell state shares these nodes), reached from every gate by
  fixed PRODUCT edges;
* ``weight_hh`` rows are LINEAR edges from the hidden-state nodes back to the gate nodes (the recurrent
  loop: these edges go from a later layer index to an earlier one);
* ``bias_ih`` is the BIAS feature of the gate nodes; ``bias_hh`` (not foldable into ``bias_ih``: GRU's ``n``
  gate multiplies it by ``r``) is stored in the NORM_BIAS column of the gate nodes, which gates otherwise
  leave empty, so the node-feature width is the same as for every other graph.

A bidirectional layer has both directions side by side (spaces named ``layer k reverse ...`` for the
backward one); the next layer reads the forward then the backward hidden-state nodes, as the output
sequence concatenates them. The graph itself does not say which direction runs backwards in time
(as it does not tell LSTM's sigmoid gates apart): only the spaces' names and order do.

The symmetry is the permutation of hidden units: one level-0 group per layer and direction moves hidden
unit ``j`` together with row ``j`` of every gate (and the ``j``-th column of ``weight_hh``). Permuting a
gate's rows alone is not a symmetry. An LSTM with ``proj_size > 0`` adds a space of projected-state nodes
fed by ``weight_hr`` edges from the hidden-state nodes; the recurrence and the next layer read the projected
nodes, which form their own group. A user-given initial state (h0 / c0) is data on the hidden units, so they
are pinned then (the layer converts without that symmetry).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..builder import BIAS_LEVEL, SpecBuilder
from ..ir import Op, ParamRef, Value
from ..layout import Axis
from ...types import Activation, EdgeType, NodeFeature, NodeType
from ._common import fail, require_value
from .registry import Lowered, arg, bind_function, bind_module, register_op

aten = torch.ops.aten

_GATES = {
    "lstm": (("i", Activation.SIGMOID), ("f", Activation.SIGMOID), ("g", Activation.TANH), ("o", Activation.SIGMOID)),
    "gru": (("r", Activation.SIGMOID), ("z", Activation.SIGMOID), ("n", Activation.TANH)),
    "rnn_tanh": (("h", Activation.TANH),),
    "rnn_relu": (("h", Activation.RELU),),
}


_PER_CHUNK = 5  #: refs per layer and direction: weight_ih, weight_hh, bias_ih, bias_hh, weight_hr (or None)


def _params(module: nn.RNNBase, path: str) -> tuple[ParamRef | None, ...]:
    """``weight_ih, weight_hh, bias_ih, bias_hh, weight_hr`` of every layer and direction (layer-major)."""
    prefix = f"{path}." if path else ""
    refs = []
    for layer in range(module.num_layers):
        for suffix in ("", "_reverse")[: 2 if module.bidirectional else 1]:
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
                key = f"{name}_l{layer}{suffix}"
                tensor = getattr(module, key, None)
                refs.append(None if tensor is None else ParamRef(prefix + key, tuple(tensor.shape)))
    return tuple(refs)


def _cell(module: nn.RNNBase) -> str:
    if isinstance(module, nn.LSTM):
        return "lstm"
    if isinstance(module, nn.GRU):
        return "gru"
    return f"rnn_{module.nonlinearity}"


@bind_module(nn.LSTM, nn.GRU, nn.RNN)
def _rnn_module(module: nn.RNNBase, path: str, args, kwargs) -> Lowered:
    kind = _cell(module)
    attrs = {
        "cell": kind,
        "num_layers": module.num_layers,
        "bidirectional": module.bidirectional,
        "nested": True,
    }
    hx = arg(args, kwargs, 1, "hx")
    return Lowered("rnn", (args[0], hx, _params(module, path)), attrs)


def _aten_binding(kind: str):
    def lower(args, kwargs) -> Lowered:
        params = tuple(args[2])
        has_biases, num_layers, bidirectional = args[3], args[4], args[7]
        directions = 2 if bidirectional else 1
        projected = len(params) > num_layers * (4 if has_biases else 2) * directions  # weight_hr per chunk
        per_chunk = (4 if has_biases else 2) + projected
        refs: list[ParamRef | None] = []
        for chunk_index in range(num_layers * directions):  # layer-major, forward then reverse
            chunk = list(params[chunk_index * per_chunk : (chunk_index + 1) * per_chunk])
            weights, biases = chunk[:2], chunk[2:4] if has_biases else [None, None]
            refs.extend([*weights, *biases, chunk[-1] if projected else None])
        attrs = {"cell": kind, "num_layers": num_layers, "bidirectional": bidirectional}
        hx = tuple(args[1]) if isinstance(args[1], (list, tuple)) else (args[1],)
        return Lowered("rnn", (args[0], hx, tuple(refs)), {**attrs, "nested": False, "aten_hx": True})

    return lower


bind_function(aten.lstm.input)(_aten_binding("lstm"))
bind_function(aten.gru.input)(_aten_binding("gru"))
bind_function(aten.rnn_tanh.input)(_aten_binding("rnn_tanh"))
bind_function(aten.rnn_relu.input)(_aten_binding("rnn_relu"))


def _given_initial_state(b: SpecBuilder, op: Op, hx) -> bool:
    """Whether the caller passes an initial state (h0 / c0). Under ``torch.export`` the zeros the module
    creates itself do not count."""
    if op.attrs.get("aten_hx"):
        makers = {o.out.name: o.target for o in b.program.ops}
        states = hx if isinstance(hx, (tuple, list)) else (hx,)
        return not all(isinstance(h, Value) and "zeros" in str(makers.get(h.name, "")) for h in states)
    return hx is not None


@register_op("rnn")
def recurrent(b: SpecBuilder, op: Op) -> None:
    x_value, hx, refs = op.args
    cell, num_layers = op.attrs["cell"], op.attrs["num_layers"]
    directions = 2 if op.attrs["bidirectional"] else 1
    given_state = _given_initial_state(b, op, hx)
    x = require_value(op, x_value, "input")
    gates = _GATES[cell]
    hidden = refs[0].shape[0] // len(gates)
    input_size = refs[0].shape[1]
    layout = b.get(x) or b.input_layout(op, x, -1, input_size, b.ndim(x))
    if not layout.is_vector_on(-1) or layout.size_on(-1) != input_size:
        raise fail(op, f"the input must carry {input_size} neurons on the last dim, got {layout.axes}")
    in_nodes = layout.nodes
    outputs, cells = [], []  # layer-major, forward then reverse
    for layer in range(num_layers):
        layer_outputs = []
        for direction in range(directions):
            chunk = (layer * directions + direction) * _PER_CHUNK
            name = f"layer {layer}{' reverse' if direction else ''}"
            output, state = _layer(b, op, gates, refs[chunk : chunk + _PER_CHUNK], in_nodes, hidden, name)
            layer_outputs.append(output)
            cells.append(state)
        outputs.extend(layer_outputs)
        in_nodes = torch.cat(layer_outputs)
    if given_state:  # data on the hidden units, which a permutation of the graph cannot move: pin them
        for nodes in outputs + cells:
            b.symmetry.fix(nodes)
    ndim = b.ndim(x, layout)
    out = b.fresh_layout(op.out, in_nodes, (Axis(-1, in_nodes.numel()),), ndim)
    final_ndim = None if ndim is None else (3 if ndim == 3 else 2)
    h_n, c_n = (_final_states(b, op, nodes, final_ndim) for nodes in (outputs, cells))
    if op.attrs["nested"]:
        b.layouts[op.out.name] = (out, (h_n, c_n) if cell == "lstm" else h_n)
    else:
        b.layouts[op.out.name] = (out, h_n, c_n) if cell == "lstm" else (out, h_n)


def _final_states(b: SpecBuilder, op: Op, states: list[torch.Tensor], ndim: int | None):
    """The layout of ``h_n`` / ``c_n``: ``[layers * directions, (batch,) size]`` (one state: ``[(batch,) size]``;
    selecting one state of several is refused downstream, never misread)."""
    size = states[0].numel()
    if len(states) == 1:
        return b.fresh_layout(op.out, states[0], (Axis(-1, size),), ndim)
    lead = -3 if ndim == 3 else -2
    return b.fresh_layout(op.out, torch.stack(states), (Axis(lead, len(states)), Axis(-1, size)), ndim)


def _layer(
    b: SpecBuilder, op: Op, gates, refs, in_nodes: torch.Tensor, hidden: int, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gate spaces and the hidden-state space of one layer and direction (and, for a projected LSTM,
    the projected state fed by ``weight_hr``); returns ``(output nodes, hidden-state / cell nodes)``."""
    w_ih, w_hh, b_ih, b_hh, w_hr = refs
    n_in = w_ih.shape[1]
    gate_nodes = []
    for k, (gate, act) in enumerate(gates):
        nodes = b.new_space(
            op, hidden, NodeType.HIDDEN, role=f"{name} gate {gate}", inputs=[in_nodes], level=BIAS_LEVEL
        )
        b.symmetry.spaces[b.symmetry.space_index(int(nodes[0]))].act = act
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
            layer_name=f"{op.where} {name} gate {gate} (input)",
        )
        if b_ih is not None:
            b.node_param(op, b_ih, nodes, NodeFeature.BIAS, rows=rows, claim=k == 0)
            b.node_param(op, b_hh, nodes, NodeFeature.NORM_BIAS, rows=rows, claim=k == 0)
        gate_nodes.append(nodes)
    state = b.new_space(op, hidden, NodeType.PRODUCT, role=f"{name} hidden state", inputs=gate_nodes)
    output = state
    if w_hr is not None:  # projected LSTM: h = weight_hr (o * tanh(c)), read by the recurrence and the next layer
        output = b.new_space(op, w_hr.shape[0], NodeType.HIDDEN, role=f"{name} projected state", inputs=[state])
        b.weight_edges(
            op,
            w_hr,
            out_nodes=output,
            in_nodes=state,
            view=tuple(w_hr.shape),
            perm=(0, 1),
            edge_type=EdgeType.LINEAR,
            layer_name=f"{op.where} {name} projection",
        )
    for k, ((gate, _), nodes) in enumerate(zip(gates, gate_nodes)):
        b.const_edges(nodes, state, 1.0, EdgeType.PRODUCT)
        b.weight_edges(
            op,
            w_hh,
            out_nodes=nodes,
            in_nodes=output,
            view=(hidden, output.numel()),
            perm=(0, 1),
            rows=(k * hidden, (k + 1) * hidden),
            edge_type=EdgeType.LINEAR,
            claim=k == 0,
            layer_name=f"{op.where} {name} gate {gate} (recurrent)",
        )
        b.symmetry.couple(state, nodes)
    return output, state
