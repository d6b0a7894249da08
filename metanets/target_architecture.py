"""``TargetArchitecture``: the architecture a generator was trained for, recorded so that a target
given later can be checked against it, with an error that says exactly what differs.

A record is JSON (it goes into a generator's ``config.json``) built from the traced ``GraphSpec``:

* ``params``: every state-dict key and its shape, in the module's order;
* ``spaces``: the node ranges of the parameter graph (inputs, each layer's outputs, ...) with
  their size, node type and activation;
* ``structure``: a hash of the graph's wiring (edges, edge / node kinds, layers, norms);
* ``layers``: the weight layers (the dense view): per layer its name, ``n_out``, ``row`` (the
  ``n_in x kernel`` weights of one output) and ``node_values`` (learnable values on each output
  neuron: bias, norm weight / bias);
* ``learnable``: the number of learnable values (parameter slots of the graph: weights, biases,
  norm affine parameters; buffers such as running statistics excluded);
* ``factory`` (optional): ``{"factory", "kwargs"}`` in :mod:`netgraph.architectures`, so the
  architecture can be rebuilt without the user's code (zoo architectures record it).

Example:
    >>> from netgraph.architectures import mlp
    >>> record = TargetArchitecture.of(mlp([4, 16, 3]))
    >>> record.learnable, record.check(mlp([4, 16, 3])).num_params
    (131, 131)
    >>> print(record.differences(mlp([4, 32, 3]))[0])
    reshaped parameters: '0.weight' is (32, 4) here, (16, 4) expected; '0.bias' is (32,) here, (16,) expected; '2.weight' is (3, 32) here, (3, 16) expected
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.nn as nn

import netgraph
from netgraph.convert import ArchitectureMismatchError  # one error for "another architecture" (to_module's too)
from netgraph.spec import GraphSpec
from netgraph.types import Activation, NodeType

from netgraph.masks import spec_parameter_masks

__all__ = ["TargetArchitecture", "ArchitectureMismatchError", "as_target_architecture", "TARGET_CODERS"]

_STRUCTURE_TENSORS = ("edge_index", "edge_type", "node_type", "layer", "node_act", "node_norm", "pos_index")
_SHOWN = 6  # differences of one kind listed before "... and N more"


@dataclass(frozen=True)
class TargetArchitecture:
    """A JSON-able description of one architecture (see the module docstring)."""

    params: dict[str, list[int]]
    spaces: list[dict[str, Any]]
    structure: str
    learnable: int
    layers: list[dict[str, Any]]
    factory: dict[str, Any] | None = field(default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(
        cls, target: nn.Module | GraphSpec | "TargetArchitecture", factory: Mapping[str, Any] | None = None
    ) -> "TargetArchitecture":
        """The record of a module or ``GraphSpec`` (``factory``: how to rebuild it, optional)."""
        if isinstance(target, TargetArchitecture):
            return target
        spec = _spec(target)
        spaces = [
            {
                "name": s.name,
                "size": s.size,
                "type": NodeType(s.node_type).name.lower(),
                "activation": _activations(spec, s.start, s.size),
            }
            for s in spec.spaces
        ]
        digest = hashlib.sha256()
        for name in _STRUCTURE_TENSORS:
            digest.update(getattr(spec, name).to(torch.int64).contiguous().numpy().tobytes())
        node_mask, edge_mask = spec_parameter_masks(spec)
        layers = [
            {
                "name": layer.name,
                "n_out": layer.weight.n_out,
                "row": layer.weight.n_in * math.prod(layer.weight.kernel),
                "node_values": int(node_mask[layer.weight.out_nodes].any(0).sum()),
            }
            for layer in spec.layers
        ]
        return cls(
            {k: list(spec.shapes[k]) for k in spec.keys},
            spaces,
            digest.hexdigest()[:16],
            int(node_mask.sum() + edge_mask.sum()),
            layers,
            dict(factory) if factory is not None else None,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TargetArchitecture":
        missing = sorted({"params", "spaces", "structure", "learnable", "layers"} - set(data))
        if missing:
            raise ValueError(
                f"a target-architecture record needs the keys params, spaces, structure, learnable, "
                f"layers; {missing} missing (make one with TargetArchitecture.of(module).to_dict())"
            )
        return cls(
            {k: list(v) for k, v in data["params"].items()},
            [dict(s) for s in data["spaces"]],
            str(data["structure"]),
            int(data["learnable"]),
            [dict(layer) for layer in data["layers"]],
            dict(data["factory"]) if data.get("factory") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "spaces": self.spaces,
            "structure": self.structure,
            "learnable": self.learnable,
            "layers": self.layers,
            "factory": self.factory,
        }

    def build(self) -> nn.Module:
        """A fresh module of this architecture (needs ``factory``)."""
        if self.factory is None:
            raise ValueError(
                "this target architecture was recorded without a factory, so it cannot be rebuilt; pass "
                "the target module yourself"
            )
        from netgraph.datasets import build_architecture

        return build_architecture(self.factory)

    @property
    def num_values(self) -> int:
        """Number of values in one state dict (parameters and buffers, tied weights counted twice)."""
        return sum(math.prod(shape) for shape in self.params.values())

    # ------------------------------------------------------------------ checking
    def differences(self, target: nn.Module | GraphSpec | "TargetArchitecture") -> list[str]:
        """What differs between ``target`` and this record (empty when it matches), most telling first."""
        other = TargetArchitecture.of(target)
        out = []
        missing = [k for k in self.params if k not in other.params]
        extra = [k for k in other.params if k not in self.params]
        reshaped = [
            f"'{k}' is {tuple(other.params[k])} here, {tuple(v)} expected"
            for k, v in self.params.items()
            if k in other.params and list(other.params[k]) != list(v)
        ]
        for label, items in (
            ("missing parameters", [f"'{k}' {tuple(self.params[k])}" for k in missing]),
            ("extra parameters", [f"'{k}' {tuple(other.params[k])}" for k in extra]),
            ("reshaped parameters", reshaped),
        ):
            if items:
                out.append(f"{label}: {_listing(items)}")
        if out:
            return out
        mine, theirs = _space_table(self.spaces), _space_table(other.spaces)
        changed = [
            f"{name}: {_describe(theirs.get(name))} here, {_describe(space)} expected"
            for name, space in mine.items()
            if theirs.get(name) != space
        ]
        changed += [
            f"{name}: {_describe(space)} here, absent in the expected architecture"
            for name, space in theirs.items()
            if name not in mine
        ]
        if changed:
            out.append(f"layers differ: {_listing(changed)}")
        elif other.structure != self.structure:
            out.append(
                "same parameters and layers, but the graph is wired differently (residual connections, the "
                "order of operations or which outputs feed which layer)"
            )
        return out

    def check(self, target: nn.Module | GraphSpec, what: str = "this generator") -> GraphSpec:
        """The ``GraphSpec`` of ``target``; raises :class:`ArchitectureMismatchError` naming the differences."""
        spec = _spec(target)
        problems = self.differences(spec)
        if problems:
            rebuild = (
                f" The expected architecture is netgraph.architectures.{self.factory['factory']}"
                f"(**{self.factory.get('kwargs', {})})."
                if self.factory
                else ""
            )
            raise ArchitectureMismatchError(
                f"the target does not match the architecture {what} was made for: "
                + "; ".join(problems)
                + f".{rebuild} Pass a module of that architecture (or a graph hypernetwork, which takes any)."
            )
        return spec


def _spec(target: nn.Module | GraphSpec) -> GraphSpec:
    if isinstance(target, GraphSpec):
        return target
    if isinstance(target, nn.Module):
        return netgraph.spec_of(target)
    raise TypeError(f"expected the target as an nn.Module or a GraphSpec, got {type(target).__name__}")


def _activations(spec: GraphSpec, start: int, size: int) -> list[str]:
    codes = spec.node_act[start : start + size].unique().tolist()
    return [Activation(c).name.lower() for c in codes]


def _space_table(spaces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in spaces}


def _describe(space: dict[str, Any] | None) -> str:
    if space is None:
        return "absent"
    return f"{space['size']} {space['type']} nodes, activation {'/'.join(space['activation'])}"


def _listing(items: list[str]) -> str:
    shown = "; ".join(items[:_SHOWN])
    return shown + (f"; ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def as_target_architecture(target: nn.Module | TargetArchitecture | Mapping[str, Any]) -> TargetArchitecture:
    """The record of a generator's ``target`` argument: a module, a record, or a record's dict (as
    read from ``config.json``)."""
    if isinstance(target, TargetArchitecture):
        return target
    if isinstance(target, Mapping):
        return TargetArchitecture.from_dict(target)
    if isinstance(target, nn.Module):
        return TargetArchitecture.of(target)
    raise TypeError(
        f"target must be an nn.Module, a TargetArchitecture or its dict, got {type(target).__name__} "
        "(for a GraphSpec pass TargetArchitecture.of(spec))"
    )


#: ``PyTorchModelHubMixin`` coders: a target module given to a generator is written to ``config.json``
#: as its record (the record itself, a dataclass, is written by the mixin as a dict)
TARGET_CODERS = {nn.Module: (lambda module: TargetArchitecture.of(module).to_dict(), TargetArchitecture.from_dict)}
