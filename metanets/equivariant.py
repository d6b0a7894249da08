"""Permutation-equivariant linear maps between weight-space features (DWSNets, NFN).

**Layout.** A chain with layers ``l = 1..L`` has neuron layers ``0..L`` of sizes ``n_0..n_L``.
:class:`ChainLayout` turns the weights ``W_l [B, n_l, n_{l-1}, k_l, C]`` and biases
``b_l [B, n_l, C]`` (``k_l`` kernel positions, ``C`` channels) into feature tensors whose leading
dims are the *permuted* neuron axes (labelled by their neuron layer, in descending order) and whose
last dim folds everything else (kernel positions, channels, and the neuron axes that are never
permuted). Two symmetry groups are supported:

* ``"hnp"`` (hidden neuron permutations, DWSNets and NFN-HNP): layers ``1..L-1`` are permuted;
  inputs ``0`` and outputs ``L`` are fixed, so they fold into channels.
* ``"np"`` (all neuron permutations, NFN-NP): every neuron layer is permuted.

**Layer.** Every tensor carries each permuted axis at most once, so the equivariant linear maps
from tensor ``a`` to tensor ``b`` are spanned, per channel pair, by one map per subset ``S`` of the
axes they share: average ``a`` over its axes outside ``S``, broadcast over the axes of ``b``
outside ``S`` (``2^|S|`` maps; the orbit count of index pairs when every permuted layer has at least
2 neurons). :class:`EquivariantLinear` sums, for each output tensor and each subset ``S`` of its
axes, one ``nn.Linear`` over the concatenated channels of every input carrying ``S``: this is the
complete space of equivariant linear layers (checked against a brute-force construction and the
reference ``nfn`` package in the tests), and it does not depend on the sizes ``n_l``.

Example:
    >>> import torch
    >>> from netgraph.metanets.equivariant import ChainLayout, EquivariantLinear
    >>> layout = ChainLayout([[4, 2, 1], [4, 4, 1], [3, 4, 1]], "hnp")      # MLP 2-4-4-3
    >>> weights = [torch.randn(5, 4, 2, 1, 1), torch.randn(5, 4, 4, 1, 1), torch.randn(5, 3, 4, 1, 1)]
    >>> biases = [torch.randn(5, 4, 1), torch.randn(5, 4, 1), torch.randn(5, 3, 1)]
    >>> feats = layout.encode(weights, biases)
    >>> [tuple(f.shape) for f in feats]                # W1, W2, W3, b1, b2, b3
    [(5, 4, 2), (5, 4, 4, 1), (5, 4, 3), (5, 4, 1), (5, 4, 1), (5, 3)]
    >>> layer = EquivariantLinear(layout.slots(1), layout.slots(8))
    >>> [tuple(f.shape) for f in layer(feats)][:2]
    [(5, 4, 16), (5, 4, 4, 8)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn as nn

__all__ = ["Slot", "ChainLayout", "EquivariantLinear", "invariant_pool", "IOEmbedding", "SYMMETRIES"]

SYMMETRIES = ("hnp", "np")
_POINTWISE_SHARE = 0.75  # of the init variance budget of an output (see EquivariantLinear)


@dataclass(frozen=True)
class Slot:
    """A feature tensor ``[B, *permuted axes, channels]``: its axis labels (descending) and channel count."""

    axes: tuple[int, ...]
    channels: int


class ChainLayout:
    """Maps the dense weights of a chain to equivariant feature tensors and back (see module docstring).

    Args:
        layer_shapes: ``[[n_out, n_in, *kernel], ...]`` (from :func:`layer_shapes_of`).
        symmetry: ``"hnp"`` (hidden neurons permuted) or ``"np"`` (every neuron permuted).
    """

    def __init__(self, layer_shapes: list[list[int]], symmetry: str):
        if symmetry not in SYMMETRIES:
            raise ValueError(f"symmetry must be one of {SYMMETRIES}, got {symmetry!r}")
        if not layer_shapes or any(len(s) < 2 for s in layer_shapes):
            raise ValueError(f"layer_shapes must list [n_out, n_in, *kernel] per layer, got {layer_shapes}")
        for i, (prev, cur) in enumerate(zip(layer_shapes[:-1], layer_shapes[1:])):
            if cur[1] != prev[0]:
                raise ValueError(
                    f"layer {i + 1} reads {cur[1]} neurons but layer {i} gives {prev[0]}: "
                    f"layer_shapes {layer_shapes} is not a chain"
                )
        self.layer_shapes = [list(map(int, s)) for s in layer_shapes]
        self.num_layers = len(layer_shapes)
        self.sizes = [self.layer_shapes[0][1]] + [s[0] for s in self.layer_shapes]
        self.kernels = [math.prod(s[2:]) for s in self.layer_shapes]
        last = self.num_layers
        self.permuted = set(range(last + 1)) if symmetry == "np" else set(range(1, last))

    def _weight_axes(self, layer: int) -> tuple[bool, bool]:
        return layer in self.permuted, layer - 1 in self.permuted

    def slots(self, channels: int) -> list[Slot]:
        """Slots of the ``2L`` feature tensors (weights ``W_1..W_L`` then biases ``b_1..b_L``) when each
        weight entry / kernel position and each bias carries ``channels`` channels."""
        out = []
        for layer in range(1, self.num_layers + 1):
            out_perm, in_perm = self._weight_axes(layer)
            axes = tuple(a for a, p in ((layer, out_perm), (layer - 1, in_perm)) if p)
            fixed = (1 if out_perm else self.sizes[layer]) * (1 if in_perm else self.sizes[layer - 1])
            out.append(Slot(axes, fixed * self.kernels[layer - 1] * channels))
        for layer in range(1, self.num_layers + 1):
            perm = layer in self.permuted
            out.append(Slot((layer,) if perm else (), channels * (1 if perm else self.sizes[layer])))
        return out

    def encode(self, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> list[torch.Tensor]:
        """``W_l [B, n_l, n_{l-1}, k_l, C]`` and ``b_l [B, n_l, C]`` -> the ``2L`` feature tensors."""
        feats = []
        for layer, w in enumerate(weights, start=1):
            b, n_out, n_in = w.shape[:3]
            t = w.reshape(b, n_out, n_in, -1)
            out_perm, in_perm = self._weight_axes(layer)
            if in_perm and not out_perm:
                t = t.transpose(1, 2).reshape(b, n_in, -1)
            elif out_perm and not in_perm:
                t = t.reshape(b, n_out, -1)
            elif not out_perm:
                t = t.reshape(b, -1)
            feats.append(t)
        for layer, bias in enumerate(biases, start=1):
            feats.append(bias if layer in self.permuted else bias.reshape(bias.shape[0], -1))
        return feats

    def decode(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The inverse of :meth:`encode`: ``(weights [B, n_l, n_{l-1}, k_l, C], biases [B, n_l, C])``."""
        weights, biases = [], []
        for layer in range(1, self.num_layers + 1):
            t = feats[layer - 1]
            b, n_out, n_in, k = t.shape[0], self.sizes[layer], self.sizes[layer - 1], self.kernels[layer - 1]
            out_perm, in_perm = self._weight_axes(layer)
            if in_perm and not out_perm:
                t = t.reshape(b, n_in, n_out, -1).transpose(1, 2)
            weights.append(t.reshape(b, n_out, n_in, k, -1))
            biases.append(feats[self.num_layers + layer - 1].reshape(b, n_out, -1))
        return weights, biases


def _subsets(axes: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [c for r in range(len(axes) + 1) for c in combinations(axes, r)]


class EquivariantLinear(nn.Module):
    """The complete equivariant linear map from tensors ``in_slots`` to tensors ``out_slots``.

    Takes and returns lists of feature tensors ``[B, *axes sizes, channels]``. One ``nn.Linear`` per
    (output, subset of its axes) reads the averages of every input carrying that subset. The
    bias (one per output channel) sits on the fully pooled term, so it is constant over permuted
    axes as equivariance requires.

    Init (``gain``, ``sqrt(2)`` for ReLU nets): He-style, with the variance budget ``gain^2`` of each
    output split between its pointwise term (3/4, over that term's fan-in) and its pooled terms
    (1/4, over their total fan-in). Pooled features are averages, whose variance depends on how
    correlated the inputs are; this split keeps activations at a steady scale through deep
    stacks (tested through 6 layers), where a single fan-in over all terms (as in ``nfn``) shrinks them.
    """

    def __init__(self, in_slots: list[Slot], out_slots: list[Slot], bias: bool = True, gain: float = 1.0):
        super().__init__()
        self.in_slots, self.out_slots = list(in_slots), list(out_slots)
        self.terms = nn.ModuleList()
        self._plan: list[list[tuple[tuple[int, ...], list[int], int]]] = []
        for out in self.out_slots:
            plan, linears = [], []
            for subset in _subsets(out.axes):
                sources = [a for a, s in enumerate(self.in_slots) if set(subset) <= set(s.axes)]
                if not sources:
                    continue
                linear = nn.Linear(
                    sum(self.in_slots[a].channels for a in sources), out.channels, bias=bias and not subset
                )
                plan.append((subset, sources, len(self.terms)))
                linears.append((subset == out.axes, linear))
                self.terms.append(linear)
            if not plan:
                raise ValueError(f"no input slot shares axes with output {out}; inputs: {self.in_slots}")
            self._plan.append(plan)
            self._init(linears, gain)

    @staticmethod
    def _init(linears: list[tuple[bool, nn.Linear]], gain: float) -> None:
        point = sum(lin.in_features for p, lin in linears if p)
        pooled = sum(lin.in_features for p, lin in linears if not p)
        share = _POINTWISE_SHARE if point and pooled else 1.0
        for pointwise, lin in linears:
            std = gain * math.sqrt((share if pointwise else 1 - share) / (point if pointwise else pooled))
            nn.init.normal_(lin.weight, 0.0, std)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.in_slots):
            raise ValueError(f"expected {len(self.in_slots)} feature tensors, got {len(feats)}")
        sizes: dict[int, int] = {}
        for t, slot in zip(feats, self.in_slots):
            if t.dim() != len(slot.axes) + 2 or t.shape[-1] != slot.channels:
                raise ValueError(f"feature of shape {tuple(t.shape)} does not match slot {slot} ([B, *axes, channels])")
            sizes.update(zip(slot.axes, t.shape[1:-1]))
        missing = {axis for out in self.out_slots for axis in out.axes} - set(sizes)
        if missing:
            raise ValueError(
                f"output axes {sorted(missing)} appear in no input tensor, so their sizes are unknown; "
                "every permuted axis of an output must be carried by some input"
            )
        pooled: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

        def pool(a: int, subset: tuple[int, ...]) -> torch.Tensor:
            key = (a, subset)
            if key not in pooled:
                dims = [1 + i for i, axis in enumerate(self.in_slots[a].axes) if axis not in subset]
                pooled[key] = feats[a].mean(dim=dims) if dims else feats[a]
            return pooled[key]

        outs = []
        for out, plan in zip(self.out_slots, self._plan):
            total = None
            for subset, sources, term in plan:
                x = (
                    torch.cat([pool(a, subset) for a in sources], dim=-1)
                    if len(sources) > 1
                    else pool(sources[0], subset)
                )
                y = self.terms[term](x)
                view = [y.shape[0]] + [sizes[axis] if axis in subset else 1 for axis in out.axes] + [out.channels]
                y = y.reshape(view)
                total = y if total is None else total + y
            full = [total.shape[0]] + [sizes[axis] for axis in out.axes] + [out.channels]
            outs.append(total.expand(full) if list(total.shape) != full else total)
        return outs


def invariant_pool(feats: list[torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """``[B, sum of channels]``: every feature tensor reduced over its permuted axes and concatenated
    (with ``"mean"`` followed by a linear layer this is the complete invariant linear map)."""
    if reduction not in ("mean", "max"):
        raise ValueError(f"reduction must be 'mean' or 'max', got {reduction!r}")
    out = []
    for t in feats:
        flat = t.reshape(t.shape[0], -1, t.shape[-1])
        out.append(flat.mean(dim=1) if reduction == "mean" else flat.amax(dim=1))
    return torch.cat(out, dim=-1)


class IOEmbedding(nn.Module):
    """Learned embeddings added to the input-neuron axis of ``W_1`` and the output-neuron axis of
    ``W_L`` and ``b_L`` (NFN's io-embedding): they break the (non-)symmetry of inputs and outputs for
    ``"np"`` layers, which otherwise treat input and output neurons as exchangeable."""

    def __init__(self, layout: ChainLayout, channels: int):
        super().__init__()
        if layout.permuted != set(range(layout.num_layers + 1)):
            raise ValueError("IOEmbedding is for the 'np' layout, where input and output neurons are permuted")
        self.layout = layout
        n_in, n_out = layout.sizes[0], layout.sizes[-1]
        self.inputs = nn.Parameter(torch.randn(n_in, layout.kernels[0] * channels))
        self.outputs = nn.Parameter(torch.randn(n_out, 1, layout.kernels[-1] * channels))
        self.output_bias = nn.Parameter(torch.randn(n_out, channels))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        last = self.layout.num_layers
        feats = list(feats)
        feats[0] = feats[0] + self.inputs
        feats[last - 1] = feats[last - 1] + self.outputs
        feats[2 * last - 1] = feats[2 * last - 1] + self.output_bias
        return feats
