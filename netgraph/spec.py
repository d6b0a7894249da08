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

__all__ = [
    "EdgePiece",
    "NodePiece",
    "AuxPiece",
    "ConstEdges",
    "EdgeBlock",
    "ValueBlock",
    "SymmetryGroup",
    "Space",
    "LayerRef",
    "GraphSpec",
    "common_kernel_shape",
]


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
    src: torch.Tensor | None = None  #: [count] source nodes
    dst: torch.Tensor | None = None  #: [count] target nodes


EdgeBlock = tuple[int, int, int, "EdgePiece | ConstEdges"]
"""One block of consecutive edges of a spec: ``(first edge, count, EdgeType, source)``; ``source`` is the
weight piece the edges carry or, for fixed edges, a :class:`ConstEdges` holding their ``(src, dst)`` nodes."""


@dataclass(frozen=True)
class ValueBlock:
    """Where one block of edges keeps its values in ``edge_values``: ``count`` edges from ``edge_offset``,
    each with ``prod(kernel)`` values, from ``value_offset`` on (``kernel`` is ``()`` for fixed edges)."""

    edge_offset: int
    count: int
    value_offset: int
    kernel: tuple[int, ...]
    source: "EdgePiece | ConstEdges"

    @property
    def num_values(self) -> int:
        return self.count * math.prod(self.kernel)


class _Topology(dict):
    """Topology tensors of one spec on one device, each made on first access (see :meth:`GraphSpec.on`)."""

    def __init__(self, spec: "GraphSpec", device: torch.device):
        super().__init__()
        self._spec, self._device = spec, device

    def __missing__(self, name: str) -> torch.Tensor:
        spec = self._spec
        if name in ("edge_index", "edge_type"):
            cpu = spec.on("cpu")
            if self is cpu:
                self.update(spec._edge_tensors())
                return self[name]
            value = cpu[name].to(self._device)
        elif name in _TOPOLOGY_FIELDS:
            value = getattr(spec, name).to(self._device)
        else:
            raise KeyError(
                f"'{name}' is not a topology tensor; expected one of {_TOPOLOGY_FIELDS + ('edge_index', 'edge_type')}"
            )
        self[name] = value
        return value


def _inverse(perm: tuple[int, ...]) -> list[int]:
    """Dims of the permutation undoing ``perm`` (shifted by one for a leading batch dim)."""
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return [0] + [p + 1 for p in inverse]


_TOPOLOGY_FIELDS = ("node_type", "layer", "node_act", "node_norm", "pos_index", "sym_group", "sym_unit", "sym_stride")


@dataclass(frozen=True)
class SymmetryGroup:
    """Nodes that may be permuted together without changing the network's function.

    ``nodes[u]`` lists every node that moves with *unit* ``u`` (a neuron, a channel tied through
    residual connections, or a whole attention head / channel group). A permutation ``pi`` of the
    units sends the nodes of unit ``u`` to the nodes of unit ``pi[u]``, position by position.
    Level-0 groups move whole blocks (heads, channel groups, or single neurons); level-1 groups
    permute within one block. A node may belong to two level-1 groups whose moves add up (the output of
    a grouped-query attention: the query heads of a key/value group, and the value dims).
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
    num_edges: int
    edge_blocks: list[EdgeBlock]  #: the edges in order, block by block (``edge_index`` is built from them on demand)
    edge_pieces: list[EdgePiece]
    const_edges: list[ConstEdges]
    node_pieces: list[NodePiece]
    aux_pieces: list[AuxPiece]
    groups: list[SymmetryGroup]
    #: [N, C] group of each node per column (-1: none); column 0 holds level-0 groups, columns 1.. level-1
    #: groups (C = 3 only when a node moves in two independent level-1 groups: a grouped-query attention
    #: output, indexed by query head and value dim). A node moves by the sum of its columns' moves.
    sym_group: torch.Tensor
    sym_unit: torch.Tensor  #: [N, C] unit index inside that group
    sym_stride: torch.Tensor  #: [N, C] node-id distance between consecutive units
    spaces: list[Space]
    layers: list[LayerRef]
    keys: list[str]  #: state-dict keys, in the module's order
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, torch.dtype]
    aliases: dict[str, str]  #: tied-weight key -> the key that stores it
    dtype: torch.dtype  #: floating dtype of ``x`` and ``edge_attr``
    trace_mode: str = "fx"
    #: the traced operations in order with their non-tensor arguments and module configurations
    #: (:func:`netgraph.trace.fingerprint.fingerprint`); ``()`` when not recorded (then not compared)
    fingerprint: tuple = ()
    #: the structure, shapes and dtypes of the example inputs it was traced with (``None``: traced without)
    input_signature: object = None
    _device_cache: dict = field(default_factory=dict, repr=False)
    _topology: dict = field(default_factory=dict, repr=False)  #: device -> topology tensors (kernel-independent)

    def __post_init__(self) -> None:
        self._value_blocks, offset = [], 0
        for start, count, kind, source in self.edge_blocks:
            kernel = source.kernel if isinstance(source, EdgePiece) else ()
            self._value_blocks.append(ValueBlock(start, count, offset, tuple(kernel), source))
            offset += count * math.prod(kernel)
        self.num_values = offset
        # edge_values read as [E, K] as they are: no padding, and every weight stored in edge order
        self._unpadded = all(
            self._kernel_padded(b.kernel) == tuple(self.kernel_shape)
            and (not isinstance(b.source, EdgePiece) or list(b.source.perm) == sorted(b.source.perm))
            for b in self._value_blocks
        )

    # ------------------------------------------------------------------ sizes
    @property
    def num_params(self) -> int:
        """Number of values in one state dict (tied weights counted once)."""
        return sum(math.prod(self.shapes[k]) for k in self.keys if k not in self.aliases)

    @property
    def edge_index(self) -> torch.Tensor:
        """``[2, E]`` int64 source (input neuron) -> target (output neuron), built on first use and cached."""
        return self.on("cpu")["edge_index"]

    @property
    def edge_type(self) -> torch.Tensor:
        """``[E]`` :class:`~netgraph.types.EdgeType` of every edge, built on first use and cached."""
        return self.on("cpu")["edge_type"]

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
        """The topology tensors on ``device``: ``node_type``, ``layer``, ``node_act``, ``node_norm``,
        ``pos_index``, ``sym_group``, ``sym_unit``, ``sym_stride`` (``[N]`` or ``[N, C]``), ``edge_index``
        ``[2, E]`` and ``edge_type`` ``[E]``; each is made on first access and cached (shared by every
        graph of the architecture, whatever its kernel shape)."""
        key = str(torch.device(device))
        if key not in self._topology:
            self._topology[key] = _Topology(self, torch.device(device))
        return self._topology[key]

    def _edge_tensors(self) -> dict[str, torch.Tensor]:
        """``edge_index [2, E]`` and ``edge_type [E]`` on the CPU, written block by block."""
        edge_index = torch.empty(2, self.num_edges, dtype=torch.long)
        edge_type = torch.empty(self.num_edges, dtype=torch.long)
        for start, count, kind, source in self.edge_blocks:
            edge_type[start : start + count] = int(kind)
            src, dst = edge_index[:, start : start + count]
            if isinstance(source, EdgePiece):
                g, n_in, n_out = source.groups, source.n_in, source.n_out
                src.view(g, n_out // g, n_in).copy_(source.in_nodes.view(g, 1, n_in).expand(g, n_out // g, n_in))
                dst.view(n_out, n_in).copy_(source.out_nodes.view(-1, 1).expand(n_out, n_in))
            else:
                src.copy_(source.src)
                dst.copy_(source.dst)
        return {"edge_index": edge_index, "edge_type": edge_type}

    # ------------------------------------------------------------ gathering
    def gather_values(
        self, state: Mapping[str, torch.Tensor], batch_dims: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """State dict -> ``(x [*, N, F], edge_values [*, P], aux [*, A])``, the tensors a graph stores.

        ``edge_values`` holds every edge's own kernel, unpadded (``P = num_values``), block after block of
        edges; a weight's block is the weight itself in its state-dict order (``[n_out, n_in, *kernel]``
        for linear and conv layers), so gathering is one plain copy per parameter. With ``batch_dims=1`` every tensor of ``state`` carries a leading batch dim ``B``
        (stacked networks) and so do the outputs.
        """
        self._check_keys(state, batch_dims)
        ref = state[self.keys[0]] if self.keys else torch.zeros(())
        batch = tuple(ref.shape[:batch_dims])
        flat = math.prod(batch)
        device = ref.device
        values = torch.empty(flat, self.num_values, dtype=self.dtype, device=device)
        for block in self._value_blocks:
            target = values[:, block.value_offset : block.value_offset + block.num_values]
            if isinstance(block.source, EdgePiece):
                piece = block.source
                target.view(flat, *piece.view).copy_(self._rows(piece, state[piece.param], flat))
            else:
                target.fill_(block.source.value)
        x = torch.zeros(flat, self.num_nodes, self.num_node_features, dtype=self.dtype, device=device)
        for piece in self.node_pieces:
            column = state[piece.param].reshape(flat, -1)
            if piece.rows is not None:
                column = column[:, piece.rows[0] : piece.rows[1]]
            x[:, piece.nodes.to(device), piece.column] = column.to(self.dtype)
        aux = torch.zeros(flat, self.aux_size, dtype=torch.float64, device=device)
        for piece in self.aux_pieces:
            aux[:, piece.offset : piece.offset + piece.numel] = state[piece.param].reshape(flat, -1).to(torch.float64)
        return (
            x.reshape(batch + x.shape[1:]),
            values.reshape(batch + values.shape[1:]),
            aux.reshape(batch + aux.shape[-1:]),
        )

    def gather(
        self, state: Mapping[str, torch.Tensor], batch_dims: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """State dict -> ``(x [*, N, F], edge_attr [*, E, K], aux [*, A])`` (edge features padded, see
        :meth:`edge_attr_of`)."""
        x, values, aux = self.gather_values(state, batch_dims)
        batch = tuple(values.shape[:-1])
        edge_attr = self.edge_attr_of(values.reshape(-1, self.num_values))
        return x, edge_attr.reshape(batch + edge_attr.shape[1:]), aux

    def scatter_values(
        self, x: torch.Tensor, values: torch.Tensor, aux: torch.Tensor | None = None, batch_dims: int = 0
    ) -> dict[str, torch.Tensor]:
        """Graph tensors -> state dict (the exact inverse of :meth:`gather_values`).

        Takes ``x [*, N, F]``, ``edge_values [*, P]`` and ``aux [*, A]`` with ``batch_dims`` leading batch
        dims and returns every state-dict key (tied weights included), each with the original dtype and
        the leading batch dims (views of ``edge_values`` where no reordering is needed).
        """
        batch = tuple(x.shape[:batch_dims])
        flat = math.prod(batch)
        x = x.reshape(flat, self.num_nodes, -1)
        values = values.reshape(flat, self.num_values)
        out: dict[str, torch.Tensor] = {}
        rows_parts: dict[str, list[tuple[int, torch.Tensor]]] = {}
        written: set[tuple] = set()  # a shared parameter is placed once per use and read back once
        for piece in self.edge_pieces:
            if (piece.param, piece.rows) in written:
                continue
            written.add((piece.param, piece.rows))
            block = self.block_values(values, self._value_blocks[self._block_of(piece)])
            rows_parts.setdefault(piece.param, []).append(
                (piece.rows[0] if piece.rows else 0, block.reshape(flat, -1, *self.shapes[piece.param][1:]))
            )
        for piece in self.node_pieces:
            if (piece.param, piece.rows) in written:
                continue
            written.add((piece.param, piece.rows))
            column = x[:, piece.nodes.to(x.device), piece.column]
            rows_parts.setdefault(piece.param, []).append((piece.rows[0] if piece.rows else 0, column))
        for name, parts in rows_parts.items():
            parts.sort(key=lambda p: p[0])
            joined = parts[0][1] if len(parts) == 1 else torch.cat([p[1] for p in parts], dim=1)
            out[name] = joined.reshape(batch + self.shapes[name]).to(self.dtypes[name])
        if self.aux_pieces:
            if aux is None:
                raise ValueError("this architecture stores tensors in `aux`; pass the graph's aux")
            aux = aux.reshape(flat, -1)
            for piece in self.aux_pieces:
                kept = aux[:, piece.offset : piece.offset + piece.numel]
                out[piece.param] = kept.reshape(batch + self.shapes[piece.param]).to(self.dtypes[piece.param])
        return {key: out[self.aliases.get(key, key)] for key in self.keys}

    def scatter(
        self, x: torch.Tensor, edge_attr: torch.Tensor, aux: torch.Tensor | None = None, batch_dims: int = 0
    ) -> dict[str, torch.Tensor]:
        """Graph tensors with padded edge features -> state dict (the exact inverse of :meth:`gather`).

        Takes ``x [*, N, F]``, ``edge_attr [*, E, K]`` and ``aux [*, A]``; see :meth:`scatter_values`.
        """
        flat = math.prod(x.shape[:batch_dims])
        values = self.values_of(edge_attr.reshape(flat, self.num_edges, -1))
        return self.scatter_values(x, values.reshape(tuple(x.shape[:batch_dims]) + (-1,)), aux, batch_dims)

    # ---------------------------------------------------- edge features, padded
    def edge_attr_of(self, values: torch.Tensor) -> torch.Tensor:
        """Padded edge features ``[B, E, K]`` from ``edge_values [B, P]``: each kernel centred, zero padded
        to ``kernel_shape``. A view of ``values`` when no edge needs padding (e.g. MLPs), else a new
        tensor (differentiable either way).
        """
        b = values.shape[0]
        if self._unpadded:
            return values.view(b, self.num_edges, self.kernel_numel)
        out = values.new_zeros(b, self.num_edges, *self.kernel_shape)
        windows = self._padded_kernel_layout()
        for block in self._value_blocks:
            window, _ = windows[block.edge_offset]
            out[(slice(None), slice(block.edge_offset, block.edge_offset + block.count)) + window] = self._edge_order(
                values, block
            ).reshape(b, block.count, *self._kernel_padded(block.kernel))
        return out.reshape(b, self.num_edges, self.kernel_numel)

    def values_of(self, edge_attr: torch.Tensor) -> torch.Tensor:
        """``edge_values [B, P]`` from padded edge features ``[B, E, K]`` (the inverse of
        :meth:`edge_attr_of`; padding is dropped)."""
        b = edge_attr.shape[0]
        if edge_attr.reshape(b, -1).shape[1] != self.num_edges * self.kernel_numel:
            raise ValueError(
                f"edge features of shape {tuple(edge_attr.shape)} do not fit this architecture: expected "
                f"[{b}, {self.num_edges}, {self.kernel_numel}] (edges x prod(kernel_shape "
                f"{self.kernel_shape})); build the graphs with the same kernel_shape"
            )
        if self._unpadded:
            return edge_attr.reshape(b, self.num_values)
        padded = edge_attr.reshape(b, self.num_edges, *self.kernel_shape)
        windows = self._padded_kernel_layout()
        parts = []
        for block in self._value_blocks:
            window, _ = windows[block.edge_offset]
            edges = padded[(slice(None), slice(block.edge_offset, block.edge_offset + block.count)) + window]
            if isinstance(block.source, EdgePiece):
                piece = block.source
                edges = edges.reshape(b, *(piece.view[p] for p in piece.perm)).permute(*_inverse(piece.perm))
            parts.append(edges.reshape(b, -1))
        return torch.cat(parts, dim=1) if parts else edge_attr.new_zeros(b, 0)

    # ----------------------------------------------------------- edge blocks
    def block_values(self, values: torch.Tensor, block: "ValueBlock") -> torch.Tensor:
        """The values of one block of edges, ``edge_values [B, P]`` -> ``[B, count * prod(kernel)]`` (a view)."""
        return values[:, block.value_offset : block.value_offset + block.num_values]

    def value_block(self, values: torch.Tensor, piece: EdgePiece) -> torch.Tensor:
        """The weights of ``piece`` from ``edge_values [B, P]`` as ``[B, n_out, n_in, *piece.kernel]`` (a view
        for linear and conv layers; a copy where the edge order differs from the state dict's, e.g. embeddings)."""
        b = values.shape[0]
        return self._edge_order(values, self._value_blocks[self._block_of(piece)]).reshape(
            b, piece.n_out, piece.n_in, *piece.kernel
        )

    def write_value_block(self, values: torch.Tensor, piece: EdgePiece, weights: torch.Tensor) -> None:
        """Write ``weights [B, n_out, n_in, *piece.kernel]`` into the block of ``piece`` of ``edge_values [B, P]``."""
        b = values.shape[0]
        target = self.block_values(values, self._value_blocks[self._block_of(piece)]).view(b, *piece.view)
        target = target.permute(0, *(p + 1 for p in piece.perm))
        target.copy_(weights.reshape(target.shape))

    def _edge_order(self, values: torch.Tensor, block: "ValueBlock") -> torch.Tensor:
        """The values of ``block`` as ``[B, *]`` in edge order (``[n_out, n_in, *kernel]``)."""
        out = self.block_values(values, block)
        if isinstance(block.source, EdgePiece):
            piece = block.source
            out = out.view(values.shape[0], *piece.view).permute(0, *(p + 1 for p in piece.perm))
        return out

    def edge_block(self, edge_attr: torch.Tensor, piece: EdgePiece) -> torch.Tensor:
        """The weights of ``piece`` from ``edge_attr [B, E, *kernel_shape]`` (or ``[B, E, K]``) as
        ``[B, n_out, n_in, *piece.kernel]`` (a view where no padding had to be removed)."""
        b = edge_attr.shape[0]
        block = edge_attr.reshape(b, self.num_edges, *self.kernel_shape)[
            :, piece.offset : piece.offset + piece.num_edges
        ]
        window, full = self._padded_kernel_layout()[piece.offset]
        if not full:
            block = block[(slice(None), slice(None)) + window]
        return block.reshape(b, piece.n_out, piece.n_in, *piece.kernel)

    def write_edge_block(self, edge_attr: torch.Tensor, piece: EdgePiece, values: torch.Tensor) -> None:
        """Write ``values [B, n_out * n_in, *piece.kernel]`` into ``edge_attr [B, E, *kernel_shape]``
        in place (centred, zero padding)."""
        block = edge_attr[:, piece.offset : piece.offset + piece.num_edges]
        window, full = self._padded_kernel_layout()[piece.offset]
        if full:
            block.copy_(values.reshape(block.shape))
        else:
            block.zero_()
            block[(slice(None), slice(None)) + window] = values.reshape(
                values.shape[0], piece.num_edges, *self._kernel_padded(piece.kernel)
            )

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
                raise ValueError(
                    f"'{key}' has shape {shape}, the architecture expects {self.shapes[key]}"
                    f"{' after the batch dim' if batch_dims else ''}"
                )

    def _rows(self, piece: EdgePiece, tensor: torch.Tensor, flat: int) -> torch.Tensor:
        """The weight of ``piece`` (its rows), ``[flat, *piece.view]`` (a view of ``tensor``)."""
        t = tensor.reshape(flat, *self.shapes[piece.param])
        if piece.rows is not None:
            t = t[:, piece.rows[0] : piece.rows[1]]
        return t.reshape(flat, *piece.view)

    def _kernel_padded(self, kernel: tuple[int, ...]) -> tuple[int, ...]:
        return (1,) * (len(self.kernel_shape) - len(kernel)) + tuple(kernel)

    def _block_of(self, piece: EdgePiece) -> int:
        if "_block_index" not in self._device_cache:
            self._device_cache["_block_index"] = {b.edge_offset: i for i, b in enumerate(self._value_blocks)}
        return self._device_cache["_block_index"][piece.offset]

    def _padded_kernel_layout(self) -> dict[int, tuple[tuple[slice, ...], bool]]:
        """Edge offset of every block -> (its window in ``kernel_shape``, whether it fills it)."""
        if "_windows" not in self._device_cache:
            windows = {}
            for block in self._value_blocks:
                kernel = self._kernel_padded(block.kernel)
                if isinstance(block.source, EdgePiece):
                    window = tuple(slice((c - k) // 2, (c - k) // 2 + k) for c, k in zip(self.kernel_shape, kernel))
                else:  # a constant edge: one value at the centre
                    window = tuple(slice(c // 2, c // 2 + 1) for c in self.kernel_shape)
                windows[block.edge_offset] = (window, kernel == tuple(self.kernel_shape))
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
        return (
            f"GraphSpec(nodes={self.num_nodes}, edges={self.num_edges}, kernel={self.kernel_shape}, "
            f"groups={self.num_groups}, params={len(self.keys)})"
        )

    def describe(self) -> str:
        """A readable table of spaces and symmetry groups."""
        lines = [
            f"GraphSpec: {self.num_nodes} nodes, {self.num_edges} edges, kernel {self.kernel_shape}, "
            f"{self.num_groups} symmetry groups"
        ]
        for s in self.spaces:
            lines.append(
                f"  nodes {s.start:>7}-{s.start + s.size - 1:<7} layer {s.layer:<3} type {s.node_type} {s.name}"
            )
        for g in self.groups:
            lines.append(f"  group {g.index:<4} level {g.level} units {g.units:<5} {g.name}")
        return "\n".join(lines)
