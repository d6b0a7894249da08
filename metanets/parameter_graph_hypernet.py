"""Graph hypernetworks (GHN-2 / GHN-3 style, Knyazev et al. 2021, 2023) on parameter graphs: a GNN over
the target's own parameter graph predicts every parameter, so one model emits weights for any
architecture :func:`netgraph.from_module` supports, including ones it never saw in training.

GHN-2 runs its GNN on a graph of operations and decodes each operation's tensor. Here the graph is
the parameter graph itself (neurons are nodes, weights are edges), so every weight is an edge
feature the GNN predicts directly. Hidden neurons of one layer are indistinguishable by structure
alone, so each generated network starts from noise that tells them apart:

1. draw PyTorch's default initialisation of the target (:class:`~.generators.DefaultInitGenerator`),
2. divide every weight and bias by its layer's scale ``1 / sqrt(fan_in)`` (unit-scale features,
   whatever the width: OperationGraphHypernetwork-2's fan-in normalisation),
3. run an equivariant graph metanet with an edit head (``gmn`` by default) and keep its residual
   edit ``w + scale * delta`` on the parameter slots,
4. multiply back by ``1 / sqrt(fan_in)``.

Every step commutes with the permutation symmetries of the target, so permuting the noise
permutes the generated network the same way (:meth:`ParameterGraphHypernetwork.transform` is equivariant);
the noise breaks the tie between neurons, the GNN decides what they become.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> ghn = ParameterGraphHypernetwork(dim=8, depth=1).eval()
    >>> nets = ghn.generate(mlp([4, 7, 5, 3]), n=2)        # any MLP: widths and depth are free
    >>> tuple(nets(torch.randn(6, 4)).shape)
    (2, 6, 3)
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.data import Batch, Data

from netgraph.graph import split_by_spec
from netgraph.spec import GraphSpec

from .conditioning import require_condition
from .generators import DefaultInitGenerator, WeightGenerator, check_count
from .registry import create_metanet

__all__ = ["ParameterGraphHypernetwork", "fan_in_scales"]


def fan_in_scales(graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-slot scales of a graph or batch: ``(node_scale [N, F], edge_scale [E, K])``, ``1 / sqrt(fan_in)``
    on the weights and biases of every weight layer, 1 everywhere else (norm parameters, buffers,
    fixed edges). Vectorised over the graphs of each architecture."""
    device, dtype = graph.x.device, graph.x.dtype
    node_scale = torch.ones_like(graph.x)
    edge_scale = torch.ones_like(graph.edge_attr)
    for group in split_by_spec(graph):
        spec = group.spec
        nodes = torch.ones(spec.num_nodes, spec.num_node_features, dtype=dtype, device=device)
        edges = torch.ones(1, spec.num_edges, *spec.kernel_shape, dtype=dtype, device=device)
        for layer in spec.layers:  # a loop over layers
            piece = layer.weight
            scale = 1.0 / math.sqrt(piece.n_in * math.prod(piece.kernel))
            spec.write_edge_block(
                edges, piece, torch.full((1, piece.num_edges, *piece.kernel), scale, dtype=dtype, device=device)
            )
            if layer.bias is not None:
                nodes[layer.bias.nodes.to(device), layer.bias.column] = scale
        edges = torch.where(edges == 0, 1.0, edges)  # write_edge_block zeroes kernel padding: give it scale 1
        node_scale[group.nodes.reshape(-1)] = nodes.repeat(len(group.graphs), 1)
        edge_scale[group.edges.reshape(-1)] = edges.reshape(spec.num_edges, -1).repeat(len(group.graphs), 1)
    return node_scale, edge_scale


class ParameterGraphHypernetwork(
    WeightGenerator,
    PyTorchModelHubMixin,
    library_name="netgraph",
    tags=["netgraph", "weight-generator", "graph-hypernetwork"],
):
    """A graph hypernetwork for any architecture (see the module docstring).

    Args:
        dim, depth: width and number of layers of the graph metanet.
        kernel_shape: edge-feature kernel shape of the graphs it reads (``()`` for MLPs, ``(3, 3)``
            for CNNs with kernels up to 3x3; smaller kernels are centred in it).
        encoder: a graph metanet from the registry (``"gmn"`` or ``"ngt"``).
        encoder_kwargs: further arguments of that metanet (e.g. ``{"aggr": "mean"}``).
        edit_scale: initial scale of the residual edit (learned). Small, so training starts from the
            default initialisation: a large random edit shifts all weights of a layer together and
            can silence every ReLU at once.
        trained_on: provenance written to the model card (architectures, data, recipe), JSON.
    """

    #: the class name folders saved before the rename (issue 24) store; the Hub loader resolves it here
    former_names = ("GraphHypernetwork",)

    def __init__(
        self,
        dim: int = 32,
        depth: int = 3,
        kernel_shape: Sequence[int] = (),
        encoder: str = "gmn",
        encoder_kwargs: Mapping[str, Any] | None = None,
        edit_scale: float = 0.01,
        trained_on: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.kernel_shape = tuple(int(k) for k in kernel_shape)
        self.trained_on = dict(trained_on or {})
        self.encoder = create_metanet(
            encoder,
            dim=dim,
            depth=depth,
            edge_features=math.prod(self.kernel_shape),
            out_features=0,
            edit=True,
            edit_scale=edit_scale,
            **dict(encoder_kwargs or {}),
        )

    def generate_graphs(
        self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1
    ) -> Batch:
        check_count(n)
        require_condition(None, condition, n, type(self).__name__)
        spec = self.target_spec(target, kernel_shape=self.kernel_shape)
        if spec.kernel_shape != self.kernel_shape:
            raise ValueError(
                f"the target has kernels up to {spec.kernel_shape}, but this graph hypernetwork reads edge "
                f"features of kernel_shape {self.kernel_shape}; use one built with kernel_shape="
                f"{spec.kernel_shape} or larger"
            )
        device = self.encoder.edit_scale.scale.device
        return self.transform(DefaultInitGenerator(device).generate_graphs(spec, n=n))

    def transform(self, noise: Data) -> Data:
        """Generated networks from noise graphs (a graph or a batch, any architectures): steps 2-4 of
        the module docstring. Equivariant: ``transform(permute(g, p)) == permute(transform(g), p)``."""
        node_scale, edge_scale = fan_in_scales(noise)
        unit = copy.copy(noise)
        unit.x, unit.edge_attr = noise.x / node_scale, noise.edge_attr / edge_scale
        edited = self.encoder.edit(unit)
        out = copy.copy(edited)
        out.x, out.edge_attr = edited.x * node_scale, edited.edge_attr * edge_scale
        return out
