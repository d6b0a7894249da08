"""Activation matching: pair neurons of A and B by the correlation of their activations on data.

Each weight layer's outputs are recorded on the same batch for both networks
(:func:`~netgraph.merge.record_activations`), standardised per neuron, and a unit of a group is
scored against a unit of the other network by the summed correlation over every member of the
group that some layer outputs (tied residual members, q/k/v of a head...). The same coordinate
descent as weight matching then assigns the units (for groups without inner blocks one sweep
suffices: activations do not depend on other groups' permutations).

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> a = mlp([3, 8, 2])
    >>> g = netgraph.from_module(a)
    >>> b = netgraph.to_module(netgraph.permute(g, netgraph.random_permutation(g)), a)
    >>> perm = netgraph.align(a, b, method="activations", data=torch.randn(64, 3))
    >>> torch.equal(netgraph.permute(netgraph.from_module(b), perm).edge_attr, g.edge_attr)
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..spec import GraphSpec
from ..activations import record_activations
from .matching import take_per_pair
from .plan import GroupPlan, piece_positions

__all__ = ["ActivationFeatures", "activation_features"]


def activation_features(
    spec: GraphSpec,
    model_a: nn.Module,
    model_b: nn.Module,
    inputs: Any,
    device: torch.device | str = "cpu",
    max_samples: int | None = 8192,
) -> "ActivationFeatures":
    """Record both networks on ``inputs`` and build their :class:`ActivationFeatures`."""
    acts_a = record_activations(model_a, inputs, spec, max_samples=max_samples)
    acts_b = record_activations(model_b, inputs, spec, max_samples=max_samples)
    return ActivationFeatures(spec, acts_a, acts_b, device)


class ActivationFeatures:
    """Correlation scores between the neurons of two networks (one pair, ``P = 1``)."""

    def __init__(
        self,
        spec: GraphSpec,
        acts_a: dict[int, torch.Tensor],
        acts_b: dict[int, torch.Tensor],
        device: torch.device | str = "cpu",
    ):
        self.spec = spec
        self.device = torch.device(device)
        self.a = {i: _standardise(v).to(self.device).unsqueeze(0) for i, v in acts_a.items()}  # [1, n, out]
        self.b = {i: _standardise(v).to(self.device).unsqueeze(0) for i, v in acts_b.items()}
        self.positions = piece_positions(spec, self.device)

    def _rows(self, i: int, minv: torch.Tensor) -> torch.Tensor:
        return self.positions[i][0][minv[:, self.spec.edge_pieces[i].out_nodes.to(self.device)]]

    def line_terms(self, plan: GroupPlan, minv_g: torch.Tensor, minv: torch.Tensor, target: torch.Tensor):
        for inc in plan.incidences:
            if inc.rows is None or inc.piece not in self.a:
                continue
            za, zb = self.a[inc.piece], self.b[inc.piece]
            u, s = inc.rows.shape
            a = za[:, :, inc.rows.reshape(-1)].view(1, -1, u, s).permute(0, 2, 3, 1)  # [1, U, S, samples]
            b = take_per_pair(zb, 2, self._rows(inc.piece, minv_g)[:, inc.rows.reshape(-1)])
            yield a, b.view(1, -1, u, s).permute(0, 2, 3, 1), inc.row_slots

    def block_terms(self, plan: GroupPlan, minv_g: torch.Tensor, target: torch.Tensor):
        return ()

    def objective(self, minv: torch.Tensor) -> torch.Tensor:
        """Summed correlation of every recorded neuron of A with the neuron of B mapped onto it."""
        total = torch.zeros(minv.shape[0], dtype=torch.float64, device=self.device)
        for i, za in self.a.items():
            total += (za * take_per_pair(self.b[i], 2, self._rows(i, minv))).sum((1, 2)).double()
        return total


def _standardise(values: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit norm per neuron (so inner products are correlations); constant neurons -> 0."""
    values = values.double() - values.double().mean(0)
    norm = values.norm(dim=0)
    return (values / norm.clamp_min(1e-12)).float()
