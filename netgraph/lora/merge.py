"""Merging two LoRA adapters of one MLP-chain base, aligned under both of their symmetries.

Each adapter is a list of factor pairs ``(B_l: [out_l, r_l], A_l: [r_l, in_l])``, one per layer of a chain in
which layer ``l + 1`` reads layer ``l``'s outputs. GL(r) is handled by working on the updates ``B_l A_l``
(unchanged by any ``G``); the base's hidden-neuron permutations are undone by matching each hidden neuron of
``second`` to one of ``first`` (its row of ``B_l A_l`` joined to its column of ``B_{l+1} A_{l+1}``; Hungarian
matching). The aligned updates are averaged and refactored to rank ``r_l`` by a truncated SVD.

The permutation matters when the two adapters sit on bases that are permuted copies of each other (as after
re-basin); on one shared base the matching finds the identity when the adapters agree.

>>> import torch
>>> pairs = [(torch.randn(4, 2, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64))]
>>> merged = merge_adapters(pairs, pairs)
>>> torch.allclose(merged[0][0] @ merged[0][1], pairs[0][0] @ pairs[0][1])
True
"""

from __future__ import annotations

import torch
from netgraph.lora.symmetry import LoraShapeError
from netgraph.merge.assignment import linear_assignment

__all__ = ["align_adapter", "merge_adapters"]

FactorPairs = list[tuple[torch.Tensor, torch.Tensor]]


def _updates(pairs: FactorPairs) -> list[torch.Tensor]:
    return [B @ A for B, A in pairs]


def align_adapter(first: FactorPairs, second: FactorPairs) -> list[torch.Tensor]:
    """``second``'s updates ``B_l A_l`` with its hidden neurons permuted to match ``first``'s."""
    if len(first) != len(second):
        raise LoraShapeError(f"merge_adapters: {len(first)} vs {len(second)} adapted layers; adapt the same layers")
    ref, moved = _updates(first), _updates(second)
    for a, b in zip(ref, moved, strict=True):
        if a.shape != b.shape:
            raise LoraShapeError(f"merge_adapters: updates of shapes {tuple(a.shape)} and {tuple(b.shape)} differ")
    for layer in range(len(ref) - 1):
        feats_ref = torch.cat([ref[layer], ref[layer + 1].T], dim=1)
        feats_moved = torch.cat([moved[layer], moved[layer + 1].T], dim=1)
        order = linear_assignment(feats_ref @ feats_moved.T)
        moved[layer], moved[layer + 1] = moved[layer][order], moved[layer + 1][:, order]
    return moved


def merge_adapters(first: FactorPairs, second: FactorPairs) -> FactorPairs:
    """The average of ``first`` and ``second`` (aligned by :func:`align_adapter`) as factor pairs of ``first``'s ranks."""
    merged = []
    for (B, _), a, b in zip(first, _updates(first), align_adapter(first, second), strict=True):
        U, S, Vh = torch.linalg.svd((a + b) / 2, full_matrices=False)
        r = B.shape[-1]
        root = S[:r].sqrt()
        merged.append((U[:, :r] * root, root[:, None] * Vh[:r]))
    return merged
