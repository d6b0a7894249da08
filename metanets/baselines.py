"""Simple baselines on the dense weight space.

* ``mlp`` (:class:`FlatMLP`): an MLP on all weights and biases, flattened in layer order. It has no
  notion of symmetry: permuting hidden neurons changes its output (that is what it is a baseline for).
* ``statnn`` (:class:`StatNN`, Unterthiner et al. 2020): per layer, the mean, (population) standard deviation and
  the 0/25/50/75/100% quantiles of the weights and of the biases (14 numbers per layer), then an
  MLP. Statistics of a layer ignore the order of its entries, so StatNN is invariant to neuron
  permutations and, by construction, to any reordering *within* a layer too (coupling-breaking
  ones included); moving values between layers changes it.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import StatNN, layer_statistics
    >>> batch = netgraph.from_state_dicts(mlp([2, 8, 1]), [mlp([2, 8, 1]).state_dict() for _ in range(5)])
    >>> layer_statistics(netgraph.weight_space(batch)).shape        # 2 layers x 14
    torch.Size([5, 28])
    >>> StatNN.from_spec(batch, hidden=16, depth=2, out_features=2)(batch).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from netgraph.weight_space import WeightSpace

from .dense import DenseMetanet
from .registry import register_metanet

__all__ = ["FlatMLP", "StatNN", "layer_statistics", "QUANTILES"]

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def _mlp(in_features: int, hidden: int, depth: int, out_features: int, dropout: float) -> MLP:
    if depth < 1:
        raise ValueError(f"depth (hidden layers of the MLP) must be >= 1, got {depth}")
    return MLP([in_features] + [hidden] * depth + [out_features], norm=None, dropout=dropout)


@register_metanet("mlp")
class FlatMLP(DenseMetanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "baseline"]):
    """MLP on the flattened weights and biases ``[B, num_params] -> [B, out_features]`` (not invariant).

    Args:
        layer_shapes: ``[[n_out, n_in, *kernel], ...]`` (see :func:`layer_shapes_of`).
        hidden, depth: width and number of hidden layers of the MLP.
        out_features: output size.
        dropout: dropout between MLP layers.
    """

    def __init__(
        self, layer_shapes: list[list[int]], *, hidden: int, depth: int, out_features: int = 1, dropout: float = 0.0
    ):
        super().__init__(layer_shapes, out_features, False, 0.0)
        size = sum(math.prod(shape) + shape[0] for shape in self.layer_shapes)
        self.mlp = _mlp(size, hidden, depth, out_features, dropout)

    def forward(self, batch: Data) -> torch.Tensor:
        ws = self.weight_space(batch)
        b = ws.weights[0].shape[0]
        flat = torch.cat([w.reshape(b, -1) for w in ws.weights] + list(ws.biases), dim=1)
        return self.mlp(flat)


def layer_statistics(ws: WeightSpace) -> torch.Tensor:
    """``[B, 14 * L]``: mean, std and :data:`QUANTILES` of each layer's weights, then of its biases."""
    b = ws.weights[0].shape[0]
    device = ws.weights[0].device
    q = torch.tensor(QUANTILES, device=device, dtype=ws.weights[0].dtype)
    feats = []
    for weight, bias in zip(ws.weights, ws.biases):
        for values in (weight.reshape(b, -1), bias.reshape(b, -1)):
            feats += [
                values.mean(dim=1, keepdim=True),
                values.std(dim=1, correction=0, keepdim=True),
                torch.quantile(values, q, dim=1).T,
            ]
    return torch.cat(feats, dim=1)


class _FeatureNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` that uses its running statistics for a training batch of one network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return nn.functional.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


@register_metanet("statnn")
class StatNN(DenseMetanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "baseline"]):
    """StatNN: :func:`layer_statistics` -> MLP ``[B, out_features]``.

    Args:
        layer_shapes: ``[[n_out, n_in, *kernel], ...]`` (see :func:`layer_shapes_of`).
        hidden, depth: width and number of hidden layers of the MLP.
        out_features: output size.
        dropout: dropout between MLP layers.
        normalize: standardise each statistic (``BatchNorm1d``) before the MLP; the statistics of
            different layers differ in scale by orders of magnitude.
    """

    def __init__(
        self,
        layer_shapes: list[list[int]],
        *,
        hidden: int,
        depth: int,
        out_features: int = 1,
        dropout: float = 0.0,
        normalize: bool = True,
    ):
        super().__init__(layer_shapes, out_features, False, 0.0)
        num_features = (2 + len(QUANTILES)) * 2 * len(self.layer_shapes)
        self.norm = _FeatureNorm(num_features) if normalize else nn.Identity()
        self.mlp = _mlp(num_features, hidden, depth, out_features, dropout)

    def forward(self, batch: Data) -> torch.Tensor:
        return self.mlp(self.norm(layer_statistics(self.weight_space(batch))))
