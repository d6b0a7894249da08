"""Merging an adapter with a GL-transformed, hidden-permuted copy of itself returns the original updates."""

import torch

from netgraph.lora import apply_gl, random_gl
from netgraph.lora.merge import merge_adapters


def _adapter_and_copy(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(6, 2, 4), (5, 3, 6)]  # (out, r, in); layer 2 reads layer 1's 6 outputs
    pairs = [
        (torch.randn(o, r, generator=g, dtype=torch.float64), torch.randn(r, i, generator=g, dtype=torch.float64))
        for o, r, i in shapes
    ]
    perm = torch.randperm(6, generator=g)
    copy = [apply_gl(B, A, random_gl(B.shape[-1], dtype=torch.float64, generator=g)) for B, A in pairs]
    copy[0] = (copy[0][0][perm], copy[0][1])
    copy[1] = (copy[1][0], copy[1][1][:, perm])
    return pairs, copy


def test_merge_with_transformed_copy_returns_the_original_update():
    pairs, copy = _adapter_and_copy()
    for (B, A), (Bm, Am) in zip(pairs, merge_adapters(pairs, copy)):
        assert torch.allclose(Bm @ Am, B @ A, atol=1e-10)


def test_merge_without_undoing_the_permutation_differs():  # the must-fail twin: plain averaging of updates
    pairs, copy = _adapter_and_copy()
    plain = (pairs[0][0] @ pairs[0][1] + copy[0][0] @ copy[0][1]) / 2
    assert not torch.allclose(plain, pairs[0][0] @ pairs[0][1], atol=1e-3)
