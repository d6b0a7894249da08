"""The weight-generator interface: models that *output* networks of a target architecture.

A :class:`WeightGenerator` implements ``generate_graphs(target, condition=None, n=1) -> Batch``:
``n`` parameter graphs of the target architecture (a module or its ``GraphSpec``), optionally
conditioned (e.g. on a data-set embedding). Everything else comes for free:

* ``generate(target, condition, n)`` -> :class:`~.generated.GeneratedNetworks`, the networks ready to
  run: ``nets(x)`` runs all ``n`` at once (``[n, *out]``), ``nets[i]`` is an ``nn.Module``;
* ``generate_state_dicts`` -> the stacked weights ``{name: [n, *shape]}`` (differentiable, for
  ``torch.func.functional_call`` under ``vmap``); ``generate_modules`` -> a list of modules.

A generator made for one architecture records it in ``target_architecture``
(:class:`~.target_architecture.TargetArchitecture`); :meth:`WeightGenerator.target_spec` checks a
target against it and names what differs. ``target=None`` rebuilds the recorded architecture.

:class:`DefaultInitGenerator` is the baseline every learned generator should beat: PyTorch's
default initialisation, sampled for ``n`` networks at once from the spec.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import DefaultInitGenerator
    >>> nets = DefaultInitGenerator().generate(mlp([4, 16, 3]), n=2)
    >>> tuple(nets(torch.randn(5, 4)).shape), type(nets[1]).__name__
    ((2, 5, 3), 'Sequential')
"""

from __future__ import annotations

import abc
import math

import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.spec import GraphSpec
from netgraph.types import NodeFeature

from .generated import GeneratedNetworks
from .target_architecture import TargetArchitecture

__all__ = ["WeightGenerator", "DefaultInitGenerator", "check_count"]


class WeightGenerator(nn.Module, abc.ABC):
    """Base class of weight generators (hypernetworks, weight diffusion) for target architectures."""

    #: the architecture the generator makes weights for; ``None``: any architecture (graph hypernetworks)
    target_architecture: TargetArchitecture | None = None

    @abc.abstractmethod
    def generate_graphs(
        self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1
    ) -> Batch:
        """``n`` parameter graphs of ``target``'s architecture (a PyG ``Batch``), optionally conditioned.

        Args:
            target: the architecture, as a module or its ``GraphSpec``.
            condition: generator-specific conditioning (e.g. ``[n, c]`` data-set embeddings), or ``None``.
            n: number of networks.
        """

    def generate(
        self, target: nn.Module | GraphSpec | None = None, condition: torch.Tensor | None = None, n: int = 1
    ) -> GeneratedNetworks:
        """``n`` networks of ``target``'s architecture, ready to run (``None``: the recorded architecture)."""
        target = self.resolve_target(target)
        return GeneratedNetworks(
            self.generate_graphs(target, condition, n), target if isinstance(target, nn.Module) else None
        )

    def generate_state_dicts(
        self, target: nn.Module | GraphSpec | None = None, condition: torch.Tensor | None = None, n: int = 1
    ) -> dict[str, torch.Tensor]:
        """The generated weights as one stacked state dict (``[n, *shape]`` per key), differentiable."""
        return self.generate(target, condition, n).state_dicts()

    def generate_modules(
        self, target: nn.Module | None = None, condition: torch.Tensor | None = None, n: int = 1
    ) -> list[nn.Module]:
        """``n`` copies of ``target`` carrying generated weights (detached; for evaluation and export).
        To train through the weights use :meth:`generate` (``nets(x)``) or :meth:`generate_state_dicts`."""
        if target is not None and not isinstance(target, nn.Module):
            raise TypeError(
                f"generate_modules needs the target nn.Module to copy, got {type(target).__name__}; "
                "use generate / generate_state_dicts for a GraphSpec"
            )
        return self.generate(target, condition, n).modules()

    def resolve_target(self, target: nn.Module | GraphSpec | None) -> nn.Module | GraphSpec:
        """``target`` itself, or for ``None`` a fresh module of the recorded architecture."""
        if target is not None:
            return target
        if self.target_architecture is None:
            raise ValueError(f"{type(self).__name__} makes weights for any architecture: pass the target module")
        return self.target_architecture.build()

    def target_spec(self, target: nn.Module | GraphSpec, kernel_shape: tuple[int, ...] = ()) -> GraphSpec:
        """The ``GraphSpec`` of ``target``, checked against :attr:`target_architecture` when there is one
        (:class:`~.target_architecture.ArchitectureMismatchError` names missing / extra / reshaped
        parameters and changed layers)."""
        if self.target_architecture is not None:
            spec = self.target_architecture.check(target, what=f"this {type(self).__name__}")
        else:
            spec = netgraph.spec_of(target)
        return spec.with_kernel_shape(kernel_shape)


def check_count(n: int) -> int:
    """``n`` as a positive int, or a clear error."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the number of networks to generate) must be a positive int, got {n!r}")
    return n


class DefaultInitGenerator(WeightGenerator):
    """PyTorch's default initialisation, sampled from the spec for ``n`` networks in one go.

    Weights of linear / conv layers and their biases: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (what
    ``nn.Linear`` / ``nn.Conv*`` give); norm weights and running variances 1; every other value 0.
    ``condition`` is ignored.
    """

    def __init__(self, device: torch.device | str | None = None):
        super().__init__()
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    def generate_graphs(
        self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1
    ) -> Batch:
        check_count(n)
        spec = netgraph.spec_of(target)
        state = {
            k: torch.zeros(n, *spec.shapes[k], dtype=spec.dtypes[k], device=self.device)
            for k in spec.keys
            if k not in spec.aliases
        }
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
