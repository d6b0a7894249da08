"""Meta-pruning vs magnitude pruning vs Torch-Pruning's group-norm pruner: accuracy vs speed-up.

Run: python benchmarks/bench_prune.py [--families mlp vgg] [--seeds 0 1 2] [--speedups 1.5 2 3]
                                     [--finetune-epochs 3] [--step 0.02] [--sparsity S] [--out bench_prune.json]
                                     [--quick] [--figure bench_prune.png]
       python benchmarks/bench_prune.py --timing [mlp vgg resnet resnet56]   # pruning time only

For each family (``mlp``: 64-64-64-10 on flattened digits; ``vgg``: conv 16-16-M-32-32-M on 8x8
digits; ``vit``: TinyViT, 2 blocks of 4 heads x 8 + MLP 64, pruned by whole heads and MLP neurons, with
Torch-Pruning's head pruning as its baseline), on scikit-learn's digits (fixed train / val / test split):

1. a zoo of the family is trained (``build_pruning_zoo``, seed 0) and a GMN pruning metanet is
   meta-trained on it (``train_pruning_metanet``: CE of the edited nets + group lasso; checkpoint
   chosen on held-out zoo nets and the val split);
2. for every seed, a fresh network of the family (not in the zoo) is trained, then pruned to each
   FLOPs speed-up by the three routes (``metanet``: edit then L1 group norm; ``magnitude``: L1 group
   norm on the graph; ``torch_pruning``: Torch-Pruning MetaPruner + GroupMagnitudeImportance(p=2)),
   all with the same per-step schedule (so equal widths and FLOPs) and the same fine-tuning budget
   (``--finetune-epochs`` of Adam, best *val* epoch kept); test accuracy is reported.

``--figure`` draws the table: test accuracy vs FLOPs speed-up per method, pruned and fine-tuned, one
panel per family (``netgraph.viz.plot_pruning``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from netgraph.io import write_text
from netgraph.tasks.pruning import (
    build_pruning_zoo,
    finetune,
    get_family,
    measure,
    prune,
    prune_to_speedup,
    torch_pruning_to_speedup,
    train_pruning_metanet,
)
from netgraph.tasks.pruning.data import data_shape, load_data

META = {  # zoo and meta-training settings per family (CPU-sized)
    "mlp": {"num_nets": 48, "zoo_epochs": 10, "epochs": 30, "sparsity": 5e-3},
    "vgg": {"num_nets": 32, "zoo_epochs": 8, "epochs": 25, "sparsity": 5e-3},
    "vit": {"num_nets": 12, "zoo_epochs": 8, "epochs": 10, "sparsity": 5e-3},  # heads + MLP neurons
}
METHODS = ("metanet", "magnitude", "torch_pruning")


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def run_family(family_name: str, args: argparse.Namespace) -> list[dict]:
    family = get_family(family_name)
    data = load_data("digits", flatten=family.flatten)
    meta = dict(META[family_name])
    if args.sparsity is not None:
        meta["sparsity"] = args.sparsity
    if args.quick:
        meta.update(num_nets=4, zoo_epochs=1, epochs=1)
    started = time.perf_counter()
    zoo = build_pruning_zoo(family_name, data, meta["num_nets"], meta["zoo_epochs"], seed=0)
    zoo_seconds = time.perf_counter() - started
    started = time.perf_counter()
    trained = train_pruning_metanet(
        zoo=zoo,
        metanet_config={"dim": 16, "depth": 2, "head_hidden": 128, "edit_scale": 0.1},
        sparsity=meta["sparsity"],
        train={"epochs": meta["epochs"], "batch_size": 4, "lr": 3e-3},
        seed=0,
    )
    meta_seconds = time.perf_counter() - started
    best = trained.fit.best_metrics
    print(
        f"[{family_name}] zoo {len(zoo)} nets ({zoo_seconds:.0f} s, mean val acc {float(zoo.val_acc.mean()):.3f}); "
        f"metanet {meta_seconds:.0f} s, best epoch {trained.fit.best_epoch}: val ce {best['ce']:.3f}, "
        f"lasso {best['lasso']:.1f}",
        flush=True,
    )
    rows = []
    for seed in args.seeds:
        torch.manual_seed(100 + seed)
        model = family.build(data_shape(data), data.num_classes)
        finetune(model, data, 1 if args.quick else 15, lr=3e-3, seed=100 + seed)
        for speedup in args.speedups:
            for method in METHODS:
                started = time.perf_counter()
                result = prune(
                    model,
                    trained.metanet if method == "metanet" else None,
                    speedup,
                    data,
                    arch=family_name,
                    method=method,
                    finetune_epochs=args.finetune_epochs,
                    step=args.step,
                    seed=seed,
                )
                stages = {r["stage"]: r for r in result.rows}
                rows.append(
                    {
                        "family": family_name,
                        "seed": seed,
                        "target": speedup,
                        "method": method,
                        "speedup": result.speedup,
                        "params": result.after["params"],
                        "flops": result.after["flops"],
                        "original_test_acc": result.before["test_acc"],
                        "edited_test_acc": stages.get("edited", {}).get("test_acc"),
                        "pruned_test_acc": stages["pruned"]["test_acc"],
                        "test_acc": result.after["test_acc"],
                        "seconds": time.perf_counter() - started,
                    }
                )
                print(
                    f"  seed {seed} {speedup}x {method:<13} speed-up {result.speedup:.2f}x  "
                    f"acc {result.before['test_acc']:.3f} -> pruned {stages['pruned']['test_acc']:.3f} -> "
                    f"fine-tuned {result.after['test_acc']:.3f}",
                    flush=True,
                )
    return rows


def timing(arch: str, speedup: float, step: float) -> str:
    """Seconds to prune one untrained ``arch`` network to ``speedup`` (no fine-tuning): the graph route
    (trace + graph importance + DependencyGraph surgery per step) against Torch-Pruning's pruner."""
    family = get_family(arch)
    shape = (3, 32, 32) if arch.startswith("resnet") else (1, 8, 8) if arch == "vgg" else (64,)
    torch.manual_seed(0)
    model = family.build(shape, 10).eval()
    x = family.example_inputs(shape)
    out = []
    for name, fn in (
        ("graph magnitude", lambda: prune_to_speedup(model, x, speedup, step=step)),
        ("torch_pruning", lambda: torch_pruning_to_speedup(model, x, speedup, step=step)),
    ):
        started = time.perf_counter()
        pruned = fn()
        seconds = time.perf_counter() - started
        flops, params = measure(pruned, x)
        out.append((name, seconds, measure(model, x)[0] / flops, params))
    ratio = out[0][1] / out[1][1]
    lines = [f"| {arch} | {name} | {s:.2f} s | {r:.2f}x | {p:,} |" for name, s, r, p in out]
    return "\n".join(lines) + f"\n| {arch} | graph / torch_pruning time | {ratio:.2f} | | |"


def table(rows: list[dict]) -> str:
    lines = [
        "| family | target | speed-up | method | test acc before | pruned, no FT | fine-tuned |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    keys = sorted({(r["family"], r["target"]) for r in rows})
    for family, target in keys:
        for method in METHODS:
            sel = [r for r in rows if (r["family"], r["target"], r["method"]) == (family, target, method)]
            if not sel:
                continue
            lines.append(
                f"| {family} | {target}x | {statistics.mean(r['speedup'] for r in sel):.2f}x | {method} | "
                f"{mean_std([r['original_test_acc'] for r in sel])} | "
                f"{mean_std([r['pruned_test_acc'] for r in sel])} | {mean_std([r['test_acc'] for r in sel])} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["mlp", "vgg"], choices=sorted(META))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--speedups", nargs="+", type=float, default=[1.5, 2.0, 3.0])
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--step", type=float, default=0.02, help="share of every group's units removed per step")
    parser.add_argument("--sparsity", type=float, default=None, help="group-lasso weight (default: per family)")
    parser.add_argument("--out", default=None, help="write every row as JSON here")
    parser.add_argument("--figure", default=None, help="draw accuracy vs speed-up to this image file")
    parser.add_argument("--quick", action="store_true", help="tiny zoo / metanet / base training (smoke test)")
    parser.add_argument(
        "--timing",
        nargs="*",
        default=None,
        metavar="ARCH",
        help="only time pruning (no training) of these families, e.g. --timing resnet resnet56",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.timing is not None:
        print("| arch | route | seconds | speed-up | params |\n|---|---|---:|---:|---:|")
        for arch in args.timing or ["mlp", "vgg", "resnet", "resnet56"]:
            print(timing(arch, 2.0, args.step), flush=True)
        return
    started = time.perf_counter()
    rows = [row for name in args.families for row in run_family(name, args)]
    print(f"\n{table(rows)}\n\ntotal {time.perf_counter() - started:.0f} s")
    if args.out:
        write_text(args.out, json.dumps(rows, indent=1))
    if args.figure:
        draw(rows, args.figure)


def draw(rows: list[dict], path: str) -> None:
    """Accuracy vs speed-up per method (pruned and fine-tuned), one panel per family."""
    from netgraph.viz import new_figure, plot_pruning, save_figure

    families = sorted({r["family"] for r in rows})
    fig, axes = new_figure((5.0 * len(families), 3.8), 1, len(families))
    for ax, family in zip(axes, families):
        plot_pruning([r for r in rows if r["family"] == family], ax=ax, title=f"{family} on digits")
    save_figure(fig, path)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
