"""DWSNets (Navon et al., ICML 2023): equivariant layers for the weight spaces of MLPs (and CNN chains).

Each :class:`DWSLayer` is the sum of the paper's four blocks, each the complete equivariant linear
map between two parts of the weight space under hidden-neuron permutations:

* weight -> weight, bias -> bias, bias -> weight, weight -> bias.

The invariant head pools every feature tensor over its permuted axes (``reduction``, ``"max"`` as
in the reference implementation's classifier) and applies an MLP.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import Siren
    >>> from netgraph.metanets import DWSNet
    >>> batch = netgraph.from_state_dicts(Siren(), [Siren().state_dict() for _ in range(3)])
    >>> DWSNet.from_spec(batch, hidden=4, depth=2, head_hidden=16, out_features=10).eval()(batch).shape
    torch.Size([3, 10])
"""

from __future__ import annotations

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin

from .dense import EquivariantDenseMetanet
from .equivariant import ChainLayout, EquivariantLinear
from .registry import register_metanet

__all__ = ["DWSNet", "DWSLayer"]

_CROSS_GAIN = 0.5  # init gain of the bias->weight and weight->bias blocks relative to the diagonal ones


class DWSLayer(nn.Module):
    """One DWS layer: ``W' = L_ww(W) + L_bw(b)``, ``b' = L_wb(W) + L_bb(b)`` (lists of features in,
    lists out, see :class:`ChainLayout`)."""

    def __init__(self, layout: ChainLayout, c_in: int, c_out: int, gain: float = 1.0):
        super().__init__()
        slots_in, slots_out = layout.slots(c_in), layout.slots(c_out)
        n = layout.num_layers
        cross = gain * _CROSS_GAIN  # cross blocks only broadcast pooled values: keep them a minor share
        self.num_layers = n
        self.weight_to_weight = EquivariantLinear(slots_in[:n], slots_out[:n], gain=gain)
        self.bias_to_weight = EquivariantLinear(slots_in[n:], slots_out[:n], bias=False, gain=cross)
        self.weight_to_bias = EquivariantLinear(slots_in[:n], slots_out[n:], bias=False, gain=cross)
        self.bias_to_bias = EquivariantLinear(slots_in[n:], slots_out[n:], gain=gain)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        weights, biases = feats[: self.num_layers], feats[self.num_layers :]
        out_w = [a + b for a, b in zip(self.weight_to_weight(weights), self.bias_to_weight(biases))]
        out_b = [a + b for a, b in zip(self.weight_to_bias(weights), self.bias_to_bias(biases))]
        return out_w + out_b


@register_metanet("dwsnet")
class DWSNet(
    EquivariantDenseMetanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "dwsnet"]
):
    """DWSNet: ``depth`` DWS layers of ``hidden`` channels with ReLU, then pooling + MLP and/or an edit head.

    Args:
        layer_shapes: ``[[n_out, n_in, *kernel], ...]`` of the chain (see :func:`layer_shapes_of`).
        hidden: channels per weight entry / kernel position and per bias.
        depth: number of DWS layers.
        out_features: size of the invariant output (0: no invariant head).
        head_hidden: hidden width of the MLP head.
        reduction: ``"max"`` or ``"mean"`` over permuted axes in the invariant head.
        dropout: dropout after each layer and in the head.
        edit: build the equivariant edit head (``parameter_outputs`` / ``edit``).
        edit_scale: initial ``scale`` of edits ``w + scale * delta``.
    """

    def __init__(
        self,
        layer_shapes: list[list[int]],
        *,
        hidden: int,
        depth: int,
        head_hidden: int,
        out_features: int = 1,
        reduction: str = "max",
        dropout: float = 0.0,
        edit: bool = False,
        edit_scale: float = 0.01,
    ):
        super().__init__(
            layer_shapes, "hnp", hidden, depth, out_features, head_hidden, reduction, dropout, edit, edit_scale
        )

    def _layer(self, layout: ChainLayout, c_in: int, c_out: int, gain: float) -> nn.Module:
        return DWSLayer(layout, c_in, c_out, gain)
