"""The hypernetwork interface: models that *output* networks of a target architecture.

A :class:`WeightGenerator` implements ``generate(target, condition=None, n=1) -> Batch``: ``n``
parameter graphs of the target architecture (a module or its ``GraphSpec``), optionally
conditioned (e.g. on a data-set embedding). Everything else comes from the core:
``netgraph.to_state_dicts(batch, stacked=True)`` gives the weights, ready for
``torch.func.functional_call`` under ``vmap``, and :meth:`WeightGenerator.generate_modules` gives
ready ``nn.Module`` objects.

:class:`DefaultInitGenerator` is the baseline every learned generator should beat: PyTorch's
default initialisation, sampled for ``n`` networks at once from the spec.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import DefaultInitGenerator
    >>> nets = DefaultInitGenerator().generate_modules(mlp([4, 16, 3]), n=2)
    >>> [tuple(net(torch.randn(5, 4)).shape) for net in nets]
    [(5, 3), (5, 3)]
"""

from __future__ import annotations

import abc
import copy
import math

import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.spec import GraphSpec
from netgraph.types import NodeFeature

__all__ = ["WeightGenerator", "DefaultInitGenerator"]


class WeightGenerator(nn.Module, abc.ABC):
    """Base class of hypernetworks (weight generators) for a target architecture."""

    @abc.abstractmethod
    def generate(self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1) -> Batch:
        """``n`` parameter graphs of ``target``'s architecture (a PyG ``Batch``), optionally conditioned.

        Args:
            target: the architecture, as a module or its ``GraphSpec``.
            condition: generator-specific conditioning (e.g. ``[n, c]`` data-set embeddings), or ``None``.
            n: number of networks.
        """

    def generate_state_dicts(self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None,
                             n: int = 1) -> dict[str, torch.Tensor]:
        """The generated weights as one stacked state dict (``[n, *shape]`` per key), differentiable."""
        return netgraph.to_state_dicts(self.generate(target, condition, n), stacked=True)

    def generate_modules(self, target: nn.Module, condition: torch.Tensor | None = None, n: int = 1) -> list[nn.Module]:
        """``n`` copies of ``target`` carrying generated weights (detached; for evaluation and export).
        To train through the weights use :meth:`generate_state_dicts` with ``torch.func.functional_call``."""
        if not isinstance(target, nn.Module):
            raise TypeError(f"generate_modules needs the target nn.Module to copy, got {type(target).__name__}; "
                            "use generate / generate_state_dicts for a GraphSpec")
        stacked = self.generate_state_dicts(target, condition, n)
        modules = []
        for i in range(n):  # building n module objects is inherently one per network
            clone = copy.deepcopy(target)
            clone.load_state_dict({k: v[i].detach() for k, v in stacked.items()})
            modules.append(clone)
        return modules


class DefaultInitGenerator(WeightGenerator):
    """PyTorch's default initialisation, sampled from the spec for ``n`` networks in one go.

    Weights of linear / conv layers and their biases: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (what
    ``nn.Linear`` / ``nn.Conv*`` give); norm weights and running variances 1; every other value 0.
    ``condition`` is ignored.
    """

    def __init__(self, device: torch.device | str | None = None):
        super().__init__()
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    def generate(self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1) -> Batch:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        spec = netgraph.spec_of(target)
        state = {k: torch.zeros(n, *spec.shapes[k], dtype=spec.dtypes[k], device=self.device)
                 for k in spec.keys if k not in spec.aliases}
        for layer in spec.layers:
            piece = layer.weight
            bound = 1.0 / math.sqrt(piece.n_in * math.prod(piece.kernel))
            state[piece.param].uniform_(-bound, bound)
            if layer.bias is not None:
                state[layer.bias.param].uniform_(-bound, bound)
        for piece in spec.node_pieces:
            if piece.column in (NodeFeature.NORM_WEIGHT, NodeFeature.RUNNING_VAR):
                state[piece.param].fill_(1.0)
        return netgraph.from_state_dicts(spec, state)
