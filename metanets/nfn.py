"""Neural Functional Networks (Zhou et al., NeurIPS 2023): NP and HNP layers for MLP and CNN weights.

* ``nfn_hnp``: layers equivariant to permutations of hidden neurons (channels); input and output
  neurons are fixed, so the first layer's input axis and the last layer's output axis fold into
  channels (NFN's HNP layer, the symmetry group of DWSNets).
* ``nfn_np``: layers equivariant to permutations of *every* neuron layer, inputs and outputs
  included, with NFN's learned io-embedding added to the input (``io_embed=True``) so that the
  model still tells input and output neurons apart; the model is then invariant to hidden-neuron
  permutations only.

Conv kernels keep one channel per kernel position (``[n_out, n_in, 3, 3]`` -> 9 channels per
entry), as in NFN. The layers are the complete equivariant linear maps of
:mod:`netgraph.metanets.equivariant`.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import SmallCNN
    >>> from netgraph.metanets import NFN
    >>> batch = netgraph.from_state_dicts(SmallCNN(1), [SmallCNN(1).state_dict() for _ in range(2)])
    >>> model = NFN.from_spec(batch, symmetry="hnp", hidden=4, depth=1, head_hidden=16, out_features=3).eval()
    >>> model(batch).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin

from .dense import EquivariantDenseMetanet
from .equivariant import ChainLayout, EquivariantLinear, IOEmbedding
from .registry import register_metanet

__all__ = ["NFN"]


@register_metanet("nfn_hnp", symmetry="hnp")
@register_metanet("nfn_np", symmetry="np")
class NFN(EquivariantDenseMetanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "nfn"]):
    """NFN: ``depth`` NP / HNP layers of ``hidden`` channels with ReLU, then pooling + MLP and/or an
    edit head.

    Args:
        layer_shapes: ``[[n_out, n_in, *kernel], ...]`` of the chain (see :func:`layer_shapes_of`).
        symmetry: ``"hnp"`` or ``"np"``.
        hidden: channels per weight entry / kernel position and per bias.
        depth: number of equivariant layers.
        out_features: size of the invariant output (0: no invariant head).
        head_hidden: hidden width of the MLP head.
        io_embed: (``"np"`` only) add NFN's learned input/output position embeddings.
        reduction: ``"mean"`` (NFN's pooling) or ``"max"`` over permuted axes.
        dropout: dropout after each layer and in the head.
        edit: build the equivariant edit head (``parameter_outputs`` / ``edit``).
        edit_scale: initial ``scale`` of edits ``w + scale * delta``.
    """

    def __init__(
        self,
        layer_shapes: list[list[int]],
        symmetry: str = "hnp",
        *,
        hidden: int,
        depth: int,
        head_hidden: int,
        out_features: int = 1,
        io_embed: bool = True,
        reduction: str = "mean",
        dropout: float = 0.0,
        edit: bool = False,
        edit_scale: float = 0.01,
    ):
        super().__init__(
            layer_shapes, symmetry, hidden, depth, out_features, head_hidden, reduction, dropout, edit, edit_scale
        )
        self.io_embedding = IOEmbedding(self.layout, 1) if symmetry == "np" and io_embed else None

    def _layer(self, layout: ChainLayout, c_in: int, c_out: int, gain: float) -> nn.Module:
        return EquivariantLinear(layout.slots(c_in), layout.slots(c_out), gain=gain)

    def _embed(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.io_embedding(feats) if self.io_embedding is not None else feats
