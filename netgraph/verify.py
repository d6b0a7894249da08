"""Self-check of a conversion: a random permutation of the graph must not change the module's function.

A parameter graph is wrong when it wires a weight to the wrong neurons or claims a symmetry the
network does not have; both show up as a permutation of the symmetry groups that changes the
outputs of the rebuilt module. :func:`check_conversion` permutes every group at random (every
group moves), writes the permuted weights back, runs the module on the example inputs (or inputs
synthesised from its first layer) and compares. On a mismatch it permutes one group at a time to
name the groups, hence the operations, at fault.

Example:
    >>> import torch.nn as nn, netgraph
    >>> model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> netgraph.check_conversion(model, netgraph.spec_of(model)) < 1e-5
    True
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
from torch.func import functional_call

from .errors import ConversionCheckError, NetgraphError
from .graph import make_graph
from .inputs import split_inputs
from .spec import GraphSpec
from .symmetry import _node_map, permute
from .trace.synthesize import call_kwargs, describe_inputs, synthesize_inputs

__all__ = ["check_conversion", "non_finite_parameters", "NonFiniteWeightsError"]


class NonFiniteWeightsError(NetgraphError, ValueError):
    """The weights hold NaN or Inf, so outputs cannot be compared (the weights are at fault, not the converter)."""


def non_finite_parameters(model: nn.Module) -> str:
    """The floating parameters and buffers of ``model`` holding NaN or Inf, e.g. ``"'0.weight' has 1 NaN
    and 0 Inf of 32 values"`` (up to three named), or ``""`` when every value is finite.

    >>> model = nn.Linear(2, 2)
    >>> non_finite_parameters(model)
    ''
    >>> _ = model.bias.data.fill_(float("inf"))
    >>> non_finite_parameters(model)
    "'bias' has 0 NaN and 2 Inf of 2 values"
    """
    bad = [
        f"'{k}' has {int(v.isnan().sum())} NaN and {int(v.isinf().sum())} Inf of {v.numel()} values"
        for k, v in model.state_dict().items()
        if v.is_floating_point() and not v.is_meta and not bool(v.isfinite().all())
    ]
    return "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")


def check_conversion(
    model: nn.Module,
    spec: GraphSpec,
    example_inputs: Any = None,
    *,
    generator: torch.Generator | None = None,
    rtol: float | None = None,
) -> float:
    """Check that ``spec`` is a correct graph of ``model``; returns the largest output change seen.

    Args:
        model: the module (its current weights are used).
        spec: its traced spec (e.g. ``netgraph.spec_of(model)``).
        example_inputs: a tensor, a tuple of positional inputs or a dict of keyword inputs; when None,
            inputs are synthesised from the first layer.
        generator: randomness of the permutation (and of synthesised inputs); default a fixed seed, so the
            global RNG is never touched.
        rtol: allowed change relative to the largest output magnitude (default ``1000 * eps`` of the
            model's dtype, i.e. ~1e-4 in float32).

    Raises:
        ConversionCheckError: a permutation changed the outputs; the message names the groups at fault.
        ValueError: no inputs were given and none could be synthesised.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    if example_inputs is None:
        example_inputs = synthesize_inputs(model, generator)
        if example_inputs is None:
            raise ValueError(f"check_conversion needs inputs for {type(model).__name__}: {describe_inputs(model)}")
    args, kwargs = split_inputs(example_inputs)
    kwargs = call_kwargs(model, kwargs)
    state = model.state_dict()
    if spec.num_groups == 0:
        return 0.0
    bad = non_finite_parameters(model)
    if bad:
        raise NonFiniteWeightsError(
            f"check_conversion cannot check {type(model).__name__}: {bad}; the check compares the module's outputs, "
            "which are not finite. Fix or re-initialise those weights first"
        )
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            reference = _outputs(model, state, args, kwargs)
            scale = max((float(t.abs().max()) for t in reference if t.numel()), default=0.0)
            eps = torch.finfo(spec.dtype).eps
            tolerance = (rtol if rtol is not None else 1000 * eps) * (1.0 + scale)
            x, values, aux = spec.gather_values(state)
            graph = make_graph(spec, x, None, aux, edge_values=values)
            units = _moving_units(spec, generator, graph.x.device)
            change = _change(model, spec, graph, units, reference, args, kwargs)
            if change <= tolerance:
                return change
            first = _first_changed_module(model, spec, graph, units, args, kwargs, tolerance)
            suspects = []
            for index, group in enumerate(spec.groups):  # one group at a time: which ones are wrong
                single = torch.arange(units.shape[-1], device=units.device).repeat(1, spec.num_groups, 1)
                single[0, index] = units[0, index]
                single_change = _change(model, spec, graph, single, reference, args, kwargs)
                if single_change > tolerance:
                    suspects.append(
                        f"'{group.name}' (level {group.level}, {group.units} units, max |dy| {single_change:.3g})"
                    )
    finally:
        for module, mode in modes.items():
            module.training = mode
    listed = "; ".join(suspects[:5]) + (f"; and {len(suspects) - 5} more" if len(suspects) > 5 else "")
    raise ConversionCheckError(
        f"{type(model).__name__}: the converted graph is wrong: permuting its symmetry groups changes the "
        f"module's outputs (max |dy| {change:.3g}, tolerance {tolerance:.3g}). "
        f"{f'The first module whose outputs change (beyond a permutation) is {first}. ' if first else ''}"
        f"{'Groups whose permutation alone changes the outputs: ' + listed if suspects else 'No single group is at fault; groups interact'}"
        ". The operations named there are converted wrongly (a weight wired to the wrong neurons or a symmetry "
        "the network does not have); please report the architecture. from_module(..., verify=False) skips this check."
    )


def _moving_units(spec: GraphSpec, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``[1, G, U]`` a random permutation of every group's units in which every group moves
    (a group drawn as the identity is rotated by one unit instead)."""
    units = spec.group_units
    width = int(units.max())
    keys = torch.rand(1, spec.num_groups, width, generator=generator)
    keys = keys.masked_fill(torch.arange(width) >= units.unsqueeze(1), 2.0)
    unit_map = keys.argsort(-1).argsort(-1)
    identity = torch.arange(width).expand_as(unit_map)
    still = (unit_map == identity).all(-1, keepdim=True)
    rotated = torch.where(identity < units.view(1, -1, 1), (identity + 1) % units.view(1, -1, 1), identity)
    return torch.where(still, rotated, unit_map).to(device)


def _change(
    model: nn.Module,
    spec: GraphSpec,
    graph,
    unit_map: torch.Tensor,
    reference: list[torch.Tensor],
    args: tuple,
    kwargs: dict,
) -> float:
    moved = permute(graph, _node_map(spec, unit_map)[0], check=False)
    state = spec.scatter_values(moved.x, moved.edge_values, moved.aux)
    outputs = _outputs(model, state, args, kwargs)
    return max(
        (float((a.double() - b.double()).abs().max()) for a, b in zip(outputs, reference) if a.numel()), default=0.0
    )


def _first_changed_module(
    model: nn.Module, spec: GraphSpec, graph, unit_map: torch.Tensor, args: tuple, kwargs: dict, tolerance: float
) -> str | None:
    """The first submodule (in call order) whose outputs are not a permutation of the original ones.

    A correct graph permutes every intermediate activation, so the sorted values of each module's
    output are unchanged; the first module where they change holds the wrongly converted operation.
    """
    moved = permute(graph, _node_map(spec, unit_map)[0], check=False)
    runs = []
    for state in (model.state_dict(), spec.scatter_values(moved.x, moved.edge_values, moved.aux)):
        seen: list[tuple[str, list[torch.Tensor]]] = []
        hooks = [
            m.register_forward_hook(
                lambda mod, inp, out, name=name: seen.append(
                    (name, [t.detach().reshape(-1).sort().values for t in _leaves(out) if torch.is_floating_point(t)])
                )
            )
            for name, m in model.named_modules()
            if name
        ]
        try:
            _outputs(model, state, args, kwargs)
        finally:
            for h in hooks:
                h.remove()
        runs.append(seen)
    for (name, before), (_, after) in zip(*runs):
        if any(
            a.shape != b.shape or (a.numel() and float((a.double() - b.double()).abs().max()) > tolerance)
            for a, b in zip(before, after)
        ):
            return f"'{name}' ({type(model.get_submodule(name)).__name__})"
    return None


def _outputs(model: nn.Module, state: Mapping[str, torch.Tensor], args: tuple, kwargs: dict) -> list[torch.Tensor]:
    out = functional_call(model, dict(state), args, kwargs, tie_weights=False, strict=False)
    return [t for t in _leaves(out) if torch.is_floating_point(t)]


def _leaves(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in _leaves(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _leaves(v)]
    if hasattr(obj, "to_tuple"):  # transformers ModelOutput
        return _leaves(obj.to_tuple())
    return []
