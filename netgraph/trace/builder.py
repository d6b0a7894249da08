"""Build a :class:`~netgraph.spec.GraphSpec` from a traced :class:`~netgraph.trace.ir.Program`.

The builder walks the program once. Op handlers (``netgraph/trace/ops``) read the :class:`Layout` of their
operands and call the builder to create node *spaces* (a layer's outputs) and place parameters as
edges or node features; they record *couplings* between spaces (a residual addition forces both operands
to be permuted alike) on the builder's :class:`~netgraph.symmetry.detect.SymmetryDetector`
(``builder.symmetry``), which owns the space table and turns the couplings into symmetry groups at the end.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
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
    common_kernel_shape,
)
from ..symmetry.detect import SymmetryDetector
from ..types import Activation, EdgeType, NodeFeature, NodeType, Norm
from .ir import Op, ParamRef, Program, Value
from .layout import Axis, Layout, new_state

__all__ = ["SpecBuilder", "BIAS_LEVEL", "NORM_LEVEL", "ACT_LEVEL"]

BIAS_LEVEL, NORM_LEVEL, ACT_LEVEL = 1, 2, 3


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
        self.symmetry = SymmetryDetector()
        self.edge_blocks: list[EdgeBlock] = []
        self.num_edges = 0
        self.edge_pieces: list[EdgePiece] = []
        self.const_edges_: list[ConstEdges] = []
        self.node_pieces: list[NodePiece] = []
        self.layer_refs: list[tuple] = []  # (name, weight piece, bias name, bias rows)
        self.used: dict[str, str] = {}
        self._placed: dict[tuple, tuple[dict[int, torch.Tensor] | None, list[torch.Tensor]]] = {}
        self._aux_kept: set[str] = set()  # used by the forward pass but stored verbatim in aux
        #: data values made by ``expand`` -> the shape they were expanded from (constant along the rest)
        self.expanded_from: dict[str, tuple[int, ...]] = {}
        self._state_root: dict[int, str] = {}
        self._real_uses = self._count_real_uses(program, forwarding_kinds)

    @property
    def num_nodes(self) -> int:
        return self.symmetry.num_nodes

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
            layer = 1 + max((self.symmetry.max_layer(n) for n in inputs), default=0)
        return self.symmetry.add_space(f"{op.where} {role}", size, node_type, layer=layer, level=level)

    def input_layout(self, op: Op, value: Value, dim: int, size: int, ndim: int | None) -> Layout:
        """Give a data tensor (a model input) a fresh space of INPUT nodes on ``dim``."""
        existing = self.get(value)
        if existing is not None:
            return existing
        nodes = self.new_space(op, size, NodeType.INPUT, role=f"input features of {value.name}")
        self.symmetry.fix(nodes)
        layout = self.fresh_layout(value, nodes, (Axis(dim, size),), ndim)
        self.set(value, layout)
        return layout

    def fresh_layout(self, value: Value, grid: torch.Tensor, axes: tuple[Axis, ...], ndim: int | None) -> Layout:
        """A layout whose node state starts at ``value`` (used for new spaces)."""
        state = new_state()
        self._state_root[state] = value.name
        return Layout(grid, axes, state, ndim)

    # ============================================================= parameters
    def use_param(self, op: Op, ref: ParamRef) -> str:
        """Claim a parameter for ``op``. A parameter used by several operations (a tied embedding and
        LM head, one layer applied twice) is placed once per use; :meth:`_share` ties the placements."""
        name = self.aliases.get(ref.name, ref.name)
        if name not in self.params:
            raise _ComputedTensor(
                f"{op.where}: '{name}' is read by the forward pass but is not in the state dict (a tensor a hook "
                "computes, e.g. the legacy torch.nn.utils.weight_norm); pass example_inputs so torch.export "
                "traces how it is computed, or use torch.nn.utils.parametrizations.weight_norm."
            )
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
                self.symmetry.fix(n)
            return True
        for a in axes:
            self.symmetry.couple(first_axes[a], axes[a])
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

    def reorder_space(self, order: torch.Tensor) -> bool:
        """Renumber a space so that its nodes, listed in ``order``, become consecutive: the parts of a fused
        projection laid out head by head (GPT-NeoX's q/k/v rows interleave per head) each become one range
        that :meth:`~netgraph.symmetry.detect.SymmetryDetector.split_space` can cut. Only an uncoupled space written by one weight (and its bias) and
        read by nothing but layouts can be renumbered; returns False, changing nothing, otherwise."""
        order = order.reshape(-1)
        s = self.symmetry.whole_space(order.sort().values)
        if s is None or not self.symmetry.uncoupled(s):
            return False
        space = self.symmetry.spaces[s]

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

    # ============================================================= annotation
    def annotate(
        self, op: Op, x: Layout, level: int, *, act: Activation | None = None, norm: Norm | None = None
    ) -> Layout:
        """Mark the nodes of ``x`` with a normalisation or activation.

        Done in place when the nodes are a whole space, nothing else reads them before this op,
        and the annotation comes after what the nodes already carry (bias < norm < activation);
        otherwise a copy space linked by identity edges carries the annotation.
        """
        s = self.symmetry.whole_space(x.grid)
        root = self._state_root.get(x.state)
        in_place = (
            s is not None
            and root is not None
            and self._real_uses.get(root, 0) <= 1
            and self.symmetry.spaces[s].level < level
        )
        if in_place:
            layout = x
        else:
            nodes = self.new_space(op, x.grid.numel(), NodeType.HIDDEN, role="(copy)", inputs=[x.grid])
            self.const_edges(x.grid, nodes, 1.0, EdgeType.RESIDUAL)
            self.symmetry.couple(x.grid, nodes.reshape(x.grid.shape))  # may cut the copy into the pieces x concatenates
            layout = Layout(nodes.reshape(x.grid.shape), x.axes, x.state, x.ndim)
        for s in self.symmetry.spaces_of(layout.grid):
            space = self.symmetry.spaces[s]
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
            for s in self.symmetry.spaces_of(layout.grid):
                self.symmetry.spaces[s].fixed = True
                if self.symmetry.spaces[s].node_type == NodeType.HIDDEN:
                    self.symmetry.spaces[s].node_type = NodeType.OUTPUT
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
        for s in self.symmetry.spaces:
            sl = slice(s.start, s.start + s.size)
            node_type[sl], layer[sl], act[sl], norm[sl] = int(s.node_type), s.layer, int(s.act), int(s.norm)
        groups, sym_group, sym_unit, sym_stride = self.symmetry.groups()
        pos_index = torch.full((n,), -1, dtype=torch.long)
        for s in self.symmetry.spaces:
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
        spaces = [Space(s.name, s.start, s.size, int(s.node_type), s.layer) for s in self.symmetry.spaces]
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


class _ComputedTensor(_NeedShapes):
    """A tensor the forward pass reads that a hook computes (not in the state dict): torch.fx cannot see how,
    so the tracer falls back to torch.export, which traces the hook."""
