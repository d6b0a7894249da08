"""MLP hypernetworks with chunking (Ha et al. 2017; von Oswald et al. 2020), optionally with the
Magnitude Invariant Parametrisation (MIP, Ortiz et al. 2024).

The ``P`` learnable values of the target (its parameter slots, :mod:`netgraph.masks`) are cut
into ``C = ceil(P / chunk_size)`` chunks. Chunk ``c`` of network ``i`` is

    MLP([z_i, e(cond_i), k_c])   ->   chunk_size values,

with ``z_i`` a noise vector (so ``n`` draws give ``n`` different networks), ``e(cond_i)`` the
optional condition embedding (:mod:`~.conditioning`) and ``k_c`` a learned chunk embedding; the
chunks are concatenated and cut to ``P``. One MLP serves every chunk, so the hypernetwork is much
smaller than the target when ``P`` is large.

``mip=True`` turns on MIP: the noise is drawn in ``[0, 1]`` and encoded as
``[cos(pi z / 2), sin(pi z / 2)]`` (constant norm, so the output magnitude does not follow the
input's), the output is a residual ``theta = theta_0 + MLP(...)`` around independent learned values
``theta_0`` (initialised to PyTorch's default initialisation of the target), and the MLP starts from
Kaiming-normal (fan-out) weights.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> target = mlp([4, 16, 3])
    >>> hyper = ChunkedHypernetwork(target, chunk_size=32, hidden=[16], mip=True)
    >>> nets = hyper.generate(target, n=4)                  # 4 networks, ready to run
    >>> tuple(nets(torch.randn(5, 4)).shape), hyper.num_chunks
    ((4, 5, 3), 5)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.data import Batch

from netgraph.spec import GraphSpec

from .conditioning import condition_encoder, require_condition
from .generators import DefaultInitGenerator, WeightGenerator, check_count
from netgraph.masks import fill_parameter_slots, read_parameter_slots
from .target_architecture import TARGET_CODERS, TargetArchitecture, as_target_architecture

__all__ = ["ChunkedHypernetwork", "mip_encoding"]


def mip_encoding(z: torch.Tensor) -> torch.Tensor:
    """MIP's input encoding ``[..., d] -> [..., 2 d]``: ``[cos(pi z / 2), sin(pi z / 2)]`` for ``z`` in [0, 1].

    >>> mip_encoding(torch.tensor([[0.0, 1.0]], dtype=torch.float64)).round(decimals=3).tolist()
    [[1.0, 0.0, 0.0, 1.0]]
    """
    angle = z * (math.pi / 2)
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)


class ChunkedHypernetwork(
    WeightGenerator,
    PyTorchModelHubMixin,
    library_name="netgraph",
    tags=["netgraph", "weight-generator", "hypernetwork"],
    coders=TARGET_CODERS,
):
    """A chunked MLP hypernetwork for one target architecture (see the module docstring).

    Args:
        target: the architecture (a module, or its :class:`TargetArchitecture` record).
        noise_dim: size of the noise vector ``z`` (``0``: deterministic, one network per condition).
        chunk_size: values produced per chunk.
        chunk_dim: size of the learned chunk embeddings.
        hidden: hidden widths of the MLP.
        mip: use the Magnitude Invariant Parametrisation.
        condition: ``{"kind": "vector" | "set", "features": ..., "dim": ...}`` for a conditioned
            hypernetwork (see :class:`~.conditioning.ConditionEncoder`), or ``None``.
        trained_on: provenance written to the model card (zoo / data / recipe), JSON.
    """

    def __init__(
        self,
        target: nn.Module | TargetArchitecture | Mapping[str, Any],
        noise_dim: int = 8,
        chunk_size: int = 256,
        chunk_dim: int = 16,
        hidden: Sequence[int] = (64, 64),
        mip: bool = False,
        condition: Mapping[str, Any] | None = None,
        trained_on: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if noise_dim < 0 or chunk_size < 1 or chunk_dim < 1 or any(h < 1 for h in hidden):
            raise ValueError(
                f"noise_dim >= 0, chunk_size >= 1, chunk_dim >= 1 and hidden widths >= 1 expected; got "
                f"noise_dim={noise_dim}, chunk_size={chunk_size}, chunk_dim={chunk_dim}, hidden={hidden}"
            )
        self.target_architecture = as_target_architecture(target)
        self.noise_dim, self.chunk_size, self.mip = noise_dim, chunk_size, mip
        self.trained_on = dict(trained_on or {})
        self.num_outputs = self.target_architecture.learnable
        self.num_chunks = math.ceil(self.num_outputs / chunk_size)
        self.condition = condition_encoder(condition)
        inputs = noise_dim * (2 if mip else 1) + (self.condition.dim if self.condition is not None else 0)
        self.chunk_embeddings = nn.Parameter(torch.randn(self.num_chunks, chunk_dim))
        widths = [inputs + chunk_dim, *hidden]
        self.hidden_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.activation = nn.LeakyReLU()
        self.output = nn.Linear(widths[-1], chunk_size)
        self.theta0 = nn.Parameter(self._default_values(target)) if mip else None
        if mip:
            for layer in [*self.hidden_layers, self.output]:
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="leaky_relu")
                nn.init.zeros_(layer.bias)

    def generate_graphs(
        self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1
    ) -> Batch:
        spec = self.target_spec(target)
        return fill_parameter_slots(spec, self.parameter_vectors(condition, n))

    def parameter_vectors(self, condition: torch.Tensor | None = None, n: int = 1) -> torch.Tensor:
        """The generated learnable values ``[n, P]`` (layout of :mod:`netgraph.masks`)."""
        check_count(n)
        device = self.chunk_embeddings.device
        parts = []
        if self.noise_dim:
            parts.append(
                mip_encoding(torch.rand(n, self.noise_dim, device=device))
                if self.mip
                else torch.randn(n, self.noise_dim, device=device)
            )
        embedding = require_condition(self.condition, condition, n, type(self).__name__)
        if embedding is not None:
            parts.append(embedding)
        per_net = torch.cat(parts, dim=1) if parts else torch.zeros(n, 0, device=device)
        first = self.hidden_layers[0]
        split = per_net.shape[1]
        # first layer on [per_net, chunk] without building the [n, C, inputs + chunk_dim] concatenation
        h = (per_net @ first.weight[:, :split].T).unsqueeze(1) + (
            self.chunk_embeddings @ first.weight[:, split:].T + first.bias
        )
        h = self.activation(h)
        for layer in self.hidden_layers[1:]:
            h = self.activation(layer(h))
        values = self.output(h).reshape(n, -1)[:, : self.num_outputs]  # [n, P]
        return values + self.theta0 if self.theta0 is not None else values

    def _default_values(self, target) -> torch.Tensor:
        """PyTorch's default initialisation of the target's learnable values (MIP's ``theta_0``); zeros
        when only a record is given (the weights are then loaded from a checkpoint)."""
        if isinstance(target, nn.Module):
            return read_parameter_slots(DefaultInitGenerator().generate_graphs(target, n=1))[0]
        return torch.zeros(self.num_outputs)
