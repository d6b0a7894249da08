"""Effect of weight-space augmentations on a small zoo of classifiers (digits), augmentations on vs off.

Run: python benchmarks/bench_merge_augment.py [--seeds 3] [--train 100] [--epochs 60] [--cache DIR]

The zoo: 1,000 tanh MLPs 64-16-16-1 (``netgraph.architectures.mlp``), each trained (its own random
init, a random half of scikit-learn's ``load_digits``, 200 full-batch Adam steps, all networks at once
with ``vmap``) to tell one digit from the others, 100 networks per digit. The task: predict from the
weights which digit a network detects (10 classes). Fixed splits: ``--train`` networks for training (a
small zoo), 200 validation (for picking the epoch), 300 test.

Metanets (local to this script, until ``netgraph.metanets`` lands):
* ``gnn``: message passing on the parameter graphs (edge-gated messages in both directions, mean
  readout); invariant to neuron permutations by construction, not to sign flips;
* ``mlp``: an MLP on the flattened weights (no symmetry at all).

Each row trains one metanet ``--seeds`` times (AdamW, lr 1e-3, batch 64) with the listed
augmentations applied to every training batch (a collated ``Batch``, in one call) and reports the
test accuracy at the best validation accuracy (checked every 5 epochs; mean ± std over seeds). The
``x4 data`` row trains without augmentation on 4x more networks, the papers' yardstick ("gains
similar to several times more data").
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.func import functional_call, vmap
from torch_geometric.data import Batch
from torch_geometric.utils import scatter
from tqdm.auto import tqdm

import netgraph
from netgraph.architectures import mlp
from netgraph.augment import compose
from netgraph.augment.noise import edge_layers, node_layers
from netgraph.graph import make_batch

CONFIGS = {
    "none": [],
    "permutation": ["permutation"],
    "sign flip": ["sign_flip"],
    "noise + dropout + quantile": [{"name": "gaussian_noise", "std": 0.1}, {"name": "dropout", "p": 0.05},
                                   {"name": "quantile_zeroing", "q": 0.1}],
    "MixUp (plain)": [{"name": "mixup", "mode": "plain", "num_classes": 10, "alpha": 0.4}],
    "MixUp (aligned)": [{"name": "mixup", "mode": "align", "num_classes": 10, "alpha": 0.4}],
    "permutation + sign flip + MixUp (aligned)": [
        "permutation", "sign_flip", {"name": "mixup", "mode": "align", "num_classes": 10, "alpha": 0.4}],
}
ARCHITECTURE = [64, 16, 16, 1]


# ------------------------------------------------------------------------------------------ zoo
def train_zoo(per_digit: int, steps: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stacked state dicts ``{key: [10 * per_digit, *shape]}`` of one-digit detectors, and their digits."""
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x, dtype=torch.float32) / 16.0, torch.tensor(y)
    count = 10 * per_digit
    digits = torch.arange(10).repeat_interleave(per_digit)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = mlp(ARCHITECTURE, "tanh")
    inits = [mlp(ARCHITECTURE, "tanh").state_dict() for _ in range(count)]
    params = {k: torch.stack([s[k] for s in inits]).requires_grad_(True) for k in inits[0]}
    use = torch.rand(count, len(y), generator=generator) < 0.5  # each network sees its own half
    target = (y.unsqueeze(0) == digits.unsqueeze(1)).float()
    weight = use * torch.where(target > 0, 9.0, 1.0)  # balance the one-vs-rest classes
    forward = vmap(lambda p: functional_call(model, p, (x,)).squeeze(-1))
    optimizer = torch.optim.Adam(params.values(), lr=1e-2)
    for _ in tqdm(range(steps), desc="training the zoo", leave=False):
        loss = (F.binary_cross_entropy_with_logits(forward(params), target, reduction="none") * weight).sum(1) / use.sum(1)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    with torch.no_grad():
        balanced = ((forward(params) > 0).float() == target).float()
        acc = 0.5 * ((balanced * target * ~use).sum(1) / (target * ~use).sum(1)
                     + (balanced * (1 - target) * ~use).sum(1) / ((1 - target) * ~use).sum(1))
    print(f"zoo: {count} detectors, balanced accuracy on their held-out half {100 * float(acc.mean()):.1f}% "
          f"(min {100 * float(acc.min()):.1f}%)")
    return {k: v.detach() for k, v in params.items()}, digits


def zoo(per_digit: int, steps: int, cache: str | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    path = os.path.join(cache, f"digit_detectors_{per_digit}_{steps}.pt") if cache else None
    if path and os.path.exists(path):
        return torch.load(path)
    out = train_zoo(per_digit, steps, seed=0)
    if path:
        os.makedirs(cache, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")
        os.close(fd)
        torch.save(out, tmp)
        os.replace(tmp, path)
    return out


# ------------------------------------------------------------------------------------- metanets
class Normalizer(nn.Module):
    """Per-layer standardisation of weights and biases (statistics of the training zoo)."""

    def __init__(self, batch: Batch):
        super().__init__()
        spec = batch.spec[0]
        edge_layer, node_layer = edge_layers(spec), node_layers(spec)
        e = batch.edge_attr.view(batch.num_graphs, spec.num_edges, -1)
        b = batch.x.view(batch.num_graphs, spec.num_nodes, -1)[..., 0]
        edge_std = torch.stack([e[:, edge_layer == i].std() for i in range(int(edge_layer.max()) + 1)])
        bias_std = torch.stack([b[:, node_layer == i].std() for i in range(int(node_layer.max()) + 1)])
        self.register_buffer("edge_scale", 1 / edge_std.clamp_min(1e-8)[edge_layer.clamp(min=0)])
        self.register_buffer("bias_scale", 1 / bias_std.nan_to_num(1.0).clamp_min(1e-8)[node_layer])

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        g = batch.num_graphs
        edges = (batch.edge_attr.view(g, -1, batch.edge_attr.shape[1]) * self.edge_scale.view(1, -1, 1)).view_as(batch.edge_attr)
        bias = (batch.x[:, 0].view(g, -1) * self.bias_scale).view(-1, 1)
        return bias, edges


class GraphMetanet(nn.Module):
    """Message passing on parameter graphs, invariant to neuron permutations. Messages are
    edge-gated node features (``lin(h_src) * gate(w)``, O(hidden) per edge), in both directions."""

    def __init__(self, normalizer: Normalizer, hidden: int = 32, layers: int = 3, classes: int = 10):
        super().__init__()
        self.normalizer = normalizer
        self.role = nn.Embedding(64, hidden)  # (layer, position) of never-permuted nodes; layer of hidden ones
        self.node_in = nn.Linear(1, hidden)
        self.gates = nn.ModuleList(nn.Sequential(nn.Linear(1, 2 * hidden), nn.SiLU()) for _ in range(layers))
        self.sends = nn.ModuleList(nn.Linear(hidden, 2 * hidden) for _ in range(layers))
        self.updates = nn.ModuleList(nn.Sequential(nn.Linear(3 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
                                     for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, classes))

    def forward(self, batch: Batch) -> torch.Tensor:
        bias, edges = self.normalizer(batch)
        role = (batch.layer * 8 + (batch.node_pos + 1).clamp(max=7)).clamp(max=63)
        h = self.role(role) + self.node_in(bias)
        src, dst = batch.edge_index
        for gate, send, update in zip(self.gates, self.sends, self.updates):
            g_fwd, g_bwd = gate(edges).chunk(2, dim=1)
            s_fwd, s_bwd = send(h).chunk(2, dim=1)
            forward = scatter(s_fwd[src] * g_fwd, dst, 0, dim_size=h.shape[0])
            backward = scatter(s_bwd[dst] * g_bwd, src, 0, dim_size=h.shape[0])
            h = h + update(torch.cat([h, forward, backward], 1))
        return self.head(scatter(h, batch.batch, 0, reduce="mean"))


class FlatMetanet(nn.Module):
    """An MLP on the flattened (normalised) weights and biases."""

    def __init__(self, normalizer: Normalizer, spec, hidden: int = 256, classes: int = 10):
        super().__init__()
        self.normalizer = normalizer
        size = spec.num_edges * spec.kernel_numel + spec.num_nodes
        self.net = nn.Sequential(nn.Linear(size, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, batch: Batch) -> torch.Tensor:
        bias, edges = self.normalizer(batch)
        g = batch.num_graphs
        return self.net(torch.cat([edges.view(g, -1), bias.view(g, -1)], 1))


# -------------------------------------------------------------------------------------- training
def run(kind: str, augment: list, train_idx, val_idx, test_idx, zoo_graphs: Batch, labels: torch.Tensor,
        epochs: int, seed: int, eval_every: int = 5) -> float:
    torch.manual_seed(seed)
    spec = zoo_graphs.spec[0]
    x = zoo_graphs.x.view(len(labels), spec.num_nodes, -1)
    e = zoo_graphs.edge_attr.view(len(labels), spec.num_edges, -1)
    aux = zoo_graphs.aux.view(len(labels), -1)

    def subset(idx):  # a Batch of the zoo's networks idx (stacked tensors, no per-graph collation)
        batch = make_batch(spec, x[idx], e[idx], aux[idx])
        batch.y = labels[idx]
        return batch

    normalizer = Normalizer(subset(train_idx))
    model = GraphMetanet(normalizer) if kind == "gnn" else FlatMetanet(normalizer, spec)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    transform = compose(augment) if augment else None
    val, test = subset(val_idx), subset(test_idx)
    generator = torch.Generator().manual_seed(seed)
    best_val, best_test = -1.0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        for i in range(0, len(order), 64):
            batch = subset(order[i: i + 64])
            if transform is not None:
                batch = transform(batch)
            loss = F.cross_entropy(model(batch), batch.y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % eval_every and epoch != epochs:
            continue
        model.eval()
        with torch.no_grad():
            val_acc = float((model(val).argmax(1) == val.y).float().mean())
            if val_acc > best_val:
                best_val = val_acc
                best_test = float((model(test).argmax(1) == test.y).float().mean())
    return 100 * best_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train", type=int, default=100, help="training networks (the small zoo)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--zoo-steps", type=int, default=200)
    parser.add_argument("--metanets", nargs="*", default=["gnn", "mlp"])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--cache", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 by default: the development machine's 2 cores are shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    states, labels = zoo(100, args.zoo_steps, args.cache)
    graphs = netgraph.from_state_dicts(mlp(ARCHITECTURE, "tanh"), states)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    test_idx, val_idx, pool = order[:300], order[300:500], order[500:]
    print(f"| metanet | training networks | augmentations | test accuracy (%) | seeds |")
    print("|---|---|---|---|---|")
    for kind in args.metanets:
        rows = [(name, args.train) for name in args.configs] + [("none", 4 * args.train)]
        for name, size in rows:
            if size > len(pool):
                continue
            accs = [run(kind, CONFIGS[name], pool[:size], val_idx, test_idx, graphs, labels, args.epochs, seed)
                    for seed in tqdm(range(args.seeds), desc=f"{kind} {name} {size}", leave=False)]
            label = name if size == args.train else f"none (x{size // args.train} data)"
            spread = f" ± {statistics.stdev(accs):.1f}" if len(accs) > 1 else ""
            print(f"| {kind} | {size} | {label} | {statistics.mean(accs):.1f}{spread} | {len(accs)} |", flush=True)


if __name__ == "__main__":
    main()
