"""Finding the permutation symmetries of a network while it is traced.

The tracer's builder (:class:`~netgraph.trace.builder.SpecBuilder`) owns one :class:`SymmetryDetector`:
the table of node *spaces* (a layer's outputs, allocated one after another) and the *couplings* op
handlers record between them (a residual addition forces both operands to be permuted alike, an attention
product ties queries to keys). :meth:`SymmetryDetector.groups` turns the couplings into symmetry groups:
a union-find over spaces gives classes permuted by one permutation; head / channel-group structure splits
a class into blocks (level 0) and positions inside a block (level 1). Whenever a coupling is not a clean
whole-space correspondence the spaces involved are *fixed* (no permutation), which is always correct,
never a wrong symmetry.

Example:
    >>> import torch
    >>> from netgraph.types import NodeType
    >>> detector = SymmetryDetector()
    >>> a = detector.add_space("a", 3, NodeType.HIDDEN, layer=1)
    >>> b = detector.add_space("b", 3, NodeType.HIDDEN, layer=1)
    >>> detector.couple(a, b)   # a residual sum: a and b move alike
    >>> groups, sym_group, _, _ = detector.groups()
    >>> len(groups), sym_group[:, 0].tolist()
    (1, [0, 0, 0, 0, 0, 0])
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import torch

from ..spec import SymmetryGroup
from ..types import Activation, NodeType, Norm

__all__ = ["SymmetryDetector"]


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
    """One grouped-query attention, by the first node of its spaces (see :meth:`SymmetryDetector.query_groups`)."""

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


class SymmetryDetector:
    """The space table of one tracing run and the couplings between its spaces (see module docstring)."""

    def __init__(self):
        self.spaces: list[_Space] = []
        self._starts: list[int] = []
        self.num_nodes = 0
        self._parent: dict[int, int] = {}
        self._split: dict[int, tuple[int, int]] = {}
        self._split_conflict: set[int] = set()
        self._splits_all: dict[int, set[tuple[int, int]]] = {}  # every block split asked of a class
        self._head_pairs: list[tuple[int, int]] = []
        self._inner_fixed: set[int] = set()  # spaces whose positions inside a block may not move
        self._query_groups: list[_GroupedQuery] = []

    # ================================================================= spaces
    def add_space(self, name: str, size: int, node_type: NodeType, *, layer: int, level: int = 0) -> torch.Tensor:
        """Allocate ``size`` new nodes after the last space; returns their ids."""
        start = self.num_nodes
        self.spaces.append(_Space(name, start, size, node_type, layer, level))
        self._starts.append(start)
        self.num_nodes += size
        self._parent[len(self.spaces) - 1] = len(self.spaces) - 1
        return torch.arange(start, start + size)

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

    def max_layer(self, nodes: torch.Tensor) -> int:
        if nodes.numel() == 0:
            return 0
        return max(self.spaces[s].layer for s in self.spaces_of(nodes))

    def couple(self, grid_a: torch.Tensor, grid_b: torch.Tensor) -> None:
        """Nodes at equal positions of the two grids must be permuted alike."""
        a, b = self.whole_space(grid_a), self.whole_space(grid_b)
        if a is None or b is None or self.spaces[a].size != self.spaces[b].size:
            if not self._couple_blocks(grid_a, grid_b) and not self._couple_pieces(grid_a, grid_b):
                self.fix(grid_a)
                self.fix(grid_b)
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
            self.fix(grid)
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
                self.fix(grid_a)
                self.fix(grid_b)
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
        rotary embeddings pinned them). Resolved with the other groups by :meth:`groups`."""
        first = (int(t.reshape(-1)[0]) for t in (query, key, value, out))
        head_dim = value.numel() // kv_heads
        self._query_groups.append(_GroupedQuery(*first, kv_heads, head_dim, out.numel() // (kv_heads * head_dim)))

    def split_space(self, grid: torch.Tensor, sizes: list[int]) -> list[torch.Tensor] | None:
        """Cut the space whose nodes are exactly ``grid`` into consecutive spaces of ``sizes`` nodes
        (a fused projection split into parts, e.g. GPT-2's q/k/v), so that each part gets its own
        symmetry. Only a space nothing has been coupled to yet can be cut; returns the parts' node
        ids, or None when the space cannot be cut."""
        s = self.whole_space(grid)
        if s is None or sum(sizes) != self.spaces[s].size or any(n <= 0 for n in sizes) or not self.uncoupled(s):
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

    def uncoupled(self, s: int) -> bool:
        """Nothing has been coupled to space ``s`` yet (no class, block split, head tie or pinning inside)."""
        return not (
            self._find(s) != s
            or any(self._find(t) == s for t in self._parent if t != s)
            or s in self._split
            or any(s in pair for pair in self._head_pairs)
            or s in self._inner_fixed
        )

    def fix(self, nodes: torch.Tensor) -> None:
        """These nodes may never be permuted."""
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

    def groups(self) -> tuple[list[SymmetryGroup], torch.Tensor, torch.Tensor, torch.Tensor]:
        """The symmetry groups the couplings allow and their node tables ``(groups, sym_group, sym_unit,
        sym_stride)`` (see :class:`~netgraph.spec.GraphSpec`)."""
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
