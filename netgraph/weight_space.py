"""Dense weight-space view (DWSNet / NFN style) of parameter graphs.

Layout: one entry per weight layer of the spec (``spec.layers``: linear, conv, embedding and
attention projections, in trace order); for a batch of ``B`` networks

* ``weights[i]``: ``[B, n_out, n_in, *kernel]`` (``n_in`` per group for grouped convs),
* ``biases[i]``: ``[B, n_out]`` (zeros where the layer has no bias),

so an MLP ``Linear(2, 32) -> Linear(32, 1)`` gives ``weights = [[B, 32, 2], [B, 1, 32]]``. The view
is convertible back to a graph (norm parameters and other features come from the template graph).

Example:
    >>> import torch.nn as nn, netgraph
    >>> ws = netgraph.weight_space(nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1)))
    >>> [tuple(w.shape) for w in ws.weights], [tuple(b.shape) for b in ws.biases]
    ([(1, 32, 2), (1, 1, 32)], [(1, 32), (1, 1)])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch_geometric.data import Data

from .convert import from_module
from .graph import graph_specs
from .spec import GraphSpec
from .types import NodeFeature

__all__ = ["WeightSpace", "weight_space"]


@dataclass
class WeightSpace:
    """Per-layer weight and bias tensors of ``B`` networks of one architecture."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    names: list[str]
    spec: GraphSpec
    template: Data

    def __len__(self) -> int:
        return len(self.weights)

    def to_graph(self) -> Data:
        """The graph (or batch) with these weights and biases, other features from the template."""
        spec = self.spec
        b = self.weights[0].shape[0] if self.weights else 1
        out = copy.copy(self.template)
        values = self.template.edge_values.clone().reshape(b, spec.num_values)
        x = self.template.x.clone().reshape(b, spec.num_nodes, -1)
        for layer, weight, bias in zip(spec.layers, self.weights, self.biases):
            spec.write_value_block(values, layer.weight, weight)
            if layer.bias is not None:
                x[:, layer.bias.nodes.to(x.device), NodeFeature.BIAS] = bias
        out.edge_values = values.reshape(-1)
        out.x = x.reshape(self.template.x.shape)
        return out


def weight_space(model_or_graph: nn.Module | Data, example_inputs=None) -> WeightSpace:
    """The dense weight-space view of a module, a ``ParamGraph`` or a batch of one architecture."""
    graph = from_module(model_or_graph, example_inputs) if isinstance(model_or_graph, nn.Module) else model_or_graph
    specs = graph_specs(graph)
    spec = specs[0]
    if any(s is not spec for s in specs):
        raise ValueError("weight_space needs all graphs of a batch to share one architecture")
    b = len(specs)
    values = graph.edge_values.reshape(b, spec.num_values)
    x = graph.x.reshape(b, spec.num_nodes, -1)
    weights, biases = [], []
    for layer in spec.layers:
        weights.append(spec.value_block(values, layer.weight))
        bias = x[:, layer.weight.out_nodes.to(x.device), NodeFeature.BIAS]
        biases.append(bias)
    return WeightSpace(weights, biases, [layer.name for layer in spec.layers], spec, graph)
