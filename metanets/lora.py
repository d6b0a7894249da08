"""Metanets on LoRA adapters (issue 28, first part): an invariant spectral baseline and the naive flat MLP.

An adapter is a list of factor pairs, one per adapted layer: ``B_l: [N, out_l, r]``, ``A_l: [N, r, in_l]``.

- :class:`LoraSpectrumNet` reads the singular values of every ``B_l A_l``: invariant to GL(r) transforms of
  each pair and to permutations of the base model's neurons (rows and columns of ``B_l A_l``).
- :class:`LoraFlatMLP` reads the raw factors flattened: NOT invariant (the naive baseline).

Both are registered with ``create_metanet`` (``lora_spectrum``, ``lora_flat``; presets in
``configs/metanet/lora_*.yaml``). Not done yet: a GL-net (GL-equivariant layers on the factors).

>>> import torch
>>> net = LoraSpectrumNet(ranks=[2], hidden=8, out_features=1)
>>> net([(torch.randn(3, 5, 2), torch.randn(3, 2, 4))]).shape
torch.Size([3, 1])
"""

from __future__ import annotations

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin

from .registry import register_metanet

FactorPairs = list[tuple[torch.Tensor, torch.Tensor]]


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out)
    )


@register_metanet("lora_spectrum")
class LoraSpectrumNet(nn.Module, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "lora"]):
    """MLP on the top-r singular values of each layer's update ``B A`` (GL- and permutation-invariant)."""

    def __init__(self, ranks: list[int], hidden: int, out_features: int = 1) -> None:
        super().__init__()
        self.ranks = list(ranks)
        self.head = _mlp(sum(self.ranks), hidden, out_features)

    def forward(self, pairs: FactorPairs) -> torch.Tensor:
        spectra = [torch.linalg.svdvals(B @ A)[..., :r] for (B, A), r in zip(pairs, self.ranks, strict=True)]
        return self.head(torch.cat(spectra, dim=-1))


@register_metanet("lora_flat")
class LoraFlatMLP(
    nn.Module, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "lora", "baseline"]
):
    """MLP on the raw flattened factors (not invariant: the must-fail baseline)."""

    def __init__(self, factor_sizes: list[int], hidden: int, out_features: int = 1) -> None:
        super().__init__()
        self.head = _mlp(sum(factor_sizes), hidden, out_features)

    def forward(self, pairs: FactorPairs) -> torch.Tensor:
        flat = [t.flatten(start_dim=1) for pair in pairs for t in pair]
        return self.head(torch.cat(flat, dim=-1))
