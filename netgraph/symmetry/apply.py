"""Permutation symmetries of parameter graphs, applied: sampling permutations and moving graphs by them, batched.

A permutation is a node map ``perm [num_nodes]`` (node ``i`` moves to ``perm[i]``) that respects the
spec's symmetry groups. Applying it moves node features and edge weights so that the graph stays in
canonical order: ``to_state_dict(permute(g, perm))`` is the state dict of the permuted network,
which computes the same function.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> g = netgraph.from_module(model)
    >>> g2 = netgraph.permute(g, netgraph.random_permutation(g))
    >>> x = torch.randn(4, 3)
    >>> torch.allclose(netgraph.to_module(g2, model)(x), model(x), atol=1e-6)
    True
"""

from __future__ import annotations

import copy

import torch
from torch_geometric.data import Data

from ..graph import split_by_spec
from ..spec import GraphSpec

__all__ = ["random_permutation", "permute", "identity_permutation"]


def identity_permutation(graph: Data) -> torch.Tensor:
    """The permutation that moves nothing."""
    return torch.arange(graph.num_nodes, device=graph.x.device)


def random_permutation(graph: Data, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random permutation of every symmetry group of every graph (batches included).

    Returns ``perm [num_nodes]`` (global node ids for a batch). Vectorised over the graphs of each
    architecture; no Python loop over networks, neurons or edges.
    """
    device = graph.x.device
    perm = torch.empty(graph.num_nodes, dtype=torch.long, device=device)
    for group in split_by_spec(graph):
        starts = group.nodes[:, :1]
        perm[group.nodes.reshape(-1)] = (_sample(group.spec, len(group.graphs), generator, device) + starts).reshape(-1)
    return perm


def permute(graph: Data, perm: torch.Tensor, check: bool = True) -> Data:
    """The graph of the permuted network(s); ``perm`` from :func:`random_permutation` (or any node
    map respecting the symmetry groups: ``check=True`` verifies that it keeps fixed nodes and
    level-0 groups in place). Works on a ``ParamGraph`` or a batch; returns a new object of the
    same kind whose ``x`` and ``edge_values`` are new tensors (the rest is shared): the weights move
    unpadded, so the cost is that of the weights whatever the kernel sizes.

    ``perm`` must be an integer tensor ``[num_nodes]``; with ``check`` it must also be a bijection
    of each graph's nodes onto themselves that permutes whole units within each symmetry group.
    """
    device = graph.x.device
    if perm.dim() != 1 or perm.numel() != graph.num_nodes or perm.dtype.is_floating_point or perm.dtype == torch.bool:
        raise ValueError(
            f"perm must be an integer node map of shape [{graph.num_nodes}] (one entry per node); got "
            f"{perm.dtype} of shape {list(perm.shape)}. Use random_permutation(graph)"
        )
    if "edge_values" not in graph:
        raise TypeError(
            f"permute needs a ParamGraph or a batch of them (with edge_values); got a {type(graph).__name__} "
            "without edge_values. Build graphs with netgraph.from_module / from_state_dict"
        )
    perm = perm.to(device)
    x_new = torch.empty_like(graph.x)
    values = graph.edge_values
    values_new = values.clone()  # fixed (constant) edges keep their place and value
    for group in split_by_spec(graph):
        spec, b = group.spec, len(group.graphs)
        starts = group.nodes[:, :1]
        local = perm[group.nodes] - starts
        if check:
            _check_bijection(spec, local)
            _check(spec, local)
        x_new[(local + starts).reshape(-1)] = graph.x[group.nodes.reshape(-1)]
        if group.whole:  # one architecture: work on views, no gathered copies
            old, new = values.view(b, spec.num_values), values_new.view(b, spec.num_values)
        else:
            old = values[group.values.reshape(-1)].view(b, spec.num_values)
            new = old.clone()
        for piece in spec.edge_pieces:
            spec.write_value_block(new, piece, _moved_block(piece, local, spec.value_block(old, piece)))
        if not group.whole:
            values_new[group.values.reshape(-1)] = new.reshape(-1)
    out = copy.copy(graph)
    out.x = x_new
    out.edge_values = values_new
    return out


def _moved_block(piece, local: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """The weights of ``piece``, ``block [B, n_out, n_in, *kernel]``, after permuting nodes by ``local [B, N]``.

    Row ``o`` and input ``i`` move to ``(pos(perm(out[o])), pos(perm(in[i])))`` inside the same block,
    because permutations map a layer's neurons onto the same layer's neurons. Without channel groups,
    rows and columns move separately (two gathers, no per-edge index).
    """
    device = local.device
    b = block.shape[0]
    out_nodes, in_nodes = piece.out_nodes.to(device), piece.in_nodes.to(device)
    out_pos = entry_positions(out_nodes, local[:, out_nodes])  # [B, n_out]
    in_pos = entry_positions(in_nodes, local[:, in_nodes])  # [B, groups * n_in]
    flat = block.reshape(b, piece.n_out, piece.n_in, -1)
    if piece.groups == 1:
        rows, cols = inverse_map(out_pos), inverse_map(in_pos)
        flat = flat.gather(1, rows[:, :, None, None].expand_as(flat))
        return flat.gather(2, cols[:, None, :, None].expand_as(flat)).reshape(block.shape)
    rows_per_group = piece.n_out // piece.groups
    index = (torch.arange(piece.n_out, device=device) // rows_per_group).unsqueeze(1) * piece.n_in + torch.arange(
        piece.n_in, device=device
    )
    target = (out_pos.unsqueeze(2) * piece.n_in + in_pos[:, index] % piece.n_in).reshape(b, -1, 1)
    edges = flat.reshape(b, piece.num_edges, -1)
    return torch.empty_like(edges).scatter_(1, target.expand_as(edges), edges).reshape(block.shape)


def inverse_map(node_map: torch.Tensor) -> torch.Tensor:
    """``[P, N]`` inverse of maps (node maps, or positions inside a node list): ``inverse[p, node_map[p, n]] = n``."""
    inverse = torch.empty_like(node_map)
    return inverse.scatter_(1, node_map, torch.arange(node_map.shape[1], device=node_map.device).expand_as(node_map))


def entry_positions(nodes: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Where each entry of a node list goes: ``images [B, n]`` are the images of ``nodes [n]`` (a layer's
    rows or inputs) under a permutation; entry ``p`` goes to the position of its image in ``nodes``. A
    node listed several times (a layer reading a concatenation of one space with itself) sends its k-th
    occurrence to the k-th occurrence of its image. Images not in ``nodes`` give meaningless positions.

    >>> entry_positions(torch.tensor([4, 5, 4, 5]), torch.tensor([[5, 4, 5, 4]]))
    tensor([[1, 0, 3, 2]])
    """
    start, n = nodes[0], nodes.numel()
    if bool((nodes == torch.arange(start, start + n, device=nodes.device)).all()):
        return images - start
    order = nodes.argsort(stable=True)
    ordered = nodes[order]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(n, device=nodes.device) - torch.searchsorted(ordered, ordered)
    return order[(torch.searchsorted(ordered, images) + rank).clamp(max=n - 1)]


def _sample(spec: GraphSpec, count: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """Local permutations ``[count, N]`` of one architecture."""
    if spec.num_groups == 0:
        return torch.arange(spec.num_nodes, device=device).repeat(count, 1)
    units = spec.group_units.to(device)
    keys = torch.rand(count, spec.num_groups, int(units.max()), generator=generator).to(device)
    keys = keys.masked_fill(torch.arange(keys.shape[-1], device=device) >= units.unsqueeze(1), 2.0)
    return _node_map(spec, keys.argsort(-1).argsort(-1))


def _node_map(spec: GraphSpec, unit_map: torch.Tensor) -> torch.Tensor:
    """Node permutation ``[B, N]`` from a permutation of every group's units ``unit_map [B, G, U]``
    (``unit_map[b, g, u]`` is the new unit of unit ``u``): a node moves by whole unit strides,
    first inside its block (level 1), then with its block (level 0)."""
    topo = spec.on(unit_map.device)
    perm = torch.arange(spec.num_nodes, device=unit_map.device).repeat(unit_map.shape[0], 1)
    for level in range(topo["sym_group"].shape[1]):
        group, unit = topo["sym_group"][:, level], topo["sym_unit"][:, level]
        moved = unit_map[:, group.clamp(min=0), unit]
        perm += torch.where(group >= 0, (moved - unit) * topo["sym_stride"][:, level], 0)
    return perm


def _check_bijection(spec: GraphSpec, local: torch.Tensor) -> None:
    """Each row of ``local [B, N]`` must map the graph's ``N`` nodes one-to-one onto themselves."""
    n = spec.num_nodes
    inside = (local >= 0) & (local < n)
    if not bool(inside.all()):
        row = int((~inside).any(1).nonzero()[0])
        raise ValueError(
            f"the permutation sends nodes of graph {row} outside it (node ids must stay within each "
            f"graph's {n} nodes); use random_permutation"
        )
    counts = torch.zeros(local.shape[0], n, dtype=torch.long, device=local.device)
    counts.scatter_add_(1, local, torch.ones_like(local))
    if not bool((counts == 1).all()):
        row = int((counts != 1).any(1).nonzero()[0])
        repeated = (counts[row] > 1).nonzero().flatten()[:3].tolist()
        raise ValueError(
            f"the permutation is not a bijection: graph {row} sends several nodes to node(s) {repeated} "
            "(local ids), so others would be left uninitialised; use random_permutation"
        )


def _check(spec: GraphSpec, local: torch.Tensor) -> None:
    """``local [B, N]`` must be exactly the node map of some permutation of every group's units."""
    if spec.num_groups:
        topo = spec.on(local.device)
        table = torch.zeros(
            local.shape[0], spec.num_groups, int(spec.group_units.max()), dtype=torch.long, device=local.device
        )
        for level in range(topo["sym_group"].shape[1]):
            group, unit = topo["sym_group"][:, level], topo["sym_unit"][:, level]
            valid = group >= 0
            table[:, group[valid], unit[valid]] = topo["sym_unit"][:, level][local[:, valid]]
        expected = _node_map(spec, table)
    else:
        expected = torch.arange(spec.num_nodes, device=local.device).expand_as(local)
    if not torch.equal(expected, local):
        raise ValueError(
            "the permutation does not respect the symmetry groups: it moves nodes that are never "
            "permuted (inputs, outputs, pinned nodes), splits a group's unit (head, tied channel) "
            "or mixes groups. Use random_permutation, or check=False to apply it anyway."
        )
