"""Linear assignment (maximum-weight perfect matching) for one or many square score matrices.

Two solvers:

* ``"scipy"``: exact, scipy's ``linear_sum_assignment`` (Jonker-Volgenant), one C call per matrix;
* ``"auction"``: a batch ``[..., n, n]`` solved at once on its own device by a vectorised auction
  (Bertsekas' Jacobi auction with epsilon scaling, float64), whose total is within ``n * eps`` of the
  optimum (``eps`` is ``1e-9`` of the score range; optimal on every random test matrix).

``"auto"`` is scipy (scores are copied to the host): scipy has no batched solver, but its
per-matrix C call beats the batched auction by far on the CPU (64 matrices 32x32: 3 ms against
174 ms, see BENCHMARKS.md). The auction keeps everything on the scores' device (no host
synchronisation); it has not been timed on a GPU.

Example:
    >>> import torch
    >>> from netgraph.merge import linear_assignment
    >>> score = torch.tensor([[1.0, 5.0], [4.0, 2.0]])
    >>> linear_assignment(score)          # row i is matched to column result[i]
    tensor([1, 0])
    >>> linear_assignment(torch.stack([score, score.T])).tolist()
    [[1, 0], [1, 0]]
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["linear_assignment"]


def linear_assignment(score: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """The column matched to each row so that the summed score is maximal.

    Args:
        score: ``[..., n, n]`` scores (higher is better).
        method: ``"scipy"``, ``"auction"`` or ``"auto"`` (scipy).

    Returns:
        ``[..., n]`` long tensor on the score's device: ``result[..., i]`` is the column of row ``i``.
    """
    if score.dim() < 2 or score.shape[-1] != score.shape[-2]:
        raise ValueError(f"linear_assignment needs square score matrices [..., n, n], got shape {tuple(score.shape)}")
    if method not in ("auto", "scipy", "auction"):
        raise ValueError(f"method must be 'auto', 'scipy' or 'auction', got {method!r}")
    if not torch.isfinite(score).all():
        raise ValueError("linear_assignment got NaN or infinite scores; check the weights being matched")
    batch, n = score.shape[:-2], score.shape[-1]
    flat = score.reshape(-1, n, n)
    if method in ("scipy", "auto"):
        cols = [
            torch.as_tensor(linear_sum_assignment(m.detach().cpu().double().numpy(), maximize=True)[1]) for m in flat
        ]
        return torch.stack(cols).to(score.device).reshape(*batch, n)
    return _auction(flat.detach()).reshape(*batch, n)


def _auction(score: torch.Tensor, rel_eps: float = 1e-9, shrink: float = 0.2) -> torch.Tensor:
    """Jacobi auction with epsilon scaling on ``[B, n, n]`` scores; returns ``[B, n]``."""
    b, n, _ = score.shape
    device = score.device
    if n == 1:
        return torch.zeros(b, 1, dtype=torch.long, device=device)
    value = score.double()
    value = value - value.amin(dim=(1, 2), keepdim=True)
    value = value / value.amax(dim=(1, 2), keepdim=True).clamp_min(1e-300)  # every matrix in [0, 1]
    price = torch.zeros(b, n, dtype=torch.float64, device=device)
    rows = torch.arange(n, device=device).expand(b, n)
    batch_ids = torch.arange(b, device=device).unsqueeze(1).expand(b, n)
    eps = 0.25
    while True:
        owner = torch.full((b, n), -1, dtype=torch.long, device=device)  # object -> person
        assigned = torch.full((b, n), -1, dtype=torch.long, device=device)  # person -> object
        while True:
            free = assigned < 0
            if not bool(free.any()):
                break
            net = value - price.unsqueeze(1)
            first, best = net.max(2)
            second = net.scatter(2, best.unsqueeze(2), float("-inf")).amax(2)
            bid = price.gather(1, best) + (first - second) + eps
            bid = torch.where(free, bid, torch.full_like(bid, -1.0))
            high = torch.full((b, n), -1.0, dtype=torch.float64, device=device).scatter_reduce(
                1, best, bid, "amax", include_self=True
            )
            wins = free & (bid == high.gather(1, best))
            winner = torch.full((b, n), -1, dtype=torch.long, device=device).scatter_reduce(
                1, best, torch.where(wins, rows, -1), "amax", include_self=True
            )
            sold = winner >= 0
            previous = torch.where(sold, owner, -1)
            lost = previous >= 0
            assigned[batch_ids[lost], previous[lost]] = -1
            owner = torch.where(sold, winner, owner)
            price = torch.where(sold, high, price)
            assigned[batch_ids[sold], winner[sold]] = rows[sold]
        if eps <= rel_eps / n:
            return assigned
        eps = max(eps * shrink, rel_eps / n)
