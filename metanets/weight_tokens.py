"""Per-neuron tokens of a network's weights, read from its parameter graph: the input of weight
autoencoders (p-diff, Wang et al. 2024; D2NWG, Soro et al. 2025).

Every output neuron of every weight layer (``spec.layers``, in order) is one token: its incoming
weights (``n_in x kernel`` values: the edges into its node) followed by the learnable values on
its node (bias, norm weight / bias), zero-padded to the widest token ``W``. A network is then
``[T, W]`` with ``T`` the number of neurons, so one layer is a block of tokens and a token is the
natural unit its symmetries move.

Tokens are gathered from the parameter slots (:mod:`netgraph.masks`) through one index
``[T, W]`` per architecture, and written back the same way; buffers take PyTorch's defaults. An
architecture with learnable values outside every layer's neurons (e.g. a LayerNorm on a residual
stream) is refused with a clear error.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> model = mlp([4, 16, 3])
    >>> layout = TokenLayout.of(netgraph.trace(model))
    >>> layout.index.shape                                   # 16 + 3 neurons, 16 weights + 1 bias at most
    torch.Size([19, 17])
    >>> batch = netgraph.from_module(model)
    >>> back = layout.graphs(layout.tokens(batch))
    >>> torch.equal(netgraph.to_state_dict(back)["2.weight"], model.state_dict()["2.weight"])
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Batch, Data

from netgraph.graph import graph_specs
from netgraph.spec import GraphSpec
from netgraph.types import NodeFeature

from netgraph.masks import fill_parameter_slots, num_parameter_slots, read_parameter_slots
from .target_architecture import TargetArchitecture

__all__ = ["TokenLayout", "token_shape"]

_NODE_COLUMNS = (NodeFeature.BIAS, NodeFeature.NORM_WEIGHT, NodeFeature.NORM_BIAS)


def token_shape(record: TargetArchitecture) -> tuple[int, int]:
    """``(T, W)``: the token count and width of an architecture, from its record alone."""
    if not record.layers:
        raise ValueError("the architecture has no weight layers: nothing to tokenise")
    return (
        sum(layer["n_out"] for layer in record.layers),
        max(layer["row"] + layer["node_values"] for layer in record.layers),
    )


@dataclass(frozen=True)
class TokenLayout:
    """Where each token value comes from: ``index [T, W]`` into the parameter-slot vector (``-1``:
    padding); ``layer [T]`` the weight layer of each token; ``group [T, W]`` what kind of value each
    position holds (``layer * 4``: a weight, ``+ 1 + j``: the ``j``-th node value, ``-1``: padding),
    so that statistics can be taken per layer and kind."""

    spec: GraphSpec
    index: torch.Tensor
    layer: torch.Tensor
    group: torch.Tensor

    @classmethod
    def of(cls, spec: GraphSpec) -> "TokenLayout":
        num = num_parameter_slots(spec)
        # a graph whose slot values are their own ids + 1 (0: not a slot) tells where each token value lives
        ids = fill_parameter_slots(spec, torch.arange(1, num + 1, dtype=torch.float64).unsqueeze(0))
        x = ids.x.view(spec.num_nodes, -1)
        edge_attr = ids.edge_attr.view(1, spec.num_edges, -1)
        rows, layer_of, groups = [], [], []
        for i, layer in enumerate(spec.layers):  # a loop over layers
            piece = layer.weight
            weights = spec.edge_block(edge_attr, piece).reshape(piece.n_out, -1)
            node_values = x[piece.out_nodes][:, list(_NODE_COLUMNS)]
            node_values = node_values[:, (node_values > 0).any(0)]
            rows.append(torch.cat([weights, node_values], dim=1))
            layer_of.append(torch.full((piece.n_out,), i))
            kinds = [0] * weights.shape[1] + list(range(1, node_values.shape[1] + 1))
            groups.append(torch.tensor(kinds).add(4 * i).expand(piece.n_out, -1))
        width = max(r.shape[1] for r in rows)
        index = torch.cat([torch.nn.functional.pad(r, (0, width - r.shape[1])) for r in rows]).round().long() - 1
        used = index[index >= 0]
        if len(used.unique()) != len(used):
            raise ValueError("a learnable value belongs to two layers' tokens; this architecture cannot be tokenised")
        if len(used) != num:
            raise ValueError(
                f"{num - len(used)} of {num} learnable values of this architecture are not on a weight "
                "layer's neurons (e.g. a norm on the inputs or on a residual stream), so per-neuron tokens "
                "cannot hold them; weight diffusion supports MLPs / CNNs whose parameters are layer weights, "
                "biases and norms right after a layer"
            )
        group = torch.cat([torch.nn.functional.pad(g, (0, width - g.shape[1]), value=-1) for g in groups])
        return cls(spec, index, torch.cat(layer_of), group)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.index.shape)

    def tokens(self, graphs: Data) -> torch.Tensor:
        """``[n, T, W]`` tokens of a graph / batch of this architecture (padding 0)."""
        specs = graph_specs(graphs)
        if specs[0].keys != self.spec.keys or specs[0].num_edges != self.spec.num_edges:
            raise ValueError("these graphs are not of the architecture of this token layout")
        values = read_parameter_slots(graphs if isinstance(graphs, Batch) else Batch.from_data_list([graphs]))
        index = self.index.to(values.device)
        padded = torch.cat([values, values.new_zeros(values.shape[0], 1)], dim=1)  # index -1 reads the zero
        return padded[:, index]

    def graphs(self, tokens: torch.Tensor) -> Batch:
        """``n`` graphs from tokens ``[n, T, W]`` (padding ignored), differentiably."""
        if tokens.dim() != 3 or tuple(tokens.shape[1:]) != self.shape:
            raise ValueError(
                f"tokens must be [n, {self.shape[0]}, {self.shape[1]}] for this architecture, got {tuple(tokens.shape)}"
            )
        index = self.index.to(tokens.device)
        valid = index >= 0
        values = tokens.new_zeros(tokens.shape[0], int(valid.sum()))
        values[:, index[valid]] = tokens[:, valid]
        return fill_parameter_slots(self.spec, values)
