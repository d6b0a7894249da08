"""Cost of the architecture checks of issue 23: the fingerprint recorded at trace time and the spec cache key.

Run: python benchmarks/bench_fingerprint.py [--layers 12] [--repeats 5]

On a small GPT-2 (Hugging Face, traced with torch.export) it prints, each as a ratio to a baseline measured in
the same run (process CPU time, single-threaded):
  * the fingerprint of the traced program vs the whole ``trace`` call;
  * the spec cache key ``netgraph.convert._signature`` (parameters, module types and configuration, inputs)
    and the key before issue 23 (no module configuration) vs a copy of the state dict, the unit of issue 15's
    budgets (a cached ``from_module`` call pays the key once).
"""

from __future__ import annotations

import argparse
import time

import torch
import transformers

import netgraph
import netgraph.trace.fingerprint as fingerprints
from netgraph.convert import _signature
from netgraph.trace import _live_ops
from netgraph.trace.export_frontend import lower_export
from netgraph.trace.synthesize import call_kwargs


def _cpu_ms(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1e3


def _key_before(model: torch.nn.Module, inputs) -> tuple:
    """The cache key before issue 23: parameters, module types and inputs, no module configuration."""
    params = tuple((k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items())
    return params, tuple(type(m) for m in model.modules()), fingerprints.input_signature(inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = transformers.GPT2Config(
        vocab_size=100, n_embd=64, n_layer=args.layers, n_head=4, n_positions=32, use_cache=False
    )
    model = transformers.GPT2Model(config).eval()
    inputs = {"input_ids": torch.ones(2, 8, dtype=torch.long)}
    trace_ms = _cpu_ms(lambda: netgraph.trace(model, inputs), max(1, args.repeats // 2))
    program = lower_export(model, (), call_kwargs(model, inputs))
    live = _live_ops(program)
    print_ms = _cpu_ms(lambda: fingerprints.fingerprint(program, live), args.repeats)
    state = model.state_dict()
    copy_ms = _cpu_ms(lambda: {k: v.clone() for k, v in state.items()}, args.repeats)
    key_ms = _cpu_ms(lambda: _signature(model, inputs), args.repeats)
    before_ms = _cpu_ms(lambda: _key_before(model, inputs), args.repeats)
    modules = sum(1 for _ in model.modules())
    print(f"GPT-2, {args.layers} layers, {len(live)} traced ops, {modules} modules")
    print(f"fingerprint {print_ms:.2f} ms vs trace {trace_ms:.0f} ms: {print_ms / trace_ms:.2%}")
    print(f"cache key {key_ms:.2f} ms vs state-dict copy {copy_ms:.2f} ms: {key_ms / copy_ms:.1f}x")
    print(f"cache key without module configuration (before issue 23) {before_ms:.2f} ms: {before_ms / copy_ms:.1f}x")


if __name__ == "__main__":
    main()
