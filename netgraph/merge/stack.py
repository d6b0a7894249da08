"""Many networks of one architecture as stacked graph features, and back to what the user gave.

Merging functions accept modules, ``ParamGraph`` objects or a ``Batch`` of one architecture and
return the same kind: a module in, a module out (a copy of the first module with the merged
weights); graphs in, a ``ParamGraph`` out.

Example:
    >>> import torch.nn as nn
    >>> from netgraph.merge.stack import stack_networks
    >>> nets = stack_networks([nn.Linear(3, 2), nn.Linear(3, 2)])
    >>> nets.x.shape, nets.edge_attr.shape
    (torch.Size([2, 5, 5]), torch.Size([2, 6, 1]))
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torch_geometric.data import Batch, Data

from ..convert import from_state_dicts, to_module
from ..graph import ParamGraph, graph_specs, make_graph
from ..population import Population
from ..spec import GraphSpec

__all__ = ["Stacked", "stack_networks"]


class Stacked(Population):
    """``M`` networks of one spec as stacked graph features: ``x [M, N, F]``, ``edge_attr [M, E, K]``,
    ``aux [M, A]`` (a :class:`~netgraph.population.Population` whose template is the first module given,
    ``None`` when graphs were given)."""

    def __init__(
        self,
        graphs: Batch,
        template: nn.Module | None,
        spec: GraphSpec | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__(template=template, graphs=graphs, spec=spec)
        spec, count = self.spec, len(self)
        device = torch.device(device) if device is not None else graphs.x.device
        self.x = graphs.x.to(device).reshape(count, spec.num_nodes, -1)
        self.edge_attr = graphs.edge_attr.to(device).reshape(count, spec.num_edges, -1)
        self.aux = graphs.aux.to(device).reshape(count, -1)

    def result(self, x: torch.Tensor, edge_attr: torch.Tensor, aux: torch.Tensor) -> nn.Module | ParamGraph:
        """One network ``x [N, F]``, ``edge_attr [E, K]``, ``aux [A]`` as a module (if modules were
        given) or a ``ParamGraph``."""
        graph = make_graph(self.spec, x, edge_attr, aux)
        return graph if self.template is None else to_module(graph, self.template)

    def scatter(self, x: torch.Tensor, edge_attr: torch.Tensor, aux: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stacked state dict ``{key: [B, *shape]}`` of ``B`` networks given as stacked features."""
        return self.spec.scatter(x, edge_attr, aux, batch_dims=1)


def stack_networks(models: Sequence[nn.Module | Data] | Batch, device: torch.device | str | None = None) -> Stacked:
    """Stack modules / graphs / a one-architecture batch (see module docstring)."""
    if isinstance(models, Batch):
        graphs, template, spec = models, None, None
    else:
        models = list(models)
        if not models:
            raise ValueError("merging needs at least one network; got an empty list")
        kinds = {isinstance(m, nn.Module) for m in models}
        if len(kinds) != 1 or not all(isinstance(m, (nn.Module, Data)) for m in models):
            raise TypeError(
                f"pass networks as all nn.Module or all ParamGraph, got {sorted({type(m).__name__ for m in models})}"
            )
        if isinstance(models[0], nn.Module):
            template = models[0]
            graphs = from_state_dicts(template, [m.state_dict() for m in models])
            spec = None
        else:
            template = None
            spec = graph_specs(models[0])[0]
            for i, g in enumerate(models):
                if graph_specs(g)[0] is not spec and graph_specs(g)[0].keys != spec.keys:
                    raise ValueError(f"network {i} has another architecture than network 0; merging needs one")
            graphs = Batch.from_data_list(models)
    return Stacked(graphs, template, spec, device)
