"""LoRA weight spaces: the GL(r) symmetry of adapter factor pairs (issue 28, first part).

An adapted linear layer computes ``W x + s * B A x`` with ``A: r x in`` and ``B: out x r``. Any invertible
``G`` (r x r) gives the same update ``(B G^-1)(G A) = B A``; :mod:`netgraph.lora.symmetry` samples, applies and
canonicalises these transforms.

>>> import torch
>>> from netgraph.lora import random_gl, apply_gl
>>> B, A = torch.randn(5, 2, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
>>> B2, A2 = apply_gl(B, A, random_gl(2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
>>> torch.allclose(B2 @ A2, B @ A)
True
"""

from netgraph.lora.merge import align_adapter, merge_adapters
from netgraph.lora.symmetry import apply_gl, canonical_factors, random_gl

__all__ = ["align_adapter", "apply_gl", "canonical_factors", "merge_adapters", "random_gl"]
