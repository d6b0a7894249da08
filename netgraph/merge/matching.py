"""Coordinate descent over symmetry groups (Git Re-Basin, Ainsworth et al. 2023), for any spec.

The permutation of B is kept as one unit permutation per symmetry group (``unit_maps [P, G, U]``,
the representation of :func:`netgraph.permute`), for ``P`` pairs of networks at once. One step
re-solves one group: B is mapped into A's frame by the current permutation *except* that group,
a score matrix ``[P, U, U]`` compares every unit of A with every unit of B, and a linear
assignment picks the new unit permutation. Scores come from a *features* object:

* :class:`WeightFeatures` (weight matching): every edge incident to the group's nodes in both
  directions (rows and columns of each weight layer, kernels included, all tied members) and the
  nodes' own parameters (bias, norm weight and bias). The other end of each edge is mapped by the
  current permutation (the linearisation of Git Re-Basin). Where a layer maps a group onto itself
  (grouped / depthwise convolutions, per-feature scales) the same-unit block is compared exactly.
* activation features (see :mod:`netgraph.merge.activation_matching`).

Level-0 groups of blocks (attention heads, channel groups) are matched as blocks, each pair of
blocks scored under its best inner matching (one small assignment per pair and inner group, solved
in one batch); the inner (level-1) permutations are set from those matchings and refined by their
own steps. Sweeps visit level-0 groups, then level-1 groups, each in random order, and stop when
the total similarity ``features.objective`` stops increasing (the best state is kept).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..spec import GraphSpec
from ..symmetry import _node_map, entry_positions, inverse_map
from ..types import NodeFeature
from .assignment import linear_assignment
from .plan import GroupPlan, dense_block, group_plans, piece_positions

__all__ = ["coordinate_descent", "WeightFeatures", "inverse_map", "take_per_pair", "LEARNED_COLUMNS"]

LEARNED_COLUMNS = [int(NodeFeature.BIAS), int(NodeFeature.NORM_WEIGHT), int(NodeFeature.NORM_BIAS)]


def coordinate_descent(
    spec: GraphSpec,
    features,
    pairs: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-9,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """Unit permutations ``[P, G, U]`` of B maximising ``features.objective`` (see module docstring).

    ``features`` provides ``line_terms(plan, minv_g, minv, target)`` (per-slot unit features of A and
    of B, ``[P, U, S, D]`` each, with their slot ids), ``block_terms(plan, minv_g, target)`` (ready
    ``[P, U, U]`` scores) and ``objective(minv) -> [P]``; ``minv_g`` / ``minv`` map A's nodes to the B
    nodes landing on them without / with the group's current permutation, ``target [P]`` is the
    group of B being re-solved.
    """
    device = torch.device(device)
    plans = group_plans(spec, device)
    units = spec.group_units.to(device)
    width = int(units.max()) if len(units) else 1
    identity = torch.arange(width, device=device)
    unit_maps = identity.repeat(pairs, max(len(plans), 1), 1)
    if not plans:
        return unit_maps
    order_keys = torch.rand(max_iter, len(plans), generator=generator)
    best_maps = unit_maps.clone()
    best = features.objective(inverse_map(_node_map(spec, unit_maps)))
    for sweep in tqdm(range(max_iter), disable=not progress, desc="matching sweeps"):
        order = sorted(range(len(plans)), key=lambda i: (plans[i].level, float(order_keys[sweep, i])))
        for i in order:
            _step(spec, plans[i], features, unit_maps, identity)
        score = features.objective(inverse_map(_node_map(spec, unit_maps)))
        improved = score > best + tol * best.abs().clamp_min(1.0)
        best_maps[improved] = unit_maps[improved]
        best = torch.where(improved, score, best)
        if not bool(improved.any()):
            break
        unit_maps = best_maps.clone()
    return best_maps


def _step(spec: GraphSpec, plan: GroupPlan, features, unit_maps: torch.Tensor, identity: torch.Tensor) -> None:
    """Re-solve one group in place (for all pairs)."""
    pairs, u = unit_maps.shape[0], plan.units
    batch = torch.arange(pairs, device=unit_maps.device)
    minv = inverse_map(_node_map(spec, unit_maps))
    if plan.level == 0:
        target = torch.full((pairs,), plan.group_index, dtype=torch.long, device=unit_maps.device)
    else:  # the level-1 group of B whose block currently lands on this block of A
        table = spec.on(unit_maps.device)["sym_group"]
        column = int((table[plan.nodes[0, 0]] == plan.group_index).nonzero()[0])
        target = table[minv[:, plan.nodes[0, 0]], column]
    free = unit_maps.clone()
    free[batch, target, :u] = identity[:u]
    if plan.roles:
        free[batch.view(-1, 1), plan.role_groups.reshape(1, -1)] = identity
    minv_g = inverse_map(_node_map(spec, free))

    direct = torch.zeros(pairs, u, u, dtype=torch.float64, device=unit_maps.device)
    inner = [
        torch.zeros(pairs, u, u, g.shape[0], g.shape[0], dtype=torch.float64, device=unit_maps.device)
        for g in plan.roles
    ]
    for a, b, slots in features.line_terms(plan, minv_g, minv, target):
        if not plan.roles:
            direct += _similarity(a, b)
            continue
        local = torch.full((plan.nodes.shape[1],), -1, dtype=torch.long, device=a.device)
        local[slots] = torch.arange(slots.numel(), device=a.device)
        loose = local[plan.loose_slots]
        loose = loose[loose >= 0]
        if loose.numel():
            direct += _similarity(a[:, :, loose], b[:, :, loose])
        for k, grid in enumerate(plan.roles):
            cell = local[grid]
            cell = cell[:, (cell >= 0).all(0)]
            if cell.numel():
                inner[k] += _pair_similarity(a[:, :, cell], b[:, :, cell])
    for extra in features.block_terms(plan, minv_g, target):
        direct += extra.double()
    inner_match = [linear_assignment(s) for s in inner]  # [P, U, U, d]: inner unit a of A <- b of B
    total = direct + sum(s.gather(-1, m.unsqueeze(-1)).squeeze(-1).sum(-1) for s, m in zip(inner, inner_match))
    match = linear_assignment(total)  # [P, U]: unit u of A <- unit match[u] of B
    new = torch.empty_like(match)
    new.scatter_(1, match, torch.arange(u, device=match.device).expand_as(match))
    unit_maps[batch, target, :u] = new
    for k, m in enumerate(inner_match):  # blocks take the inner matching of their chosen partner
        chosen = m[batch.view(-1, 1), torch.arange(u, device=m.device).view(1, -1), match]  # [P, U, d]
        d = chosen.shape[-1]
        groups = plan.role_groups[:, k][match]  # [P, U]: inner group of the B block matched to u
        inner_map = torch.empty_like(chosen).scatter_(2, chosen, torch.arange(d, device=m.device).expand_as(chosen))
        unit_maps[batch.view(-1, 1), groups, :d] = inner_map


class WeightFeatures:
    """Weight-matching scores for ``P`` pairs of graphs of one spec (see module docstring).

    ``x_a, x_b``: ``[P, N, F]`` node features; ``edge_a, edge_b``: ``[P, E, K]`` edge features.
    """

    def __init__(
        self, spec: GraphSpec, x_a: torch.Tensor, edge_a: torch.Tensor, x_b: torch.Tensor, edge_b: torch.Tensor
    ):
        self.spec = spec
        self.device = x_a.device
        self.blocks_a = [dense_block(spec, edge_a, p) for p in spec.edge_pieces]
        self.blocks_b = [dense_block(spec, edge_b, p) for p in spec.edge_pieces]
        self.x_a = x_a[..., LEARNED_COLUMNS]
        self.x_b = x_b[..., LEARNED_COLUMNS]
        self.positions = piece_positions(spec, self.device)
        self.topo = spec.on(self.device)

    # ----------------------------------------------------------------- views of B
    def _rows(self, i: int, minv: torch.Tensor) -> torch.Tensor:
        """[P, n_out]: row of B's block that lands on each row of A's under ``minv``."""
        return self.positions[i][0][minv[:, self.spec.edge_pieces[i].out_nodes.to(self.device)]]

    def _cols(self, i: int, minv: torch.Tensor) -> torch.Tensor:
        in_nodes = self.spec.edge_pieces[i].in_nodes.to(self.device)
        return entry_positions(in_nodes, minv[:, in_nodes])  # a node read twice: k-th use <- k-th use

    def _own_units(self, nodes: torch.Tensor, minv: torch.Tensor, level: int, target: torch.Tensor) -> torch.Tensor:
        """[P, len(nodes)]: unit, in B's group ``target``, of the B node landing on each of ``nodes``."""
        source = minv[:, nodes]
        own = torch.full_like(source, -1)
        for column in range(1, self.topo["sym_group"].shape[1]) if level else (0,):  # a node may be in 2 inner groups
            group = self.topo["sym_group"][source, column]
            own = torch.where(group == target.unsqueeze(1), self.topo["sym_unit"][source, column], own)
        return own

    def line_terms(self, plan: GroupPlan, minv_g: torch.Tensor, minv: torch.Tensor, target: torch.Tensor):
        pairs, u = minv.shape[0], plan.units
        units = torch.arange(u, device=self.device)
        for inc in plan.incidences:
            piece = self.spec.edge_pieces[inc.piece]
            wa, wb = self.blocks_a[inc.piece], self.blocks_b[inc.piece]
            coupled = inc.rows is not None and inc.cols is not None
            if inc.rows is not None:
                s = inc.rows.shape[1]
                rows = self._rows(inc.piece, minv_g)[:, inc.rows.reshape(-1)]  # [P, U * Sr]
                a = wa[:, inc.rows]  # [P, U, Sr, n_in, k]
                b = take_per_pair(take_per_pair(wb, 1, rows), 2, self._cols(inc.piece, minv)).view(a.shape)
                if coupled:  # same-unit entries are scored exactly in block_terms
                    col_units = plan.unit_of[piece.in_nodes.to(self.device)]
                    a = a.masked_fill((col_units.view(1, 1, 1, -1, 1) == units.view(1, u, 1, 1, 1)), 0)
                    own = self._own_units(piece.in_nodes.to(self.device), minv, plan.level, target)
                    b = b.masked_fill(own.view(pairs, 1, 1, -1, 1) == units.view(1, u, 1, 1, 1), 0)
                yield a.reshape(pairs, u, s, -1), b.reshape(pairs, u, s, -1), inc.row_slots
            if inc.cols is not None:
                s = inc.cols.shape[1]
                cols = self._cols(inc.piece, minv_g)[:, inc.cols.reshape(-1)]
                a = wa[:, :, inc.cols].permute(0, 2, 3, 1, 4)  # [P, U, Sc, n_out, k]
                b = take_per_pair(take_per_pair(wb, 2, cols), 1, self._rows(inc.piece, minv))
                b = b.view(pairs, -1, u, s, b.shape[-1]).permute(0, 2, 3, 1, 4)
                if coupled:
                    row_units = plan.unit_of[piece.out_nodes.to(self.device)]
                    a = a.masked_fill((row_units.view(1, 1, 1, -1, 1) == units.view(1, u, 1, 1, 1)), 0)
                    own = self._own_units(piece.out_nodes.to(self.device), minv, plan.level, target)
                    b = b.masked_fill(own.view(pairs, 1, 1, -1, 1) == units.view(1, u, 1, 1, 1), 0)
                yield a.reshape(pairs, u, s, -1), b.reshape(pairs, u, s, -1), inc.col_slots
        nodes = plan.nodes
        yield (
            self.x_a[:, nodes],
            take_per_pair(self.x_b, 1, minv_g[:, nodes.reshape(-1)]).view(pairs, *nodes.shape, -1),
            torch.arange(nodes.shape[1], device=self.device),
        )

    def block_terms(self, plan: GroupPlan, minv_g: torch.Tensor, target: torch.Tensor):
        """Layers mapping the group onto itself: unit u of A against unit v of B, both axes moved."""
        pairs = minv_g.shape[0]
        for inc in plan.incidences:
            if inc.rows is None or inc.cols is None:
                continue
            wa, wb = self.blocks_a[inc.piece], self.blocks_b[inc.piece]
            a = wa[:, inc.rows.unsqueeze(2), inc.cols.unsqueeze(1)]  # [P, U, Sr, Sc, k]
            rows = self._rows(inc.piece, minv_g)[:, inc.rows.reshape(-1)].view(pairs, *inc.rows.shape)
            cols = self._cols(inc.piece, minv_g)[:, inc.cols.reshape(-1)].view(pairs, *inc.cols.shape)
            b = wb[torch.arange(pairs, device=self.device).view(-1, 1, 1, 1), rows.unsqueeze(3), cols.unsqueeze(2)]
            yield _similarity(a, b)

    def objective(self, minv: torch.Tensor) -> torch.Tensor:
        """[P] inner product of A with B mapped into A's frame by ``minv``."""
        total = (self.x_a * take_per_pair(self.x_b, 1, minv)).sum((1, 2)).double()
        for i, (wa, wb) in enumerate(zip(self.blocks_a, self.blocks_b)):
            moved = take_per_pair(take_per_pair(wb, 1, self._rows(i, minv)), 2, self._cols(i, minv))
            total += (wa * moved).sum((1, 2, 3)).double()
        return total


def _similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[P, U, U]`` float64 inner products of the units of ``a`` and ``b`` (``[P, U, ...]`` each)."""
    a, b = a.reshape(a.shape[0], a.shape[1], -1), b.reshape(b.shape[0], b.shape[1], -1)
    return torch.bmm(a, b.transpose(1, 2).contiguous()).double()


def _pair_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[P, U, U, d, d]`` inner products of inner unit ``i`` of unit ``u`` of ``a`` with inner unit ``j`` of
    unit ``v`` of ``b`` (``[P, U, d, m, x]`` each, summed over members ``m`` and features ``x``)."""
    p, u, d = a.shape[:3]
    sim = torch.bmm(a.reshape(p, u * d, -1), b.reshape(p, u * d, -1).transpose(1, 2).contiguous()).double()
    return sim.view(p, u, d, u, d).permute(0, 1, 3, 2, 4)


def take_per_pair(tensor: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """``tensor[p].index_select(dim - 1, index[p])`` for every ``p`` (index ``[P, n]``)."""
    if index.shape[0] == 1:
        return tensor[0].index_select(dim - 1, index[0]).unsqueeze(0)
    shape = [1] * tensor.dim()
    shape[0], shape[dim] = index.shape[0], index.shape[1]
    expand = list(tensor.shape)
    expand[dim] = index.shape[1]
    return tensor.gather(dim, index.view(shape).expand(expand))
