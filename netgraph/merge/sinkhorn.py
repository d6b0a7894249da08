"""Sinkhorn re-basin (Guerrero-Pena et al., CVPR 2023): alignment as a differentiable problem.

Every symmetry group ``g`` gets a soft permutation ``P_g = sinkhorn(L_g / tau)`` (``[U, U]``, rows
and columns summing to one, ``P_g[target unit, source unit]``) of learnable logits. The soft
permutations act on B's graph exactly as the hard ones of :func:`netgraph.permute` do, level 1
(inside a block) then level 0 (whole blocks): for any list of nodes closed under the group moves
(a layer's outputs / inputs) the node-level matrix is ``Q = Q_0 Q_1``, and each weight layer becomes
``Q_out W Q_in^T`` (kernels carried along), each node feature ``Q x``. The logits are trained by
gradient descent on one of the paper's costs:

* ``"distance"``: ``||theta_A - P(theta_B)||^2`` over every learned weight (no data needed);
* ``"midpoint"``: the task loss of ``(theta_A + P(theta_B)) / 2`` on ``data = (inputs, targets)``;
* ``"random"``: the task loss at a uniformly random point ``(1 - t) theta_A + t P(theta_B)``.

At the end each group is hardened with a linear assignment on ``P_g``. Gradients flow through the
unrolled Sinkhorn iterations (the paper differentiates them implicitly; the result is the same
gradient at convergence, at the memory cost of the unrolled steps).

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> a = mlp([3, 6, 2]); g = netgraph.from_module(a)
    >>> b = netgraph.permute(g, netgraph.random_permutation(g, torch.Generator().manual_seed(0)))
    >>> perm = netgraph.align(g, b, method="sinkhorn", steps=150)
    >>> torch.equal(netgraph.permute(b, perm).edge_attr, g.edge_attr)
    True
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.data import Data
from tqdm.auto import tqdm

from ..population import Population
from ..spec import GraphSpec
from ..symmetry import entry_positions
from .assignment import linear_assignment
from ..masks import buffer_keys
from .matching import LEARNED_COLUMNS
from .plan import dense_block

__all__ = ["sinkhorn_rebasin", "sinkhorn", "SoftPermuter", "with_fixed_slot"]

OBJECTIVES = ("distance", "midpoint", "random")


def sinkhorn(logits: torch.Tensor, iters: int = 20) -> torch.Tensor:
    """Doubly-stochastic matrices from ``logits [..., n, n]`` by ``iters`` log-domain normalisations.

    >>> p = sinkhorn(torch.randn(4, 4))
    >>> torch.allclose(p.sum(0), torch.ones(4), atol=1e-4) and torch.allclose(p.sum(1), torch.ones(4), atol=1e-4)
    True
    """
    log_p = logits
    for _ in range(iters):
        log_p = log_p - log_p.logsumexp(-1, keepdim=True)
        log_p = log_p - log_p.logsumexp(-2, keepdim=True)
    return log_p.exp()


class SoftPermuter:
    """Applies soft (or hard) group permutations ``[G, U, U]`` to the weights of one spec."""

    def __init__(self, spec: GraphSpec, device: torch.device | str = "cpu"):
        self.spec = spec
        self.device = torch.device(device)
        topo = spec.on(self.device)
        self.group, self.unit, self.stride = topo["sym_group"], topo["sym_unit"], topo["sym_stride"]
        self.width = int(spec.group_units.max()) if spec.num_groups else 1
        self.units = spec.group_units.to(self.device)
        self.pieces = [
            (self.structure(p.out_nodes.to(self.device)), self.structure(p.in_nodes.to(self.device)))
            for p in spec.edge_pieces
        ]
        self.spaces = [self.structure(torch.arange(s.start, s.start + s.size, device=self.device)) for s in spec.spaces]

    def structure(self, nodes: torch.Tensor) -> tuple:
        """Where each node of ``nodes`` (closed under the group moves) may land, per level."""
        n = nodes.numel()
        cand = torch.arange(self.width, device=self.device)
        levels = []
        for level in reversed(range(self.group.shape[1])):  # inner columns first, then level 0
            group, unit, stride = self.group[nodes, level], self.unit[nodes, level], self.stride[nodes, level]
            moves = group >= 0
            valid = moves.unsqueeze(1) & (cand < self.units[group.clamp(min=0)].unsqueeze(1))
            valid |= (~moves).unsqueeze(1) & (cand == 0)
            dst_unit = torch.where(moves.unsqueeze(1), cand, 0).expand(n, -1)
            target = torch.where(
                moves.unsqueeze(1),
                nodes.unsqueeze(1) + (dst_unit - unit.unsqueeze(1)) * stride.unsqueeze(1),
                nodes.unsqueeze(1),
            )
            source = torch.arange(n, device=self.device).unsqueeze(1).expand(n, self.width)
            group = torch.where(moves, group, -1).unsqueeze(1).expand(n, self.width)  # -1: the fixed slot
            position = entry_positions(nodes, target.T).T  # a node listed twice: k-th entry -> k-th entry
            levels.append(
                (
                    position[valid],
                    source[valid],
                    group[valid],
                    dst_unit[valid],
                    unit.unsqueeze(1).expand(n, self.width)[valid],
                )
            )
        return n, levels

    def matrix(self, perms: torch.Tensor, structure: tuple) -> torch.Tensor:
        """``Q [n, n]``: ``Q[i, j]`` = weight with which the j-th node of B lands on the i-th node
        (``perms`` from :func:`with_fixed_slot`)."""
        n, levels = structure
        q = None
        for target, source, group, dst_unit, src_unit in levels:
            step = torch.zeros(n, n, dtype=perms.dtype, device=self.device)
            step = step.index_put((target, source), perms[group, dst_unit, src_unit], accumulate=True)
            q = step if q is None else step @ q
        return q

    def apply(
        self, perms: torch.Tensor, x: torch.Tensor, edge_attr: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """B's dense weight blocks ``[n_out, n_in, k]`` and learned node features ``[N, F']``, moved by ``perms``."""
        perms = with_fixed_slot(perms)
        blocks = []
        for piece, (out_s, in_s) in zip(self.spec.edge_pieces, self.pieces):
            w = dense_block(self.spec, edge_attr.unsqueeze(0), piece)[0]  # [n_out, n_in, k]
            n_out, n_in, k = w.shape
            rows = (self.matrix(perms, out_s) @ w.reshape(n_out, n_in * k)).view(n_out, n_in, k)
            blocks.append((rows.transpose(1, 2) @ self.matrix(perms, in_s).T).transpose(1, 2))
        feats = x[:, LEARNED_COLUMNS]
        moved = [
            self.matrix(perms, st) @ feats[sp.start : sp.start + sp.size]
            for sp, st in zip(self.spec.spaces, self.spaces)
        ]
        return blocks, torch.cat(moved)


def with_fixed_slot(perms: torch.Tensor) -> torch.Tensor:
    """Append a last group (index ``-1``) whose entry [0, 0] is 1: the weight of nodes that never move."""
    fixed = torch.zeros(1, *perms.shape[1:], dtype=perms.dtype, device=perms.device)
    fixed[0, 0, 0] = 1.0
    return torch.cat([perms, fixed])


def sinkhorn_rebasin(
    spec: GraphSpec,
    graph_a: Data,
    graph_b: Data,
    *,
    data: Any = None,
    model: nn.Module | None = None,
    objective: str | None = None,
    steps: int = 200,
    lr: float = 0.1,
    tau: float = 1.0,
    sinkhorn_iters: int = 20,
    init: str = "identity",
    noise: float = 0.01,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """Unit permutations ``[G, U]`` of B's groups found by Sinkhorn re-basin (see module docstring).

    Args:
        objective: ``"distance"`` (default without data), ``"midpoint"`` (default with data) or ``"random"``.
        data: ``(inputs, targets)`` for the data objectives (inputs in the ``example_inputs`` convention).
        model: a module of the architecture (needed to run the data objectives).
        steps, lr: Adam steps and learning rate on the logits.
        tau: temperature (logits are divided by it before the Sinkhorn normalisation).
        init: ``"identity"`` (logits favour B's current order) or ``"uniform"``.
        noise: std of the Gaussian noise added to the initial logits (breaks ties).
    """
    objective = objective or ("midpoint" if data is not None else "distance")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective != "distance" and (data is None or model is None):
        raise ValueError(
            f"objective={objective!r} evaluates the merged network: pass data=(inputs, targets) and "
            "the models as nn.Module (or use objective='distance')"
        )
    if init not in ("identity", "uniform"):
        raise ValueError(f"init must be 'identity' or 'uniform', got {init!r}")
    device = torch.device(device)
    if spec.num_groups == 0:
        return torch.zeros(0, 1, dtype=torch.long, device=device)
    permuter = SoftPermuter(spec, device)
    units, width = permuter.units, permuter.width
    cand = torch.arange(width, device=device)
    real = (cand.view(1, -1, 1) < units.view(-1, 1, 1)) & (cand.view(1, 1, -1) < units.view(-1, 1, 1))
    pad_diag = (~real) & (cand.view(1, -1, 1) == cand.view(1, 1, -1))
    logits = torch.randn(spec.num_groups, width, width, generator=generator).to(device) * noise
    if init == "identity":
        logits = logits + torch.eye(width, device=device)
    logits.requires_grad_(True)
    optimizer = torch.optim.Adam([logits], lr=lr)
    x_a, e_a = graph_a.x.to(device), graph_a.edge_attr.to(device)
    x_b, e_b = graph_b.x.to(device), graph_b.edge_attr.to(device)
    blocks_a = [dense_block(spec, e_a.unsqueeze(0), p)[0] for p in spec.edge_pieces]
    feats_a = x_a[:, LEARNED_COLUMNS]
    masked = torch.full_like(logits, float("-inf"))
    for _ in tqdm(range(steps), disable=not progress, desc="sinkhorn re-basin"):
        masked_logits = torch.where(real, logits / tau, torch.where(pad_diag, 0.0, masked))
        perms = sinkhorn(masked_logits, sinkhorn_iters)
        blocks_b, feats_b = permuter.apply(perms, x_b, e_b)
        if objective == "distance":
            loss = sum((wa - wb).pow(2).sum() for wa, wb in zip(blocks_a, blocks_b)) + (feats_a - feats_b).pow(2).sum()
        else:
            t = 0.5 if objective == "midpoint" else float(torch.rand((), generator=generator))
            loss = _task_loss(spec, model, graph_a, blocks_a, feats_a, blocks_b, feats_b, t, data, loss_fn)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = torch.where(real, logits, torch.where(pad_diag, 0.0, masked))
        match = torch.stack([_harden(final[g, :u, :u], width) for g, u in enumerate(units.tolist())])
    return match


def _harden(logits: torch.Tensor, width: int) -> torch.Tensor:
    """Unit map (B unit -> A unit) of the best hard permutation, padded with identity to ``width``."""
    u = logits.shape[0]
    cols = linear_assignment(logits)  # row = target unit, col = source unit
    unit_map = torch.arange(width, device=logits.device)
    unit_map[cols] = torch.arange(u, device=logits.device)
    return unit_map


def _task_loss(
    spec: GraphSpec,
    model: nn.Module,
    template: Data,
    blocks_a,
    feats_a,
    blocks_b,
    feats_b,
    t: float,
    data: Any,
    loss_fn,
) -> torch.Tensor:
    """Task loss of the network ``(1 - t) A + t P(B)`` on ``data = (inputs, targets)``."""
    inputs, targets = data
    x = template.x.clone()
    x[:, LEARNED_COLUMNS] = (1 - t) * feats_a + t * feats_b
    edge_attr = template.edge_attr.reshape(1, spec.num_edges, *spec.kernel_shape).clone()
    for piece, wa, wb in zip(spec.edge_pieces, blocks_a, blocks_b):
        merged = (1 - t) * wa + t * wb
        if piece.groups > 1:
            rows_per_group = piece.n_out // piece.groups
            cols = (torch.arange(piece.n_out, device=merged.device) // rows_per_group).unsqueeze(
                1
            ) * piece.n_in + torch.arange(piece.n_in, device=merged.device)
            merged = merged.gather(1, cols.unsqueeze(-1).expand(-1, -1, merged.shape[-1]))
        spec.write_edge_block(edge_attr, piece, merged.reshape(1, piece.num_edges, *piece.kernel))
    state = spec.scatter(x, edge_attr.reshape(spec.num_edges, -1), template.aux)
    buffers = buffer_keys(spec)
    state = {k: v.detach().clone() if k in buffers else v for k, v in state.items()}
    with _batchnorm_in_train_mode(model):
        out = Population({k: v.unsqueeze(0) for k, v in state.items()}, model, spec=spec).run(inputs)[0]
    return loss_fn(out, targets)


class _batchnorm_in_train_mode:
    """Evaluate with BatchNorm on batch statistics (the merged network has no valid running stats)."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        for m in self.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()

    def __exit__(self, *exc):
        for m, mode in self.modes.items():
            m.training = mode
