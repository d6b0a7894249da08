"""A space of small CNN architectures to train graph hypernetworks on, in the spirit of DeepNets-1M
(Knyazev et al. 2021), sized for 8x8 digits; and hand-written networks it never samples.

* :func:`sample_cnn_config` draws a JSON-able description: a stem convolution, 1-5 blocks, then
  global average or max pooling, an optional hidden linear layer and the classifier. Each block is
  ``plain`` (conv, optional BatchNorm, activation), ``residual`` (``x + block(x)``, same width) or
  ``concat`` (``cat([x, block(x)])``, DenseNet-style) or ``separable`` (a depthwise conv then a 1x1
  conv, MobileNet-style); kernel 1, 3, 5 or 7, stride 1 or 2 (at most two downsamplings),
  optionally followed by 2x2 max or average pooling. One activation per network from
  :data:`netgraph.architectures.ACTIVATIONS` (ReLU, GELU, SiLU, Tanh or LeakyReLU with its PyTorch
  slope 0.01). BatchNorm in every block or in none. Widths 8-32.
* :class:`SampledCNN` builds the network of a description; :func:`sample_cnns` draws ``n`` distinct
  ones.
* :func:`handwritten_cnns`: a small ResNet (two-conv residual blocks, projection shortcuts), a
  VGG-style net (conv pairs, max pooling) and a depthwise-separable net (two separable blocks
  sharing one BatchNorm after the pointwise conv, a stride-2 depthwise conv) - architectures the
  space does not contain.

Example:
    >>> import torch
    >>> config = sample_cnn_config(torch.Generator().manual_seed(0))
    >>> tuple(SampledCNN(config)(torch.randn(2, 1, 8, 8)).shape)
    (2, 10)
    >>> sorted(handwritten_cnns())
    ['depthwise_separable', 'small_resnet', 'vgg_style']
"""

from __future__ import annotations

import json
from typing import Any, Callable

import torch
import torch.nn as nn

from netgraph.architectures import ACTIVATIONS, cifar_resnet, vgg

__all__ = [
    "sample_cnn_config",
    "sample_cnns",
    "SampledCNN",
    "handwritten_cnns",
    "depthwise_separable_cnn",
    "SAMPLED_ACTIVATIONS",
]

SAMPLED_ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "leaky_relu")  #: names in netgraph.architectures.ACTIVATIONS
WIDTHS, KERNELS, KINDS = (8, 16, 24, 32), (1, 3, 5, 7), ("plain", "residual", "concat", "separable")
POOLS = ("max", "avg")


def _pick(options, generator: torch.Generator):
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def _coin(p: float, generator: torch.Generator) -> bool:
    return bool(torch.rand((), generator=generator) < p)


def sample_cnn_config(
    generator: torch.Generator, in_channels: int = 1, num_classes: int = 10, image_size: int = 8
) -> dict[str, Any]:
    """One architecture description (see the module docstring), drawn with ``generator``."""
    size, downsamples = image_size, 0
    blocks = []
    for _ in range(int(torch.randint(1, 6, (1,), generator=generator))):
        kind = _pick(KINDS, generator)
        stride = 2 if kind in ("plain", "separable") and size > 2 and downsamples < 2 and _coin(0.3, generator) else 1
        pool = (
            _pick(POOLS, generator) if stride == 1 and size > 2 and downsamples < 2 and _coin(0.2, generator) else None
        )
        halves = stride == 2 or pool is not None
        size, downsamples = (size + 1) // 2 if halves else size, downsamples + int(halves)
        blocks.append(
            {
                "kind": kind,
                "width": _pick(WIDTHS, generator),
                "kernel": _pick(KERNELS, generator),
                "stride": stride,
                "pool": pool,
            }
        )
    return {
        "in_channels": in_channels,
        "num_classes": num_classes,
        "stem_width": _pick(WIDTHS, generator),
        "stem_kernel": _pick(KERNELS, generator),
        "blocks": blocks,
        "norm": _coin(0.5, generator),
        "activation": _pick(SAMPLED_ACTIVATIONS, generator),
        "head_pool": _pick(("avg", "max"), generator),
        "hidden": _pick((0, 0, 32, 64), generator),
    }


def sample_cnns(n: int, generator: torch.Generator, exclude: list[dict] = (), **kwargs) -> list[dict[str, Any]]:
    """``n`` distinct descriptions, none equal to one in ``exclude``."""
    seen = {json.dumps(c, sort_keys=True) for c in exclude}
    configs = []
    for _ in range(100 * n):
        config = sample_cnn_config(generator, **kwargs)
        key = json.dumps(config, sort_keys=True)
        if key not in seen:
            seen.add(key)
            configs.append(config)
            if len(configs) == n:
                break
    if len(configs) < n:
        raise RuntimeError(f"could not draw {n} distinct architectures (got {len(configs)})")
    return configs


class _Block(nn.Module):
    def __init__(self, kind: str, channels: int, width: int, kernel: int, stride: int, norm: bool, activation: str):
        super().__init__()
        self.kind = kind
        out = channels if kind == "residual" else width
        if kind == "separable":
            layers = [
                nn.Conv2d(channels, channels, kernel, stride=stride, padding=kernel // 2, groups=channels, bias=False),
                nn.Conv2d(channels, out, 1, bias=not norm),
            ]
        else:
            layers = [nn.Conv2d(channels, out, kernel, stride=stride, padding=kernel // 2, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(ACTIVATIONS[activation]())
        self.body = nn.Sequential(*layers)
        self.out_channels = channels + out if kind == "concat" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.kind == "residual":
            return x + y
        if self.kind == "concat":
            return torch.cat([x, y], 1)
        return y


class SampledCNN(nn.Module):
    """The network of a :func:`sample_cnn_config` description: ``[B, C, H, W] -> [B, classes]``."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        norm, act = config["norm"], config["activation"]
        k = config["stem_kernel"]
        stem = [nn.Conv2d(config["in_channels"], config["stem_width"], k, padding=k // 2, bias=not norm)]
        stem += [nn.BatchNorm2d(config["stem_width"])] if norm else []
        self.stem = nn.Sequential(*stem, ACTIVATIONS[act]())
        channels, blocks = config["stem_width"], []
        for spec in config["blocks"]:  # a loop over layers
            block = _Block(spec["kind"], channels, spec["width"], spec["kernel"], spec["stride"], norm, act)
            pooling = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}.get(spec["pool"])
            blocks += [block, pooling(2, ceil_mode=True)] if pooling else [block]
            channels = block.out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1) if config["head_pool"] == "avg" else nn.AdaptiveMaxPool2d(1)
        hidden = config["hidden"]
        head = (
            [nn.Linear(channels, hidden), ACTIVATIONS[act](), nn.Linear(hidden, config["num_classes"])]
            if hidden
            else [nn.Linear(channels, config["num_classes"])]
        )
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))


class _Separable(nn.Module):
    def __init__(self, channels: int, out: int, stride: int):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, out, 1, bias=False)
        self.norm, self.act = nn.BatchNorm2d(out), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.pointwise(self.depthwise(x))))


def depthwise_separable_cnn(in_channels: int = 1, num_classes: int = 10, width: int = 16) -> nn.Module:
    """A MobileNet-style net: a 3x3 stem, two depthwise-separable blocks (the first with stride 2),
    global average pooling and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        _Separable(width, 2 * width, 2),
        _Separable(2 * width, 2 * width, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def handwritten_cnns(in_channels: int = 1, num_classes: int = 10) -> dict[str, Callable[[], nn.Module]]:
    """Factories of architectures outside the sampled space (see the module docstring)."""
    return {
        "small_resnet": lambda: cifar_resnet(8, width=8, num_classes=num_classes, in_channels=in_channels),
        "vgg_style": lambda: vgg((16, 16, "M", 32, 32, "M"), in_channels=in_channels, num_classes=num_classes),
        "depthwise_separable": lambda: depthwise_separable_cnn(in_channels, num_classes),
    }
