"""Structural surgery through the parameter graph's own symmetry groups, and rebuilding.

* :func:`remove_units` - remove whole units (neurons, conv channels or conv groups, residual- or
  concat-tied channels, attention heads) of level-0 symmetry groups, in place. Every parameter is
  cut through its placement in the :class:`~netgraph.GraphSpec` (edge pieces: rows whose target
  node goes, columns whose source node goes; node pieces: entries whose node goes), so the one
  coupling analysis that chooses the units also removes them. Module attributes follow
  (``in_features``, ``out_channels``, ``groups``, norm sizes, head counts).
* :func:`remove_channels` - the same, addressed by a layer's output channel indices.
* :func:`resize_like` - reshape a fresh module to a pruned state dict's shapes (and saved attributes),
  so a saved pruned model is rebuilt from its constructor, its shapes and its attributes.
* :func:`dependency_graph` - Torch-Pruning's own analysis, kept for the baseline and cross-checks.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> model = mlp([4, 8, 3])
    >>> remove_channels(model, {"0": torch.tensor([0, 1, 2])})
    {'0': {'out_features': 5}, '2': {'in_features': 5}}
    >>> model[0].weight.shape, model[2].weight.shape
    (torch.Size([5, 4]), torch.Size([3, 5]))
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn as nn

import netgraph
from netgraph.spec import EdgePiece, GraphSpec, NodePiece
from netgraph.trace import ExampleInputs

from .groups import group_kind

__all__ = [
    "remove_units",
    "remove_channels",
    "resize_like",
    "dependency_graph",
    "HEAD_COUNT_ATTRS",
    "HEAD_WIDTH_ATTRS",
    "KV_HEAD_ATTRS",
]

#: integer attributes of an attention module holding its number of heads (updated when heads go)
HEAD_COUNT_ATTRS = ("num_attention_heads", "num_heads", "n_heads", "heads", "n_head")
#: integer attributes holding the number of key/value heads of grouped-query attention (updated when heads go)
KV_HEAD_ATTRS = ("num_key_value_heads",)
#: integer attributes holding heads x head dim (updated when heads go)
HEAD_WIDTH_ATTRS = ("all_head_size", "inner_dim", "inner_size")


def torch_pruning():
    """The ``torch_pruning`` module, or an ImportError saying how to install it (baseline route only)."""
    try:
        import torch_pruning as tp
    except ImportError as exc:
        raise ImportError("the Torch-Pruning baseline needs Torch-Pruning: pip install 'netgraph[prune]'") from exc
    return tp


def dependency_graph(model: nn.Module, example_inputs: ExampleInputs):
    """Torch-Pruning's ``DependencyGraph`` of ``model`` traced on ``example_inputs`` (baseline only)."""
    return torch_pruning().DependencyGraph().build_dependency(model, example_inputs=example_inputs)


def remove_units(
    model: nn.Module,
    removal: Mapping[int, torch.Tensor],
    spec: GraphSpec | None = None,
    example_inputs: ExampleInputs | None = None,
) -> dict[str, dict[str, Any]]:
    """Remove, in place, units ``removal[group_index]`` of level-0 symmetry groups of ``spec``.

    Args:
        model: the module ``spec`` describes (``netgraph.spec_of(model, example_inputs)`` by default).
        removal: ``{group index in spec.groups: [k] unit indices}``; every node of a removed unit goes.
        spec, example_inputs: the parameter-graph spec (traced when ``None``).
    Returns:
        ``{module name: {attribute: new value}}`` for every module attribute changed (widths, conv
        ``groups``, head counts); :func:`resize_like` re-applies it when rebuilding a saved model.
    Raises:
        ValueError: for a group that is not level 0, unit indices out of range, removing every unit,
            or a cut that splits a conv group or a parameter stored in a layout surgery cannot cut.
    """
    spec = spec if spec is not None else netgraph.spec_of(model, example_inputs)
    keep = torch.ones(spec.num_nodes, dtype=torch.bool)
    for index, units in removal.items():
        if not 0 <= int(index) < len(spec.groups) or spec.groups[int(index)].level != 0:
            raise ValueError(
                f"group {index} is not a level-0 symmetry group of this spec; give indices of prunable_groups(spec)"
            )
        group = spec.groups[int(index)]
        units = torch.as_tensor(units, dtype=torch.long).reshape(-1).unique()
        if len(units) == 0:
            continue
        if int(units.min()) < 0 or int(units.max()) >= group.units:
            raise ValueError(f"unit indices {units.tolist()} out of range for {group.name!r} ({group.units} units)")
        if len(units) >= group.units:
            raise ValueError(f"removing all {group.units} units of {group.name!r} would leave none; keep at least one")
        keep[group.nodes[units].reshape(-1)] = False
    if bool(keep.all()):
        return {}
    parts: dict[str, list[tuple[int, torch.Tensor]]] = {}
    conv_groups: dict[str, int] = {}
    state = model.state_dict()
    for piece in spec.edge_pieces:
        values, groups = _cut_edges(spec, piece, state[piece.param], keep)
        parts.setdefault(piece.param, []).append((piece.rows[0] if piece.rows else 0, values))
        if piece.groups > 1:
            conv_groups[piece.param.rsplit(".", 1)[0]] = groups
    for piece in spec.node_pieces:
        parts.setdefault(piece.param, []).append(
            (piece.rows[0] if piece.rows else 0, _cut_nodes(piece, state[piece.param], keep))
        )
    new = {}
    for name, pieces in parts.items():
        pieces.sort(key=lambda p: p[0])
        new[name] = pieces[0][1] if len(pieces) == 1 else torch.cat([p[1] for p in pieces])
    _assign(model, new, spec.aliases)
    changed = _sync_attributes(model, conv_groups)
    changed = _merge(changed, _sync_heads(model, spec, removal))
    return changed


def remove_channels(
    model: nn.Module,
    channels: Mapping[str, torch.Tensor],
    spec: GraphSpec | None = None,
    example_inputs: ExampleInputs | None = None,
) -> dict[str, dict[str, Any]]:
    """Remove, in place, output channels ``channels[layer name]`` of Conv / Linear layers, with every
    unit of the symmetry groups they belong to (see :func:`remove_units`)."""
    spec = spec if spec is not None else netgraph.spec_of(model, example_inputs)
    by_layer = {p.param.rsplit(".", 1)[0]: p for p in spec.edge_pieces if p.rows is None}
    removal: dict[int, list[int]] = {}
    for name, idxs in channels.items():
        piece = by_layer.get(name)
        if piece is None:
            raise ValueError(
                f"{name!r} is not a weight layer of this model; give names of Conv / Linear layers "
                f"such as {sorted(by_layer)[:4]}"
            )
        idxs = torch.as_tensor(idxs, dtype=torch.long).reshape(-1)
        if len(idxs) and (int(idxs.min()) < 0 or int(idxs.max()) >= piece.n_out):
            raise ValueError(f"channel indices of {name!r} must lie in [0, {piece.n_out}); got {idxs.tolist()}")
        nodes = piece.out_nodes[idxs]
        group = spec.sym_group[nodes, 0]
        if bool((group < 0).any()):
            raise ValueError(
                f"channels {idxs[group < 0].tolist()} of {name!r} cannot be removed: they are fixed "
                "(network outputs, or tied by conflicting couplings)"
            )
        for g, u in zip(group.tolist(), spec.sym_unit[nodes, 0].tolist()):
            removal.setdefault(g, []).append(u)
    return remove_units(model, {g: torch.tensor(u) for g, u in removal.items()}, spec)


def _cut_edges(spec: GraphSpec, piece: EdgePiece, tensor: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, int]:
    block = tensor if piece.rows is None else tensor[piece.rows[0] : piece.rows[1]]
    merged = _merged_dims(tuple(block.shape), tuple(piece.view))
    if merged is None:
        raise ValueError(
            f"'{piece.param}' is stored as {tuple(block.shape)} but read as {piece.view}; surgery "
            "cuts parameters whose stored dims merge consecutive dims of how they are read"
        )
    layer = piece.param.rsplit(".", 1)[0]
    read = block.reshape(piece.view).permute(piece.perm)  # [*out dims, *in dims, *kernel]
    out_shape, in_shape = _split_dims(tuple(read.shape), piece.n_out, piece.n_in, layer)
    kernel = tuple(read.shape[len(out_shape) + len(in_shape) :])
    canonical = read.reshape(piece.n_out, piece.n_in, *kernel)
    keep_out = keep[piece.out_nodes]
    keep_in = keep[piece.in_nodes].view(piece.groups, piece.n_in)
    keep_group = keep_in.any(1)
    if piece.groups > 1 and not bool((keep_in == keep_group[:, None]).all()):
        raise ValueError(f"the cut removes part of a conv group of {layer!r}; grouped convolutions lose whole groups")
    rows = keep_out.view(piece.groups, -1)
    if piece.groups > 1 and (bool(rows[~keep_group].any()) or len(rows[keep_group].sum(1).unique()) > 1):
        raise ValueError(f"the cut of {layer!r} keeps outputs of removed conv groups or unequal outputs per group")
    canonical = canonical[keep_out]
    new_out = _kept_sizes(keep_out, out_shape, layer)
    new_in = in_shape
    if piece.groups == 1:
        canonical = canonical[:, keep_in[0]]
        new_in = _kept_sizes(keep_in[0], in_shape, layer)
    inverse = sorted(range(len(piece.perm)), key=lambda i: piece.perm[i])
    view = canonical.reshape(*new_out, *new_in, *kernel).permute(inverse)
    shape = [math.prod(view.shape[d] for d in dims) for dims in merged]
    return view.reshape(shape).contiguous(), int(keep_group.sum())


def _split_dims(shape: tuple[int, ...], n_out: int, n_in: int, layer: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The leading dims of a read parameter whose product is ``n_out``, then those whose product is ``n_in``
    (e.g. a Linear reading a flattened feature map, read as ``[out, channels, H, W]`` with
    ``n_in = channels``: ``((out,), (channels,))``, the rest is kernel)."""
    dims, d = [], 0
    for size in (n_out, n_in):
        part, product = [], 1
        while d < len(shape) and (not part or product < size):
            product *= shape[d]
            part.append(shape[d])
            d += 1
        if product != size:
            raise ValueError(
                f"the parameter of {layer!r} is read as {shape}, which does not start with {n_out} x {n_in}"
            )
        dims.append(tuple(part))
    return dims[0], dims[1]


def _kept_sizes(keep: torch.Tensor, shape: tuple[int, ...], layer: str) -> tuple[int, ...]:
    """Sizes of ``shape`` after keeping ``keep`` (flat over ``shape``), which must be a product of one mask per dim."""
    if len(shape) == 1:
        return (int(keep.sum()),)
    grid = keep.view(shape)
    parts = [grid.movedim(d, 0).reshape(shape[d], -1).any(1) for d in range(len(shape))]
    product = parts[0]
    for part in parts[1:]:
        product = product[..., None] & part
    if not torch.equal(product.reshape(-1), keep):
        raise ValueError(
            f"the cut of {layer!r} removes a non-rectangular part of its {shape} block of units; remove whole units"
        )
    return tuple(int(p.sum()) for p in parts)


def _merged_dims(shape: tuple[int, ...], view: tuple[int, ...]) -> list[list[int]] | None:
    """For each dim of ``shape``, the consecutive dims of ``view`` it merges (``None`` if it is no merge),
    e.g. a Linear weight ``(out, C * H * W)`` read as ``(out, C, H, W)``: ``[[0], [1, 2, 3]]``."""
    merged, d = [], 0
    for size in shape:
        dims, product = [], 1
        while d < len(view) and (product < size or (not dims and view[d] == size)):
            product *= view[d]
            dims.append(d)
            d += 1
        if product != size or (not dims and size != 1):
            return None
        merged.append(dims)
    if any(v != 1 for v in view[d:]) or not merged:
        return None
    merged[-1].extend(range(d, len(view)))
    return merged


def _cut_nodes(piece: NodePiece, tensor: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    values = tensor if piece.rows is None else tensor[piece.rows[0] : piece.rows[1]]
    return values[keep[piece.nodes]].contiguous()


def _assign(model: nn.Module, new: Mapping[str, torch.Tensor], aliases: Mapping[str, str]) -> None:
    stored = {}
    for name, tensor in new.items():
        owner, attr = _owner(model, name)
        old = getattr(owner, attr)
        if isinstance(old, nn.Parameter):
            value = nn.Parameter(tensor.detach().clone(), requires_grad=old.requires_grad)
            setattr(owner, attr, value)
        else:
            value = tensor.detach().clone()
            owner._buffers[attr] = value
        stored[name] = value
    for alias, target in aliases.items():
        if target in stored:
            owner, attr = _owner(model, alias)
            setattr(owner, attr, stored[target])


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, attr = name.rpartition(".")
    return (model.get_submodule(path) if path else model), attr


def _sync_attributes(model: nn.Module, conv_groups: Mapping[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Set the size attributes of Linear / Conv / norm / Embedding modules from their (new) parameters."""
    conv_groups = conv_groups or {}
    changed: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        update: dict[str, Any] = {}
        if isinstance(module, nn.modules.conv._ConvNd):
            groups = conv_groups.get(name, module.groups)
            out_c, per_group = module.weight.shape[:2]
            transposed = module.transposed
            update = {
                "groups": groups,
                "out_channels": per_group * groups if transposed else out_c,
                "in_channels": out_c if transposed else per_group * groups,
            }
        elif isinstance(module, nn.Linear):
            update = {"out_features": module.weight.shape[0], "in_features": module.weight.shape[1]}
        elif isinstance(module, nn.modules.batchnorm._NormBase):
            ref = module.running_mean if module.running_mean is not None else module.weight
            if ref is not None:
                update = {"num_features": ref.shape[0]}
        elif isinstance(module, nn.LayerNorm) and module.weight is not None:
            update = {"normalized_shape": tuple(module.weight.shape)}
        elif isinstance(module, nn.GroupNorm) and module.weight is not None:
            update = {"num_channels": module.weight.shape[0]}
        elif isinstance(module, nn.Embedding):
            update = {"num_embeddings": module.weight.shape[0], "embedding_dim": module.weight.shape[1]}
        for attr, value in update.items():
            if getattr(module, attr) != value:
                setattr(module, attr, value)
                changed.setdefault(name, {})[attr] = list(value) if isinstance(value, tuple) else value
    return changed


def _sync_heads(model: nn.Module, spec: GraphSpec, removal: Mapping[int, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """Update head counts (``num_attention_heads``, ``num_key_value_heads``, ``all_head_size``...) of attention
    modules whose heads went; a unit of grouped-query attention is one key/value head with its query heads."""
    changed: dict[str, dict[str, Any]] = {}
    for index, units in removal.items():
        group = spec.groups[int(index)]
        gone = len(torch.as_tensor(units).reshape(-1).unique())
        layers = {
            p.param.rsplit(".", 1)[0] for p in spec.edge_pieces if bool(torch.isin(p.out_nodes, group.nodes).any())
        }
        if gone == 0 or not layers or group_kind(spec, group) != "heads":
            continue
        parents = {name.rpartition(".")[0] for name in layers}
        for parent in parents:
            module = model.get_submodule(parent) if parent else model
            for attr in (*HEAD_COUNT_ATTRS, *KV_HEAD_ATTRS):
                value = getattr(module, attr, None)
                if isinstance(value, int) and not isinstance(value, bool) and value % group.units == 0:
                    new = value // group.units * (group.units - gone)  # a unit is a key/value head's query group
                    setattr(module, attr, new)
                    changed.setdefault(parent, {})[attr] = new
            for attr in HEAD_WIDTH_ATTRS:
                value = getattr(module, attr, None)
                if isinstance(value, int) and not isinstance(value, bool) and value % group.units == 0:
                    new = value // group.units * (group.units - gone)
                    setattr(module, attr, new)
                    changed.setdefault(parent, {})[attr] = new
    return changed


def _merge(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for name, attrs in b.items():
        a.setdefault(name, {}).update(attrs)
    return a


def resize_like(
    model: nn.Module, shapes: Mapping[str, tuple[int, ...]], attributes: Mapping[str, Mapping[str, Any]] | None = None
) -> nn.Module:
    """Reshape, in place, the parameters and buffers of a freshly built ``model`` to the ``shapes`` of a
    pruned state dict, then set module ``attributes`` (as :func:`remove_units` returns them; conv
    ``groups``, head counts) so that ``load_state_dict`` fits and the forward pass runs."""
    current = model.state_dict()
    new = {
        k: torch.zeros(tuple(v), dtype=current[k].dtype, device=current[k].device)
        for k, v in shapes.items()
        if k in current and tuple(current[k].shape) != tuple(v)
    }
    _assign(model, new, {})
    groups = {name: attrs["groups"] for name, attrs in (attributes or {}).items() if "groups" in attrs}
    _sync_attributes(model, groups)
    for name, attrs in (attributes or {}).items():
        module = model.get_submodule(name) if name else model
        for attr, value in attrs.items():
            setattr(module, attr, tuple(value) if isinstance(value, list) else value)
    current = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    wrong = sorted(k for k, shape in shapes.items() if current.get(k) != tuple(shape))
    if wrong:
        raise ValueError(
            f"cannot reshape the model to the saved shapes of {wrong[:3]}: the saved model is not of this architecture"
        )
    return model
