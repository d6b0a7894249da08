"""REPAIR (Jordan et al., ICLR 2023): renormalise the neurons of an interpolated network.

Interpolating two aligned networks shrinks the variance of their neurons ("variance collapse"),
which a BatchNorm layer would undo but plain layers cannot. REPAIR gives every neuron of the merged
network ``M = (1 - t) A + t B`` the statistics it has on average in the end points,
``mean_T = (1 - t) mean_A + t mean_B`` and ``std_T = (1 - t) std_A + t std_B``, measured on data,
by folding an affine correction into the layer that produces the neuron: its incoming weights are
scaled by ``s = std_T / std_M`` and its bias becomes ``s (b - mean_M) + mean_T``. Layers are corrected
in order of depth (a forward pass per depth), since correcting one layer changes the next ones'
statistics. Only hidden neurons (not the network's outputs) that the graph shows to be a layer's
output with a bias and no normalisation are corrected (normalised ones:
:func:`~netgraph.merge.reset_batchnorm`).

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.merge import interpolate, repair
    >>> a, b, x = mlp([4, 32, 3]), mlp([4, 32, 3]), torch.randn(256, 4)
    >>> fixed = repair(interpolate(a, b, 0.5), a, b, x, t=0.5)
    >>> def std(m): return m[0](x).std(0)
    >>> torch.allclose(std(fixed), (std(a) + std(b)) / 2, rtol=1e-3)
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..convert import from_module, spec_of, to_module
from ..graph import make_graph
from ..types import NodeFeature, NodeType, Norm
from ..activations import record_activations
from .data import input_batches

__all__ = ["repair"]


def repair(
    merged: nn.Module,
    model_a: nn.Module,
    model_b: nn.Module,
    data: Any,
    t: float = 0.5,
    example_inputs: Any = None,
    eps: float = 1e-8,
) -> nn.Module:
    """A copy of ``merged`` (``(1 - t) A + t B``, after alignment) with REPAIR's neuron statistics.

    ``data``: inputs (or ``(inputs, targets)``; the first batch of an iterable is used) on which the
    statistics are measured.
    """
    inputs = next(iter(input_batches(data)))
    spec = spec_of(merged, example_inputs)
    stats_a = _stats(record_activations(model_a, inputs, spec, max_samples=None))
    stats_b = _stats(record_activations(model_b, inputs, spec, max_samples=None))
    graph = from_module(merged, example_inputs)
    device = graph.x.device
    topo = spec.on(device)
    hidden = (topo["node_norm"] == int(Norm.NONE)) & (topo["node_type"] != int(NodeType.OUTPUT))
    has_bias = torch.zeros(spec.num_nodes, dtype=torch.bool, device=device)
    for piece in spec.node_pieces:
        if piece.column == int(NodeFeature.BIAS):
            has_bias[piece.nodes.to(device)] = True
    depth = {i: int(spec.layer[spec.edge_pieces[i].out_nodes[0]]) for i in stats_a}
    src, dst = graph.edge_index
    x, edge_attr = graph.x.clone(), graph.edge_attr.clone()
    current = merged
    for level in sorted(set(depth.values())):
        stats_m = _stats(record_activations(current, inputs, spec, max_samples=None))
        factor = torch.ones(spec.num_nodes, dtype=x.dtype, device=device)
        target_mean = torch.zeros(spec.num_nodes, dtype=x.dtype, device=device)
        source_mean = torch.zeros(spec.num_nodes, dtype=x.dtype, device=device)
        for i, d in depth.items():
            if d != level:
                continue
            nodes = spec.edge_pieces[i].out_nodes.to(device)
            (mean_a, std_a), (mean_b, std_b), (mean_m, std_m) = stats_a[i], stats_b[i], stats_m[i]
            factor[nodes] = (((1 - t) * std_a + t * std_b) / (std_m + eps)).to(x.dtype)
            target_mean[nodes] = ((1 - t) * mean_a + t * mean_b).to(x.dtype)
            source_mean[nodes] = mean_m.to(x.dtype)
        eligible = (factor != 1) & has_bias & hidden
        factor = torch.where(eligible, factor, 1.0)
        edge_attr = edge_attr * factor[dst].unsqueeze(1)
        bias = x[:, int(NodeFeature.BIAS)]
        x[:, int(NodeFeature.BIAS)] = torch.where(eligible, factor * (bias - source_mean) + target_mean, bias)
        current = to_module(make_graph(spec, x, edge_attr, graph.aux), merged)
    return current


def _stats(acts: dict[int, torch.Tensor]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per edge piece: mean and (biased) std of each output neuron over the samples."""
    return {i: (a.double().mean(0), a.double().std(0, unbiased=False)) for i, a in acts.items()}
