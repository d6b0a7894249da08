"""GL(r) transforms of LoRA factor pairs: sample, apply, canonicalise.

A factor pair ``(B, A)`` (``B: out x r``, ``A: r x in``) and ``(B G^-1, G A)`` give the same update ``B A``
for every invertible ``G``. The canonical form is the SVD-based pair ``(U sqrt(S), sqrt(S) V^T)`` of ``B A``
with each singular pair's sign fixed so that the largest-magnitude entry of the ``U`` column is positive.

>>> import torch
>>> B, A = torch.randn(4, 2, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
>>> G = random_gl(2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
>>> cb, ca = canonical_factors(B, A)
>>> cb2, ca2 = canonical_factors(*apply_gl(B, A, G))
>>> torch.allclose(cb, cb2) and torch.allclose(ca, ca2)
True
"""

from __future__ import annotations

import torch

from netgraph.errors import NetgraphError


class LoraShapeError(NetgraphError, ValueError):
    """A LoRA factor pair or GL transform whose shapes do not fit together."""


def _check_pair(B: torch.Tensor, A: torch.Tensor) -> None:
    if B.dim() < 2 or A.dim() < 2 or B.shape[-1] != A.shape[-2] or B.shape[:-2] != A.shape[:-2]:
        raise LoraShapeError(
            f"netgraph.lora: factor pair B {tuple(B.shape)} and A {tuple(A.shape)} do not fit "
            "(expected B: [..., out, r] and A: [..., r, in] with the same rank r and batch dims); "
            "pass lora_B then lora_A of one adapted layer"
        )


def random_gl(
    rank: int,
    *,
    batch: tuple[int, ...] = (),
    max_condition: float = 10.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random well-conditioned invertible ``rank x rank`` matrices ``Q1 diag(s) Q2`` (condition <= max_condition).

    >>> G = random_gl(3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.linalg.cond(G) <= 10.0 + 1e-9)
    True
    """
    if rank < 1 or max_condition < 1:
        raise LoraShapeError(
            f"netgraph.lora.random_gl: rank must be >= 1 and max_condition >= 1, got {rank}, {max_condition}"
        )
    shape = (*batch, rank, rank)
    q1, _ = torch.linalg.qr(torch.randn(shape, dtype=dtype, generator=generator).to(device))
    q2, _ = torch.linalg.qr(torch.randn(shape, dtype=dtype, generator=generator).to(device))
    log_s = torch.rand((*batch, rank), dtype=dtype, generator=generator).to(device)
    s = torch.exp(log_s * torch.log(torch.tensor(max_condition, dtype=dtype)))
    return q1 @ torch.diag_embed(s) @ q2


def apply_gl(B: torch.Tensor, A: torch.Tensor, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, A) -> (B G^-1, G A)``; batch dims broadcast. The product ``B A`` is unchanged.

    >>> B, A, G = torch.ones(2, 1), torch.ones(1, 3), torch.full((1, 1), 2.0)
    >>> apply_gl(B, A, G)[0].flatten().tolist()
    [0.5, 0.5]
    """
    _check_pair(B, A)
    if G.shape[-2:] != (A.shape[-2], A.shape[-2]):
        raise LoraShapeError(
            f"netgraph.lora.apply_gl: G {tuple(G.shape)} is not r x r for rank r={A.shape[-2]}; "
            "sample it with random_gl(rank)"
        )
    return torch.linalg.solve(G, B, left=False), G @ A


def canonical_factors(B: torch.Tensor, A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One representative per GL(r) orbit: ``(U sqrt(S), sqrt(S) V^T)`` from the SVD of ``B A``, signs fixed.

    Unique when the singular values are distinct and nonzero (generic trained adapters).

    >>> B, A = torch.randn(3, 2, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    >>> cb, ca = canonical_factors(B, A)
    >>> torch.allclose(cb @ ca, B @ A)
    True
    """
    _check_pair(B, A)
    rank = A.shape[-2]
    U, S, Vh = torch.linalg.svd(B @ A, full_matrices=False)
    U, S, Vh = U[..., :rank], S[..., :rank], Vh[..., :rank, :]
    pivot = U.abs().argmax(dim=-2, keepdim=True)
    sign = torch.sign(torch.gather(U, -2, pivot))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    root = S.sqrt().unsqueeze(-2)
    return U * sign * root, (Vh * (sign * root).transpose(-1, -2))
