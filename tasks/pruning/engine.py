"""Iterative structural pruning to a FLOPs target, by three routes.

* ``"magnitude"``: rank the units of every prunable group (:mod:`.groups`) by the L1 (or L2) norm of
  all weights attached to them, on the parameter graph; remove the weakest.
* ``"metanet"``: first replace the weights by a meta-pruning metanet's edit of them (one forward
  pass), then prune like ``"magnitude"``: the metanet was trained to make networks easy to prune.
* ``"torch_pruning"``: Torch-Pruning's own pruner with group-norm importance (the baseline).

Every route removes the same share of every group per step (``step`` of its original units),
re-ranking after each step, until ``FLOPs_before / FLOPs_after >= speedup``; so at equal targets
every route ends with the same widths and the comparison is about *which* channels go.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> model = mlp([16, 32, 32, 4])
    >>> x = torch.zeros(1, 16)
    >>> pruned = prune_to_speedup(model, x, speedup=2.0)
    >>> pruned[0].out_features < 32, measure(model, x)[0] / measure(pruned, x)[0] >= 2.0
    (True, True)
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
import torch.nn as nn

import netgraph
from netgraph.trace import ExampleInputs
from netgraph.types import NodeType

from .groups import NORMS, group_importance, prunable_groups
from .cost import measure
from .surgery import HEAD_COUNT_ATTRS, HEAD_WIDTH_ATTRS, remove_units, torch_pruning

__all__ = [
    "prune_to_speedup",
    "spec_for",
    "torch_pruning_to_speedup",
    "apply_metanet",
    "output_layers",
    "check_speedup",
    "METHODS",
]

METHODS = ("magnitude", "metanet", "torch_pruning")


def check_speedup(speedup: float) -> float:
    """``speedup`` as a float, or a clear error when it cannot be a pruning target."""
    if not isinstance(speedup, (int, float)) or not math.isfinite(speedup) or speedup < 1:
        raise ValueError(f"speedup must be a number >= 1 (FLOPs before / FLOPs after), got {speedup!r}")
    return float(speedup)


def _step_widths(original: int, step: int, fraction: float) -> int:
    return max(1, original - round(original * min(1.0, step * fraction)))


def spec_for(model: nn.Module, example_inputs: ExampleInputs) -> "netgraph.GraphSpec":
    """The parameter-graph spec of ``model``: symbolic tracing for a plain tensor input (``torch.export``
    when that fails), ``torch.export`` on ``example_inputs`` for dict / tuple inputs (e.g. Hugging Face)."""
    if isinstance(example_inputs, torch.Tensor):
        try:
            return netgraph.spec_of(model)
        except Exception:  # noqa: BLE001, S110 - fx cannot trace every forward; torch.export on the real input can
            pass
    return netgraph.spec_of(model, example_inputs)


def prune_to_speedup(
    model: nn.Module,
    example_inputs: ExampleInputs,
    speedup: float,
    norm: str = "l1",
    step: float = 0.05,
    max_steps: int | None = None,
    structures: Sequence[str] = ("channels", "heads"),
) -> nn.Module:
    """A pruned copy of ``model`` with ``FLOPs(model) / FLOPs(copy) >= speedup``, by graph magnitude.

    Args:
        model: any network :func:`netgraph.from_module` converts.
        example_inputs: one input batch (tracing and FLOP counting): a tensor, a tuple or a dict of
            keyword inputs (Hugging Face models).
        speedup: FLOPs target ratio (``>= 1``).
        norm: ``"l1"`` or ``"l2"`` group norm.
        step: share of every group's original units removed per step.
        max_steps: stop after this many steps even if the target is not reached (default: until
            every group is down to one unit).
        structures: the kinds of groups pruned (:data:`~netgraph.tasks.pruning.KINDS`): ``channels``
            (neurons, conv channels / groups, tied channels), ``heads``, ``normalized`` (channels under a
            LayerNorm / GroupNorm; off by default: not exact).
    Raises:
        ValueError: when the target cannot be reached by pruning the groups.
    """
    speedup = check_speedup(speedup)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    pruned = copy.deepcopy(model).eval()
    base_flops = measure(pruned, example_inputs)[0]
    original = {g.name: g.units for g in prunable_groups(spec_for(pruned, example_inputs), structures)}
    if not original:
        raise ValueError(
            f"{type(model).__name__} has no prunable group of kinds {list(structures)} (no hidden "
            "Conv / Linear units or attention heads outside fixed outputs)"
        )
    limit = max_steps or math.ceil(1 / step)
    for k in range(1, limit + 1):
        if base_flops / measure(pruned, example_inputs)[0] >= speedup:
            return pruned
        spec = spec_for(pruned, example_inputs)
        groups = [g for g in prunable_groups(spec, structures) if g.name in original]
        scores = group_importance(netgraph.from_module(pruned, spec=spec), groups, norm)
        removal = {}
        for group, score in zip(groups, scores):
            drop = group.units - _step_widths(original[group.name], k, step)
            if drop > 0:
                removal[group.index] = score.argsort()[:drop].cpu()
        if removal:
            remove_units(pruned, removal, spec)
    reached = base_flops / measure(pruned, example_inputs)[0]
    if reached < speedup:
        raise ValueError(
            f"cannot reach speedup={speedup}: pruning every group to one unit gives {reached:.2f}x; "
            "ask for a smaller speedup"
        )
    return pruned


def output_layers(model: nn.Module, example_inputs: ExampleInputs | None = None) -> list[nn.Module]:
    """The Conv / Linear layers producing the network's outputs (never pruned)."""
    spec = netgraph.spec_of(model) if example_inputs is None else spec_for(model, example_inputs)
    modules = dict(model.named_modules())
    out = []
    for piece in spec.edge_pieces:
        if bool((spec.node_type[piece.out_nodes] == NodeType.OUTPUT).any()):
            out.append(modules[piece.param.rsplit(".", 1)[0]])
    return out


def torch_pruning_to_speedup(
    model: nn.Module,
    example_inputs: ExampleInputs,
    speedup: float,
    step: float = 0.05,
    p: int = 2,
    heads_and_neurons: bool = False,
) -> nn.Module:
    """A pruned copy of ``model`` by Torch-Pruning's ``MetaPruner`` with group-norm importance
    (``GroupMagnitudeImportance(p)``), ``step`` of every layer's channels per step, to ``speedup``.

    With ``heads_and_neurons`` (transformers), Torch-Pruning removes whole attention heads
    (``prune_num_heads``, head dims kept) and MLP neurons only: the layers writing the residual
    stream are ignored, and head counts are updated after every step. Which layers are q / k / v
    (and how many heads) is read from the parameter graph; the choice and the surgery are Torch-Pruning's.
    """
    tp = torch_pruning()
    speedup = check_speedup(speedup)
    pruned = copy.deepcopy(model).eval()
    base_flops = measure(pruned, example_inputs)[0]
    steps = math.ceil(1 / step)
    ratio = min(1.0, steps * step) * (1 - 1e-6)
    options: dict = {"ignored_layers": output_layers(pruned, example_inputs)}
    heads: dict[nn.Module, tuple[nn.Module, int]] = {}
    if heads_and_neurons:
        spec = spec_for(pruned, example_inputs)
        rooted, num_heads = set(), {}
        for group in prunable_groups(spec, ("heads", "channels")):
            layers = {
                pc.param.rsplit(".", 1)[0]
                for pc in spec.edge_pieces
                if pc.rows is None and bool(torch.isin(pc.out_nodes, group.nodes).any())
            }
            rooted |= layers
            if group.kind == "heads":
                for name in layers:
                    layer = pruned.get_submodule(name)
                    num_heads[layer] = group.units
                    heads[layer] = (pruned.get_submodule(name.rpartition(".")[0]), layer.out_features // group.units)
        options = {
            "ignored_layers": [
                m
                for n, m in pruned.named_modules()
                if n not in rooted and isinstance(m, (nn.Linear, nn.modules.conv._ConvNd, nn.Embedding))
            ],
            "num_heads": num_heads,
            "prune_num_heads": True,
            "prune_head_dims": False,
            "head_pruning_ratio": ratio,
        }
    if heads_and_neurons:
        # one-shot at growing ratios: Torch-Pruning's iterative head schedule loses track of head counts
        reference = pruned
        names = {m: n for n, m in reference.named_modules()}
        for k in range(1, steps + 1):
            candidate = copy.deepcopy(reference).eval()
            layers = dict(candidate.named_modules())
            opts = {
                **options,
                "ignored_layers": [layers[names[m]] for m in options["ignored_layers"]],
                "num_heads": {layers[names[m]]: v for m, v in options["num_heads"].items()},
                "head_pruning_ratio": min(1.0, k * step) * (1 - 1e-6),
            }
            tp.pruner.MetaPruner(
                candidate,
                example_inputs,
                importance=tp.importance.GroupMagnitudeImportance(p=p),
                pruning_ratio=opts["head_pruning_ratio"],
                iterative_steps=1,
                **opts,
            ).step()
            for layer, (parent, head_dim) in heads.items():
                _set_heads(layers[names[parent]], layers[names[layer]].out_features, head_dim)
            pruned = candidate
            if base_flops / measure(pruned, example_inputs)[0] >= speedup:
                break
    else:
        pruner = tp.pruner.MetaPruner(
            pruned,
            example_inputs,
            importance=tp.importance.GroupMagnitudeImportance(p=p),
            pruning_ratio=ratio,
            iterative_steps=steps,
            **options,
        )
        for _ in range(steps):
            if base_flops / measure(pruned, example_inputs)[0] >= speedup:
                break
            pruner.step()
    reached = base_flops / measure(pruned, example_inputs)[0]
    if reached < speedup:
        raise ValueError(f"Torch-Pruning cannot reach speedup={speedup} (got {reached:.2f}x); ask for less")
    return pruned


def _set_heads(attention: nn.Module, width: int, head_dim: int) -> None:
    for attr in HEAD_COUNT_ATTRS:
        if isinstance(getattr(attention, attr, None), int):
            setattr(attention, attr, width // head_dim)
    for attr in HEAD_WIDTH_ATTRS:
        if isinstance(getattr(attention, attr, None), int):
            setattr(attention, attr, width)


@torch.no_grad()
def apply_metanet(
    model: nn.Module,
    metanet: nn.Module,
    kernel_shape: tuple[int, ...] = (),
    example_inputs: ExampleInputs | None = None,
) -> nn.Module:
    """A copy of ``model`` carrying ``metanet.edit`` of its weights (one forward pass of the metanet)."""
    if not getattr(metanet, "can_edit", False):
        raise ValueError(
            f"the metanet ({type(metanet).__name__}) has no edit head; meta-pruning needs a metanet "
            "built with edit=True (see train_pruning_metanet)"
        )
    device = next(metanet.parameters()).device
    edited_model = copy.deepcopy(model)
    spec = netgraph.spec_of(edited_model) if example_inputs is None else spec_for(edited_model, example_inputs)
    graph = netgraph.from_module(edited_model, spec=spec.with_kernel_shape(kernel_shape)).to(device)
    was_training = metanet.training
    metanet.eval()
    edited = metanet.edit(graph)
    metanet.train(was_training)
    state = netgraph.to_state_dict(edited)
    edited_model.load_state_dict({k: v.to(next(model.parameters()).device) for k, v in state.items()})
    return edited_model
