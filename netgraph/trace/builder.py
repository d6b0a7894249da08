"""Build a :class:`~netgraph.spec.GraphSpec` from a traced :class:`~netgraph.trace.ir.Program`.

The builder walks the program once. Op handlers (``netgraph/trace/ops``) read the :class:`Layout` of their
operands and call the builder to create node *spaces* (a layer's outputs), place parameters as
edges or node features, and record *couplings* between spaces (a residual addition forces both
operands to be permuted alike, an attention product ties queries to keys). At the end the couplings
become symmetry groups: a union-find over spaces gives classes permuted by one permutation; head /
channel-group structure splits a class into blocks (level 0) and positions inside a block (level 1).
Whenever a coupling is not a clean whole-space correspondence the builder *fixes* the spaces
involved (no permutation), which is always correct, never a wrong symmetry.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UnsupportedModuleError
from ..spec import (
    AuxPiece,
    ConstEdges,
    EdgeBlock,
    EdgePiece,
    GraphSpec,
    LayerRef,
    NodePiece,
    Space,
    SymmetryGroup,
    common_kernel_shape,
)
from ..types import Activation, EdgeType, NodeFeature, NodeType, Norm
from .ir import Op, ParamRef, Program, Value
from .layout import Axis, Layout, new_state

__all__ = ["SpecBuilder", "BIAS_LEVEL", "NORM_LEVEL", "ACT_LEVEL"]

BIAS_LEVEL, NORM_LEVEL, ACT_LEVEL = 1, 2, 3


@dataclass
class _Space:
    name: str
    start: int
    size: int
    node_type: NodeType
    layer: int
    level: int = 0
    act: Activation = Activation.NONE
    norm: Norm = Norm.NONE
    fixed: bool = False


@dataclass(frozen=True)
class _GroupedQuery:
    """One grouped-query attention, by the first node of its spaces (see :meth:`SpecBuilder.query_groups`)."""

    query: int
    key: int
    value: int
    out: int
    kv_heads: int
    head_dim: int
    repeats: int  #: query heads per key/value head


class _GroupTables:
    """The symmetry groups being built and their per-node tables: column 0 holds level-0 groups, columns
    1 and 2 level-1 groups (a node in two level-1 groups moves by the sum of both moves)."""

    def __init__(self, num_nodes: int):
        self.groups: list[SymmetryGroup] = []
        self.group = torch.full((num_nodes, 3), -1, dtype=torch.long)
        self.unit = torch.zeros((num_nodes, 3), dtype=torch.long)
        self.stride = torch.zeros((num_nodes, 3), dtype=torch.long)

    def add(self, level: int, nodes: torch.Tensor, strides: torch.Tensor, name: str) -> int:
        """A new group; ``nodes [units, k]`` move with each unit, ``strides [k]`` apart."""
        index = len(self.groups)
        self.groups.append(SymmetryGroup(index, level, nodes, name))
        self._mark(index, nodes, strides, level)
        return index

    def extend(self, index: int, nodes: torch.Tensor, strides: torch.Tensor) -> None:
        """More nodes ``[units, k]`` moving with the units of level-1 group ``index``, in column 2."""
        old = self.groups[index]
        self.groups[index] = SymmetryGroup(index, old.level, torch.cat([old.nodes, nodes], 1), old.name)
        self._mark(index, nodes, strides, 2)

    def _mark(self, index: int, nodes: torch.Tensor, strides: torch.Tensor, column: int) -> None:
        flat = nodes.reshape(-1)
        if bool((self.group[flat, column] >= 0).any()):
            raise RuntimeError("a node joins two symmetry groups in one column (please report this architecture)")
        self.group[flat, column] = index
        self.unit[flat, column] = torch.arange(nodes.shape[0]).repeat_interleave(nodes.shape[1])
        self.stride[flat, column] = strides.repeat(nodes.shape[0])

    def tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(sym_group, sym_unit, sym_stride)``; the third column only when some node uses it."""
        columns = 3 if bool((self.group[:, 2] >= 0).any()) else 2
        return tuple(t[:, :columns].contiguous() for t in (self.group, self.unit, self.stride))


class SpecBuilder:
    """Mutable state of one tracing run; handlers call its methods (see module docstring)."""

    def __init__(
        self,
        program: Program,
        params: dict[str, torch.Tensor],
        keys: list[str],
        aliases: dict[str, str],
        forwarding_kinds: frozenset[str],
    ):
        self.program = program
        self.params = params
        self.keys = keys
        self.aliases = aliases
        self.layouts: dict[str, Any] = {}
        self.spaces: list[_Space] = []
        self._starts: list[int] = []
        self.num_nodes = 0
        self.edge_blocks: list[EdgeBlock] = []
        self.num_edges = 0
        self.edge_pieces: list[EdgePiece] = []
        self.const_edges_: list[ConstEdges] = []
        self.node_pieces: list[NodePiece] = []
        self.layer_refs: list[tuple] = []  # (name, weight piece, bias name, bias rows)
        self.used: dict[str, str] = {}
        self._placed: dict[tuple, tuple[dict[int, torch.Tensor] | None, list[torch.Tensor]]] = {}
        self._aux_kept: set[str] = set()  # used by the forward pass but stored verbatim in aux
        self._parent: dict[int, int] = {}
        self._split: dict[int, tuple[int, int]] = {}
        self._split_conflict: set[int] = set()
        self._splits_all: dict[int, set[tuple[int, int]]] = {}  # every block split asked of a class
        self._head_pairs: list[tuple[int, int]] = []
        self._inner_fixed: set[int] = set()  # spaces whose positions inside a block may not move
        self._query_groups: list[_GroupedQuery] = []
        #: data values made by ``expand`` -> the shape they were expanded from (constant along the rest)
        self.expanded_from: dict[str, tuple[int, ...]] = {}
        self._state_root: dict[int, str] = {}
        self._real_uses = self._count_real_uses(program, forwarding_kinds)

    # ================================================================ layouts
    def get(self, value: Any) -> Layout | None:
        """The layout of an operand (None for data, constants and parameters)."""
        if isinstance(value, Value):
            found = self.layouts.get(value.name)
            return found if isinstance(found, Layout) else None
        return None

    def get_raw(self, value: Value) -> Any:
        return self.layouts.get(value.name)

    def set(self, value: Value, layout: Any) -> None:
        self.layouts[value.name] = layout

    def ndim(self, value: Any, layout: Layout | None = None) -> int | None:
        if isinstance(value, Value) and value.shape is not None:
            return len(value.shape)
        if isinstance(value, ParamRef):
            return len(value.shape)
        return layout.ndim if layout is not None else None

    @staticmethod
    def neg(dim: int, ndim: int | None) -> int:
        """A tensor dim as a negative index (dims that are already negative are kept)."""
        if dim < 0:
            return dim
        if ndim is None:
            raise _NeedShapes(f"dim {dim} of a tensor of unknown rank")
        return dim - ndim

    # ================================================================= spaces
    def new_space(
        self, op: Op, size: int, node_type: NodeType, *, role: str, inputs: list[torch.Tensor] = (), level: int = 0
    ) -> torch.Tensor:
        """Allocate ``size`` new nodes; returns their ids. ``inputs`` (node ids) set the layer depth."""
        layer = 0
        if node_type != NodeType.INPUT:
            layer = 1 + max((self._max_layer(n) for n in inputs), default=0)
        start = self.num_nodes
        self.spaces.append(_Space(f"{op.where} {role}", start, size, node_type, layer, level))
        self._starts.append(start)
        self.num_nodes += size
        self._parent[len(self.spaces) - 1] = len(self.spaces) - 1
        return torch.arange(start, start + size)

    def input_layout(self, op: Op, value: Value, dim: int, size: int, ndim: int | None) -> Layout:
        """Give a data tensor (a model input) a fresh space of INPUT nodes on ``dim``."""
        existing = self.get(value)
        if existing is not None:
            return existing
        nodes = self.new_space(op, size, NodeType.INPUT, role=f"input features of {value.name}")
        self._fix_nodes(nodes)
        layout = self.fresh_layout(value, nodes, (Axis(dim, size),), ndim)
        self.set(value, layout)
        return layout

    def fresh_layout(self, value: Value, grid: torch.Tensor, axes: tuple[Axis, ...], ndim: int | None) -> Layout:
        """A layout whose node state starts at ``value`` (used for new spaces)."""
        state = new_state()
        self._state_root[state] = value.name
        return Layout(grid, axes, state, ndim)

    def space_index(self, node: int) -> int:
        return bisect.bisect_right(self._starts, node) - 1

    def spaces_of(self, nodes: torch.Tensor) -> list[int]:
        starts = torch.tensor(self._starts)
        idx = torch.bucketize(nodes.reshape(-1), starts, right=True) - 1
        return torch.unique(idx).tolist()

    def whole_space(self, grid: torch.Tensor) -> int | None:
        """The space whose nodes are exactly ``grid`` (row-major, in order), else None."""
        flat = grid.reshape(-1)
        if flat.numel() == 0:
            return None
        s = self.space_index(int(flat[0]))
        space = self.spaces[s]
        if flat.numel() != space.size or int(flat[0]) != space.start:
            return None
        if not torch.equal(flat, torch.arange(space.start, space.start + space.size)):
            return None
        return s

    def _max_layer(self, nodes: torch.Tensor) -> int:
        if nodes.numel() == 0:
            return 0
        return max(self.spaces[s].layer for s in self.spaces_of(nodes))

    # ============================================================= parameters
    def use_param(self, op: Op, ref: ParamRef) -> str:
        """Claim a parameter for ``op``. A parameter used by several operations (a tied embedding and
        LM head, one layer applied twice) is placed once per use; :meth:`_share` ties the placements."""
        name = self.aliases.get(ref.name, ref.name)
        if not torch.is_floating_point(self.params[name]):
            raise UnsupportedModuleError(
                f"{op.where}: parameter '{name}' has non-float dtype "
                f"{self.params[name].dtype}; only float weights become graph features."
            )
        self.used.setdefault(name, op.where)
        return name

    def keep_in_aux(self, op: Op, ref: ParamRef) -> None:
        """A parameter the forward pass uses in a way no permutation changes (e.g. a weight-norm gain
        over all channels): stored verbatim in ``aux``."""
        name = self.aliases.get(ref.name, ref.name)
        self.used.setdefault(name, op.where)
        self._aux_kept.add(name)

    def _share(self, key: tuple, axes: dict[int, torch.Tensor] | None, nodes: list[torch.Tensor]) -> bool:
        """Tie a new placement of a parameter (rows) to its first placement: the nodes of each of its
        axes are permuted alike in both (``axes``: parameter axis -> node ids); placements that cannot be
        matched axis by axis pin all their nodes. Returns True if the parameter was placed before."""
        first = self._placed.get(key)
        if first is None:
            self._placed[key] = (axes, nodes)
            return False
        first_axes, first_nodes = first
        if (
            axes is None
            or first_axes is None
            or set(axes) != set(first_axes)
            or any(axes[a].numel() != first_axes[a].numel() for a in axes)
        ):
            for n in nodes + first_nodes:
                self._fix_nodes(n)
            return True
        for a in axes:
            self.couple(first_axes[a], axes[a])
        return True

    def weight_edges(
        self,
        op: Op,
        ref: ParamRef,
        *,
        out_nodes: torch.Tensor,
        in_nodes: torch.Tensor,
        view: tuple[int, ...],
        perm: tuple[int, ...],
        kernel: tuple[int, ...] = (),
        rows: tuple[int, int] | None = None,
        groups: int = 1,
        edge_type: EdgeType,
        bias: ParamRef | None = None,
        bias_rows: tuple[int, int] | None = None,
        layer_name: str | None = None,
        claim: bool = True,
    ) -> None:
        """Place a weight as the edges ``in_nodes -> out_nodes`` (see :class:`EdgePiece`).

        ``in_nodes`` has ``groups * n_in`` entries; output ``o`` reads the ``n_in`` inputs of its group.
        """
        name = self.use_param(op, ref) if claim else self.aliases.get(ref.name, ref.name)
        n_out, n_in = out_nodes.numel(), in_nodes.numel() // groups
        piece = EdgePiece(
            name,
            rows,
            tuple(view),
            tuple(perm),
            n_out,
            n_in,
            tuple(kernel),
            self.num_edges,
            out_nodes.reshape(-1).clone(),
            in_nodes.reshape(-1).clone(),
            groups,
        )
        self.edge_pieces.append(piece)
        self._add_edges(piece.num_edges, edge_type, piece)
        simple = groups == 1 and len(view) == 2 + len(kernel)
        axes = {perm[0]: piece.out_nodes, perm[1]: piece.in_nodes} if simple else None
        shared = self._share(
            ("edges", name, rows, tuple(view), tuple(perm[2:])), axes, [piece.out_nodes, piece.in_nodes]
        )
        bias_name = None
        if bias is not None:
            bias_name = self.node_param(op, bias, out_nodes, NodeFeature.BIAS, rows=bias_rows)
        if layer_name is not None and not shared:
            self.layer_refs.append((layer_name, piece, bias_name, bias_rows))

    def const_edges(self, src: torch.Tensor, dst: torch.Tensor, value: float, edge_type: EdgeType) -> None:
        """Fixed edges (no parameter) with feature ``value`` at the kernel centre."""
        const = ConstEdges(self.num_edges, src.numel(), value, src.reshape(-1).clone(), dst.reshape(-1).clone())
        self.const_edges_.append(const)
        self._add_edges(src.numel(), edge_type, const)

    def node_param(
        self,
        op: Op,
        ref: ParamRef,
        nodes: torch.Tensor,
        column: NodeFeature,
        rows: tuple[int, int] | None = None,
        claim: bool = True,
        tie: bool = True,
    ) -> str:
        """Place a 1-D parameter as column ``column`` of the node features of ``nodes``. A parameter placed
        again is tied to its first placement (``tie=False``: the caller pins what the tie would couple)."""
        name = self.use_param(op, ref) if claim else self.aliases.get(ref.name, ref.name)
        count = (rows[1] - rows[0]) if rows else math.prod(ref.shape)
        if count != nodes.numel():
            raise UnsupportedModuleError(
                f"{op.where}: parameter '{name}' of shape {tuple(ref.shape)} does not hold one value per "
                f"neuron ({nodes.numel()} neurons); netgraph stores such parameters as node features only "
                "when they are per-channel."
            )
        self.node_pieces.append(NodePiece(name, rows, nodes.reshape(-1).clone(), int(column)))
        if tie:
            self._share(("nodes", name, rows), {0: nodes.reshape(-1)}, [nodes.reshape(-1)])
        return name

    def _add_edges(self, count: int, edge_type: EdgeType, source) -> None:
        self.edge_blocks.append((self.num_edges, count, int(edge_type), source))
        self.num_edges += count

    # ============================================================== couplings
    def couple(self, grid_a: torch.Tensor, grid_b: torch.Tensor) -> None:
        """Nodes at equal positions of the two grids must be permuted alike."""
        a, b = self.whole_space(grid_a), self.whole_space(grid_b)
        if a is None or b is None or self.spaces[a].size != self.spaces[b].size:
            if not self._couple_blocks(grid_a, grid_b) and not self._couple_pieces(grid_a, grid_b):
                self._fix_nodes(grid_a)
                self._fix_nodes(grid_b)
            return
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        self._parent[rb] = ra
        if rb in self._split_conflict:
            self._split_conflict.add(ra)
        self._splits_all.setdefault(ra, set()).update(self._splits_all.pop(rb, set()))
        if rb in self._split:
            self._merge_split(ra, self._split.pop(rb))

    def _pieces(self, grid: torch.Tensor) -> list[int] | None:
        """Sizes of the whole spaces whose nodes, one after another, are ``grid`` (row-major), else None
        (a concatenation of whole spaces, e.g. Swin's patch merging: one stream's space four times)."""
        flat, sizes, p = grid.reshape(-1), [], 0
        while p < flat.numel():
            size = self.spaces[self.space_index(int(flat[p]))].size
            if self.whole_space(flat[p : p + size]) is None:
                return None
            sizes.append(size)
            p += size
        return sizes

    def _couple_pieces(self, grid_a: torch.Tensor, grid_b: torch.Tensor) -> bool:
        """Coupling of two concatenations of whole spaces, piece by piece; a fresh space on either side is
        first cut into the other side's pieces (the copy carrying a norm after a concatenation)."""
        if grid_a.shape != grid_b.shape or grid_a.numel() == 0:
            return False
        flat_a, flat_b = grid_a.reshape(-1), grid_b.reshape(-1)
        sizes_a, sizes_b = self._pieces(flat_a), self._pieces(flat_b)
        if sizes_a is None or sizes_b is None:
            return False
        if sizes_a != sizes_b:
            if len(sizes_b) == 1 and self.split_space(flat_b, sizes_a) is not None:
                sizes_b = sizes_a
            elif len(sizes_a) == 1 and self.split_space(flat_a, sizes_b) is not None:
                sizes_a = sizes_b
            else:
                return False
        start = 0
        for size in sizes_a:
            self.couple(flat_a[start : start + size], flat_b[start : start + size])
            start += size
        return True

    def _block_spaces(self, grid: torch.Tensor) -> list[int] | None:
        """For a grid ``[blocks, ...]`` whose every column sits at one position inside the blocks of one
        space (``grid[h, j] = grid[0, j] + h * block size``, ``grid[0, j]`` in block 0), the spaces it
        touches; None otherwise. Rotary embeddings' ``rotate_half`` and partial rotations (a slice of
        each head, rotated, concatenated with the rest) make such grids."""
        if grid.dim() < 2 or grid.numel() == 0:
            return None
        heads = grid.shape[0]
        rows = grid.reshape(heads, -1)
        first = rows[0]
        spaces = torch.searchsorted(torch.tensor(self._starts), first, right=True) - 1  # space of each column
        sizes = torch.tensor([s.size for s in self.spaces])[spaces]
        starts = torch.tensor(self._starts)[spaces]
        if bool((sizes % heads != 0).any()):
            return None
        block = sizes // heads
        if bool((first - starts >= block).any()):
            return None
        if not torch.equal(rows, first + torch.arange(heads).unsqueeze(1) * block):
            return None
        return sorted(set(spaces.tolist()))

    def _couple_blocks(self, grid_a: torch.Tensor, grid_b: torch.Tensor) -> bool:
        """Coupling of grids that rearrange nodes inside blocks (see :meth:`_block_spaces`): the blocks of
        every space involved are tied, positions inside the blocks are pinned."""
        if grid_a.shape != grid_b.shape:
            return False
        a, b = self._block_spaces(grid_a), self._block_spaces(grid_b)
        if a is None or b is None:
            return False
        heads = grid_a.shape[0]
        self.fix_inner(grid_a, heads)
        self.fix_inner(grid_b, heads)
        self._head_pairs.extend((a[0], s) for s in a[1:] + b)
        return True

    def fix_inner(self, grid: torch.Tensor, heads: int) -> None:
        """The spaces of ``grid`` are made of ``heads`` blocks that may move as wholes, but nothing may
        move inside a block (data that differs along the head dim, e.g. rotary cos/sin tables)."""
        for s in self.spaces_of(grid):
            if self.spaces[s].size % heads:
                self.spaces[s].fixed = True
                continue
            self._merge_split(self._find(s), (heads, self.spaces[s].size // heads))
            self._inner_fixed.add(s)

    def require_split(self, grid: torch.Tensor, heads: int) -> None:
        """The space of ``grid`` is made of ``heads`` blocks that may only move as wholes
        (attention heads, channel groups of a grouped conv or GroupNorm)."""
        s = self.whole_space(grid)
        if s is None or self.spaces[s].size % heads:
            self._fix_nodes(grid)
            return
        self._merge_split(self._find(s), (heads, self.spaces[s].size // heads))

    def couple_heads(self, grid_a: torch.Tensor, grid_b: torch.Tensor, heads: int) -> None:
        """Blocks (heads / groups) of the two grids must be permuted alike; positions inside a block may
        move independently in each space. A grid that rearranges positions inside the blocks of one or
        more spaces (see :meth:`_block_spaces`) ties those spaces' blocks with their positions pinned."""
        spaces = []
        for grid in (grid_a, grid_b):
            whole = self.whole_space(grid)
            blocks = None
            if whole is None and grid.numel() and grid.numel() % heads == 0:
                blocks = self._block_spaces(grid.reshape(heads, -1))
            if whole is None and blocks is None:
                self._fix_nodes(grid_a)
                self._fix_nodes(grid_b)
                return
            spaces.append((grid, whole, blocks))
        for grid, whole, blocks in spaces:
            if whole is not None:
                self.require_split(grid, heads)
            else:
                self.fix_inner(grid, heads)
        tied = [s for _, whole, blocks in spaces for s in ([whole] if whole is not None else blocks)]
        self._head_pairs.extend((tied[0], s) for s in tied[1:])

    def query_groups(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, out: torch.Tensor, kv_heads: int
    ) -> None:
        """Grouped-query attention whose output ``out`` (a fresh space, one node per query head and value
        dim, blocks coupled to the key/value heads) copies the ``value`` head of each query head's group.
        Inside a key/value block the query heads may be permuted (with their outputs); the value dims
        move the outputs' dims too, and the key dims the dims of every query head of the group (unless
        rotary embeddings pinned them). Resolved with the other groups by :meth:`finish`."""
        first = (int(t.reshape(-1)[0]) for t in (query, key, value, out))
        head_dim = value.numel() // kv_heads
        self._query_groups.append(_GroupedQuery(*first, kv_heads, head_dim, out.numel() // (kv_heads * head_dim)))

    def split_space(self, grid: torch.Tensor, sizes: list[int]) -> list[torch.Tensor] | None:
        """Cut the space whose nodes are exactly ``grid`` into consecutive spaces of ``sizes`` nodes
        (a fused projection split into parts, e.g. GPT-2's q/k/v), so that each part gets its own
        symmetry. Only a space nothing has been coupled to yet can be cut; returns the parts' node
        ids, or None when the space cannot be cut."""
        s = self.whole_space(grid)
        if s is None or sum(sizes) != self.spaces[s].size or any(n <= 0 for n in sizes) or not self._uncoupled(s):
            return None
        space = self.spaces[s]
        parts, start = [], space.start
        for k, n in enumerate(sizes):
            parts.append(
                _Space(
                    f"{space.name} part {k}",
                    start,
                    n,
                    space.node_type,
                    space.layer,
                    space.level,
                    space.act,
                    space.norm,
                    space.fixed,
                )
            )
            start += n
        shift = len(sizes) - 1

        def moved(t: int) -> int:
            return t + shift if t > s else t

        self.spaces[s : s + 1] = parts
        self._starts[s : s + 1] = [p.start for p in parts]
        self._parent = {moved(t): moved(r) for t, r in self._parent.items()}
        for k in range(len(sizes)):
            self._parent[s + k] = s + k
        self._split = {moved(t): v for t, v in self._split.items()}
        self._split_conflict = {moved(t) for t in self._split_conflict}
        self._head_pairs = [(moved(a), moved(c)) for a, c in self._head_pairs]
        self._inner_fixed = {moved(t) for t in self._inner_fixed}
        self._splits_all = {moved(t): v for t, v in self._splits_all.items()}
        return [torch.arange(p.start, p.start + p.size) for p in parts]

    def _uncoupled(self, s: int) -> bool:
        """Nothing has been coupled to space ``s`` yet (no class, block split, head tie or pinning inside)."""
        return not (
            self._find(s) != s
            or any(self._find(t) == s for t in self._parent if t != s)
            or s in self._split
            or any(s in pair for pair in self._head_pairs)
            or s in self._inner_fixed
        )

    def reorder_space(self, order: torch.Tensor) -> bool:
        """Renumber a space so that its nodes, listed in ``order``, become consecutive: the parts of a fused
        projection laid out head by head (GPT-NeoX's q/k/v rows interleave per head) each become one range
        that :meth:`split_space` can cut. Only an uncoupled space written by one weight (and its bias) and
        read by nothing but layouts can be renumbered; returns False, changing nothing, otherwise."""
        order = order.reshape(-1)
        s = self.whole_space(order.sort().values)
        if s is None or not self._uncoupled(s):
            return False
        space = self.spaces[s]

        def touches(t: torch.Tensor) -> bool:
            return bool(((t >= space.start) & (t < space.start + space.size)).any())

        writers = [p for p in self.edge_pieces if touches(p.out_nodes)]
        if (
            len(writers) != 1
            or any(touches(p.in_nodes) for p in self.edge_pieces)
            or any(touches(c.src) or touches(c.dst) for c in self.const_edges_)
            or any(self._layouts_in(v) is None and v is not None for v in self.layouts.values())
        ):
            return False
        mapping = torch.arange(self.num_nodes)
        mapping[order] = torch.arange(space.start, space.start + space.size)
        old = writers[0]
        new = dataclasses.replace(old, out_nodes=mapping[old.out_nodes])
        self.edge_pieces = [new if p is old else p for p in self.edge_pieces]
        self.edge_blocks = [(a, c, k, new if src is old else src) for a, c, k, src in self.edge_blocks]
        self.layer_refs = [(n, new if p is old else p, *rest) for n, p, *rest in self.layer_refs]
        self.node_pieces = [
            dataclasses.replace(p, nodes=mapping[p.nodes]) if touches(p.nodes) else p for p in self.node_pieces
        ]
        self._placed = {
            key: (None if axes is None else {a: mapping[t] for a, t in axes.items()}, [mapping[t] for t in nodes])
            for key, (axes, nodes) in self._placed.items()
        }
        self.layouts = {name: self._layouts_in(value, mapping) for name, value in self.layouts.items()}
        return True

    @staticmethod
    def _layouts_in(value: Any, mapping: torch.Tensor | None = None) -> Any:
        """``value`` (a traced value's layout record: a :class:`Layout`, a tuple of records, an object
        holding records in its attributes, or anything without node ids) with every grid remapped through
        ``mapping`` (validation only when None: returns ``value``). None when a node-id tensor sits where
        it cannot be followed."""
        if isinstance(value, Layout):
            return dataclasses.replace(value, grid=mapping[value.grid]) if mapping is not None else value
        if isinstance(value, torch.Tensor):
            return None
        if isinstance(value, (tuple, list)):
            inner = [SpecBuilder._layouts_in(v, mapping) for v in value]
            if any(i is None and v is not None for i, v in zip(inner, value)):
                return None
            return type(value)(inner) if mapping is not None else value
        if hasattr(value, "__dict__") and not dataclasses.is_dataclass(value):
            fields = {k: SpecBuilder._layouts_in(v, mapping) for k, v in vars(value).items()}
            if any(f is None and vars(value)[k] is not None for k, f in fields.items()):
                return None
            if mapping is None:
                return value
            copied = copy.copy(value)
            vars(copied).update(fields)
            return copied
        return value  # numbers, strings, parameters: no node ids

    def fix(self, nodes: torch.Tensor) -> None:
        """These nodes may never be permuted (public for op handlers)."""
        self._fix_nodes(nodes)

    def _fix_nodes(self, nodes: torch.Tensor) -> None:
        for s in self.spaces_of(nodes):
            self.spaces[s].fixed = True

    def _find(self, s: int) -> int:
        while self._parent[s] != s:
            self._parent[s] = self._parent[self._parent[s]]
            s = self._parent[s]
        return s

    def _merge_split(self, root: int, split: tuple[int, int]) -> None:
        self._splits_all.setdefault(root, set()).add(split)
        current = self._split.get(root)
        if current is None:
            self._split[root] = split
        elif current != split:
            self._split_conflict.add(root)

    # ============================================================= annotation
    def annotate(
        self, op: Op, x: Layout, level: int, *, act: Activation | None = None, norm: Norm | None = None
    ) -> Layout:
        """Mark the nodes of ``x`` with a normalisation or activation.

        Done in place when the nodes are a whole space, nothing else reads them before this op,
        and the annotation comes after what the nodes already carry (bias < norm < activation);
        otherwise a copy space linked by identity edges carries the annotation.
        """
        s = self.whole_space(x.grid)
        root = self._state_root.get(x.state)
        in_place = (
            s is not None and root is not None and self._real_uses.get(root, 0) <= 1 and self.spaces[s].level < level
        )
        if in_place:
            layout = x
        else:
            nodes = self.new_space(op, x.grid.numel(), NodeType.HIDDEN, role="(copy)", inputs=[x.grid])
            self.const_edges(x.grid, nodes, 1.0, EdgeType.RESIDUAL)
            self.couple(x.grid, nodes.reshape(x.grid.shape))  # may cut the copy into the pieces x concatenates
            layout = Layout(nodes.reshape(x.grid.shape), x.axes, x.state, x.ndim)
        for s in self.spaces_of(layout.grid):
            space = self.spaces[s]
            space.level = level
            if act is not None:
                space.act = act
            if norm is not None:
                space.norm = norm
        result = self.fresh_layout(op.out, layout.grid, layout.axes, layout.ndim)
        return result

    # ============================================================= finishing
    def finish(self, outputs: list[Layout], trace_mode: str, min_kernel: tuple[int, ...] = ()) -> GraphSpec:
        """Mark outputs, collect unplaced tensors into ``aux`` and emit the spec (its kernel shape is at
        least ``min_kernel``, so graphs of different architectures can share one edge feature size)."""
        for layout in outputs:
            for s in self.spaces_of(layout.grid):
                self.spaces[s].fixed = True
                if self.spaces[s].node_type == NodeType.HIDDEN:
                    self.spaces[s].node_type = NodeType.OUTPUT
        aux_pieces, offset = [], 0
        for key in self.keys:
            if key in self.aliases or (key in self.used and key not in self._aux_kept):
                continue
            tensor = self.params[key]
            if torch.is_floating_point(tensor) and tensor.numel() > 0 and key not in self._aux_kept:
                warnings.warn(
                    f"'{key}' is not used by the traced forward pass; it is kept verbatim in "
                    "`aux` and is not part of the graph.",
                    stacklevel=4,
                )
            aux_pieces.append(AuxPiece(key, offset, tensor.numel()))
            offset += tensor.numel()

        n = self.num_nodes
        node_type = torch.empty(n, dtype=torch.long)
        layer = torch.empty(n, dtype=torch.long)
        act = torch.empty(n, dtype=torch.long)
        norm = torch.empty(n, dtype=torch.long)
        for s in self.spaces:
            sl = slice(s.start, s.start + s.size)
            node_type[sl], layer[sl], act[sl], norm[sl] = int(s.node_type), s.layer, int(s.act), int(s.norm)
        groups, sym_group, sym_unit, sym_stride = self._symmetry_groups()
        pos_index = torch.full((n,), -1, dtype=torch.long)
        for s in self.spaces:
            sl = slice(s.start, s.start + s.size)
            pos_index[sl] = torch.arange(s.size)
        pos_index[(sym_group >= 0).any(dim=1)] = -1

        kernel_shape = common_kernel_shape([p.kernel for p in self.edge_pieces] + [min_kernel])
        float_dtypes = [self.params[p.param].dtype for p in [*self.edge_pieces, *self.node_pieces]]
        dtype = float_dtypes[0] if float_dtypes else torch.float32
        for d in float_dtypes:
            dtype = torch.promote_types(dtype, d)

        layers = [
            LayerRef(
                name,
                piece,
                next((p for p in self.node_pieces if p.param == bias and p.rows == brows), None) if bias else None,
            )
            for name, piece, bias, brows in self.layer_refs
        ]
        spaces = [Space(s.name, s.start, s.size, int(s.node_type), s.layer) for s in self.spaces]
        return GraphSpec(
            num_nodes=n,
            kernel_shape=kernel_shape,
            node_type=node_type,
            layer=layer,
            node_act=act,
            node_norm=norm,
            pos_index=pos_index,
            num_edges=self.num_edges,
            edge_blocks=self.edge_blocks,
            edge_pieces=self.edge_pieces,
            const_edges=self.const_edges_,
            node_pieces=self.node_pieces,
            aux_pieces=aux_pieces,
            groups=groups,
            sym_group=sym_group,
            sym_unit=sym_unit,
            sym_stride=sym_stride,
            spaces=spaces,
            layers=layers,
            keys=list(self.keys),
            shapes={k: tuple(v.shape) for k, v in self.params.items()},
            dtypes={k: v.dtype for k, v in self.params.items()},
            aliases=dict(self.aliases),
            dtype=dtype,
            trace_mode=trace_mode,
        )

    def _symmetry_groups(self):
        classes: dict[int, list[int]] = {}
        for s in range(len(self.spaces)):
            classes.setdefault(self._find(s), []).append(s)
        for gqa in self._query_groups:  # pinned outputs pin the values they copy
            if any(self.spaces[s].fixed for s in classes[self._find(self.space_index(gqa.out))]):
                self.spaces[self.space_index(gqa.value)].fixed = True
        inner_fixed = {self._find(s) for s in self._inner_fixed}
        for root in list(self._split_conflict):  # nested block splits of a class pinned inside its blocks:
            splits = sorted(self._splits_all.get(root, ()))  # the coarsest blocks are the symmetry
            if root in inner_fixed and all(splits[-1][0] % h == 0 for h, _ in splits):
                self._split[root] = splits[0]
                self._split_conflict.discard(root)
        fixed = {
            r
            for r, members in classes.items()
            if r in self._split_conflict or any(self.spaces[m].fixed for m in members)
        }
        # level-0 components of split classes (heads tied across spaces)
        comp_parent = {r: r for r in classes}

        def comp_find(r: int) -> int:
            while comp_parent[r] != r:
                r = comp_parent[r]
            return r

        for a, b in self._head_pairs:
            ra, rb = comp_find(self._find(a)), comp_find(self._find(b))
            if ra != rb:
                comp_parent[rb] = ra
        comps: dict[int, list[int]] = {}
        for r in classes:
            if r in self._split:
                comps.setdefault(comp_find(r), []).append(r)
        comp_of = {r: comps[comp_find(r)] for r in classes if r in self._split}
        grouped = [self._grouped_query_classes(gqa, comp_of, fixed, inner_fixed) for gqa in self._query_groups]
        tables = _GroupTables(self.num_nodes)
        for root, members in classes.items():
            if root in fixed or root in self._split:
                continue
            size = self.spaces[members[0]].size
            if size < 2:
                continue
            nodes = torch.stack([torch.arange(self.spaces[m].start, self.spaces[m].start + size) for m in members], 1)
            tables.add(0, nodes, torch.ones(len(members), dtype=torch.long), self.spaces[members[0]].name)
        inner_groups: dict[tuple[int, int], int] = {}  # (class root, block) -> its level-1 group
        for comp_root, roots in comps.items():
            heads = {self._split[r][0] for r in roots}
            comp_fixed = any(r in fixed for r in roots) or len(heads) != 1
            for r in roots:  # level 1: inside each head / group
                if r in fixed or r in inner_fixed:
                    continue
                h, d = self._split[r]
                if d < 2:
                    continue
                members = classes[r]
                base = torch.stack([self.spaces[m].start + torch.arange(h * d).reshape(h, d) for m in members], -1)
                for head in range(h):
                    inner_groups[r, head] = tables.add(
                        1,
                        base[head],
                        torch.ones(len(members), dtype=torch.long),
                        f"{self.spaces[members[0]].name} block {head}",
                    )
            h = next(iter(heads))
            if comp_fixed or h < 2:
                continue
            blocks, strides = [], []
            for r in roots:
                d = self._split[r][1]
                for m in classes[r]:
                    blocks.append(self.spaces[m].start + torch.arange(h * d).reshape(h, d))
                    strides.append(torch.full((d,), d, dtype=torch.long))
            tables.add(0, torch.cat(blocks, 1), torch.cat(strides), f"{self.spaces[classes[roots[0]][0]].name} blocks")
        for gqa, (query_like, key_follows) in zip(self._query_groups, grouped):
            self._grouped_query_groups(gqa, query_like, key_follows, classes, inner_groups, tables)
        return (tables.groups, *tables.tables())

    def _grouped_query_classes(
        self, gqa: _GroupedQuery, comp_of: dict[int, list[int]], fixed: set[int], inner_fixed: set[int]
    ) -> tuple[list[int], bool]:
        """Which inner symmetries of a grouped-query attention are safe, before the groups are built:
        ``(query_like, key_follows)``. ``query_like`` lists the classes tied to the key/value blocks that
        hold the group's query heads, one head after another (the query's and the output's block-pinned
        classes; empty when any other class of those blocks holds more than one key/value head's worth, or
        when the output is not among them). ``key_follows``: the query dims may follow the key dims (only
        the query's own class holds query heads besides the output); otherwise the key dims are pinned
        (added to ``inner_fixed``), as rotary embeddings already pin them."""
        repeats = gqa.repeats
        q_root, k_root, out_root = (self._find(self.space_index(n)) for n in (gqa.query, gqa.key, gqa.out))
        block = (gqa.kv_heads, repeats * gqa.head_dim)
        comp = comp_of.get(q_root, ())
        query_like = [r for r in comp if r in inner_fixed and r not in fixed and self._split[r] == block]
        per_kv_head = all(self._split[r] == block or self._split[r][1] == gqa.head_dim for r in comp)
        if repeats < 2 or not per_kv_head or out_root not in query_like:
            query_like = []
        key_follows = (
            q_root not in fixed
            and self._split.get(q_root) == block
            and {r for r in comp if self._split[r] == block} <= {q_root, out_root}
        )
        if not key_follows:
            inner_fixed.add(k_root)
        return query_like, key_follows

    def _grouped_query_groups(
        self,
        gqa: _GroupedQuery,
        query_like: list[int],
        key_follows: bool,
        classes: dict[int, list[int]],
        inner_groups: dict[tuple[int, int], int],
        tables: _GroupTables,
    ) -> None:
        """The inner groups of one grouped-query attention (see :meth:`query_groups` and
        :meth:`_grouped_query_classes`): per key/value block, a level-1 group of its query heads (stride
        ``head_dim``), and the output's / query's nodes joined to the value / key dims' level-1 groups."""
        kv, d = gqa.kv_heads, gqa.head_dim
        repeats = gqa.repeats
        heads = torch.arange(repeats).unsqueeze(1) * d + torch.arange(d)  # [r, d]: query head j, dim i
        spaces = [self.spaces[m] for r in query_like for m in classes[r]]
        for block in range(kv if query_like else 0):
            nodes = torch.cat([space.start + block * repeats * d + heads for space in spaces], 1)
            name = f"{self.spaces[self.space_index(gqa.query)].name} query heads of block {block}"
            tables.add(1, nodes, torch.full((nodes.shape[1],), d, dtype=torch.long), name)
        q_root = self._find(self.space_index(gqa.query))
        followers = [(gqa.value, [gqa.out])]
        if key_follows:
            followers.append((gqa.key, [self.spaces[m].start for m in classes[q_root]]))
        for source, starts in followers:  # the dims of each query head follow its key / value head's dims
            root = self._find(self.space_index(source))
            for block in range(kv):
                index = inner_groups.get((root, block))
                if index is None or tables.groups[index].units != d:
                    continue
                nodes = torch.cat([start + block * repeats * d + heads.T for start in starts], 1)  # [d, r * spaces]
                tables.extend(index, nodes, torch.ones(nodes.shape[1], dtype=torch.long))

    @staticmethod
    def _count_real_uses(program: Program, forwarding: frozenset[str]) -> dict[str, int]:
        """How many non-forwarding consumers (plus graph outputs) read each value, through views."""
        users: dict[str, list[Op]] = {}
        for op in program.ops:
            for v in op.values():
                users.setdefault(v.name, []).append(op)
        outputs = {v.name for v in program.outputs}
        real: dict[str, int] = {}
        for op in reversed(program.ops):
            for v in op.values():
                real.setdefault(v.name, 0)
        for op in reversed(program.ops):
            name = op.out.name
            count = 1 if name in outputs else 0
            for user in users.get(name, []):
                count += real.get(user.out.name, 0) if user.kind in forwarding else 1
            real[name] = count
        for v in program.inputs:
            count = 1 if v.name in outputs else 0
            for user in users.get(v.name, []):
                count += real.get(user.out.name, 0) if user.kind in forwarding else 1
            real[v.name] = count
        return real


class _NeedShapes(UnsupportedModuleError):
    """Raised when an op needs tensor shapes that symbolic tracing does not know."""
