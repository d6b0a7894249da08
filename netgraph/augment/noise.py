"""Weight perturbations that do not preserve the function: Gaussian noise, dropout, quantile zeroing.

They act on learned entries only (:func:`~netgraph.masks.parameter_masks`: no residual identities,
kernel padding or BatchNorm statistics), per graph and per weight layer, over a whole batch at once.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.augment import GaussianNoise
    >>> g = netgraph.from_module(mlp([2, 8, 1]))
    >>> noisy = GaussianNoise(0.1)(g)
    >>> bool((noisy.edge_attr != g.edge_attr).all()), bool((noisy.x[:, 3:] == g.x[:, 3:]).all())
    (True, True)
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from ..batching import cached, graph_index, num_graphs, per_edge, per_node
from ..masks import parameter_masks
from ..spec import GraphSpec
from .base import GraphAugmentation

__all__ = ["GaussianNoise", "WeightDropout", "QuantileZeroing", "edge_layers", "node_layers"]


def edge_layers(spec: GraphSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[E]`` the weight layer (edge piece) of every edge, -1 for constant edges."""

    def build():
        layer = torch.full((spec.num_edges,), -1, dtype=torch.long)
        for i, piece in enumerate(spec.edge_pieces):
            layer[piece.offset : piece.offset + piece.num_edges] = i
        return layer

    return cached(spec, ("netgraph.augment.edge_layers",), device, build)


def node_layers(spec: GraphSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[N]`` the node space (a layer's outputs) of every node."""

    def build():
        space = torch.empty(spec.num_nodes, dtype=torch.long)
        for i, s in enumerate(spec.spaces):
            space[s.start : s.start + s.size] = i
        return space

    return cached(spec, ("netgraph.augment.node_layers",), device, build)


def _segments(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """Segment ids ``([E, K], [N, F])``: one per (graph, layer[, feature column]) for every entry."""
    edge_layer = per_edge(data, edge_layers)
    node_layer = per_node(data, node_layers)
    edge_span = int(edge_layer.max()) + 2 if edge_layer.numel() else 1
    node_span = int(node_layer.max()) + 1 if node_layer.numel() else 1
    edge_seg = graph_index(data, "edge") * edge_span + edge_layer + 1
    k, f = data.edge_attr.shape[1], data.x.shape[1]
    node_seg = (graph_index(data, "node") * node_span + node_layer).unsqueeze(1) * f + torch.arange(
        f, device=data.x.device
    )
    return edge_seg.unsqueeze(1).expand(-1, k), node_seg


def _segment_std(values: torch.Tensor, segment: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the masked ``values`` of each entry's segment (same shape as values)."""
    seg = segment.reshape(-1)
    weight = mask.reshape(-1).to(torch.float64)
    v = values.reshape(-1).to(torch.float64) * weight
    size = int(seg.max()) + 1 if seg.numel() else 1
    count = torch.zeros(size, dtype=torch.float64, device=values.device).index_add_(0, seg, weight)
    total = torch.zeros_like(count).index_add_(0, seg, v)
    square = torch.zeros_like(count).index_add_(0, seg, v * v)
    mean = total / count.clamp_min(1)
    var = (square / count.clamp_min(1) - mean * mean).clamp_min(0)
    return var.sqrt().to(values.dtype)[segment]


class GaussianNoise(GraphAugmentation):
    """Add ``N(0, (std * sigma_layer)^2)`` to every learned entry, ``sigma_layer`` being the standard
    deviation of that graph's entries in the same layer (weights of one piece, or one node feature
    column of one layer: biases, norm weights, norm biases). A layer whose entries are all equal gets
    no noise."""

    def __init__(self, std: float = 0.1, generator: torch.Generator | None = None):
        super().__init__(generator)
        if std < 0:
            raise ValueError(f"GaussianNoise std must be >= 0 (relative to each layer's weight std), got {std}")
        self.std = std

    def forward(self, data: Data) -> Data:
        node_mask, edge_mask = parameter_masks(data)
        edge_seg, node_seg = _segments(data)
        device = data.x.device
        edge_noise = self.randn(*data.edge_attr.shape, device=device) * _segment_std(
            data.edge_attr, edge_seg, edge_mask
        )
        node_noise = self.randn(*data.x.shape, device=device) * _segment_std(data.x, node_seg, node_mask)
        return self.replaced(
            data,
            edge_attr=data.edge_attr + self.std * edge_noise * edge_mask,
            x=data.x + self.std * node_noise * node_mask,
        )


class WeightDropout(GraphAugmentation):
    """Zero each learned weight with probability ``p`` (biases too with ``biases=True``); with
    ``rescale=True`` the kept ones are divided by ``1 - p`` as in dropout."""

    def __init__(
        self, p: float = 0.1, biases: bool = False, rescale: bool = False, generator: torch.Generator | None = None
    ):
        super().__init__(generator)
        if not 0 <= p < 1:
            raise ValueError(f"WeightDropout p must be in [0, 1), got {p}")
        self.p, self.biases, self.rescale = p, biases, rescale

    def forward(self, data: Data) -> Data:
        node_mask, edge_mask = parameter_masks(data)
        device = data.x.device
        scale = 1 / (1 - self.p) if self.rescale else 1.0
        keep = self.rand(*data.edge_attr.shape, device=device) >= self.p
        edge_attr = torch.where(edge_mask, torch.where(keep, data.edge_attr * scale, 0.0), data.edge_attr)
        out = {"edge_attr": edge_attr}
        if self.biases:
            bias_mask = node_mask.clone()
            bias_mask[:, 1:] = False
            keep = self.rand(*data.x.shape, device=device) >= self.p
            out["x"] = torch.where(bias_mask, torch.where(keep, data.x * scale, 0.0), data.x)
        return self.replaced(data, **out)


class QuantileZeroing(GraphAugmentation):
    """Zero the weights whose magnitude is below the ``q``-quantile of their layer (per graph). With
    ``random=True`` each graph draws its own level uniformly in ``[0, q]``."""

    def __init__(self, q: float = 0.1, random: bool = True, generator: torch.Generator | None = None):
        super().__init__(generator)
        if not 0 <= q < 1:
            raise ValueError(f"QuantileZeroing q must be in [0, 1), got {q}")
        self.q, self.random = q, random

    def forward(self, data: Data) -> Data:
        _, edge_mask = parameter_masks(data)
        edge_seg, _ = _segments(data)
        device = data.x.device
        graphs = num_graphs(data)
        level = torch.full((graphs,), self.q, device=device)
        if self.random:
            level = level * self.rand(graphs, device=device)
        dump = int(edge_seg.max()) + 1  # entries that are not learned weights: a segment never zeroed
        seg = torch.where(edge_mask, edge_seg, dump).reshape(-1)
        magnitude = data.edge_attr.abs().reshape(-1).double()
        key = seg.double() + 0.5 * magnitude / magnitude.max().clamp_min(1e-30)  # by segment, then magnitude
        order = key.argsort()
        count = torch.zeros(dump + 1, dtype=torch.long, device=device).index_add_(0, seg, torch.ones_like(seg))
        start = count.cumsum(0) - count
        rank = torch.empty_like(seg)
        rank[order] = torch.arange(seg.numel(), device=device) - start[seg[order]]
        graph = graph_index(data, "edge").unsqueeze(1).expand_as(edge_seg).reshape(-1)
        drop = (rank < (level[graph] * count[seg]).floor().long()) & edge_mask.reshape(-1)
        return self.replaced(data, edge_attr=data.edge_attr.masked_fill(drop.view_as(edge_mask), 0.0))
