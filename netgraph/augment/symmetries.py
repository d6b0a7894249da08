"""Function-preserving augmentations: permutations, positive scaling, sign flips, SIREN bias shifts.

Each is exact: ``to_module(aug(g), model)`` computes what ``model`` computes (tested to 1e-5). The
neurons each may touch are read from the graph (:mod:`netgraph.augment.neurons`).

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.augment import SignFlip
    >>> model = mlp([2, 16, 16, 1], "tanh")
    >>> flipped = netgraph.to_module(SignFlip()(netgraph.from_module(model)), model)
    >>> x = torch.randn(5, 2)
    >>> torch.allclose(flipped(x), model(x), atol=1e-6)
    True
"""

from __future__ import annotations

import math

import torch
from torch_geometric.data import Data

from ..symmetry import permute, random_permutation
from ..types import NodeFeature
from .base import GraphAugmentation
from .neurons import ODD, PERIODIC, POSITIVE_HOMOGENEOUS, batch_bias_nodes, batch_rescalable, rescale_neurons

__all__ = ["RandomPermutation", "ReLUScaling", "SignFlip", "SirenBiasShift"]


class RandomPermutation(GraphAugmentation):
    """Permute every symmetry group of every graph uniformly at random (:func:`netgraph.permute`)."""

    def forward(self, data: Data) -> Data:
        return permute(data, random_permutation(data, generator=self.generator), check=False)


class ReLUScaling(GraphAugmentation):
    """Scale each eligible neuron by ``s`` (log-uniform in ``[low, high]``) and its outgoing weights by
    ``1 / s``: exact for ReLU / LeakyReLU / identity neurons without normalisation."""

    def __init__(self, low: float = 0.5, high: float = 2.0, generator: torch.Generator | None = None):
        super().__init__(generator)
        if not 0 < low <= high:
            raise ValueError(f"ReLUScaling needs 0 < low <= high, got low={low}, high={high}")
        self.low, self.high = low, high

    def forward(self, data: Data) -> Data:
        eligible = batch_rescalable(data, POSITIVE_HOMOGENEOUS)
        log = math.log(self.low) + (math.log(self.high) - math.log(self.low)) * self.rand(
            data.num_nodes, device=data.x.device
        )
        factor = torch.where(eligible, log.exp(), 1.0)
        x, edge_attr = rescale_neurons(data, factor)
        return self.replaced(data, x=x, edge_attr=edge_attr)


class SignFlip(GraphAugmentation):
    """Flip the sign of each eligible neuron (incoming weights, bias, outgoing weights) with
    probability ``p``: exact for odd activations (tanh, sine, identity) without normalisation."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"SignFlip p must be a probability in [0, 1], got {p}")
        self.p = p

    def forward(self, data: Data) -> Data:
        flip = batch_rescalable(data, ODD) & (self.rand(data.num_nodes, device=data.x.device) < self.p)
        x, edge_attr = rescale_neurons(data, torch.where(flip, -1.0, 1.0))
        return self.replaced(data, x=x, edge_attr=edge_attr)


class SirenBiasShift(GraphAugmentation):
    """Shift the bias of sine (and cosine) neurons by ``2 pi k / w0``, ``k`` uniform in
    ``[-max_periods, max_periods]``: ``sin(w0 (z + b))`` is ``2 pi / w0``-periodic in ``b``.

    ``w0`` must be the frequency the network multiplies its pre-activations by before the sine
    (``Siren`` of :mod:`netgraph.architectures`: 30); the graph does not record it.
    """

    def __init__(self, w0: float = 30.0, max_periods: int = 1, generator: torch.Generator | None = None):
        super().__init__(generator)
        if w0 <= 0 or max_periods < 1:
            raise ValueError(
                f"SirenBiasShift needs w0 > 0 and max_periods >= 1, got w0={w0}, max_periods={max_periods}"
            )
        self.w0, self.max_periods = w0, int(max_periods)

    def forward(self, data: Data) -> Data:
        periodic = torch.isin(data.node_act, torch.tensor(sorted(int(a) for a in PERIODIC), device=data.x.device))
        eligible = periodic & batch_bias_nodes(data) & (data.node_norm == 0)
        k = (self.rand(data.num_nodes, device=data.x.device) * (2 * self.max_periods + 1)).floor() - self.max_periods
        x = data.x.clone()
        x[:, int(NodeFeature.BIAS)] += torch.where(eligible, k * (2 * math.pi / self.w0), 0.0).to(x.dtype)
        return self.replaced(data, x=x)
