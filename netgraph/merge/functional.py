"""Run many networks of one architecture at once: ``vmap`` over stacked state dicts.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.merge.functional import run_many
    >>> model = mlp([3, 4, 2])
    >>> states = {k: torch.stack([v, 2 * v]) for k, v in model.state_dict().items()}
    >>> run_many(model, states, torch.randn(5, 3)).shape      # [networks, batch, outputs]
    torch.Size([2, 5, 2])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.func import functional_call, vmap

from .activations import split_inputs

__all__ = ["run_many"]


def run_many(model: nn.Module, states: dict[str, torch.Tensor], inputs: Any) -> torch.Tensor:
    """Outputs ``[B, ...]`` of the ``B`` networks ``states`` (``{key: [B, *shape]}``) on the same
    ``inputs`` (tensor, tuple of positional inputs or dict of keyword inputs), in ``model``'s mode.
    Buffers updated by the forward pass (BatchNorm in train mode) are updated in ``states``."""
    args, kwargs = split_inputs(inputs)

    def one(state):
        return functional_call(model, state, args, kwargs)

    return vmap(one, randomness="different")(states)
