"""Base class of the models that read the dense weight space (DWSNet, NFN, ``mlp``, ``statnn``).

They are built for one chain architecture (``layer_shapes``, see :func:`layer_shapes_of`), call
:func:`netgraph.weight_space` on the batch themselves, and map per-parameter outputs back to the
graph layout through ``WeightSpace.to_graph`` (so edits land exactly where the core puts weights).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from netgraph.weight_space import WeightSpace

from .base import Metanet
from .dense_layout import dense_weight_space, layer_shapes_of
from .equivariant import ChainLayout, invariant_pool

__all__ = ["DenseMetanet", "EquivariantDenseMetanet"]


class DenseMetanet(Metanet):
    """A metanet over the dense weight space of one chain architecture.

    Subclasses get ``self.layer_shapes``, :meth:`from_spec`, :meth:`weight_space` (checked) and
    :meth:`to_slots` (dense per-parameter outputs -> ``(node_out [N, F], edge_out [E, K])``).
    """

    def __init__(self, layer_shapes: list[list[int]], out_features: int, edit: bool, edit_scale: float):
        super().__init__(out_features, edit, edit_scale)
        self.layer_shapes = [[int(d) for d in shape] for shape in layer_shapes]

    @classmethod
    def from_spec(cls, example: nn.Module | Data, **config) -> "DenseMetanet":
        """A model for the architecture of ``example`` (module, ``GraphSpec``, graph or weight space)."""
        return cls(layer_shapes=layer_shapes_of(example), **config)

    def weight_space(self, batch: Data) -> WeightSpace:
        """``netgraph.weight_space(batch)``, after checking the batch has this model's architecture."""
        return dense_weight_space(batch, self.layer_shapes, type(self).__name__)

    def to_slots(
        self, ws: WeightSpace, weights: list[torch.Tensor], biases: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-parameter outputs in dense form (``weights[i] [B, n_out, n_in, *kernel]``,
        ``biases[i] [B, n_out]``) -> graph form ``(node_out [N, F], edge_out [E, K])``, zero elsewhere."""
        template = copy.copy(ws.template)
        template.x = torch.zeros_like(ws.template.x)
        template.edge_attr = torch.zeros_like(ws.template.edge_attr)
        out = WeightSpace(weights, biases, ws.names, ws.spec, template).to_graph()
        return out.x, out.edge_attr


class EquivariantDenseMetanet(DenseMetanet):
    """Shared skeleton of DWSNet and NFN: equivariant layers with ReLU (and dropout) on the chain's
    features, then an invariant head (pool over permuted axes + MLP) and/or an equivariant edit
    head (one more equivariant linear layer to one channel per parameter).

    Subclasses provide ``_layer(layout, c_in, c_out, gain)`` and may transform the input features
    (``_embed``).
    """

    def __init__(
        self,
        layer_shapes: list[list[int]],
        symmetry: str,
        hidden: int,
        depth: int,
        out_features: int,
        head_hidden: int,
        reduction: str,
        dropout: float,
        edit: bool,
        edit_scale: float,
    ):
        super().__init__(layer_shapes, out_features, edit, edit_scale)
        if depth < 1 or hidden < 1:
            raise ValueError(f"depth and hidden must be >= 1, got depth={depth}, hidden={hidden}")
        self.layout = ChainLayout(self.layer_shapes, symmetry)
        self.reduction = reduction
        widths = [1] + [hidden] * depth
        self.layers = nn.ModuleList(
            self._layer(self.layout, a, b, math.sqrt(2.0)) for a, b in zip(widths[:-1], widths[1:])
        )
        self.dropout = nn.Dropout(dropout)
        pooled = sum(slot.channels for slot in self.layout.slots(hidden))
        self.head = MLP([pooled, head_hidden, out_features], norm=None, dropout=dropout) if out_features else None
        self.edit_layer = self._layer(self.layout, hidden, 1, 1.0) if edit else None

    def _layer(self, layout: ChainLayout, c_in: int, c_out: int, gain: float) -> nn.Module:
        raise NotImplementedError

    def _embed(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return feats

    def encode(self, batch: Data) -> tuple[WeightSpace, list[torch.Tensor]]:
        """The weight space of ``batch`` and the last equivariant features (one tensor per weight/bias)."""
        ws = self.weight_space(batch)
        b = ws.weights[0].shape[0]
        feats = self.layout.encode(
            [w.reshape(b, *w.shape[1:3], -1, 1) for w in ws.weights], [bias.unsqueeze(-1) for bias in ws.biases]
        )
        feats = self._embed(feats)
        for layer in self.layers:
            feats = [self.dropout(torch.relu(t)) for t in layer(feats)]
        return ws, feats

    def forward(self, batch: Data) -> torch.Tensor:
        """``[num_graphs, out_features]``, invariant to the permutations of the layout's symmetry."""
        self._require("invariant")
        _, feats = self.encode(batch)
        return self.head(invariant_pool(feats, self.reduction))

    def _parameter_outputs(self, batch: Data) -> tuple[torch.Tensor, torch.Tensor]:
        ws, feats = self.encode(batch)
        weights, biases = self.layout.decode(self.edit_layer(feats))
        b = weights[0].shape[0]
        return self.to_slots(
            ws,
            [w.reshape(b, *shape) for w, shape in zip(weights, self.layer_shapes)],
            [bias.reshape(b, -1) for bias in biases],
        )
