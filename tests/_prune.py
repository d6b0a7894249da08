"""Shared by the pruning tests: zero units on the parameter graph (the reference a physical cut must match)."""

import torch

import netgraph
from netgraph.masks import parameter_masks


def zero_units(model, spec, removal):
    """Zero, on the parameter graph, every parameter attached to the nodes of the removed units."""
    graph = netgraph.from_module(model, spec=spec)
    nodes = torch.cat([spec.groups[g].nodes[u].reshape(-1) for g, u in removal.items()])
    node_mask, edge_mask = parameter_masks(graph)
    touched = torch.isin(graph.edge_index, nodes).any(0, keepdim=True).T
    graph.edge_attr = torch.where(touched & edge_mask, 0.0, graph.edge_attr)
    chosen = torch.zeros(graph.num_nodes, 1, dtype=torch.bool).index_fill(0, nodes, True)
    graph.x = torch.where(chosen & node_mask, 0.0, graph.x)
    return netgraph.to_module(graph, model)
