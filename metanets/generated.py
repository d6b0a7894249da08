"""``GeneratedNetworks``: what a weight generator returns, ``n`` networks of one architecture ready to run.

It holds the generated parameter graphs (``graphs``, a PyG ``Batch``) and, when the target was a
module, that module as a template, and offers every way of using the weights:

* ``nets(x)`` runs all ``n`` networks on the same input at once (``vmap`` of ``functional_call``):
  ``[n, *output]``, differentiable with respect to the generator;
* ``nets[i]`` / ``list(nets)`` / ``nets.modules()``: ``nn.Module`` copies of the template carrying
  the weights (detached), for export or ordinary use;
* ``nets.state_dicts``: the stacked weights ``{name: [n, *shape]}`` (differentiable);
* ``nets.save(path)`` / ``GeneratedNetworks.load(path, target)``: one safetensors file with the
  stacked weights and the architecture they belong to (written atomically).

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import DefaultInitGenerator
    >>> nets = DefaultInitGenerator().generate(mlp([4, 16, 3]), n=5)
    >>> len(nets), tuple(nets(torch.randn(2, 4)).shape)        # 5 networks, 2 inputs, 3 outputs
    (5, (5, 2, 3))
    >>> type(nets[0]).__name__, tuple(nets.state_dicts["0.weight"].shape)
    ('Sequential', (5, 16, 4))
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterator

import torch
import torch.nn as nn
from safetensors import safe_open
from torch.func import functional_call, vmap
from torch_geometric.data import Batch

import netgraph
from netgraph.graph import graph_specs
from netgraph.spec import GraphSpec

from .target_architecture import TargetArchitecture

__all__ = ["GeneratedNetworks", "GENERATED_FORMAT"]

GENERATED_FORMAT = "netgraph-generated/1"


class GeneratedNetworks:
    """``n`` generated networks of one architecture (see the module docstring).

    Args:
        graphs: their parameter graphs, one architecture (``[n]`` graphs).
        template: the target module (its architecture must be ``graphs``' one), or ``None`` when the
            target was given as a ``GraphSpec`` (then only graphs and state dicts are available).
    """

    def __init__(self, graphs: Batch, template: nn.Module | None = None):
        specs = graph_specs(graphs)
        if any(s is not specs[0] for s in specs):
            raise ValueError("GeneratedNetworks holds networks of one architecture; the batch mixes "
                             f"{len({id(s) for s in specs})} architectures: split it with netgraph.split_by_spec")
        self.graphs = graphs
        self.spec: GraphSpec = specs[0]
        self.template = template
        self._state_dicts: dict[str, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(graph_specs(self.graphs))

    def __repr__(self) -> str:
        name = type(self.template).__name__ if self.template is not None else "GraphSpec"
        return f"GeneratedNetworks(n={len(self)}, architecture={name}, params={self.spec.num_params})"

    @property
    def state_dicts(self) -> dict[str, torch.Tensor]:
        """Stacked weights ``{name: [n, *shape]}`` (every state-dict key, differentiable)."""
        if self._state_dicts is None:
            self._state_dicts = netgraph.to_state_dicts(self.graphs, stacked=True)
        return self._state_dicts

    def state_dict(self, index: int) -> dict[str, torch.Tensor]:
        """The weights of network ``index`` (views into :attr:`state_dicts`)."""
        self._check_index(index)
        return {k: v[index] for k, v in self.state_dicts.items()}

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Run every network on the same ``inputs``: ``[n, *output]`` (the template in its current mode)."""
        template = self._require_template("run the networks")
        buffers = {name for name, _ in template.named_buffers()}
        state = {k: v.detach() if k in buffers else v for k, v in self.state_dicts.items()}  # running stats: no grad

        def run(weights):
            return functional_call(template, weights, inputs)

        return vmap(run)(state)

    def __getitem__(self, index: int) -> nn.Module:
        """Network ``index`` as a copy of the template with its weights (detached)."""
        self._check_index(index)
        module = copy.deepcopy(self._require_template("build modules"))
        module.load_state_dict({k: v.detach() for k, v in self.state_dict(index).items()})
        return module

    def __iter__(self) -> Iterator[nn.Module]:
        return (self[i] for i in range(len(self)))

    def modules(self) -> list[nn.Module]:
        """All networks as modules (copies of the template)."""
        return list(self)

    def save(self, path: str | Path) -> Path:
        """Write the stacked weights and their architecture to one safetensors file, atomically."""
        from netgraph.io import save_safetensors

        target = TargetArchitecture.of(self.template if self.template is not None else self.spec)
        metadata = {"format": GENERATED_FORMAT, "n": str(len(self)), "target": json.dumps(target.to_dict())}
        save_safetensors(path, self.state_dicts, metadata)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, target: nn.Module | GraphSpec) -> "GeneratedNetworks":
        """Read a file written by :meth:`save`; ``target`` must be the architecture recorded in it
        (:class:`~.target_architecture.ArchitectureMismatchError` names what differs)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: expected a safetensors file written by GeneratedNetworks.save "
                                    "or netgraph-generate out=...")
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != GENERATED_FORMAT:
                raise ValueError(f"{path} has format {metadata.get('format')!r}, expected {GENERATED_FORMAT!r}: it was "
                                 "not written by GeneratedNetworks.save / netgraph-generate")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        recorded = TargetArchitecture.from_dict(json.loads(metadata["target"]))
        spec = recorded.check(target, what=f"the networks in {path}")
        graphs = netgraph.from_state_dicts(spec, tensors)
        return cls(graphs, target if isinstance(target, nn.Module) else None)

    def _require_template(self, action: str) -> nn.Module:
        if self.template is None:
            raise TypeError(f"to {action} the generator needs the target nn.Module, but it was given a GraphSpec; "
                            "call generate(module, ...) or use .graphs / .state_dicts")
        return self.template

    def _check_index(self, index: int) -> None:
        if not -len(self) <= index < len(self):
            raise IndexError(f"network {index} out of range: {len(self)} networks were generated")
