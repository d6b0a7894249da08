"""Which weight spaces the dense models (DWSNet, NFN, baselines) take, and their layer shapes.

Dense models read :func:`netgraph.weight_space` and assume a *chain*: an MLP or a CNN whose layer
``i`` reads exactly the outputs of layer ``i - 1``, with one optional bias per neuron, no other
parameters (no normalisation, attention, embeddings), no residual edges, and hidden neurons
(channels) that may be permuted independently, layer by layer. Graph models (``gmn``, ``ngt``)
take everything else.

``layer_shapes`` is the list ``[n_out, n_in, *kernel]`` of every layer (``kernel`` is empty for a
linear layer, ``[3, 3]`` for a 3x3 conv, ``[H * W]`` for a linear layer reading a flattened map).

Example:
    >>> import torch.nn as nn
    >>> from netgraph.metanets import layer_shapes_of
    >>> layer_shapes_of(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)))
    [[8, 2], [1, 8]]
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch_geometric.data import Data

import netgraph
from netgraph.graph import graph_specs
from netgraph.spec import GraphSpec
from netgraph.types import NodeFeature, NodeType
from netgraph.weight_space import WeightSpace

__all__ = ["layer_shapes_of", "chain_problem", "dense_weight_space"]


def chain_problem(spec: GraphSpec) -> str | None:
    """Why ``spec`` is not a chain the dense models take (``None`` when it is)."""
    layers = spec.layers
    if not layers:
        return "it has no weight layers"
    if spec.const_edges:
        return "it has residual / product edges (fixed identity connections)"
    layer_offsets = {layer.weight.offset for layer in layers}
    extra = [p.param for p in spec.edge_pieces if p.offset not in layer_offsets]
    if extra:
        return f"it has weights outside the layer chain, e.g. {extra[0]!r}"
    others = [p.param for p in spec.node_pieces if p.column != NodeFeature.BIAS]
    if others:
        return f"it has normalisation parameters, e.g. {others[0]!r}"
    for prev, layer in zip(layers[:-1], layers[1:]):
        if layer.weight.groups != 1 or layer.weight.rows is not None:
            return f"layer {layer.name} is grouped or a slice of a parameter"
        if not torch.equal(layer.weight.in_nodes, prev.weight.out_nodes):
            return f"layer {layer.name} does not read exactly the outputs of {prev.name}"
    if layers[0].weight.groups != 1 or layers[0].weight.rows is not None:
        return f"layer {layers[0].name} is grouped or a slice of a parameter"
    if not bool((spec.node_type[layers[0].weight.in_nodes] == NodeType.INPUT).all()):
        return f"the first layer {layers[0].name} does not read the network's inputs"
    if not bool((spec.node_type[layers[-1].weight.out_nodes] == NodeType.OUTPUT).all()):
        return f"the last layer {layers[-1].name} does not give the network's outputs"
    hidden = {tuple(sorted(layer.weight.out_nodes.tolist())) for layer in layers[:-1]}
    groups = {
        tuple(sorted(g.nodes.reshape(-1).tolist())) for g in spec.groups if g.level == 0 and g.nodes.shape[1] == 1
    }
    if hidden != groups or len(spec.groups) != len(layers) - 1:
        return "its hidden neurons are not freely permutable layer by layer (tied or grouped channels)"
    return None


def layer_shapes_of(source: nn.Module | GraphSpec | Data | WeightSpace) -> list[list[int]]:
    """``[[n_out, n_in, *kernel], ...]`` of a chain (MLP / CNN) given as a module, spec, graph or
    weight space; raises ``ValueError`` naming the problem for anything else."""
    if isinstance(source, WeightSpace):
        spec = source.spec
    elif isinstance(source, GraphSpec):
        spec = source
    elif isinstance(source, nn.Module):
        spec = netgraph.spec_of(source)
    elif isinstance(source, Data):
        spec = graph_specs(source)[0]
    else:
        raise TypeError(
            f"layer_shapes_of takes an nn.Module, GraphSpec, ParamGraph/Batch or WeightSpace; got "
            f"{type(source).__name__}"
        )
    problem = chain_problem(spec)
    if problem is not None:
        raise ValueError(
            f"the dense metanets take MLP/CNN chains; this architecture ({spec!r}) is not one: "
            f"{problem}. Use create_metanet('gmn') or create_metanet('ngt'), which take any "
            "architecture."
        )
    return [[layer.weight.n_out, layer.weight.n_in, *layer.weight.kernel] for layer in spec.layers]


def dense_weight_space(batch: Data, layer_shapes: list[list[int]], model: str) -> WeightSpace:
    """``netgraph.weight_space(batch)`` after checking it is a chain with ``layer_shapes``."""
    specs = graph_specs(batch)
    if any(s is not specs[0] for s in specs):
        raise ValueError(
            f"{model} takes batches of one architecture (it reads the dense weight space); this "
            "batch mixes architectures. Split it by architecture or use a graph model ('gmn', 'ngt')"
        )
    given = layer_shapes_of(specs[0])
    expected = [list(s) for s in layer_shapes]
    if given != expected:
        raise ValueError(
            f"{model} was built for layer shapes {expected} but the batch has {given}; build a model "
            "for this architecture with layer_shapes=layer_shapes_of(example)"
        )
    return netgraph.weight_space(batch)
