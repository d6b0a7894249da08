"""Loss and accuracy of many networks of one architecture on labelled data, in one ``vmap``.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.merge.evaluation import evaluate_many
    >>> model = mlp([3, 4, 2])
    >>> states = {k: torch.stack([v, v]) for k, v in model.state_dict().items()}
    >>> loss, acc = evaluate_many(model, states, (torch.randn(8, 3), torch.randint(0, 2, (8,))))
    >>> loss.shape, bool(loss[0] == loss[1])
    (torch.Size([2]), True)
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import vmap

from ..population import Population
from .data import labelled_batches

__all__ = ["evaluate_many"]


def evaluate_many(
    model: nn.Module,
    states: dict[str, torch.Tensor],
    data: Any,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(loss [B], accuracy [B] | None)`` of the ``B`` networks ``states`` (``{key: [B, *shape]}``)
    on ``data`` (``(inputs, targets)`` or an iterable of them), averaged over samples, in eval mode.
    Accuracy is None unless targets are class indices."""
    b = next(iter(states.values())).shape[0]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    loss_sum = torch.zeros(b, dtype=torch.float64)
    correct = torch.zeros(b, dtype=torch.float64)
    seen, classify = 0, True
    try:
        with torch.no_grad():
            for inputs, targets in labelled_batches(data):
                out = Population(states, model).run(inputs)  # [B, batch, ...]
                n = targets.shape[0]
                loss_sum += vmap(loss_fn, in_dims=(0, None))(out, targets).double().cpu() * n
                classify = classify and not torch.is_floating_point(targets) and out.dim() == targets.dim() + 2
                if classify:
                    correct += (out.argmax(-1) == targets).sum(-1).double().cpu()
                seen += n
    finally:
        for m, mode in modes.items():
            m.training = mode
    if seen == 0:
        raise ValueError("evaluate_many got no data batches")
    return loss_sum / seen, (correct / seen if classify else None)
