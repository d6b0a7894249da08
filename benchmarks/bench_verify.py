"""Cost of the conversion self-check (``from_module(..., verify=...)``), to choose its default.

Run: python benchmarks/bench_verify.py [--repeats 5]
     python benchmarks/bench_verify.py --large [--repeats 1]   (the models of bench_convert.py)

For each architecture prints the median time of
  * from_module(model, x, verify=False), first call (traces the architecture)   (the baseline)
  * from_module(model, x, verify=True),  first call (traces, then checks)        and its ratio
  * from_module(model, x), later calls (spec cached; the default checks only once per architecture)
  * from_module(model, verify=False / True) with no inputs, first call (torch.fx when it can trace
    the model; the check, and tracing when fx cannot, use inputs synthesised from the first layer)
Each first call gets a fresh copy of the model (prepared outside the timing), so nothing is cached.

``--large``: ResNet-50 (ImageNet stem), the GPT-2-sized decoder and the grouped-query Llama of
bench_convert.py: process CPU time of one first call with verify=False and with verify=True, and the
peak resident-set growth of each (measured in a fresh process), as multiples of the state dict.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

import netgraph
from netgraph.architectures import cifar_resnet, mlp


def _transformer() -> nn.Module:
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
    return nn.Sequential(
        nn.Linear(16, 64), nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Linear(64, 10)
    )


CASES = {
    "MLP 784-256-256-10": (lambda: mlp([784, 256, 256, 10]), lambda: torch.randn(2, 784)),
    "ResNet-20 (width 16)": (lambda: cifar_resnet(20, 16), lambda: torch.randn(2, 3, 32, 32)),
    "Transformer encoder (2 x 64)": (_transformer, lambda: torch.randn(2, 6, 16)),
}


def first_calls(make, inputs, repeats: int, **kwargs) -> float:
    """Median time of from_module on fresh models (no cached spec)."""
    models = [make().eval() for _ in range(repeats + 1)]
    times = []
    for i, model in enumerate(models):
        start = time.perf_counter()
        netgraph.from_module(model, inputs, **kwargs)
        if i:  # the first one is a warm-up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def cached_calls(make, inputs, repeats: int) -> float:
    model = make().eval()
    netgraph.from_module(model, inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        netgraph.from_module(model, inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


LARGE = {"imagenet": "ResNet-50 (ImageNet stem)", "gpt2": "GPT-2-sized decoder", "llama": "grouped-query Llama"}


def large_probe(name: str, verify: str) -> None:
    """In a fresh process: print the CPU time and peak memory growth of one first from_module call."""
    from bench_convert import build, peak_growth

    model, inputs, _ = build(name, "cpu")
    start = time.process_time()
    growth = peak_growth(lambda: netgraph.from_module(model, inputs, verify=verify == "True"))
    print(time.process_time() - start, growth)


def large(repeats: int) -> None:
    from bench_convert import build

    print("| model | state dict | verify=False | verify=True | ratio | peak memory, verify=False | verify=True |")
    print("|---|---|---|---|---|---|---|")
    for name, label in LARGE.items():
        model, _, _ = build(name, "cpu")
        state = sum(v.numel() * v.element_size() for v in model.state_dict().values())
        del model
        runs = {}
        for verify in ("False", "True"):
            samples = [
                subprocess.run(
                    [sys.executable, __file__, "--probe", name, verify], capture_output=True, text=True, check=True
                ).stdout.split()[-2:]
                for _ in range(repeats)
            ]
            runs[verify] = (statistics.median(float(t) for t, _ in samples), max(int(m) for _, m in samples))
        (t0, m0), (t1, m1) = runs["False"], runs["True"]
        mib = 2**20
        print(
            f"| {label} | {state / mib:.0f} MiB | {t0 * 1e3:.0f} ms | {t1 * 1e3:.0f} ms | {t1 / t0:.2f}x | "
            f"{m0 / mib:.0f} MiB, {m0 / state:.2f}x | {m1 / mib:.0f} MiB, {m1 / state:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=None, help="default 5, or 1 with --large")
    parser.add_argument("--large", action="store_true", help="the large models of bench_convert.py")
    parser.add_argument("--probe", nargs=2, metavar=("MODEL", "VERIFY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    if args.probe:
        return large_probe(*args.probe)
    if args.large:
        return large(args.repeats or 1)
    args.repeats = args.repeats or 5
    print(
        "| architecture | with inputs, first call, verify=False | verify=True | ratio | later calls (default) | "
        "no inputs, first call, verify=False | verify=True | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (make, make_input) in CASES.items():
        x = make_input()
        base = first_calls(make, (x,), args.repeats, verify=False)
        checked = first_calls(make, (x,), args.repeats, verify=True)
        cached = cached_calls(make, (x,), args.repeats)
        bare = first_calls(make, None, args.repeats, verify=False)
        synthesised = first_calls(make, None, args.repeats, verify=True)
        print(
            f"| {name} | {base * 1e3:.1f} ms | {checked * 1e3:.1f} ms | {checked / base:.2f}x | "
            f"{cached * 1e3:.2f} ms | {bare * 1e3:.1f} ms | {synthesised * 1e3:.1f} ms | {synthesised / bare:.2f}x |"
        )


if __name__ == "__main__":
    main()
