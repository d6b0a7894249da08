"""Loss barriers of linear interpolation, naive vs aligned (the Git Re-Basin experiment), on digits.

Run: python benchmarks/bench_merge_barriers.py [--pairs 3] [--mlp-widths 16 64 256 1024]
     [--resnet-widths 4 8 16 32] [--epochs 40] [--cache DIR] [--figure barriers.png]

Networks are trained here from different seeds on scikit-learn's bundled ``load_digits`` (8x8
images, 1,437 train / 360 test, stratified split with ``random_state=0``): MLPs 64-h-h-10 (ReLU) and
ResNet-20 style CNNs (``netgraph.architectures.cifar_resnet(20, width, in_channels=1)``, BatchNorm).
For each pair (A, B) the script measures, on the test set, the loss and accuracy barriers of
``(1 - t) A + t P(B)`` for 11 values of ``t`` (BatchNorm statistics recomputed on the training inputs
at every point for the ResNets), where ``P`` is

* ``naive``: no alignment;
* ``weights``: ``netgraph.align(a, b)`` (weight matching);
* ``activations``: ``netgraph.align(a, b, "activations", data=train inputs)``;
* ``sinkhorn`` (MLPs up to ``--sinkhorn-max-width``): ``netgraph.align(a, b, "sinkhorn", data=(train
  batch), objective="midpoint")`` (its dense soft permutations cost ``O(width^3)`` per step);
* ``rebasin``: the ``rebasin`` package (PyPI 0.0.47, ``PermutationCoordinateDescent``), same pair, same run.

It prints one markdown row per (architecture, width, method): mean and std over the pairs of the loss
barrier, the accuracy barrier (in points) and the alignment time, the test accuracy of the midpoint
``(A + P(B)) / 2`` after REPAIR (``netgraph.merge.repair`` on the training inputs; MLPs only, the
ResNets' BatchNorm statistics are recomputed instead), plus the end points' accuracy. ``--figure``
also draws the test loss and accuracy along the path per method (``netgraph.viz.plot_barrier``: the
mean over the pairs, a band from the lowest to the highest), one row per architecture and width.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

import netgraph
from netgraph.architectures import cifar_resnet, mlp
from netgraph.merge import barrier, interpolate, repair


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=360, random_state=0, stratify=y)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32) / 16.0  # noqa: E731
    return as_x(x_train), torch.tensor(y_train), as_x(x_test), torch.tensor(y_test)


def make(kind: str, width: int) -> nn.Module:
    return mlp([64, width, width, 10]) if kind == "mlp" else cifar_resnet(20, width, num_classes=10, in_channels=1)


def shaped(kind: str, x: torch.Tensor) -> torch.Tensor:
    return x if kind == "mlp" else x.view(-1, 1, 8, 8)


def train(
    kind: str, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, epochs: int, cache: str | None
) -> nn.Module:
    """A network trained with Adam (lr 1e-3, cosine schedule, batch 64) from ``seed``."""
    model = make(kind, width)
    path = os.path.join(cache, f"{kind}{width}_seed{seed}_ep{epochs}.pt") if cache else None
    if path and os.path.exists(path):
        model.load_state_dict(torch.load(path))
        return model.eval()
    torch.manual_seed(seed)
    model = make(kind, width)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * ((len(x) + 63) // 64)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            loss = F.cross_entropy(model(shaped(kind, x[idx])), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    if path:
        os.makedirs(cache, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")
        os.close(fd)
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    return model


def aligned(method: str, kind: str, a: nn.Module, b: nn.Module, x_train, y_train) -> nn.Module:
    if method == "naive":
        return b
    if method == "rebasin":
        from rebasin import PermutationCoordinateDescent

        out = copy.deepcopy(b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            PermutationCoordinateDescent(a, out, shaped(kind, x_train[:8])).rebasin()
        return out
    if method == "weights":
        return netgraph.merge.rebasin(a, b)
    if method == "activations":
        return netgraph.merge.rebasin(a, b, "activations", data=shaped(kind, x_train))
    idx = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:512]
    return netgraph.merge.rebasin(
        a, b, "sinkhorn", data=(shaped(kind, x_train[idx]), y_train[idx]), objective="midpoint", steps=200, lr=0.1
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--mlp-widths", type=int, nargs="*", default=[16, 64, 256, 1024])
    parser.add_argument("--resnet-widths", type=int, nargs="*", default=[4, 8, 16, 32])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--sinkhorn-max-width", type=int, default=256)
    parser.add_argument("--cache", default=None, help="folder to keep trained networks in (reused if present)")
    parser.add_argument("--figure", default=None, help="also draw the interpolation curves to this image file")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 by default: the development machine's 2 cores are shared)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x_train, y_train, x_test, y_test = digits()
    print(
        "| model | width | method | loss barrier | accuracy barrier (points) | align time (s) | "
        "midpoint accuracy after REPAIR (%) | accuracy of A, B (%) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    runs = [("mlp", w) for w in args.mlp_widths] + [("resnet20", w) for w in args.resnet_widths]
    curves: dict[tuple[str, int], dict[str, list]] = {}
    for kind, width in runs:
        sinkhorn = kind == "mlp" and width <= args.sinkhorn_max_width
        methods = ["naive", "weights", "activations"] + (["sinkhorn"] if sinkhorn else []) + ["rebasin"]
        results = {m: [] for m in methods}
        end_points = []
        for pair in tqdm(range(args.pairs), desc=f"{kind} width {width}", leave=False):
            a = train(kind, width, 2 * pair, x_train, y_train, args.epochs, args.cache)
            b = train(kind, width, 2 * pair + 1, x_train, y_train, args.epochs, args.cache)
            for method in methods:
                start = time.perf_counter()
                try:
                    b_moved = aligned(method, kind, a, b, x_train, y_train)
                except Exception as err:  # the baseline package may not support a model: say so in the table
                    results[method].append(f"failed: {type(err).__name__}")
                    continue
                seconds = time.perf_counter() - start
                path = barrier(
                    a,
                    b_moved,
                    (shaped(kind, x_test), y_test),
                    steps=11,
                    bn_data=[shaped(kind, x_train[i : i + 256]) for i in range(0, len(x_train), 256)],
                )
                repaired = float("nan")
                if kind == "mlp":
                    mid = repair(interpolate(a, b_moved, 0.5), a, b_moved, x_train, t=0.5)
                    with torch.no_grad():
                        repaired = 100 * float((mid(x_test).argmax(1) == y_test).float().mean())
                results[method].append(
                    (float(path.loss_barrier), 100 * float(path.accuracy_barrier), seconds, repaired)
                )
                curves.setdefault((kind, width), {}).setdefault(method, []).append(path)
                if method == "naive":
                    end_points.append((100 * float(path.accuracy[0]), 100 * float(path.accuracy[-1])))
        accs = ", ".join(f"{ea:.1f}/{eb:.1f}" for ea, eb in end_points)
        for method, rows in results.items():
            if any(isinstance(r, str) for r in rows):
                print(f"| {kind} | {width} | {method} | {rows[0]} | | | | |")
                continue
            cols = [_mean_std([r[i] for r in rows]) for i in range(4)]
            cols[3] = "" if kind != "mlp" else cols[3]
            print(
                f"| {kind} | {width} | {method} | {cols[0]} | {cols[1]} | {cols[2]} | {cols[3]} | {accs} |", flush=True
            )
    if args.figure:
        draw_curves(curves, args.figure)


def draw_curves(curves: dict[tuple[str, int], dict[str, list]], path: str) -> None:
    """Loss and accuracy along the path, one row of two panels per (architecture, width)."""
    from netgraph.viz import new_figure, plot_barrier, save_figure

    fig, axes = new_figure((9.0, 3.0 * len(curves)), len(curves), 2)
    for row, ((kind, width), paths) in enumerate(curves.items()):
        plot_barrier(paths, ax=axes[2 * row : 2 * row + 2])
        pairs = len(next(iter(paths.values())))
        for ax, metric in zip(axes[2 * row : 2 * row + 2], ("loss", "accuracy")):
            ax.set_title(
                f"{kind} width {width}: test {metric}"
                + (f" (mean of {pairs} pairs, band: min-max)" if pairs > 1 else ""),
                fontsize=9,
            )
    save_figure(fig, path)
    print(f"figure: {path}")


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


if __name__ == "__main__":
    main()
