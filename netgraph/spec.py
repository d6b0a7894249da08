"""``GraphSpec``: the parameter-graph structure of one architecture, shared by all its networks.

A spec is built once per architecture by tracing (:func:`netgraph.trace`). It holds the topology
(``edge_index``, node and edge kinds, layers), the symmetry groups, and a *placement* of every
state-dict tensor: each weight is a block of edges, each bias / norm parameter a column of node
features, anything else (e.g. ``num_batches_tracked``) an entry of ``aux``. Moving weights between a
state dict and graph tensors is then pure gathering and scattering, one tensor op per parameter.

Example:
    >>> import torch.nn as nn, netgraph
    >>> spec = netgraph.trace(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> spec.num_nodes, spec.num_edges
    (6, 9)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Mapping

import torch

from .types import NODE_FEATURES

__all__ = ["EdgePiece", "NodePiece", "AuxPiece", "ConstEdges", "SymmetryGroup", "Space", "LayerRef", "GraphSpec",
           "common_kernel_shape"]


def common_kernel_shape(kernels: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The smallest shape holding every kernel centred (shapes aligned on their last dims).

    >>> common_kernel_shape([(3, 3), (5,), (1, 1, 1)])
    (1, 3, 5)
    """
    rank = max((len(k) for k in kernels), default=0)
    padded = [(1,) * (rank - len(k)) + tuple(k) for k in kernels]
    return tuple(max(k[d] for k in padded) for d in range(rank))


@dataclass(frozen=True)
class EdgePiece:
    """A parameter (or a row range of it) stored as a block of edges.

    ``param[rows].reshape(view).permute(perm)`` has shape ``[n_out, n_in, *kernel]``; edge
    ``offset + o * n_in + i`` holds entry ``[o, i]`` (its kernel, centred in the common kernel shape).
    """

    param: str
    rows: tuple[int, int] | None
    view: tuple[int, ...]
    perm: tuple[int, ...]
    n_out: int
    n_in: int
    kernel: tuple[int, ...]
    offset: int
    out_nodes: torch.Tensor  #: [n_out] target node of each row
    in_nodes: torch.Tensor  #: [groups * n_in] source nodes; row ``o`` reads group ``o // (n_out / groups)``
    groups: int = 1

    @property
    def num_edges(self) -> int:
        return self.n_out * self.n_in


@dataclass(frozen=True)
class NodePiece:
    """A 1-D parameter (or a row range of it) stored in column ``column`` of ``x`` at ``nodes``."""

    param: str
    rows: tuple[int, int] | None
    nodes: torch.Tensor
    column: int


@dataclass(frozen=True)
class AuxPiece:
    """A tensor kept verbatim in ``aux`` (float64), e.g. ``num_batches_tracked``."""

    param: str
    offset: int
    numel: int


@dataclass(frozen=True)
class ConstEdges:
    """A block of fixed edges (residual identities, product inputs) with a constant feature."""

    offset: int
    count: int
    value: float


@dataclass(frozen=True)
class SymmetryGroup:
    """Nodes that may be permuted together without changing the network's function.

    ``nodes[u]`` lists every node that moves with *unit* ``u`` (a neuron, a channel tied through
    residual connections, or a whole attention head / channel group). A permutation ``pi`` of the
    units sends the nodes of unit ``u`` to the nodes of unit ``pi[u]``, position by position.
    Level-0 groups move whole blocks (heads, channel groups, or single neurons); level-1 groups
    permute within one block.
    """

    index: int
    level: int
    nodes: torch.Tensor  #: [units, nodes_per_unit]
    name: str

    @property
    def units(self) -> int:
        return self.nodes.shape[0]


@dataclass(frozen=True)
class Space:
    """A contiguous range of nodes created by one operation (a layer's outputs, an input...)."""

    name: str
    start: int
    size: int
    node_type: int
    layer: int


@dataclass(frozen=True)
class LayerRef:
    """A weight layer for the dense weight-space view: weight edge piece + optional bias piece."""

    name: str
    weight: EdgePiece
    bias: NodePiece | None


@dataclass(repr=False)
class GraphSpec:
    """Topology, symmetries and parameter placement of one architecture (see module docstring)."""

    num_nodes: int
    kernel_shape: tuple[int, ...]
    node_type: torch.Tensor  #: [N]
    layer: torch.Tensor  #: [N]
    node_act: torch.Tensor  #: [N]
    node_norm: torch.Tensor  #: [N]
    pos_index: torch.Tensor  #: [N] position in its space for never-permuted nodes, else -1
    edge_index: torch.Tensor  #: [2, E]
    edge_type: torch.Tensor  #: [E]
    edge_pieces: list[EdgePiece]
    const_edges: list[ConstEdges]
    node_pieces: list[NodePiece]
    aux_pieces: list[AuxPiece]
    groups: list[SymmetryGroup]
    sym_group: torch.Tensor  #: [N, 2] group index per level (-1: not permuted at that level)
    sym_unit: torch.Tensor  #: [N, 2] unit index inside that group
    sym_stride: torch.Tensor  #: [N, 2] node-id distance between consecutive units
    spaces: list[Space]
    layers: list[LayerRef]
    keys: list[str]  #: state-dict keys, in the module's order
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, torch.dtype]
    aliases: dict[str, str]  #: tied-weight key -> the key that stores it
    dtype: torch.dtype  #: floating dtype of ``x`` and ``edge_attr``
    trace_mode: str = "fx"
    _device_cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def num_params(self) -> int:
        """Number of values in one state dict (tied weights counted once)."""
        return sum(math.prod(self.shapes[k]) for k in self.keys if k not in self.aliases)

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    @property
    def kernel_numel(self) -> int:
        return math.prod(self.kernel_shape)

    @property
    def num_node_features(self) -> int:
        return len(NODE_FEATURES)

    @property
    def aux_size(self) -> int:
        return sum(p.numel for p in self.aux_pieces)

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    @property
    def group_units(self) -> torch.Tensor:
        """[G] number of units of each symmetry group."""
        return torch.tensor([g.units for g in self.groups], dtype=torch.long)

    def on(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """The topology tensors on ``device`` (cached)."""
        device = torch.device(device)
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = {
                name: getattr(self, name).to(device)
                for name in ("node_type", "layer", "node_act", "node_norm", "pos_index", "edge_index",
                             "edge_type", "sym_group", "sym_unit", "sym_stride")
            }
        return self._device_cache[key]

    # ------------------------------------------------------------ gathering
    def gather(self, state: Mapping[str, torch.Tensor], batch_dims: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """State dict -> ``(x [*, N, F], edge_attr [*, E, K], aux [*, A])``.

        With ``batch_dims=1`` every tensor of ``state`` carries a leading batch dim ``B`` (stacked
        networks) and so do the outputs.
        """
        self._check_keys(state, batch_dims)
        ref = state[self.keys[0]] if self.keys else torch.zeros(())
        batch = tuple(ref.shape[:batch_dims])
        flat = math.prod(batch)
        device = ref.device
        x = torch.zeros(flat, self.num_nodes, self.num_node_features, dtype=self.dtype, device=device)
        edge_attr = torch.empty(flat, self.num_edges, *self.kernel_shape, dtype=self.dtype, device=device)
        for piece in self.edge_pieces:
            self.write_edge_block(edge_attr, piece, self._canonical(piece, state[piece.param], flat))
        for const in self.const_edges:
            block = edge_attr[:, const.offset: const.offset + const.count]
            block.zero_()
            block[(slice(None), slice(None)) + self._centre()] = const.value
        for piece in self.node_pieces:
            values = state[piece.param].reshape(flat, -1)
            if piece.rows is not None:
                values = values[:, piece.rows[0]: piece.rows[1]]
            x[:, piece.nodes.to(device), piece.column] = values.to(self.dtype)
        aux = torch.zeros(flat, self.aux_size, dtype=torch.float64, device=device)
        for piece in self.aux_pieces:
            aux[:, piece.offset: piece.offset + piece.numel] = state[piece.param].reshape(flat, -1).to(torch.float64)
        edge_attr = edge_attr.reshape(flat, self.num_edges, self.kernel_numel)
        return (x.reshape(batch + x.shape[1:]), edge_attr.reshape(batch + edge_attr.shape[1:]),
                aux.reshape(batch + aux.shape[-1:]))

    def scatter(self, x: torch.Tensor, edge_attr: torch.Tensor, aux: torch.Tensor | None = None,
                batch_dims: int = 0) -> dict[str, torch.Tensor]:
        """Graph tensors -> state dict (the exact inverse of :meth:`gather`).

        Takes ``x [*, N, F]``, ``edge_attr [*, E, K]`` and ``aux [*, A]`` with ``batch_dims`` leading
        batch dims and returns every state-dict key (tied weights included), each with the
        original dtype and the leading batch dims.
        """
        batch = tuple(x.shape[:batch_dims])
        flat = math.prod(batch)
        x = x.reshape(flat, self.num_nodes, -1)
        edge_attr = edge_attr.reshape(flat, self.num_edges, *self.kernel_shape)
        out: dict[str, torch.Tensor] = {}
        rows_parts: dict[str, list[tuple[int, torch.Tensor]]] = {}
        for piece in self.edge_pieces:
            values = self.edge_block(edge_attr, piece)
            rows_parts.setdefault(piece.param, []).append((piece.rows[0] if piece.rows else 0,
                                                           self._from_canonical(piece, values, flat)))
        for piece in self.node_pieces:
            values = x[:, piece.nodes.to(x.device), piece.column]
            rows_parts.setdefault(piece.param, []).append((piece.rows[0] if piece.rows else 0, values))
        for name, parts in rows_parts.items():
            parts.sort(key=lambda p: p[0])
            values = parts[0][1] if len(parts) == 1 else torch.cat([p[1] for p in parts], dim=1)
            out[name] = values.reshape(batch + self.shapes[name]).to(self.dtypes[name])
        if self.aux_pieces:
            if aux is None:
                raise ValueError("this architecture stores tensors in `aux`; pass the graph's aux")
            aux = aux.reshape(flat, -1)
            for piece in self.aux_pieces:
                values = aux[:, piece.offset: piece.offset + piece.numel]
                out[piece.param] = values.reshape(batch + self.shapes[piece.param]).to(self.dtypes[piece.param])
        ordered = {}
        for key in self.keys:
            ordered[key] = out[self.aliases.get(key, key)]
        return ordered

    # ----------------------------------------------------------- edge blocks
    def edge_block(self, edge_attr: torch.Tensor, piece: EdgePiece) -> torch.Tensor:
        """The weights of ``piece`` from ``edge_attr [B, E, *kernel_shape]`` (or ``[B, E, K]``) as
        ``[B, n_out, n_in, *piece.kernel]`` (a view where no padding had to be removed)."""
        b = edge_attr.shape[0]
        block = edge_attr.reshape(b, self.num_edges, *self.kernel_shape)[:, piece.offset: piece.offset + piece.num_edges]
        window, full = self._padded_kernel_layout()[piece.offset]
        if not full:
            block = block[(slice(None), slice(None)) + window]
        return block.reshape(b, piece.n_out, piece.n_in, *piece.kernel)

    def write_edge_block(self, edge_attr: torch.Tensor, piece: EdgePiece, values: torch.Tensor) -> None:
        """Write ``values [B, n_out * n_in, *piece.kernel]`` into ``edge_attr [B, E, *kernel_shape]``
        in place (centred, zero padding)."""
        block = edge_attr[:, piece.offset: piece.offset + piece.num_edges]
        window, full = self._padded_kernel_layout()[piece.offset]
        if full:
            block.copy_(values.reshape(block.shape))
        else:
            block.zero_()
            block[(slice(None), slice(None)) + window] = values.reshape(
                values.shape[0], piece.num_edges, *self._kernel_padded(piece.kernel))

    # --------------------------------------------------------------- helpers
    def _check_keys(self, state: Mapping[str, torch.Tensor], batch_dims: int) -> None:
        missing = [k for k in self.keys if k not in state and k not in self.aliases]
        if missing:
            raise KeyError(f"state dict lacks {len(missing)} keys of this architecture, e.g. {missing[:3]}")
        for key in self.keys:
            if key in self.aliases:
                continue
            shape = tuple(state[key].shape[batch_dims:])
            if shape != self.shapes[key]:
                raise ValueError(f"'{key}' has shape {shape}, the architecture expects {self.shapes[key]}"
                                 f"{' after the batch dim' if batch_dims else ''}")

    def _canonical(self, piece: EdgePiece, tensor: torch.Tensor, flat: int) -> torch.Tensor:
        t = tensor.reshape(flat, *self.shapes[piece.param])
        if piece.rows is not None:
            t = t[:, piece.rows[0]: piece.rows[1]]
        t = t.reshape(flat, *piece.view).permute(0, *(p + 1 for p in piece.perm))
        return t.reshape(flat, piece.num_edges, *piece.kernel).to(self.dtype)

    def _from_canonical(self, piece: EdgePiece, values: torch.Tensor, flat: int) -> torch.Tensor:
        permuted = [piece.view[p] for p in piece.perm]
        inverse = [0] * len(piece.perm)
        for i, p in enumerate(piece.perm):
            inverse[p] = i
        t = values.reshape(flat, *permuted).permute(0, *(p + 1 for p in inverse))
        return t.reshape(flat, -1, *self.shapes[piece.param][1:])

    def _kernel_padded(self, kernel: tuple[int, ...]) -> tuple[int, ...]:
        return (1,) * (len(self.kernel_shape) - len(kernel)) + tuple(kernel)

    def _centre(self) -> tuple[int, ...]:
        return tuple(k // 2 for k in self.kernel_shape)

    def _padded_kernel_layout(self) -> dict[int, tuple[tuple[slice, ...], bool]]:
        if "_windows" not in self._device_cache:
            windows = {}
            for piece in self.edge_pieces:
                kernel = self._kernel_padded(piece.kernel)
                window = tuple(slice((c - k) // 2, (c - k) // 2 + k) for c, k in zip(self.kernel_shape, kernel))
                windows[piece.offset] = (window, kernel == tuple(self.kernel_shape))
            self._device_cache["_windows"] = windows
        return self._device_cache["_windows"]

    def with_kernel_shape(self, kernel_shape: tuple[int, ...]) -> "GraphSpec":
        """The same architecture with edge features padded to (at least) ``kernel_shape``, e.g. to batch
        graphs of different architectures together."""
        shape = common_kernel_shape([self.kernel_shape, tuple(kernel_shape)])
        if shape == self.kernel_shape:
            return self
        return dataclasses.replace(self, kernel_shape=shape, _device_cache={})

    def __repr__(self) -> str:
        return (f"GraphSpec(nodes={self.num_nodes}, edges={self.num_edges}, kernel={self.kernel_shape}, "
                f"groups={self.num_groups}, params={len(self.keys)})")

    def describe(self) -> str:
        """A readable table of spaces and symmetry groups."""
        lines = [f"GraphSpec: {self.num_nodes} nodes, {self.num_edges} edges, kernel {self.kernel_shape}, "
                 f"{self.num_groups} symmetry groups"]
        for s in self.spaces:
            lines.append(f"  nodes {s.start:>7}-{s.start + s.size - 1:<7} layer {s.layer:<3} type {s.node_type} {s.name}")
        for g in self.groups:
            lines.append(f"  group {g.index:<4} level {g.level} units {g.units:<5} {g.name}")
        return "\n".join(lines)
