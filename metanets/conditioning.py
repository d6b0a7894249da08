"""Condition encoders of weight generators: a condition tensor -> one embedding per generated network.

* ``kind="vector"``: the condition is a feature vector per network, ``[n, features]`` (or
  ``[features]``, shared by all ``n``): ``LayerNorm(Linear(c))``.
* ``kind="set"``: the condition is a *set* of examples per network, ``[n, m, features]`` (or
  ``[m, features]``, shared), e.g. labelled samples of a data set or points of a signal; a
  DeepSets encoder (``rho(mean_i phi(c_i))``, Zaheer et al. 2017) makes a data-set embedding that
  does not depend on the order or the number of examples.

Both end in a LayerNorm, so the embedding has a fixed magnitude whatever the condition's scale (the
concern of magnitude-invariant parametrisations). ``ConditionSpec`` is the JSON-able description
stored in a generator's config.

Example:
    >>> import torch
    >>> encoder = ConditionEncoder(kind="set", features=2, dim=8)
    >>> encoder(torch.randn(16, 2), n=3).shape                   # one set shared by 3 networks
    torch.Size([3, 8])
    >>> encoder(torch.randn(3, 10, 2), n=3).shape                # a set of 10 examples per network
    torch.Size([3, 8])
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn

__all__ = ["ConditionEncoder", "condition_encoder", "require_condition", "KINDS"]

KINDS = ("vector", "set")


class ConditionEncoder(nn.Module):
    """``condition -> [n, dim]`` (see the module docstring).

    Args:
        kind: ``"vector"`` or ``"set"``.
        features: size of one condition vector / one set element.
        dim: size of the embedding.
        hidden: hidden width of the set encoder's MLPs.
    """

    def __init__(self, kind: str, features: int, dim: int, hidden: int = 64):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"condition kind must be one of {KINDS}, got {kind!r}")
        if features < 1 or dim < 1:
            raise ValueError(f"condition features and dim must be >= 1, got features={features}, dim={dim}")
        self.kind, self.features, self.dim = kind, features, dim
        if kind == "vector":
            self.encode = nn.Linear(features, dim)
        else:
            self.element = nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            self.encode = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, condition: torch.Tensor, n: int) -> torch.Tensor:
        """``condition`` (``[n, features]`` / ``[features]`` or ``[n, m, features]`` / ``[m, features]``) -> ``[n, dim]``."""
        per_net = 2 if self.kind == "vector" else 3
        if (
            not isinstance(condition, torch.Tensor)
            or condition.dim() not in (per_net - 1, per_net)
            or condition.shape[-1] != self.features
        ):
            shape = tuple(condition.shape) if isinstance(condition, torch.Tensor) else type(condition).__name__
            expected = "[n, features] or [features]" if self.kind == "vector" else "[n, m, features] or [m, features]"
            raise ValueError(
                f"this generator is conditioned on a {self.kind} of {self.features} features: expected "
                f"a tensor {expected} with features={self.features}, got {shape}"
            )
        if condition.dim() == per_net and condition.shape[0] != n:
            raise ValueError(
                f"the condition holds {condition.shape[0]} entries but n={n} networks were asked for; "
                f"give one per network or a single one shared by all"
            )
        condition = condition.to(self.norm.weight.device, self.norm.weight.dtype)
        if self.kind == "vector":
            embedding = self.encode(condition)
        else:
            embedding = self.encode(self.element(condition).mean(dim=-2))
        embedding = self.norm(embedding)
        return embedding.expand(n, -1) if embedding.dim() == 1 else embedding


def condition_encoder(spec: Mapping[str, Any] | None) -> ConditionEncoder | None:
    """The encoder described by a generator's ``condition`` config (``{"kind", "features", "dim"}``), or
    ``None`` for an unconditioned generator."""
    if spec is None:
        return None
    unknown = sorted(set(spec) - {"kind", "features", "dim", "hidden"})
    if unknown or not {"kind", "features", "dim"} <= set(spec):
        raise ValueError(f"a condition config needs kind, features, dim (and optionally hidden); got {dict(spec)}")
    return ConditionEncoder(**spec)


def require_condition(
    encoder: ConditionEncoder | None, condition: torch.Tensor | None, n: int, owner: str
) -> torch.Tensor | None:
    """The embedding ``[n, dim]`` of ``condition``, or ``None``; a clear error when a conditioned generator
    gets no condition or an unconditioned one gets one."""
    if encoder is None:
        if condition is not None:
            raise ValueError(
                f"this {owner} is not conditioned (built with condition=None) but a condition was given; "
                "drop it, or train a generator with condition={'kind': ..., 'features': ..., 'dim': ...}"
            )
        return None
    if condition is None:
        raise ValueError(
            f"this {owner} is conditioned on a {encoder.kind} of {encoder.features} features: pass "
            "condition=... to generate"
        )
    return encoder(condition, n)
