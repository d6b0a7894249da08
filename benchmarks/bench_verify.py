"""Cost of the conversion self-check (``from_module(..., verify=...)``), to choose its default.

Run: python benchmarks/bench_verify.py [--repeats 5]

For each architecture prints the median time of
  * from_module(model, x, verify=False), first call (traces the architecture)   (the baseline)
  * from_module(model, x, verify=True),  first call (traces, then checks)        and its ratio
  * from_module(model, x), later calls (spec cached; the default checks only once per architecture)
  * from_module(model, verify=False / True) with no inputs, first call (torch.fx when it can trace
    the model; the check, and tracing when fx cannot, use inputs synthesised from the first layer)
Each first call gets a fresh copy of the model (prepared outside the timing), so nothing is cached.
"""

from __future__ import annotations

import argparse
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
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
