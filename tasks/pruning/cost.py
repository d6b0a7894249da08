"""What a network costs: FLOPs (multiply-accumulates) and parameters, counted by netgraph itself.

One forward pass on the example inputs, with a hook on every layer that does arithmetic, counts per
example (the batch size is the first input's leading dimension):

* Linear and Conv (also transposed): ``weight.numel()`` MACs for every output position (a Conv
  weight already holds ``in_channels / groups`` inputs per output channel), plus one add per output
  element for a bias.
* BatchNorm / InstanceNorm / GroupNorm / LayerNorm: one op per element, two with an affine.
* Element-wise activations: one op per output element; pooling: one op per input element.

Attention's score and value products (``softmax(QK^T)V``, computed by functions, not layers) are not
counted, as in Torch-Pruning's counter, so the FLOPs of a transformer are those of its projections and
MLPs. No Torch-Pruning is needed: it is used only for its own baseline route.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> measure(mlp([4, 5, 3]), torch.randn(2, 4))  # 4*5 + 5 bias + 5 ReLU + 5*3 + 3 bias; 43 parameters
    (48, 43)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from netgraph.trace import ExampleInputs

__all__ = ["measure"]

_WEIGHTED = (nn.Linear, nn.modules.conv._ConvNd)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm)
_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardswish,
    nn.Mish,
)
_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd)


def _first_tensor(value) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((t for t in map(_first_tensor, value) if t is not None), None)
    if isinstance(value, dict):
        return next((t for t in map(_first_tensor, value.values()) if t is not None), None)
    return getattr(value, "last_hidden_state", None)


def _ops(module: nn.Module, inputs: tuple, output) -> int:
    out = _first_tensor(output)
    if out is None:
        return 0
    if isinstance(module, _WEIGHTED):
        channel_dim = -1 if isinstance(module, nn.Linear) else 1
        positions = out.numel() // max(1, out.shape[channel_dim])
        bias = out.numel() if module.bias is not None else 0
        return module.weight.numel() * positions + bias
    if isinstance(module, _NORMS):
        affine = getattr(module, "affine", False) or getattr(module, "elementwise_affine", False)
        return out.numel() * (2 if affine else 1)
    if isinstance(module, _ACTIVATIONS):
        return out.numel()
    if isinstance(module, _POOLS):
        first = _first_tensor(inputs)
        return first.numel() if first is not None else 0
    return 0


def measure(model: nn.Module, example_inputs: ExampleInputs) -> tuple[int, int]:
    """``(flops, params)`` of ``model`` for one example of ``example_inputs`` (a tensor, a tuple of
    positional inputs or a dict of keyword inputs): multiply-accumulates as the module docstring
    counts them, and every parameter. The model is left as it was (its train / eval modes included)."""
    first = _first_tensor(example_inputs)
    if first is None:
        raise ValueError("measure needs example inputs holding at least one tensor (a tensor, tuple or dict)")
    batch = max(1, first.shape[0]) if first.dim() else 1
    total = [0]

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        total[0] += _ops(module, inputs, output)

    counted = (*_WEIGHTED, *_NORMS, *_ACTIVATIONS, *_POOLS)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    training = {m: m.training for m in model.modules()}
    model.eval()  # no BatchNorm statistics updated, no dropout
    try:
        with torch.no_grad():
            if isinstance(example_inputs, dict):
                model(**example_inputs)
            elif isinstance(example_inputs, (tuple, list)):
                model(*example_inputs)
            else:
                model(example_inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in training.items():
            module.training = mode
    params = sum(p.numel() for p in model.parameters())
    return math.ceil(total[0] / batch), int(params)
