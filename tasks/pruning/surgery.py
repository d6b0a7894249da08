"""Channel surgery, cost measurement and rebuilding pruned modules.

* :func:`remove_channels` - remove output channels of prunable groups; the coupled layers (next
  layer's inputs, BatchNorm, residual partners) follow through Torch-Pruning's DependencyGraph.
* :func:`measure` - MACs (counted as FLOPs, Torch-Pruning's convention) and parameters.
* :func:`resize_like` - reshape a fresh module of the family to a pruned state dict's shapes, so a
  saved pruned model can be rebuilt from its family, its kwargs and its shapes.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> model = mlp([4, 8, 3])
    >>> remove_channels(model, torch.randn(1, 4), {"0": torch.tensor([0, 1, 2])})
    >>> model[0].out_features, model[2].in_features
    (5, 5)
    >>> measure(model, torch.randn(1, 4))
    (48, 43)
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn

__all__ = ["remove_channels", "measure", "resize_like", "dependency_graph"]


def _tp():
    try:
        import torch_pruning as tp
    except ImportError as exc:  # pragma: no cover - a dependency of the prune extra
        raise ImportError("pruning needs Torch-Pruning: pip install 'netgraph[prune]'") from exc
    return tp


def dependency_graph(model: nn.Module, example_inputs: torch.Tensor):
    """Torch-Pruning's ``DependencyGraph`` of ``model`` traced on ``example_inputs``."""
    return _tp().DependencyGraph().build_dependency(model, example_inputs=example_inputs)


def remove_channels(model: nn.Module, example_inputs: torch.Tensor, channels: Mapping[str, torch.Tensor]) -> None:
    """Remove, in place, output channels ``channels[module_name]`` (indices) of Conv / Linear modules,
    and every parameter coupled to them."""
    tp = _tp()
    graph = dependency_graph(model, example_inputs)
    modules = dict(model.named_modules())
    for name, idxs in channels.items():
        module = modules.get(name)
        if isinstance(module, nn.modules.conv._ConvNd):
            fn = tp.prune_conv_out_channels
        elif isinstance(module, nn.Linear):
            fn = tp.prune_linear_out_channels
        else:
            raise ValueError(f"cannot remove output channels of {name!r} ({type(module).__name__}); only Conv and "
                             "Linear layers root pruning groups")
        idxs = sorted(int(i) for i in idxs)
        if not idxs:
            continue
        width = module.weight.shape[0]
        if len(idxs) >= width:
            raise ValueError(f"removing {len(idxs)} of the {width} channels of {name!r} would leave none; "
                             "keep at least one")
        group = graph.get_pruning_group(module, fn, idxs=idxs)
        group.prune()


def measure(model: nn.Module, example_inputs: torch.Tensor) -> tuple[int, int]:
    """``(flops, params)`` of ``model`` on ``example_inputs`` (multiply-accumulates, all parameters)."""
    flops, params = _tp().utils.count_ops_and_params(model, example_inputs)
    return int(flops), int(params)


def resize_like(model: nn.Module, shapes: Mapping[str, tuple[int, ...]]) -> nn.Module:
    """Reshape, in place, the Conv / Linear / BatchNorm / LayerNorm layers of ``model`` to the
    parameter ``shapes`` of a pruned state dict (then ``load_state_dict`` fits)."""
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        own = {k[len(prefix):]: tuple(v) for k, v in shapes.items()
               if k.startswith(prefix) and "." not in k[len(prefix):]}
        if not own:
            continue
        for key, shape in own.items():
            current = getattr(module, key, None)
            if isinstance(current, torch.Tensor) and tuple(current.shape) != shape:
                new = torch.zeros(shape, dtype=current.dtype, device=current.device)
                if isinstance(current, nn.Parameter):
                    setattr(module, key, nn.Parameter(new, requires_grad=current.requires_grad))
                else:
                    module.register_buffer(key, new)
        if isinstance(module, nn.modules.conv._ConvNd):
            module.out_channels, module.in_channels = module.weight.shape[0], module.weight.shape[1] * module.groups
        elif isinstance(module, nn.Linear):
            module.out_features, module.in_features = module.weight.shape
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.num_features = module.running_mean.shape[0] if module.running_mean is not None else \
                module.weight.shape[0]
        elif isinstance(module, nn.LayerNorm):
            module.normalized_shape = tuple(module.weight.shape)
    current = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    wrong = sorted(k for k, shape in shapes.items() if current.get(k) != tuple(shape))
    if wrong:
        raise ValueError(f"cannot reshape the model to the saved shapes of {wrong[:3]}: the saved model is not of "
                         "this family / arch")
    return model
