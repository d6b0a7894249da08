"""Elementwise activations (recorded in ``node_act``) and softmax over the feature dim."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import ACT_LEVEL, SpecBuilder
from ..ir import Op
from ...types import Activation
from .registry import Lowered, arg, bind_function, bind_method, bind_module, bind_module_name, register_op

aten = torch.ops.aten

_BY_KIND: dict[Activation, tuple[list[type], list[object], list[str]]] = {
    Activation.RELU: ([nn.ReLU], [F.relu, torch.relu, F.relu_, torch.relu_, aten.relu, aten.relu_], ["relu", "relu_"]),
    Activation.GELU: ([nn.GELU], [F.gelu, aten.gelu], []),
    Activation.TANH: ([nn.Tanh], [torch.tanh, F.tanh, aten.tanh], ["tanh"]),
    Activation.SIGMOID: ([nn.Sigmoid], [torch.sigmoid, F.sigmoid, aten.sigmoid], ["sigmoid"]),
    Activation.SILU: ([nn.SiLU], [F.silu, aten.silu], []),
    Activation.SIN: ([], [torch.sin, aten.sin], ["sin"]),
    Activation.COS: ([], [torch.cos, aten.cos], ["cos"]),
    Activation.LEAKY_RELU: ([nn.LeakyReLU], [F.leaky_relu, aten.leaky_relu], []),
    Activation.ELU: ([nn.ELU], [F.elu, aten.elu], []),
    Activation.SOFTPLUS: ([nn.Softplus], [F.softplus, aten.softplus], []),
    Activation.HARDTANH: ([nn.Hardtanh], [F.hardtanh, aten.hardtanh], []),
    Activation.RELU6: ([nn.ReLU6], [F.relu6], []),
    Activation.HARDSWISH: ([nn.Hardswish], [F.hardswish, aten.hardswish], []),
    Activation.MISH: ([nn.Mish], [F.mish, aten.mish], []),
    Activation.SELU: ([nn.SELU], [F.selu, aten.selu], []),
}


def _binder(kind: Activation):
    def module_binding(module, path, args, kwargs):
        return Lowered("act", (args[0],), {"act": kind})

    def function_binding(args, kwargs):
        return Lowered("act", (args[0],), {"act": kind})

    return module_binding, function_binding


for _kind, (_modules, _functions, _methods) in _BY_KIND.items():
    _m, _f = _binder(_kind)
    bind_module(*_modules)(_m)
    bind_function(*_functions)(_f)
    bind_method(*_methods)(_f)


_NAMED = {  # Hugging Face activation modules (composites of ATen ops under torch.export)
    Activation.GELU: (
        "NewGELUActivation",
        "GELUActivation",
        "FastGELUActivation",
        "GELUTanh",
        "PytorchGELUTanh",
        "GELUPytorchTanh",
        "QuickGELUActivation",
        "AccurateGELUActivation",
    ),
    Activation.SILU: ("SiLUActivation",),
    Activation.RELU: ("ReLUSquaredActivation",),
}
for _kind, _names in _NAMED.items():
    bind_module_name(*_names)(_binder(_kind)[0])


@register_op("act")
def act(b: SpecBuilder, op: Op) -> None:
    layout = b.get(op.args[0])
    if layout is None:
        return  # an activation of data (masks, ids): nothing to record
    if any(a.dim is None for a in layout.axes):
        b.set(op.out, layout)  # attention scores: no neuron of their own
        return
    b.set(op.out, b.annotate(op, layout, ACT_LEVEL, act=op.attrs["act"]))


@bind_module(nn.Softmax, nn.LogSoftmax)
def _softmax_module(module, path, args, kwargs) -> Lowered:
    log = isinstance(module, nn.LogSoftmax)
    return Lowered("softmax", (args[0], module.dim), {"act": Activation.LOG_SOFTMAX if log else Activation.SOFTMAX})


@bind_function(F.softmax, torch.softmax, aten.softmax, aten._softmax)
@bind_method("softmax")
def _softmax_function(args, kwargs) -> Lowered:
    return Lowered("softmax", (args[0], arg(args, kwargs, 1, "dim")), {"act": Activation.SOFTMAX})


@bind_function(F.log_softmax, torch.log_softmax, aten.log_softmax, aten._log_softmax)
@bind_method("log_softmax")
def _log_softmax_function(args, kwargs) -> Lowered:
    return Lowered("softmax", (args[0], arg(args, kwargs, 1, "dim")), {"act": Activation.LOG_SOFTMAX})


@register_op("softmax")
def softmax(b: SpecBuilder, op: Op) -> None:
    """Softmax over the neurons is an activation; over other dims (attention) it keeps the layout."""
    layout = b.get(op.args[0])
    if layout is None:
        return
    dim = op.args[1]
    if dim is None:
        dim = -1
    dim = b.neg(int(dim), b.ndim(op.args[0], layout))
    if dim in layout.dims and all(a.dim is not None for a in layout.axes):
        b.set(op.out, b.annotate(op, layout, ACT_LEVEL, act=op.attrs["act"]))
    else:
        b.set(op.out, layout)
