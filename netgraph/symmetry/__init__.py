"""Permutation symmetries: finding them while a network is traced (:mod:`~netgraph.symmetry.detect`) and
applying them to parameter graphs (:mod:`~netgraph.symmetry.apply`).

Example:
    >>> import torch.nn as nn, netgraph
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    >>> [(group.level, group.units) for group in g.spec.groups]   # the 4 hidden units, found by detect
    [(0, 4)]
    >>> netgraph.permute(g, netgraph.random_permutation(g)).num_nodes   # moved by apply
    9
"""

from .apply import _node_map, entry_positions, identity_permutation, inverse_map, permute, random_permutation

# _node_map: merge/ and verify read a permutation's node map from a unit map with it
__all__ = ["random_permutation", "permute", "identity_permutation", "inverse_map", "entry_positions", "_node_map"]
