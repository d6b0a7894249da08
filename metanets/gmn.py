"""Graph metanetworks: message passing with edge updates on parameter graphs (GMN, Lim et al. 2024;
NG-GNN, Kofinas et al. 2024).

One :class:`GMNConv` layer, for node features ``h`` and edge features ``e`` of edges ``j -> i``:

* messages in both directions, with separate parameters (forward ``j -> i`` aggregated at ``i``,
  backward aggregated at ``j``): ``message="film"`` (NG-GNN) is
  ``act(W [h_j, h_i] * (1 + gamma(e_ij)) + beta(e_ij))``; ``message="mlp"`` (GMN) is
  ``MLP([h_j, h_i, e_ij])``;
* aggregation ``aggr="pna"``: mean, min, max and std, each also scaled by
  ``log(deg + 1) / avg_log_degree`` (PNA's amplification scaler), or any single PyG aggregation
  (``"sum"``, ``"mean"``, ``"max"``);
* node update ``h_i <- LayerNorm(h_i + MLP([h_i, fwd_i, bwd_i]))``;
* edge update ``e_ij <- LayerNorm(e_ij + MLP([h_j, h_i, e_ij]))`` (``edge_update=True``).

Every step is a function of a node, its neighbours and the edges between them, aggregated by
permutation-invariant reductions, so the layer is equivariant to any relabelling of the nodes.

Example:
    >>> import torch.nn as nn, netgraph
    >>> from netgraph.metanets import GMN
    >>> g = netgraph.from_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> GMN(dim=8, depth=2, message="film", aggr="pna", head_hidden=16, edge_features=1, out_features=4).eval()(g).shape
    torch.Size([1, 4])
"""

from __future__ import annotations

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.nn import MLP, MessagePassing
from torch_geometric.nn.aggr import Aggregation, MultiAggregation
from torch_geometric.utils import degree

from .graph_model import GraphMetanet
from .pairwise import EdgeMLP, PairwiseLinear
from .registry import register_metanet

__all__ = ["GMN", "GMNConv", "PNAAggregation", "MESSAGES"]

MESSAGES = ("film", "mlp")
_PNA = ["mean", "min", "max", "std"]


class PNAAggregation(Aggregation):
    """Mean, min, max and std of the messages, each also times ``log(deg + 1) / avg_log_degree``:
    ``[N, 8 * d]`` (PNA, Corso et al. 2020, with the identity and amplification scalers)."""

    def __init__(self, avg_log_degree: float):
        super().__init__()
        if avg_log_degree <= 0:
            raise ValueError(f"avg_log_degree must be > 0 (mean log(degree + 1) of the graphs), got {avg_log_degree}")
        self.avg_log_degree = avg_log_degree
        self.base = MultiAggregation(_PNA)

    def forward(
        self,
        x: torch.Tensor,
        index: torch.Tensor | None = None,
        ptr: torch.Tensor | None = None,
        dim_size: int | None = None,
        dim: int = -2,
        max_num_elements: int | None = None,
    ) -> torch.Tensor:
        out = self.base(x, index, ptr=ptr, dim_size=dim_size, dim=dim)
        amplification = torch.log1p(degree(index, out.shape[0], dtype=x.dtype)) / self.avg_log_degree
        return torch.cat([out, out * amplification.unsqueeze(-1)], dim=-1)


def _aggregation(aggr: str, avg_log_degree: float) -> tuple[Aggregation | str, int]:
    """The aggregation module and its output width factor."""
    if aggr == "pna":
        return PNAAggregation(avg_log_degree), 2 * len(_PNA)
    if aggr in ("sum", "add", "mean", "max", "min"):
        return aggr, 1
    raise ValueError(f"aggr must be 'pna', 'sum', 'mean', 'max' or 'min', got {aggr!r}")


class _DirectedMessages(MessagePassing):
    """Messages along ``edge_index`` (source ``j`` -> target ``i``), aggregated at the targets.

    The node parts of the first linear map are computed per node and gathered per edge
    (:class:`PairwiseLinear`)."""

    def __init__(self, dim: int, message: str, aggr: Aggregation | str):
        super().__init__(aggr=aggr, node_dim=0)
        self.kind = message
        if message == "film":
            self.pair = PairwiseLinear(dim, 0, dim)
            self.film = nn.Linear(dim, 2 * dim)
        else:
            self.pair = EdgeMLP(dim, dim, dim, dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        source, target = self.pair.node_terms(h)
        return self.propagate(edge_index, s=source, t=target, edge_attr=e)

    def message(self, s_j: torch.Tensor, t_i: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        if self.kind == "film":
            gamma, beta = self.film(edge_attr).chunk(2, dim=-1)
            return torch.relu(self.pair.combine(s_j, t_i) * (1 + gamma) + beta)
        return self.pair.combine(s_j, t_i, edge_attr)


class GMNConv(nn.Module):
    """One bidirectional message-passing layer with edge updates: ``(h [N, d], edge_index [2, E],
    e [E, d]) -> (h', e')`` (see module docstring)."""

    def __init__(
        self,
        dim: int,
        message: str = "film",
        aggr: str = "pna",
        avg_log_degree: float = 3.0,
        edge_update: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if message not in MESSAGES:
            raise ValueError(f"message must be one of {MESSAGES}, got {message!r}")
        forward_aggr, width = _aggregation(aggr, avg_log_degree)
        backward_aggr, _ = _aggregation(aggr, avg_log_degree)
        self.forward_messages = _DirectedMessages(dim, message, forward_aggr)
        self.backward_messages = _DirectedMessages(dim, message, backward_aggr)
        self.node_update = MLP([dim * (1 + 2 * width), dim, dim], norm=None, dropout=dropout)
        self.node_norm = nn.LayerNorm(dim)
        self.edge_update = EdgeMLP(dim, dim, dim, dim, dropout=dropout) if edge_update else None
        self.edge_norm = nn.LayerNorm(dim) if edge_update else None

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        forward = self.forward_messages(h, edge_index, e)
        backward = self.backward_messages(h, edge_index.flip(0), e)
        h = self.node_norm(h + self.node_update(torch.cat([h, forward, backward], dim=-1)))
        if self.edge_update is not None:
            e = self.edge_norm(e + self.edge_update(h, edge_index, e))
        return h, e


@register_metanet("gmn")
class GMN(GraphMetanet, PyTorchModelHubMixin, library_name="netgraph", tags=["netgraph", "metanet", "gmn"]):
    """GMN / NG-GNN: ``depth`` :class:`GMNConv` layers on parameter graphs of any architectures.

    Args:
        dim: node and edge feature size.
        depth: number of message-passing layers.
        edge_features: size ``K`` of ``edge_attr`` (9 for graphs built with ``kernel_shape=(3, 3)``).
        message: ``"film"`` (NG-GNN) or ``"mlp"`` (GMN).
        aggr: ``"pna"`` (NG-GNN) or a single aggregation (``"sum"``, ``"mean"``, ``"max"``, ``"min"``).
        avg_log_degree: PNA's normaliser, the mean ``log(degree + 1)`` of the graphs (3.0 suits layers
            of 16-32 neurons).
        edge_update: update edge features in every layer.
        out_features: size of the invariant output (0: no invariant head).
        head_hidden: hidden width of the heads.
        dropout: dropout in the update MLPs and the invariant head.
        edit: build the equivariant edit head (``parameter_outputs`` / ``edit``).
        edit_scale: initial ``scale`` of edits ``w + scale * delta``.
        max_layers, max_positions: sizes of the layer and position embedding tables.
        probe_features: use the graphs' ``probe`` features of this size (:class:`ProbeFeatures`; 0: none).
    """

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        message: str,
        aggr: str,
        head_hidden: int,
        edge_features: int = 9,
        avg_log_degree: float = 3.0,
        edge_update: bool = True,
        out_features: int = 1,
        dropout: float = 0.0,
        edit: bool = False,
        edit_scale: float = 0.01,
        max_layers: int = 256,
        max_positions: int = 1024,
        probe_features: int = 0,
    ):
        super().__init__(
            dim,
            edge_features,
            out_features,
            head_hidden,
            dropout,
            edit,
            edit_scale,
            max_layers,
            max_positions,
            probe_features,
        )
        self.layers.extend(GMNConv(dim, message, aggr, avg_log_degree, edge_update, dropout) for _ in range(depth))
