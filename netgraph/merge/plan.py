"""How each symmetry group of an architecture touches its weights: the structure alignment reads.

For every symmetry group (``spec.groups``) a :class:`GroupPlan` lists the edge pieces (weight
layers) whose rows or columns hold the group's nodes, as index tables ``[units, slots]`` into the
piece's dense block ``[n_out, n_in, k]``. A *slot* is a position inside a unit (a tied member
space, a dim inside a head). Level-0 groups whose units are blocks (attention heads, channel
groups) also list their *roles*: the level-1 groups inside each block, as slot grids
``[inner units, members]``, so blocks can be compared under the best inner matching.

Everything is derived from ``spec.groups`` / ``sym_group`` / ``sym_unit`` and the edge pieces; the
plan is computed once per spec and device and cached on the spec.

Example:
    >>> import torch.nn as nn, netgraph
    >>> from netgraph.merge.plan import group_plans
    >>> spec = netgraph.trace(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)))
    >>> [(len(p.incidences), tuple(p.nodes.shape)) for p in group_plans(spec)]
    [(2, (4, 1))]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..spec import EdgePiece, GraphSpec

__all__ = ["Incidence", "GroupPlan", "group_plans", "dense_block", "piece_positions"]


@dataclass(frozen=True)
class Incidence:
    """One edge piece touching a group: its rows and/or columns at the group's nodes."""

    piece: int  #: index into ``spec.edge_pieces``
    rows: torch.Tensor | None  #: [U, Sr] row of unit u, slot row_slots[s]
    row_slots: torch.Tensor | None  #: [Sr] group slot of each row column of ``rows``
    cols: torch.Tensor | None  #: [U, Sc] column (of the dense, group-expanded block)
    col_slots: torch.Tensor | None  #: [Sc]


@dataclass(frozen=True)
class GroupPlan:
    """The incidences of one symmetry group (see module docstring)."""

    group_index: int
    level: int
    nodes: torch.Tensor  #: [U, S] group nodes (``spec.groups[i].nodes``)
    unit_of: torch.Tensor  #: [N] unit of each node in this group, -1 elsewhere
    incidences: tuple[Incidence, ...]
    roles: tuple[torch.Tensor, ...]  #: level-0 block groups: slot grid [d, m] of each inner group
    role_groups: torch.Tensor | None  #: [U, roles] the level-1 group of each unit's role
    loose_slots: torch.Tensor  #: [S'] slots in no role (all slots when there are no roles)

    @property
    def units(self) -> int:
        return self.nodes.shape[0]


def group_plans(spec: GraphSpec, device: torch.device | str = "cpu") -> list[GroupPlan]:
    """One :class:`GroupPlan` per symmetry group of ``spec`` (cached per device)."""
    key = ("netgraph.merge.group_plans", str(torch.device(device)))
    if key not in spec._device_cache:
        plans = [_plan(spec, g.index) for g in spec.groups]
        spec._device_cache[key] = [_to(p, torch.device(device)) for p in plans]
    return spec._device_cache[key]


def piece_positions(spec: GraphSpec, device: torch.device | str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per edge piece, ``(out_pos [N], in_pos [N])``: the row / dense column of each node (-1 if absent)."""
    key = ("netgraph.merge.piece_positions", str(torch.device(device)))
    if key not in spec._device_cache:
        tables = []
        for piece in spec.edge_pieces:
            out_pos = torch.full((spec.num_nodes,), -1, dtype=torch.long)
            out_pos[piece.out_nodes] = torch.arange(piece.n_out)
            in_pos = torch.full((spec.num_nodes,), -1, dtype=torch.long)
            in_pos[piece.in_nodes] = torch.arange(piece.in_nodes.numel())
            tables.append((out_pos.to(device), in_pos.to(device)))
        spec._device_cache[key] = tables
    return spec._device_cache[key]


def dense_block(spec: GraphSpec, edge_attr: torch.Tensor, piece: EdgePiece) -> torch.Tensor:
    """The weights of ``piece`` for ``B`` graphs, ``edge_attr [B, E, K]`` -> ``[B, n_out, groups * n_in, k]``.

    Grouped convolutions are expanded to their dense (block-diagonal) form, so that rows and columns
    index the piece's ``out_nodes`` and ``in_nodes`` directly.
    """
    block = spec.edge_block(edge_attr, piece)
    b = block.shape[0]
    block = block.reshape(b, piece.n_out, piece.n_in, -1)
    if piece.groups == 1:
        return block
    rows_per_group = piece.n_out // piece.groups
    cols = (torch.arange(piece.n_out, device=block.device) // rows_per_group).unsqueeze(1) * piece.n_in + torch.arange(
        piece.n_in, device=block.device
    )
    full = block.new_zeros(b, piece.n_out, piece.groups * piece.n_in, block.shape[-1])
    full.scatter_(2, cols.view(1, piece.n_out, piece.n_in, 1).expand_as(block), block)
    return full


# ---------------------------------------------------------------------------------------- helpers
def _plan(spec: GraphSpec, index: int) -> GroupPlan:
    group = spec.groups[index]
    nodes = group.nodes
    units, slots = nodes.shape
    unit_of = torch.full((spec.num_nodes,), -1, dtype=torch.long)
    slot_of = torch.full((spec.num_nodes,), -1, dtype=torch.long)
    unit_of[nodes.reshape(-1)] = torch.arange(units).repeat_interleave(slots)
    slot_of[nodes.reshape(-1)] = torch.arange(slots).repeat(units)
    incidences = []
    for i, piece in enumerate(spec.edge_pieces):
        rows, row_slots = _lines(piece.out_nodes, unit_of, slot_of, units)
        cols, col_slots = _lines(piece.in_nodes, unit_of, slot_of, units)
        if rows is not None or cols is not None:
            incidences.append(Incidence(i, rows, row_slots, cols, col_slots))
    roles, role_groups, loose = _roles(spec, group, slot_of) if group.level == 0 else ((), None, torch.arange(slots))
    return GroupPlan(index, group.level, nodes, unit_of, tuple(incidences), roles, role_groups, loose)


def _lines(line_nodes: torch.Tensor, unit_of: torch.Tensor, slot_of: torch.Tensor, units: int):
    """Positions in ``line_nodes`` of the group's nodes, as ``[U, S']`` (unit-major) + their slots."""
    hit = (unit_of[line_nodes] >= 0).nonzero().squeeze(1)
    if hit.numel() == 0:
        return None, None
    unit, slot = unit_of[line_nodes[hit]], slot_of[line_nodes[hit]]
    order = (unit * (int(slot.max()) + 1) + slot).argsort()
    positions = hit[order].view(units, -1)
    slots = slot[order].view(units, -1)
    if not bool((slots == slots[0]).all()):
        raise RuntimeError(
            "a weight layer touches the units of a symmetry group unevenly; the spec's "
            "symmetry groups are inconsistent (please report this architecture)"
        )
    return positions, slots[0]


def _roles(
    spec: GraphSpec, group, slot_of: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None, torch.Tensor]:
    """Inner (level-1) groups inside the blocks of a level-0 group, as slot grids of block 0."""
    inner = spec.sym_group[group.nodes[0], 1]
    grids, role_groups = [], []
    for g1 in inner[inner >= 0].unique().tolist():
        grids.append(slot_of[spec.groups[g1].nodes])  # [d, m]: slot of inner unit a, member m
        role_groups.append(spec.sym_group[group.nodes[:, grids[-1][0, 0]], 1])
    if not grids:
        return (), None, torch.arange(group.nodes.shape[1])
    in_role = torch.zeros(group.nodes.shape[1], dtype=torch.bool)
    for grid in grids:
        in_role[grid.reshape(-1)] = True
    return tuple(grids), torch.stack(role_groups, 1), (~in_role).nonzero().squeeze(1)


def _to(plan: GroupPlan, device: torch.device) -> GroupPlan:
    def move(t):
        return None if t is None else t.to(device)

    incidences = tuple(
        Incidence(i.piece, move(i.rows), move(i.row_slots), move(i.cols), move(i.col_slots)) for i in plan.incidences
    )
    return GroupPlan(
        plan.group_index,
        plan.level,
        plan.nodes.to(device),
        plan.unit_of.to(device),
        incidences,
        tuple(r.to(device) for r in plan.roles),
        move(plan.role_groups),
        plan.loose_slots.to(device),
    )
