"""Input and target scaling fitted on a training split.

* :class:`WeightStandardizer`: every parameter tensor of the input networks (``features.0.weight``,
  ``layers.1.bias`` ...) is standardised with the mean and std of that tensor's entries over the
  training networks, as DWSNets and NFN normalise their inputs layer by layer. One shift and one
  scale per parameter tensor commute with every neuron permutation, so invariant and equivariant
  metanets stay so; SIREN layers whose weights differ by orders of magnitude (first layer ~0.5,
  hidden layers ~0.01 with ``w0 = 30``) reach the metanet on one scale. Only parameter slots move
  (:func:`netgraph.masks.spec_parameter_masks`): padding, fixed edges and buffers are left alone.
  ``center=False`` divides by the std only: a shift would not commute with sign flips and positive
  rescalings of neurons, a scale per tensor does, so scale-invariant metanets (ScaleGMN) stay so.
* :class:`TargetScaler`: regression targets ``[n, k]`` standardised per column.

Both are plain objects whose ``state_dict()`` is JSON, saved with every checkpoint.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> nets = [mlp([2, 4, 1]) for _ in range(8)]
    >>> batch = netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])
    >>> standardize = WeightStandardizer.fit(netgraph.to_state_dicts(batch, stacked=True))
    >>> weights = netgraph.to_state_dicts(standardize(batch), stacked=True)["0.weight"]
    >>> round(abs(float(weights.mean())), 4), round(float(weights.std(correction=0)), 4)
    (0.0, 1.0)
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch_geometric.data import Data

from netgraph.graph import split_by_spec
from netgraph.masks import spec_parameter_masks
from netgraph.spec import GraphSpec

__all__ = ["WeightStandardizer", "TargetScaler"]

_MIN_STD = 1e-8


class WeightStandardizer:
    """``(w - mean[param]) / std[param]`` on the parameter slots of graphs and batches.

    Args:
        stats: ``{parameter name: (mean, std)}``; build it with :meth:`fit`.
    """

    def __init__(self, stats: Mapping[str, tuple[float, float]]):
        self.stats = {name: (float(m), max(float(s), _MIN_STD)) for name, (m, s) in stats.items()}
        self._templates: dict[tuple[int, str], tuple[GraphSpec, tuple[torch.Tensor, ...]]] = {}

    @classmethod
    def fit(cls, state_dicts: Mapping[str, torch.Tensor], center: bool = True) -> "WeightStandardizer":
        """Statistics of stacked state dicts ``{name: [n, *shape]}`` (e.g. ``ZooDataset.state_dicts()``);
        ``center=False``: mean 0 (divide by the std only, see the module docstring)."""
        stats = {}
        for name, values in state_dicts.items():
            if not torch.is_floating_point(values) or values.dim() < 1 or values.shape[0] == 0:
                continue  # buffers such as num_batches_tracked
            flat = values.detach().double().reshape(-1)
            stats[name] = (float(flat.mean()) if center else 0.0, float(flat.std(correction=0)))
        if not stats:
            raise ValueError(
                "WeightStandardizer.fit got no floating-point tensors [n, *shape]; pass stacked state "
                "dicts of the training networks, e.g. ZooDataset(...).state_dicts()"
            )
        return cls(stats)

    def __call__(self, graph: Data) -> Data:
        """A shallow copy of ``graph`` (a ``ParamGraph`` or a batch) with standardised ``x`` / ``edge_attr``."""
        return self._apply(graph, inverse=False)

    def inverse(self, graph: Data) -> Data:
        """Undo :meth:`__call__`: standardised weights back in the networks' own units."""
        return self._apply(graph, inverse=True)

    def _apply(self, graph: Data, inverse: bool) -> Data:
        x, edge_attr = graph.x.clone(), graph.edge_attr.clone()
        for group in split_by_spec(graph):  # one vectorised update per architecture
            x_shift, x_scale, e_shift, e_scale = self._template(group.spec, graph.x.device)
            b = len(group.graphs)
            for out, values, index, shift, scale in (
                (x, graph.x, group.nodes, x_shift, x_scale),
                (edge_attr, graph.edge_attr, group.edges, e_shift, e_scale),
            ):
                rows = values[index.reshape(-1)].view(b, *shift.shape)
                rows = rows * scale + shift if inverse else (rows - shift) / scale
                out[index.reshape(-1)] = rows.reshape(-1, out.shape[1])
        out = copy.copy(graph)
        out.x, out.edge_attr = x, edge_attr
        return out

    def _template(self, spec: GraphSpec, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Shift and scale of every slot of ``spec``: ``x [N, F]`` and ``edge_attr [E, K]`` (identity off slots)."""
        key = (id(spec), str(device))
        cached = self._templates.get(key)
        if cached is not None and cached[0] is spec:
            return cached[1]
        stored = {p.param for p in spec.edge_pieces} | {p.param for p in spec.node_pieces}
        missing = sorted(stored - set(self.stats))
        if missing:
            raise ValueError(
                f"WeightStandardizer has no statistics for parameters {missing} of this architecture "
                f"(it knows {sorted(self.stats)}); fit it on networks of this architecture"
            )
        shifts, scales = (
            {
                k: torch.full(spec.shapes[k], self.stats.get(k, (0.0, 1.0))[i], dtype=spec.dtypes[k])
                for k in spec.keys
                if k not in spec.aliases
            }
            for i in (0, 1)
        )
        x_shift, e_shift, _ = spec.gather(shifts)
        x_scale, e_scale, _ = spec.gather(scales)
        node_mask, edge_mask = spec_parameter_masks(spec)
        tensors = (
            torch.where(node_mask, x_shift, 0.0),
            torch.where(node_mask, x_scale, 1.0),
            torch.where(edge_mask, e_shift, 0.0),
            torch.where(edge_mask, e_scale, 1.0),
        )
        tensors = tuple(t.to(device) for t in tensors)
        self._templates[key] = (spec, tensors)
        return tensors

    def state_dict(self) -> dict[str, Any]:
        return {"stats": {k: list(v) for k, v in self.stats.items()}}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> "WeightStandardizer":
        return cls({k: tuple(v) for k, v in state["stats"].items()})


class TargetScaler:
    """Per-column standardisation of regression targets: ``encode(y) = (y - mean) / std``.

    Args:
        mean, std: one value per target column.

    >>> scaler = TargetScaler.fit(torch.tensor([[0.0, 10.0], [2.0, 30.0]]))
    >>> scaler.encode(torch.tensor([[1.0, 20.0]])).tolist(), scaler.decode(torch.tensor([[1.0, -1.0]])).tolist()
    ([[0.0, 0.0]], [[2.0, 10.0]])
    """

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = [float(m) for m in mean], [max(float(s), _MIN_STD) for s in std]

    @classmethod
    def fit(cls, targets: torch.Tensor) -> "TargetScaler":
        """Mean and (population) std of each column of ``targets [n]`` or ``[n, k]``."""
        t = targets.detach().double().reshape(targets.shape[0], -1)
        if t.shape[0] == 0:
            raise ValueError("TargetScaler.fit got no targets; the training split is empty")
        return cls(t.mean(0).tolist(), t.std(0, correction=0).tolist())

    def _tensors(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device)
        return mean, torch.tensor(self.std, dtype=like.dtype, device=like.device)

    def encode(self, targets: torch.Tensor) -> torch.Tensor:
        """``[n, k]`` standardised targets (``[n]`` inputs gain the column axis)."""
        mean, std = self._tensors(targets)
        return (targets.reshape(targets.shape[0], -1) - mean) / std

    def decode(self, values: torch.Tensor) -> torch.Tensor:
        """Model outputs ``[n, k]`` back in target units."""
        mean, std = self._tensors(values)
        return values * std + mean

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> "TargetScaler":
        return cls(state["mean"], state["std"])
