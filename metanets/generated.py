"""``GeneratedNetworks``: what a weight generator returns, ``n`` networks of one architecture ready to run.

It holds the generated parameter graphs (``graphs``, a PyG ``Batch``) and, when the target was a
module, that module as a template, and offers every way of using the weights:

A :class:`~netgraph.population.Population` of the generated networks:

* ``nets(x)`` runs all ``n`` networks on the same input at once (one ``vmap``): ``[n, *output]``,
  differentiable with respect to the generator;
* ``nets[i]`` / ``list(nets)`` / ``nets.modules()``: ``nn.Module`` copies of the template carrying
  the weights (detached), for export or ordinary use;
* ``nets.state_dicts()``: the stacked weights ``{name: [n, *shape]}`` (differentiable);
* ``nets.save(path)`` / ``GeneratedNetworks.load(path, target)``: one safetensors file with the
  stacked weights and the architecture they belong to (written atomically).

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import DefaultInitGenerator
    >>> nets = DefaultInitGenerator().generate(mlp([4, 16, 3]), n=5)
    >>> len(nets), tuple(nets(torch.randn(2, 4)).shape)        # 5 networks, 2 inputs, 3 outputs
    (5, (5, 2, 3))
    >>> type(nets[0]).__name__, tuple(nets.state_dicts()["0.weight"].shape)
    ('Sequential', (5, 16, 4))
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import safe_open
from torch_geometric.data import Batch

import netgraph
from netgraph.population import Population
from netgraph.spec import GraphSpec

from .target_architecture import TargetArchitecture

__all__ = ["GeneratedNetworks", "GENERATED_FORMAT"]

GENERATED_FORMAT = "netgraph-generated/1"


class GeneratedNetworks(Population):
    """``n`` generated networks of one architecture (see the module docstring): a
    :class:`~netgraph.population.Population` built from their graphs, which can be saved and loaded.

    Args:
        graphs: their parameter graphs, one architecture (``[n]`` graphs).
        template: the target module (its architecture must be ``graphs``' one), or ``None`` when the
            target was given as a ``GraphSpec`` (then only graphs and state dicts are available).
    """

    def __init__(self, graphs: Batch, template: nn.Module | None = None):
        super().__init__(template=template, graphs=graphs)
        self.graphs = graphs

    def __repr__(self) -> str:
        name = type(self.template).__name__ if self.template is not None else "GraphSpec"
        return f"GeneratedNetworks(n={len(self)}, architecture={name}, params={self.spec.num_params})"

    def _call_state(self) -> dict[str, torch.Tensor]:
        """Running statistics carry no gradient to the generator."""
        buffers = {name for name, _ in self.template.named_buffers()}
        return {k: v.detach() if k in buffers else v for k, v in self.state_dicts().items()}

    def save(self, path: str | Path) -> Path:
        """Write the stacked weights and their architecture to one safetensors file, atomically."""
        from netgraph.io import save_safetensors

        target = TargetArchitecture.of(self.template if self.template is not None else self.spec)
        metadata = {"format": GENERATED_FORMAT, "n": str(len(self)), "target": json.dumps(target.to_dict())}
        save_safetensors(path, self.state_dicts(), metadata)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, target: nn.Module | GraphSpec, verify: bool = True) -> "GeneratedNetworks":
        """Read a file written by :meth:`save`; ``target`` must be the architecture recorded in it
        (:class:`~.target_architecture.ArchitectureMismatchError` names what differs). ``verify``
        checks the SHA-256 recorded in the file (:class:`~netgraph.errors.CorruptFileError`)."""
        from netgraph.io import verify_safetensors

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: expected a safetensors file written by GeneratedNetworks.save "
                "or netgraph-generate out=..."
            )
        if verify:
            verify_safetensors(path)
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != GENERATED_FORMAT:
                raise ValueError(
                    f"{path} has format {metadata.get('format')!r}, expected {GENERATED_FORMAT!r}: it was "
                    "not written by GeneratedNetworks.save / netgraph-generate"
                )
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        recorded = TargetArchitecture.from_dict(json.loads(metadata["target"]))
        spec = recorded.check(target, what=f"the networks in {path}")
        graphs = netgraph.from_state_dicts(spec, tensors)
        return cls(graphs, target if isinstance(target, nn.Module) else None)
