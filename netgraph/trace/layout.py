"""Where the neurons of a traced tensor sit: which tensor dims carry which graph nodes.

A :class:`Layout` is attached to every traced tensor whose values are neuron activations. Its
``grid`` holds the node ids of the neurons, one grid axis per *node axis*; ``axes`` says, for every
axis, which tensor dim carries it (negative index, so unknown ranks still work) and whether it is a
node axis or a *rep* axis (a spatial position folded into the feature dim by ``flatten``, where the
same node repeats). Axes sharing one tensor dim are listed outer to inner (row-major).

Example: the output of ``nn.Conv2d(3, 8, 3)`` on ``[B, 3, H, W]`` has ``grid = [n0 .. n7]`` and one
node axis on dim -3; after ``flatten(1)`` it has a node axis (8) and a rep axis (H*W) both on dim -1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import torch

__all__ = ["Axis", "Layout"]

_state_counter = itertools.count(1)


def new_state() -> int:
    """A fresh node-state token (see ``SpecBuilder.annotate``)."""
    return next(_state_counter)


@dataclass(frozen=True)
class Axis:
    """One axis of a layout.

    Attributes:
        dim: the (negative) tensor dim carrying the axis, or None once contracted away.
        size: number of positions (None for a rep axis whose size is not known yet).
        rep: True for a repetition (spatial) axis, False for a node axis.
    """

    dim: int | None
    size: int | None
    rep: bool = False


@dataclass(frozen=True)
class Layout:
    """Node ids of a tensor's neurons and the tensor dims that carry them."""

    grid: torch.Tensor  #: node ids, one tensor axis per node axis (in the order of ``node_axes``)
    axes: tuple[Axis, ...]  #: all axes, grouped by dim, outer first within a dim
    state: int  #: node-state token: which annotation state of the nodes this tensor holds
    ndim: int | None = None  #: rank of the tensor, when known

    # ----------------------------------------------------------------- queries
    @property
    def node_axes(self) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if not a.rep)

    @property
    def dims(self) -> tuple[int, ...]:
        """The tensor dims carrying features, sorted, without duplicates."""
        return tuple(sorted({a.dim for a in self.axes if a.dim is not None}))

    def axes_on(self, dim: int) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if a.dim == dim)

    @property
    def has_reps(self) -> bool:
        return any(a.rep for a in self.axes)

    @property
    def nodes(self) -> torch.Tensor:
        """All node ids, flattened row-major over the node axes."""
        return self.grid.reshape(-1)

    def is_vector_on(self, dim: int) -> bool:
        """True if every axis lies on ``dim`` and there are no rep axes."""
        return all(a.dim == dim and not a.rep for a in self.axes)

    def size_on(self, dim: int) -> int | None:
        size = 1
        for a in self.axes_on(dim):
            if a.size is None:
                return None
            size *= a.size
        return size

    # ------------------------------------------------------------ transforms
    def with_dims(self, mapping: dict[int, int | None], ndim: int | None) -> "Layout":
        """Move axes to other dims (``mapping[old] = new``); dims not in ``mapping`` keep theirs."""
        axes = tuple(replace(a, dim=mapping.get(a.dim, a.dim)) if a.dim is not None else a for a in self.axes)
        return replace(self, axes=axes, ndim=ndim)

    def with_state(self, state: int) -> "Layout":
        return replace(self, state=state)

    def resolved_reps(self, dim: int, total: int) -> "Layout":
        """Fill in an unknown rep size on ``dim`` so that the dim has ``total`` positions."""
        unknown = [a for a in self.axes_on(dim) if a.size is None]
        if not unknown:
            return self
        known = 1
        for a in self.axes_on(dim):
            if a.size is not None:
                known *= a.size
        if len(unknown) > 1 or total % known:
            raise ValueError(f"cannot split {total} features over the layout {self.axes}")
        fill = total // known
        axes = tuple(replace(a, size=fill) if a.size is None and a.dim == dim else a for a in self.axes)
        return replace(self, axes=axes)

    def normalized(self) -> "Layout":
        """Merge consecutive node axes that share a dim; drop rep axes of size 1."""
        grid = self.grid
        axes: list[Axis] = []
        grid_shape: list[int] = []
        node_i = 0
        for a in self.axes:
            prev = axes[-1] if axes else None
            if a.rep:
                if a.size != 1:
                    axes.append(a)
                continue
            size = grid.shape[node_i]
            node_i += 1
            if prev is not None and not prev.rep and prev.dim == a.dim and a.dim is not None:
                axes[-1] = Axis(a.dim, prev.size * size)
                grid_shape[-1] *= size
            else:
                axes.append(a)
                grid_shape.append(size)
        return replace(self, grid=grid.reshape(grid_shape), axes=tuple(axes))
