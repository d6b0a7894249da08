"""A GHN-2 / GHN-3 style graph hypernetwork over *operation* graphs (Knyazev et al. 2021, 2023):
one forward pass predicts the weights and biases of every linear / conv layer of a network it may
never have seen, as a better start than the default initialisation.

The network is read through :func:`netgraph.spec_of` (so anything :func:`netgraph.from_module`
converts works) and reduced to its **operation graph** (:func:`operation_graph`): one node per
weight layer plus one for the input, an edge ``a -> b`` when layer ``b`` reads what layer ``a``
writes (through residual sums, concatenations, pooling and flattening). Each node has features:
operation kind (linear / conv / depthwise / grouped), kernel size, log fan-in and fan-out, the
activation and normalisation that follow it, bias, in / out degree, first / last layer.

Then, for a batch of architectures padded together:

1. **encoder** (``encoder="transformer"``, GHN-3): pre-norm transformer layers whose attention has
   a learned per-head bias for the forward and the backward *shortest-path distance* between every
   two operations (Graphormer-style); or (``encoder="gnn"``, GHN-2) message passing along the
   edges plus **virtual edges** to every operation up to ``max_distance`` steps away, weighted by
   ``1 / distance``, forward and backward.
2. **tiling decoder**: an MLP maps each operation's embedding to a ``[block, block]`` channel block
   ``B``, a ``[block, 7, 7]`` spatial map ``S`` per output row and a bias block. A weight of shape
   ``[out, in, kh, kw]`` is ``T[o, i] = B[o % block, i % block] * S[o % block]`` (centre crop of
   ``S``), so any width is covered and channel ``c`` means the same thing in consecutive layers.
3. **operation-dependent normalisation** (GHN-2's fix, aimed at what we measured: collapsed first
   layers and oversized output layers): ``W = g / sqrt(fan_in) * (sqrt(rho) T / rms(T) +
   sqrt(1 - rho) Z)``, ``Z ~ N(0, 1)`` fresh per generated network. The gain ``g`` and the share
   ``rho <= 1 - min_noise`` of the tiled structure are predicted per operation. The fan-in factor
   keeps every layer at the scale of a good initialisation whatever its width; the noise share keeps
   every weight matrix full rank (tiled blocks alone repeat rows every ``block`` channels, and
   repeated neurons stay repeated under gradient descent). Biases: ``tile(b) / sqrt(fan_in)``.

Norm-layer parameters keep the target's values (PyTorch defaults: weight 1, bias 0).

**BatchNorm statistics.** The GHN predicts no running statistics, and the target's (mean 0, variance
1) do not match the predicted weights: evaluated with them a predicted network sits at chance. So
``ghn(model, data=...)`` returns a network ready to evaluate (``batchnorm=`` picks how, default
``"auto"``):

* ``"calibrate"`` (``"auto"`` when ``data`` is given): running statistics recomputed from one forward
  pass over ``data`` (inputs, or a :class:`~netgraph.datasets.ClassificationData` whose training
  inputs are used), :func:`calibrate_batchnorm`; the network then behaves as any trained one.
* ``"batch"`` (``"auto"`` without ``data``): as GHN-2/3's code evaluates predicted networks, every
  BatchNorm normalises with the statistics of the batch it is given (running statistics removed,
  ``track_running_stats=False``), in train and eval mode alike; needs batches of more than one input.
  :func:`calibrate_batchnorm` later restores running statistics.
* ``"keep"``: the target's statistics as they are.

The choice is logged (logger ``netgraph``) and written on the result as ``model.ghn_batchnorm``.

Usage: ``ghn(model, data=x)`` writes one predicted network into ``model`` (in place) and returns it;
``ghn.generate(model, n=8)`` gives 8 (different noise) as :class:`~.generated.GeneratedNetworks`.

Example:
    >>> import torch, torch.nn as nn
    >>> ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval()
    >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 10))
    >>> net = ghn(net)                                       # predicted weights, in place
    >>> tuple(net(torch.randn(2, 1, 8, 8)).shape)
    (2, 10)
    >>> bn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 10))
    >>> ghn(bn, data=torch.randn(32, 1, 8, 8)).ghn_batchnorm
    'calibrate: running statistics of BatchNorm layers recomputed from 32 given inputs'
    >>> tuple(ghn.generate(net, n=3)(torch.randn(2, 1, 8, 8)).shape)
    (3, 2, 10)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.data import Batch

import netgraph
from netgraph.spec import GraphSpec

from .conditioning import require_condition
from .generators import DefaultInitGenerator, WeightGenerator, check_count

__all__ = [
    "OperationGraphHypernetwork",
    "OperationGraph",
    "operation_graph",
    "calibrate_batchnorm",
    "OP_KINDS",
    "ENCODERS",
    "BATCHNORM_MODES",
]

OP_KINDS = ("input", "linear", "conv", "depthwise", "grouped")
KERNELS = (1, 3, 5, 7)
NUM_ACTIVATIONS = 18  #: netgraph.types.Activation codes
NUM_NORMS = 4  #: netgraph.types.Norm codes
NUM_FEATURES = len(OP_KINDS) + len(KERNELS) + 1 + 2 + NUM_ACTIVATIONS + NUM_NORMS + 6
SPATIAL = 7  #: largest predicted kernel side (larger kernels get a flat spatial map)
ENCODERS = ("transformer", "gnn")
BATCHNORM_MODES = ("auto", "calibrate", "batch", "keep")
_log = logging.getLogger("netgraph")


@dataclass
class OperationGraph:
    """The operation graph of one architecture (node 0 is the input, node ``l + 1`` is weight layer ``l``).

    Attributes:
        weight_keys, bias_keys: per layer, the state-dict key of its weight and bias (or ``None``).
        shapes: per layer, the weight's shape ``(out, in / groups, *kernel)``.
        features: ``[L + 1, NUM_FEATURES]`` node features.
        distance: ``[L + 1, L + 1]`` long, the number of edges on the shortest forward path from
            ``i`` to ``j`` (0 on the diagonal, -1 when ``j`` is not reachable from ``i``).
    """

    weight_keys: list[str]
    bias_keys: list[str | None]
    shapes: list[tuple[int, ...]]
    features: torch.Tensor
    distance: torch.Tensor

    @property
    def num_ops(self) -> int:
        return len(self.weight_keys) + 1


def operation_graph(spec: GraphSpec) -> OperationGraph:
    """The :class:`OperationGraph` of ``spec`` (see the module docstring). Layers whose weight is not a
    linear or conv weight (``[out, in, *kernel]`` with at most 3 kernel dims) are refused."""
    layers = list(spec.layers)
    if not layers:
        raise ValueError("the network has no weight layers (Linear / Conv); a GHN predicts those")
    weight_keys = [layer.weight.param for layer in layers]
    shapes = [tuple(spec.shapes[k]) for k in weight_keys]
    for key, shape in zip(weight_keys, shapes):
        if not 2 <= len(shape) <= 5:
            raise ValueError(
                f"layer weight {key!r} has shape {shape}; a GHN predicts linear and conv weights ([out, in, *kernel])"
            )
    num_ops, n = len(layers) + 1, spec.num_nodes
    # which operation writes each node: propagate owners along every edge that is not a weight
    # (residual sums, concatenations); weight layers own their output nodes, the input op the inputs
    weight_edge = torch.zeros(spec.edge_index.shape[1], dtype=torch.bool)
    for piece in spec.edge_pieces:  # a loop over layers
        weight_edge[piece.offset : piece.offset + piece.num_edges] = True
    src, dst = spec.edge_index[:, ~weight_edge]
    owner0 = torch.zeros(n, num_ops, dtype=torch.bool)
    owner0[spec.node_type == 0, 0] = True
    for index, layer in enumerate(layers, start=1):
        owner0[layer.weight.out_nodes, index] = True
    owner = owner0
    for _ in range(n):  # fixed point; as many rounds as the longest chain of sums
        passed = torch.zeros(n, num_ops).index_add_(0, dst, owner[src].float()) > 0
        updated = owner0 | passed
        if torch.equal(updated, owner):
            break
        owner = updated
    adjacency = torch.zeros(num_ops, num_ops, dtype=torch.bool)
    for index, layer in enumerate(layers, start=1):
        adjacency[:, index] = owner[layer.weight.in_nodes].any(0)
    adjacency.fill_diagonal_(False)
    distance = _shortest_paths(adjacency)
    features = torch.zeros(num_ops, NUM_FEATURES)
    features[0, 0] = 1.0
    consumers, producers = adjacency.sum(1), adjacency.sum(0)
    for index, (layer, shape) in enumerate(zip(layers, shapes), start=1):
        out, fan_in, kernel = shape[0], math.prod(shape[1:]), shape[2:]
        groups = layer.weight.groups
        kind = 1 if not kernel else (3 if groups > 1 and groups == out else 4 if groups > 1 else 2)
        if layer.weight.kernel and not kernel:  # flattened feature map: its own kernel counts
            kind = 1
        row = [0.0] * NUM_FEATURES
        row[kind] = 1.0
        base = len(OP_KINDS)
        side = kernel[0] if kernel and all(k == kernel[0] for k in kernel) else None
        row[base + (KERNELS.index(side) if side in KERNELS else len(KERNELS))] = 1.0
        base += len(KERNELS) + 1
        row[base], row[base + 1] = math.log2(fan_in) / 10, math.log2(out) / 10
        base += 2
        first_out = layer.weight.out_nodes[0]
        row[base + min(int(spec.node_act[first_out]), NUM_ACTIVATIONS - 1)] = 1.0
        base += NUM_ACTIVATIONS
        row[base + min(int(spec.node_norm[first_out]), NUM_NORMS - 1)] = 1.0
        base += NUM_NORMS
        row[base : base + 6] = [
            float(layer.bias is not None),
            float(consumers[index] == 0),
            float(adjacency[0, index]),
            min(float(producers[index]), 4.0) / 4,
            min(float(consumers[index]), 4.0) / 4,
            float(groups > 1),
        ]
        features[index] = torch.tensor(row)
    return OperationGraph(
        weight_keys,
        [layer.bias.param if layer.bias is not None else None for layer in layers],
        shapes,
        features,
        distance,
    )


def _shortest_paths(adjacency: torch.Tensor) -> torch.Tensor:
    """``[L, L]`` forward path lengths of a boolean adjacency matrix (-1: unreachable)."""
    num = adjacency.shape[0]
    distance = torch.full((num, num), -1, dtype=torch.long)
    distance.fill_diagonal_(0)
    reach, step = torch.eye(num, dtype=torch.bool), adjacency.float()
    for hops in range(1, num):  # a loop over path lengths (at most the number of layers)
        reach = (reach.float() @ step) > 0
        new = reach & (distance < 0)
        if not reach.any():
            break
        distance[new] = hops
    return distance


class _AttentionBlock(nn.Module):
    """Pre-norm transformer block whose attention logits get an additive bias ``[B, heads, L, L]``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, num, dim = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, num, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # [B, heads, L, d / heads]
        h = h + self.out(attended.transpose(1, 2).reshape(b, num, dim))
        return h + self.mlp(self.norm2(h))


class _Encoder(nn.Module):
    """Transformer with shortest-path attention biases (GHN-3) or GNN with virtual edges (GHN-2)."""

    def __init__(self, kind: str, dim: int, layers: int, heads: int, max_distance: int):
        super().__init__()
        self.kind, self.heads, self.max_distance = kind, heads, max_distance
        self.embed = nn.Sequential(nn.Linear(NUM_FEATURES, dim), nn.GELU(), nn.Linear(dim, dim))
        if kind == "transformer":
            # distance buckets 0..max_distance, then "farther", then "unreachable"
            self.forward_bias = nn.Embedding(max_distance + 2, heads * layers)
            self.backward_bias = nn.Embedding(max_distance + 2, heads * layers)
            self.blocks = nn.ModuleList(_AttentionBlock(dim, heads) for _ in range(layers))
        elif kind == "gnn":
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.LayerNorm(5 * dim), nn.Linear(5 * dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
                for _ in range(layers)
            )
        else:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {kind!r}")
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: torch.Tensor, distance: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``features [B, L, F]``, ``distance [B, L, L]`` (-1: unreachable or padding), ``mask [B, L]``
        (True: a real node) -> embeddings ``[B, L, dim]``."""
        h = self.embed(features)
        if self.kind == "transformer":
            bucket = lambda d: torch.where(d < 0, self.max_distance + 1, d.clamp(max=self.max_distance))  # noqa: E731
            bias = self.forward_bias(bucket(distance)) + self.backward_bias(bucket(distance.transpose(1, 2)))
            bias = bias.masked_fill(~mask[:, None, :, None], float("-inf"))  # [B, Lq, Lk, heads * layers]
            for index, block in enumerate(self.blocks):
                h = block(h, bias[..., index * self.heads : (index + 1) * self.heads].permute(0, 3, 1, 2))
        else:
            reach = (distance >= 1) & (distance <= self.max_distance)
            direct = (distance == 1).to(h.dtype)
            virtual = torch.where(reach & (distance > 1), 1.0 / distance.clamp(min=1).to(h.dtype), 0.0)
            for block in self.blocks:
                messages = [a @ h for a in (direct.transpose(1, 2), virtual.transpose(1, 2), direct, virtual)]
                h = h + block(torch.cat([h, *messages], -1))
        return self.norm(h) * mask[..., None]


class OperationGraphHypernetwork(
    WeightGenerator,
    PyTorchModelHubMixin,
    library_name="netgraph",
    tags=["netgraph", "weight-generator", "graph-hypernetwork", "ghn"],
):
    """A graph hypernetwork over operation graphs (see the module docstring).

    Args:
        dim, layers, heads: width, depth and attention heads of the encoder.
        encoder: ``"transformer"`` (GHN-3: shortest-path attention biases) or ``"gnn"`` (GHN-2: edges
            plus virtual edges weighted ``1 / distance``).
        max_distance: longest shortest path the encoder tells apart (longer ones share one bucket / are
            not messaged).
        block: side of the tiled channel block of the decoder.
        min_noise: smallest share of variance of the fresh Gaussian part of every weight (keeps every
            predicted weight matrix full rank; 0 allows purely tiled weights).
        trained_on: provenance written to the model card (architecture space, data, steps), JSON.
    """

    target_architecture = None
    #: the class name folders saved before the rename (issue 24) store; the Hub loader resolves it here
    former_names = ("GHN",)

    def __init__(
        self,
        dim: int = 64,
        layers: int = 3,
        heads: int = 4,
        encoder: str = "transformer",
        max_distance: int = 8,
        block: int = 16,
        min_noise: float = 0.2,
        trained_on: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if not 0.0 <= min_noise <= 1.0:
            raise ValueError(f"min_noise must lie in [0, 1], got {min_noise}")
        self.block, self.min_noise = int(block), float(min_noise)
        self.trained_on = dict(trained_on or {})
        self.encoder = _Encoder(encoder, dim, layers, heads, max_distance)
        self.sizes = {
            "channels": block * block,
            "spatial": block * SPATIAL * SPATIAL,
            "bias": block,
            "gain": 1,
            "mix": 1,
        }
        self.decoder = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, sum(self.sizes.values())))
        with torch.no_grad():  # start near gain 1, an even mix and zero biases
            heads = self.sizes["channels"] + self.sizes["spatial"]
            self.decoder[-1].weight[heads:].mul_(0.1)
            self.decoder[-1].bias[heads:].zero_()
        self._graphs: dict[int, tuple[GraphSpec, OperationGraph]] = {}

    # ------------------------------------------------------------------ graphs
    def graph_of(self, target: nn.Module | GraphSpec) -> OperationGraph:
        """The operation graph of ``target`` (cached per spec)."""
        spec = self.target_spec(target)
        cached = self._graphs.get(id(spec))
        if cached is None or cached[0] is not spec:  # the cache holds the spec, so its id is not reused
            cached = self._graphs[id(spec)] = (spec, operation_graph(spec))
        return cached[1]

    def embed(self, graphs: Sequence[OperationGraph]) -> list[torch.Tensor]:
        """Operation embeddings ``[num_ops, dim]`` of each graph, all encoded in one padded batch."""
        device = self.decoder[0].weight.device
        size = max(g.num_ops for g in graphs)
        features = torch.zeros(len(graphs), size, NUM_FEATURES, device=device)
        distance = torch.full((len(graphs), size, size), -1, dtype=torch.long, device=device)
        mask = torch.zeros(len(graphs), size, dtype=torch.bool, device=device)
        for i, g in enumerate(graphs):  # a loop over architectures (padding)
            features[i, : g.num_ops] = g.features.to(device)
            distance[i, : g.num_ops, : g.num_ops] = g.distance.to(device)
            mask[i, : g.num_ops] = True
        h = self.encoder(features, distance, mask)
        return [h[i, : g.num_ops] for i, g in enumerate(graphs)]

    # ------------------------------------------------------------------ prediction
    def predict(
        self, targets: Sequence[nn.Module | GraphSpec], n: int = 1, generator: torch.Generator | None = None
    ) -> list[dict[str, torch.Tensor]]:
        """Predicted weights and biases ``{key: [n, *shape]}`` of every linear / conv layer of each target
        (differentiable; ``generator`` draws the Gaussian part)."""
        check_count(n)
        graphs = [self.graph_of(t) for t in targets]
        out = []
        for g, h in zip(graphs, self.embed(graphs)):  # a loop over architectures
            decoded = self.decoder(h[1:])
            parts = dict(zip(self.sizes, decoded.split(list(self.sizes.values()), dim=-1)))
            params = {}
            for index, (key, bias_key, shape) in enumerate(zip(g.weight_keys, g.bias_keys, g.shapes)):
                params.update(self._layer(shape, key, bias_key, {k: v[index] for k, v in parts.items()}, n, generator))
            out.append(params)
        return out

    def _layer(
        self,
        shape: tuple[int, ...],
        key: str,
        bias_key: str | None,
        part: dict[str, torch.Tensor],
        n: int,
        generator: torch.Generator | None,
    ) -> dict[str, torch.Tensor]:
        out, fan_in, kernel = shape[0], math.prod(shape[1:]), shape[2:]
        device = part["channels"].device
        rows = torch.arange(out, device=device) % self.block
        cols = torch.arange(shape[1], device=device) % self.block
        tiled = part["channels"].view(self.block, self.block)[rows][:, cols]  # [out, in]
        if len(kernel) == 2 and max(kernel) <= SPATIAL:
            top, left = (SPATIAL - kernel[0]) // 2, (SPATIAL - kernel[1]) // 2
            spatial = part["spatial"].view(self.block, SPATIAL, SPATIAL)[rows][
                :, top : top + kernel[0], left : left + kernel[1]
            ]
            tiled = tiled[:, :, None, None] * spatial[:, None]  # [out, in, kh, kw]
        else:
            tiled = tiled.reshape(out, shape[1], *([1] * len(kernel))).expand(shape)
        rows_flat = tiled.reshape(out, -1)
        if fan_in > 1:  # standardise every row: a shared offset would make all neurons alike
            rows_flat = rows_flat - rows_flat.mean(1, keepdim=True)
        tiled = (rows_flat / rows_flat.pow(2).mean(1, keepdim=True).add(1e-12).sqrt()).view(shape)
        rho = (1.0 - self.min_noise) * torch.sigmoid(part["mix"])
        gain = part["gain"].clamp(-4.0, 2.0).exp()
        noise = torch.randn(n, *shape, generator=generator, device=device)
        weight = gain / math.sqrt(fan_in) * (rho.sqrt() * tiled + (1 - rho).sqrt() * noise)
        params = {key: weight}
        if bias_key is not None:
            params[bias_key] = (part["bias"][rows] / math.sqrt(fan_in)).expand(n, out)
        return params

    def generate_graphs(
        self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1
    ) -> Batch:
        check_count(n)
        require_condition(None, condition, n, type(self).__name__)
        spec = self.target_spec(target)
        state = DefaultInitGenerator(self.decoder[0].weight.device).generate_state_dicts(spec, n=n)
        if isinstance(target, nn.Module):  # norm parameters and buffers: the target's
            own = target.state_dict()
            state = {k: own[k].to(v).expand_as(v) if k in own else v for k, v in state.items()}
        state.update(self.predict([spec], n)[0])
        return netgraph.from_state_dicts(target, state)

    def forward(
        self,
        model: nn.Module,
        generator: torch.Generator | None = None,
        example_inputs: Any = None,
        data: Any = None,
        batchnorm: str = "auto",
    ) -> nn.Module:
        """Write one predicted network into ``model`` (in place, no gradient) and return it, its
        BatchNorm statistics handled as ``batchnorm`` says (see the module docstring; the choice is on
        ``model.ghn_batchnorm``).

        ``data``: inputs (a tensor) or a :class:`~netgraph.datasets.ClassificationData` (its training
        inputs) to calibrate BatchNorm on. ``example_inputs`` (a tensor, tuple or dict of keyword inputs)
        is needed for models that :func:`netgraph.from_module` traces with ``torch.export``."""
        if batchnorm not in BATCHNORM_MODES:
            raise ValueError(f"GHN: batchnorm must be one of {BATCHNORM_MODES}, got {batchnorm!r}")
        inputs = data.x["train"] if hasattr(data, "x") else data
        if batchnorm == "calibrate" and inputs is None:
            raise ValueError("GHN: batchnorm='calibrate' needs data= (inputs, or a ClassificationData)")
        with torch.no_grad():
            params = self.predict([netgraph.spec_of(model, example_inputs)], 1, generator)[0]
            own = dict(model.named_parameters())
            for key, value in params.items():
                own[key].copy_(value[0])
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        mode = (
            "calibrate" if batchnorm == "auto" and inputs is not None else "batch" if batchnorm == "auto" else batchnorm
        )
        if not norms:
            model.ghn_batchnorm = "none: the network has no BatchNorm layer"
        elif mode == "calibrate":
            calibrate_batchnorm(model, inputs)
            model.ghn_batchnorm = (
                f"calibrate: running statistics of BatchNorm layers recomputed from {len(inputs)} given inputs"
            )
        elif mode == "batch":
            for m in norms:  # a loop over layers
                m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked = False, None, None, None
            model.ghn_batchnorm = (
                "batch: BatchNorm layers normalise with each batch's statistics (GHN-2/3 style; pass data= to "
                "calibrate running statistics instead)"
            )
        else:
            model.ghn_batchnorm = "keep: BatchNorm running statistics left as they were"
        _log.info("GHN: %s", model.ghn_batchnorm)
        return model


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, inputs: torch.Tensor) -> nn.Module:
    """Recompute the running statistics of every BatchNorm of ``model`` from ``inputs`` (one forward
    pass, cumulative average) and return ``model``; a BatchNorm without running statistics (see
    ``OperationGraphHypernetwork(..., batchnorm="batch")``) gets them back. A no-op for networks without BatchNorm.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = calibrate_batchnorm(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), torch.randn(64, 3))
        >>> bool(net[1].running_var.ne(1).all())
        True
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    saved = [(m, m.momentum) for m in norms]
    was = model.training
    for m in norms:  # a loop over layers
        if m.running_mean is None:
            device = m.weight.device if m.weight is not None else inputs.device
            m.track_running_stats = True
            m.register_buffer("running_mean", torch.zeros(m.num_features, device=device))
            m.register_buffer("running_var", torch.ones(m.num_features, device=device))
            m.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        m.reset_running_stats()
        m.momentum = None
    model.train()
    model(inputs)
    for m, momentum in saved:
        m.momentum = momentum
    model.train(was)
    return model
