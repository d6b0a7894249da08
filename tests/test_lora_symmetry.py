"""GL(r) symmetry of LoRA factor pairs: function preserved, canonical form invariant, raw factors not."""

import pytest
import torch

from netgraph.errors import NetgraphError
from netgraph.lora import apply_gl, canonical_factors, random_gl


def _pairs(batch=6, out=7, rank=3, inp=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(batch, out, rank, dtype=torch.float64, generator=g)
    A = torch.randn(batch, rank, inp, dtype=torch.float64, generator=g)
    G = random_gl(rank, batch=(batch,), dtype=torch.float64, generator=g)
    return B, A, G


def test_gl_transform_keeps_the_adapted_layers_function():
    B, A, G = _pairs()
    x = torch.randn(4, 5, dtype=torch.float64)
    B2, A2 = apply_gl(B, A, G)
    assert torch.allclose(x @ (B2 @ A2).transpose(-1, -2), x @ (B @ A).transpose(-1, -2), atol=1e-10)
    # the factors themselves move: a metanet on raw factors sees a different input (the must-fail twin)
    assert (B2 - B).abs().max() > 1e-2 and (A2 - A).abs().max() > 1e-2


def test_random_gl_is_well_conditioned():
    G = random_gl(4, batch=(50,), max_condition=5.0, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.all(torch.linalg.cond(G) <= 5.0 + 1e-8)


def test_canonical_form_is_the_same_on_the_whole_orbit():
    B, A, G = _pairs(seed=1)
    cb, ca = canonical_factors(B, A)
    cb2, ca2 = canonical_factors(*apply_gl(B, A, G))
    assert torch.allclose(cb, cb2, atol=1e-8) and torch.allclose(ca, ca2, atol=1e-8)
    assert torch.allclose(cb @ ca, B @ A, atol=1e-10)


def test_canonical_form_without_sign_fixing_would_differ():
    # flipping one singular pair's sign is a GL element (diag(-1, 1, 1)); the canonical form must undo it
    B, A, _ = _pairs(seed=2)
    flip = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    cb, _ = canonical_factors(B, A)
    cb2, _ = canonical_factors(*apply_gl(B, A, flip.expand(B.shape[0], 3, 3)))
    assert torch.allclose(cb, cb2, atol=1e-8)
    U, _, _ = torch.linalg.svd(B @ A, full_matrices=False)
    pivot = U[..., :3].abs().argmax(dim=-2)
    assert torch.all(torch.gather(cb, -2, pivot.unsqueeze(-2)) > 0)


def test_mismatched_shapes_are_refused_with_a_clear_error():
    with pytest.raises(NetgraphError, match="do not fit"):
        apply_gl(torch.randn(4, 2), torch.randn(3, 5), torch.eye(2))
    with pytest.raises(NetgraphError, match="not r x r"):
        apply_gl(torch.randn(4, 2), torch.randn(2, 5), torch.eye(3))
