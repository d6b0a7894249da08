"""Probe features: what each neuron of the input networks computes on a few fixed inputs.

Graph metanets see weights; probe features add behaviour (Kofinas et al. 2024, "probe features";
Lim et al. 2024). ``P`` probe inputs are run through every network of a batch, and each node that
is the output channel of a ``Linear`` / ``Conv`` layer gets that layer's output (before the
activation) on each probe, averaged over spatial positions for convolutions: ``[num_nodes, P]``.
Other nodes (inputs, attention internals, sum nodes) get zeros. Permuting a network's hidden
neurons permutes its activations the same way, so the features are equivariant and graph metanets
stay invariant.

All networks of one architecture run together (a :class:`~netgraph.population.Population`, one
``vmap`` over their stacked state dicts, capturing the layer outputs): one batched forward per
architecture in the batch, no loop over networks.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import probe_features
    >>> net = mlp([4, 8, 3])
    >>> batch = netgraph.from_state_dicts(net, [net.state_dict()] * 2)
    >>> probes = torch.randn(5, 4)
    >>> feats = probe_features(batch, net, probes)            # [2 * 15 nodes, 5 probes]
    >>> torch.allclose(feats[4:12].T, net[0](probes), atol=1e-6)   # hidden neurons of the first network
    True
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from netgraph.convert import spec_of
from netgraph.graph import split_by_spec
from netgraph.population import Population
from netgraph.spec import GraphSpec

__all__ = ["probe_features", "ProbeFeatures"]

_PROBED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _architecture_key(spec: GraphSpec) -> tuple:
    return tuple((k, tuple(spec.shapes[k])) for k in spec.keys), spec.num_nodes, spec.num_edges


def _probed_layers(spec: GraphSpec, model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(module path, output nodes)`` of every Linear / Conv whose whole weight is one edge piece."""
    modules = dict(model.named_modules())
    layers = []
    for piece in spec.edge_pieces:
        path, _, leaf = piece.param.rpartition(".")
        if leaf == "weight" and piece.rows is None and isinstance(modules.get(path), _PROBED):
            layers.append((path, piece.out_nodes))
    return layers


def _template_for(spec: GraphSpec, templates: Sequence[nn.Module]) -> nn.Module:
    key = _architecture_key(spec)
    for template in templates:
        if _architecture_key(spec_of(template)) == key:
            return template
    raise ValueError(
        f"no template module matches the architecture {spec!r} of the batch; pass one module per "
        "architecture in the batch (probe_features(batch, [model_a, model_b], probes))"
    )


def probe_features(batch: Data, model: nn.Module | Sequence[nn.Module], probes: torch.Tensor) -> torch.Tensor:
    """``[num_nodes, P]`` layer outputs of every network of ``batch`` on ``probes`` (see module docstring).

    Args:
        batch: a ``ParamGraph`` or a batch of them (any mix of architectures).
        model: a module of the batch's architecture (its weights are not used), or one per architecture.
        probes: ``[P, *input_shape]`` inputs every network can take.
    """
    templates = [model] if isinstance(model, nn.Module) else list(model)
    out = batch.x.new_zeros(batch.num_nodes, probes.shape[0])
    probes = probes.to(batch.x.device, batch.x.dtype)
    for group in split_by_spec(batch):
        template = _template_for(group.spec, templates)
        layers = _probed_layers(group.spec, template)
        if not layers:
            continue
        params = group.spec.scatter(
            batch.x[group.nodes], batch.edge_attr[group.edges], batch.aux[group.aux], batch_dims=1
        )
        modules = dict(template.named_modules())
        was_training = template.training
        template.eval()
        try:
            with torch.no_grad():  # captured by module path: the call order need not follow the spec's
                _, captured = Population(params, template, spec=group.spec).run(probes, capture=[p for p, _ in layers])
        finally:
            template.train(was_training)
        for path, nodes in layers:
            values = _channels_last(captured[path], modules[path])  # [B, P, C]
            out[group.nodes[:, nodes.to(out.device)]] = values.transpose(1, 2).to(out.dtype)
    return out


def _channels_last(y: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """``[B, P, C]``: the layer outputs ``[B, P, ...]`` of ``B`` networks with spatial / sequence positions averaged."""
    if isinstance(module, nn.Linear):
        return y.reshape(*y.shape[:2], -1, y.shape[-1]).mean(2)
    return y.flatten(3).mean(3)


class ProbeFeatures(BaseTransform):
    """PyG transform that stores :func:`probe_features` as ``data.probe`` (dataset or batch transform).

    Example:
        >>> import torch, netgraph
        >>> from netgraph.architectures import mlp
        >>> net = mlp([4, 8, 3])
        >>> g = ProbeFeatures(net, torch.randn(6, 4))(netgraph.from_module(net))
        >>> g.probe.shape
        torch.Size([15, 6])
    """

    def __init__(self, model: nn.Module | Sequence[nn.Module], probes: torch.Tensor):
        self.model, self.probes = model, probes

    def forward(self, data: Data) -> Data:
        data.probe = probe_features(data, self.model, self.probes)
        return data
