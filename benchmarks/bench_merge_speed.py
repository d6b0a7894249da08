"""Speed of weight matching and of batched augmentations, against baselines measured in the same run.

Run: python benchmarks/bench_merge_speed.py [--width 64] [--repeats 3] [--device cpu|cuda]

1. Weight matching (Git Re-Basin) of a pair of ResNet-20 (width 64 = "ResNet-20x4", 4.3M parameters,
   independent inits): ``netgraph.align(a, b)`` against the ``rebasin`` package (PyPI, 0.0.47,
   ``PermutationCoordinateDescent``) on the same pair. Both run to their own convergence test;
   the time covers everything each needs from two modules to the permutation (netgraph: tracing,
   conversion, matching; rebasin: its graph tracing, matching). Also printed: the squared weight
   distance ``||A - P(B)||^2`` each reaches (lower is better) and that both keep B's function.
2. Batched augmentations on 256 Small CNN Zoo networks: one call on the whole batch against the
   same transform applied graph by graph (``Batch.to_data_list`` + transform + ``from_data_list``).
3. Linear assignment of a batch of score matrices: scipy, one C call per matrix (the baseline, what
   ``method="auto"`` uses), against the batched torch auction (``method="auction"``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import warnings

import torch
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet
from netgraph.augment import compose
from _timing import median_time


def weight_matching(width: int, repeats: int, device: str) -> None:
    from rebasin import PermutationCoordinateDescent

    torch.manual_seed(0)
    a, b = cifar_resnet(20, width).eval(), cifar_resnet(20, width).eval()
    x = torch.randn(2, 3, 32, 32)
    params = sum(p.numel() for p in a.parameters())

    def ours():
        ga, gb = netgraph.from_module(a.to(device)), netgraph.from_module(b.to(device))
        perm = netgraph.align(ga, gb, device=device)
        return netgraph.to_module(netgraph.permute(gb, perm).cpu(), b.cpu())

    def theirs():
        b_copy = copy.deepcopy(b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            PermutationCoordinateDescent(a, b_copy, x).rebasin()
        return b_copy

    def distance(m):
        with torch.no_grad():
            return float(
                sum(
                    (p - q).pow(2).sum()
                    for p, q in zip(a.state_dict().values(), m.state_dict().values())
                    if p.is_floating_point()
                )
            )

    t_ours, t_theirs = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both
        t, aligned_ours = median_time(ours, 1)
        t_ours.append(t)
        t, aligned_theirs = median_time(theirs, 1)
        t_theirs.append(t)
    with torch.no_grad():
        same_ours = torch.allclose(aligned_ours(x), b(x), atol=1e-4)
        same_theirs = torch.allclose(aligned_theirs(x), b(x), atol=1e-4)
    mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
    print(f"weight matching, ResNet-20 width {width} ({params / 1e6:.2f}M parameters), median of {repeats}")
    print(
        f"  rebasin 0.0.47 (baseline): {mt:8.2f} s   distance {distance(b):.1f} -> {distance(aligned_theirs):.1f}"
        f"   keeps B's function: {same_theirs}"
    )
    print(
        f"  netgraph.align           : {mo:8.2f} s   distance {distance(b):.1f} -> {distance(aligned_ours):.1f}"
        f"   keeps B's function: {same_ours}"
    )
    print(f"  speed-up: {mt / mo:.1f}x")


def augmentations(repeats: int, device: str) -> None:
    model = SmallCNN(1)
    states = [SmallCNN(1).state_dict() for _ in range(256)]
    batch = netgraph.from_state_dicts(model, states).to(device)
    pipeline = compose(["permutation", "relu_scaling", {"name": "gaussian_noise", "std": 0.05}, "dropout"])

    def whole():
        return pipeline(batch)

    def one_by_one():
        return Batch.from_data_list([pipeline(g) for g in batch.to_data_list()])

    whole()
    t_whole, _ = median_time(whole, repeats)
    t_loop, _ = median_time(one_by_one, repeats)
    print(f"augmentations (permutation, ReLU scaling, noise, dropout) on 256 Small CNN Zoo nets, median of {repeats}")
    print(f"  graph by graph (baseline): {t_loop * 1e3:8.1f} ms")
    print(f"  whole batch              : {t_whole * 1e3:8.1f} ms   ({256 / t_whole:,.0f} networks/s)")
    print(f"  speed-up: {t_loop / t_whole:.1f}x")


def assignments(repeats: int, device: str) -> None:
    from netgraph.merge import linear_assignment

    for count, n in ((64, 32), (8, 128)):
        scores = torch.randn(count, n, n, generator=torch.Generator().manual_seed(0)).to(device)
        t_scipy, exact = median_time(lambda: linear_assignment(scores, method="scipy"), repeats)
        t_auction, fast = median_time(lambda: linear_assignment(scores, method="auction"), repeats)
        rows = torch.arange(n, device=device)
        gap = float((scores[:, rows, exact].sum(1) - scores[:, rows, fast].sum(1)).abs().max())
        print(f"linear assignment of {count} matrices {n}x{n} on {device}, median of {repeats}")
        print(f"  scipy, one call per matrix (baseline): {t_scipy * 1e3:8.1f} ms")
        print(
            f"  batched auction                      : {t_auction * 1e3:8.1f} ms   "
            f"(ratio {t_scipy / t_auction:.2f}x, largest score gap to scipy {gap:.1e})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 by default: the development machine's 2 cores are shared)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weight_matching(args.width, args.repeats, args.device)
    augmentations(max(args.repeats, 5), args.device)
    assignments(max(args.repeats, 5), args.device)


if __name__ == "__main__":
    main()
