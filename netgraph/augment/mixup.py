"""Weight-space MixUp (Shamsian et al. 2024): convex combinations of networks of a batch.

Each graph is mixed with a random partner of the same architecture in the batch,
``lambda g + (1 - lambda) partner`` with ``lambda ~ Beta(alpha, alpha)`` per graph, and so are the
labels (``y``; class indices become one-hot with ``num_classes``). The partner is used as is
(``mode="plain"``), randomly permuted first (``"permute"``), or aligned to the graph by weight
matching (``"align"``: every pair of the batch in one coordinate descent, scores batched over the
pairs; each linear assignment is one scipy call, see :func:`netgraph.merge.linear_assignment`). It needs a collated ``Batch``: apply it in the training step, not as a dataset transform.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.augment import MixUp
    >>> nets = [mlp([2, 4, 1]).state_dict() for _ in range(4)]
    >>> batch = netgraph.from_state_dicts(mlp([2, 4, 1]), nets)
    >>> batch.y = torch.tensor([0, 1, 2, 1])
    >>> mixed = MixUp(mode="align", num_classes=3)(batch)
    >>> mixed.y.shape, torch.allclose(mixed.y.sum(1), torch.ones(4))
    (torch.Size([4, 3]), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from ..graph import make_batch, split_by_spec
from ..merge.align import align_batch
from ..batching import num_graphs
from ..symmetry import permute, random_permutation
from .base import GraphAugmentation

__all__ = ["MixUp", "MIXUP_MODES"]

MIXUP_MODES = ("plain", "permute", "align")


class MixUp(GraphAugmentation):
    """See the module docstring. ``align_iters`` bounds the weight-matching sweeps of ``mode="align"``."""

    def __init__(
        self,
        alpha: float = 1.0,
        mode: str = "plain",
        num_classes: int | None = None,
        align_iters: int = 10,
        generator: torch.Generator | None = None,
    ):
        super().__init__(generator)
        if mode not in MIXUP_MODES:
            raise ValueError(f"MixUp mode must be one of {MIXUP_MODES}, got {mode!r}")
        if alpha <= 0:
            raise ValueError(f"MixUp alpha (of the Beta(alpha, alpha) mixing weights) must be > 0, got {alpha}")
        self.alpha, self.mode, self.num_classes, self.align_iters = alpha, mode, num_classes, align_iters

    def forward(self, data: Data) -> Data:
        count = num_graphs(data)
        if getattr(data, "ptr", None) is None:
            raise ValueError(
                "MixUp mixes the graphs of a batch: apply it to a collated Batch (in the training "
                "step), not as a dataset transform on single graphs"
            )
        device = data.x.device
        beta = torch.distributions.Beta(torch.tensor(float(self.alpha)), torch.tensor(float(self.alpha)))
        lam = (
            beta.sample((count,)).to(device)
            if self.generator is None
            else _beta(self.alpha, count, self.generator).to(device)
        )
        partner = torch.arange(count, device=device)
        x, edge_attr = data.x.clone(), data.edge_attr.clone()
        for group in split_by_spec(data):
            spec, ids, nodes, edges = group.spec, group.graphs, group.nodes, group.edges
            order = self.rand(len(ids), device=device).argsort()  # partner of ids[i] is ids[order[i]]
            partner[ids] = ids[order]
            own_x, own_e = data.x[nodes], data.edge_attr[edges]  # [B_s, N, F], [B_s, E, K]
            mate_x, mate_e = self._prepare(
                spec, own_x, own_e, own_x[order], own_e[order], data.aux.new_zeros(len(ids), spec.aux_size)
            )
            w = lam[ids].view(-1, 1, 1)
            x[nodes.reshape(-1)] = (w * own_x + (1 - w) * mate_x).reshape(-1, x.shape[1]).to(x.dtype)
            edge_attr[edges.reshape(-1)] = (w * own_e + (1 - w) * mate_e).reshape(-1, edge_attr.shape[1]).to(x.dtype)
        out = {"x": x, "edge_attr": edge_attr}
        y = getattr(data, "y", None)
        if y is not None:
            out["y"] = self._mix_labels(y, lam, partner)
        return self.replaced(data, **out)

    def _prepare(self, spec, own_x, own_e, mate_x, mate_e, aux):
        """The partners, permuted or aligned to their graph as the mode says."""
        if self.mode == "plain":
            return mate_x, mate_e
        b = mate_x.shape[0]
        mates = make_batch(spec, mate_x, mate_e, aux)
        if self.mode == "permute":
            perm = random_permutation(mates, generator=self.generator)
        else:
            seed = int(torch.randint(0, 2**31, (), generator=self.generator))
            perm = align_batch(make_batch(spec, own_x, own_e, aux), mates, max_iter=self.align_iters, seed=seed)
        moved = permute(mates, perm, check=False)
        return moved.x.view(b, spec.num_nodes, -1), moved.edge_attr.view(b, spec.num_edges, -1)

    def _mix_labels(self, y: torch.Tensor, lam: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(y):
            if self.num_classes is None:
                raise ValueError(
                    "MixUp got class-index labels y; pass num_classes=... to mix them as one-hot "
                    "vectors (or give float targets)"
                )
            y = F.one_hot(y.long().view(-1), self.num_classes).to(lam.dtype)
        w = lam.view(-1, *([1] * (y.dim() - 1))).to(y.dtype)
        return w * y + (1 - w) * y[partner]


def _beta(alpha: float, count: int, generator: torch.Generator) -> torch.Tensor:
    """Beta(alpha, alpha) samples from a generator (ratio of Gamma variates; ``torch.distributions``
    takes no generator)."""
    a = torch._standard_gamma(torch.full((count,), float(alpha)), generator=generator)
    b = torch._standard_gamma(torch.full((count,), float(alpha)), generator=generator)
    return a / (a + b)
