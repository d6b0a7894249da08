"""Reference architectures of the weight-space literature, defined locally (no downloads).

* :func:`mlp` - plain MLPs.
* :class:`SmallCNN` - the Small CNN Zoo net (Unterthiner et al. 2020): 3 conv layers of 16
  channels, 3x3, global average pool, linear classifier.
* :class:`Siren` - the INR of DWSNets / NFN (2 -> 32 -> 32 -> 1, sine activations, w0 = 30).
* :func:`cifar_resnet` - CIFAR-style ResNets (ResNet-20/56, width multiplier) with BasicBlocks.
* :func:`resnet50` - ResNet-50 (bottlenecks [3, 4, 6, 3]): ImageNet stem (7x7 conv + max pool,
  25.6M parameters) or CIFAR stem (3x3 conv, 23.5M parameters).
* :func:`vgg` - VGG-style conv3x3-ReLU stacks with max pooling, global pool, linear head.
* :class:`TinyViT` - a small vision transformer (patch conv, learned positions, pre-norm blocks).

Every factory is registered by name: :func:`create_architecture` builds one from a name (as stored in
``zoo.json`` or a generator config), :func:`list_architectures` lists them, and
:func:`register_architecture` adds your own. :func:`resolve_factory` also accepts an explicit
``"package.module:factory"`` given by the user.

Example:
    >>> from netgraph.architectures import SmallCNN, create_architecture
    >>> sum(p.numel() for p in SmallCNN().parameters())
    4970
    >>> create_architecture("mlp", sizes=[4, 3])
    Sequential(
      (0): Linear(in_features=4, out_features=3, bias=True)
    )
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from netgraph.registry import Registry

__all__ = [
    "mlp",
    "SmallCNN",
    "Siren",
    "Sine",
    "BasicBlock",
    "Bottleneck",
    "cifar_resnet",
    "resnet50",
    "vgg",
    "TinyViT",
    "ACTIVATIONS",
    "ARCHITECTURES",
    "register_architecture",
    "create_architecture",
    "list_architectures",
    "resolve_factory",
]

ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture")


def register_architecture(name: str | None = None) -> Callable:
    """Decorator registering a module factory (class or function) under ``name`` (default: its name)."""
    return ARCHITECTURES.register(name)


def create_architecture(name: str, **kwargs: Any) -> nn.Module:
    """The module built by the factory registered as ``name`` with ``kwargs``."""
    return ARCHITECTURES.create(name, **kwargs)


def list_architectures() -> list[str]:
    """Names accepted by :func:`create_architecture`, sorted."""
    return ARCHITECTURES.names()


def resolve_factory(name: str, allow_import: bool = True) -> Callable[..., nn.Module]:
    """A registered factory, or ``"package.module:factory"`` imported explicitly.

    ``allow_import=False`` for names read from a file: only registered names resolve, and a
    ``package.module:factory`` is refused before anything is imported (a stored ``"subprocess:run"``
    must never run).

    >>> resolve_factory("SmallCNN").__name__
    'SmallCNN'
    >>> try:
    ...     resolve_factory("subprocess:run", allow_import=False)
    ... except ValueError as err:
    ...     print("refused")
    refused
    """
    if ":" in name and not allow_import:
        raise ValueError(
            f"refusing to import {name!r} named in a file: a stored factory must be a registered architecture "
            f"({list_architectures()}); register yours with netgraph.architectures.register_architecture, or pass "
            "the factory itself (load_pruned(folder, factory=my_factory))"
        )
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"cannot import {attr!r} from {module_name!r} ({exc}); give a registered architecture "
                f"({list_architectures()}) or an importable 'package.module:factory'"
            ) from exc
        if not callable(factory):
            raise ValueError(f"{name!r} is not callable; give a function or class that returns an nn.Module")
        return factory
    try:
        return ARCHITECTURES.get(name)
    except KeyError as exc:
        raise ValueError(
            f"unknown architecture {name!r}; expected one of {list_architectures()} or "
            "'package.module:factory' (register your own with "
            "netgraph.architectures.register_architecture)"
        ) from exc


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "relu6": nn.ReLU6,
    "hardtanh": nn.Hardtanh,
    "identity": nn.Identity,
}


@register_architecture()
def mlp(sizes: list[int], activation: str = "relu", dropout: float = 0.0, bias: bool = True) -> nn.Sequential:
    """``Linear -> act (-> Dropout)`` repeated; no activation after the last layer.

    >>> mlp([4, 16, 3])
    Sequential(
      (0): Linear(in_features=4, out_features=16, bias=True)
      (1): ReLU()
      (2): Linear(in_features=16, out_features=3, bias=True)
    )
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@register_architecture()
class SmallCNN(nn.Module):
    """The Small CNN Zoo network: ``[B, C, H, W] -> [B, classes]``.

    Three 3x3 conv layers of ``channels`` channels (stride 2, as in the zoo), an activation after
    each, global average pooling, dropout, and a linear classifier. ``padding=1`` keeps small inputs
    (8x8 digits) alive through three stride-2 convs; the published zoo used ``padding=0`` (Keras
    "valid") on 32x32 images.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: int = 16,
        num_classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
        padding: int = 1,
    ):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, stride=2, padding=padding),
            act(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=padding),
            act(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=padding),
            act(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(h))


class Sine(nn.Module):
    """``sin(w0 * x)``."""

    def __init__(self, w0: float = 30.0):
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


@register_architecture()
class Siren(nn.Module):
    """A SIREN INR ``[.., in_features] -> [.., out_features]`` (Sitzmann et al. 2020 init)."""

    def __init__(
        self, in_features: int = 2, hidden: int = 32, layers: int = 3, out_features: int = 1, w0: float = 30.0
    ):
        super().__init__()
        sizes = [in_features] + [hidden] * (layers - 1) + [out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = Sine(w0)
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                bound = 1 / layer.in_features if i == 0 else math.sqrt(6 / layer.in_features) / w0
                layer.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the shape changes), ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class _CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, width: int, num_classes: int, in_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, planes = [], width
        for stage in range(3):
            out_planes = width * 2**stage
            for b in range(blocks_per_stage):
                stages.append(BasicBlock(planes, out_planes, 2 if (b == 0 and stage > 0) else 1))
                planes = out_planes
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(self.pool(self.layers(h)).flatten(1))


@register_architecture()
def cifar_resnet(depth: int = 20, width: int = 16, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet of depth ``6n + 2`` (20, 32, 44, 56, 110) and base width ``width``.

    >>> sum(p.numel() for p in cifar_resnet(20).parameters())
    272474
    """
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 56, ...), got {depth}")
    return _CifarResNet((depth - 2) // 6, width, num_classes, in_channels)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck with expansion 4 (ResNet-50)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(in_planes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or in_planes != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(h + identity)


class _ResNet50(nn.Module):
    def __init__(self, num_classes: int, stem: str):
        super().__init__()
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        elif stem == "cifar":
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.bn1 = nn.BatchNorm2d(64)
        blocks, planes = [], 64
        for stage, (width, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            for b in range(count):
                blocks.append(Bottleneck(planes, width, 2 if (b == 0 and stage > 0) else 1))
                planes = width * 4
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(self.pool(self.layers(h)).flatten(1))


@register_architecture()
def resnet50(num_classes: int = 1000, stem: str = "imagenet") -> nn.Module:
    """ResNet-50 (torchvision layout, defined here). ``stem="imagenet"``: 7x7 conv + max pool (25.6M
    parameters with 1000 classes); ``stem="cifar"``: 3x3 conv, no pool (23.5M with 10 classes)."""
    return _ResNet50(num_classes, stem)


@register_architecture()
def vgg(
    widths: Sequence[int | str] = (16, 16, "M", 32, 32, "M"), in_channels: int = 1, num_classes: int = 10
) -> nn.Sequential:
    """A VGG-style network: ``Conv3x3 -> ReLU`` per width, ``"M"`` a 2x2 max pool, then global average
    pooling and a linear classifier (no BatchNorm, so zoos of it train with netgraph.datasets).

    >>> sum(p.numel() for p in vgg().parameters())
    16698
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for width in widths:
        if width == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, int(width), 3, padding=1), nn.ReLU()]
            channels = int(width)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


class _SelfAttention(nn.Module):
    """Multi-head self-attention with separate q / k / v / out layers; head count read from the widths
    (``[..., -1, head_dim]`` views), so removing whole heads needs no attribute change."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.head_dim = head_dim
        self.q, self.k, self.v = (nn.Linear(dim, heads * head_dim) for _ in range(3))
        self.out = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[1]
        q, k, v = (f(x).view(b, t, -1, self.head_dim).transpose(1, 2) for f in (self.q, self.k, self.v))
        y = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, -1))


class _TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, hidden: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), _SelfAttention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@register_architecture()
class TinyViT(nn.Module):
    """A small vision transformer: conv patch embedding, learned positions, pre-norm blocks (multi-head
    attention + GELU MLP), mean pooling, LayerNorm, linear head.

    Input ``[B, in_channels, image, image]`` -> logits ``[B, num_classes]``.

    >>> TinyViT(image=8, patch=2)(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 10])
    """

    def __init__(
        self,
        image: int = 8,
        patch: int = 2,
        in_channels: int = 1,
        num_classes: int = 10,
        dim: int = 32,
        depth: int = 2,
        heads: int = 4,
        head_dim: int = 8,
        mlp_hidden: int = 64,
    ):
        super().__init__()
        if image % patch:
            raise ValueError(f"image size {image} must be a multiple of the patch size {patch}")
        tokens = (image // patch) ** 2
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.pos = nn.Embedding(tokens, dim)
        self.blocks = nn.Sequential(*(_TransformerBlock(dim, heads, head_dim, mlp_hidden) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = x + self.pos(torch.arange(x.shape[1], device=x.device))
        return self.head(self.norm(self.blocks(x).mean(1)))
