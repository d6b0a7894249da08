"""Conversion cost: module -> parameter graph -> state dict, against copying the state dict.

Run: python benchmarks/bench_convert.py [--device cpu|cuda] [--repeats 5] [--models cifar imagenet gpt2 llama zoo]

Models: ResNet-50 with a CIFAR stem (3x3 kernels at most, 23.5M parameters), ResNet-50 with the
ImageNet stem (one 7x7 conv, 25.6M parameters), a GPT-2-sized decoder (124M parameters: token and
position embeddings, 12 blocks of LayerNorm / Linear q, k, v / scaled-dot-product attention / GELU
MLP, final LayerNorm; the GPT-2 small shapes, random weights, no LM head, built here) and, with
``transformers`` installed, a grouped-query Llama (61M parameters: 4 layers of width 1024, 16 query
heads sharing 4 key/value heads, gated SiLU MLP of 2816, vocabulary 8000, untied LM head). For each:
  * copy.deepcopy(model.state_dict())           (the baseline, same run)
  * from_module with tracing (first call)        and its ratio to the baseline
  * from_module with the cached spec             and its ratio
  * to_state_dict                                and its ratio
  * the size of the padded ``edge_attr`` view metanetworks read (edges x common kernel), as a multiple
    of the state dict's bytes
  * peak memory growth (resident set, CPU only) of the first and of a cached from_module call, as a
    multiple of the state dict's bytes; each measured in a fresh process (``/proc/self/clear_refs``
    resets the high-water mark just before the call)
and for 1,000 Small-CNN-Zoo networks: from_state_dicts graphs/s (list of state dicts and stacked).
Use one torch thread (the script sets it; ``--threads`` changes it). Times are medians of the process
CPU time (``--clock wall`` for wall time; always wall time on a GPU).
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import netgraph
from netgraph.architectures import SmallCNN, resnet50
from _timing import median_time


class DecoderBlock(nn.Module):
    """Pre-norm GPT-2 block: LayerNorm, q/k/v projections, causal SDPA, output projection, GELU MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))
        self.fc, self.out = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, d = h.shape
        x = self.ln1(h)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (self.q(x), self.k(x), self.v(x)))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return h + self.out(F.gelu(self.fc(self.ln2(h))))


class Decoder(nn.Module):
    """GPT-2-sized decoder (defaults: GPT-2 small, 124.4M parameters) returning the final hidden states."""

    def __init__(self, vocab: int = 50257, context: int = 1024, dim: int = 768, depth: int = 12, heads: int = 12):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(context, dim)
        self.blocks = nn.ModuleList(DecoderBlock(dim, heads) for _ in range(depth))
        self.ln_f = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            h = block(h)
        return self.ln_f(h)


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK = CLOCKS["cpu"]


def timed(fn, repeats: int, sync) -> float:
    """Median time of ``fn`` over ``repeats`` runs (after one warm-up) on the chosen clock."""
    return median_time(fn, repeats, warmup=True, sync=sync, clock=CLOCK)[0]


def _kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_growth(fn) -> int:
    """Bytes by which the peak resident set grows while ``fn()`` runs (its result is kept until then)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set (VmHWM) to the current size
    before = _kib("VmRSS")
    result = fn()
    growth = (_kib("VmHWM") - before) * 1024
    del result
    return growth


def build(name: str, device) -> tuple[nn.Module, object, str]:
    """The model ``name``, its example inputs (None: torch.fx) and its label."""
    if name in ("cifar", "imagenet"):
        return resnet50(10 if name == "cifar" else 1000, name).to(device).eval(), None, f"ResNet-50 ({name} stem)"
    if name == "llama":
        import transformers

        config = transformers.LlamaConfig(
            vocab_size=8000,
            hidden_size=1024,
            intermediate_size=2816,
            num_hidden_layers=4,
            num_attention_heads=16,
            num_key_value_heads=4,
            max_position_embeddings=64,
        )
        model = transformers.LlamaForCausalLM(config).to(device).eval()
        ids = {"input_ids": torch.zeros(1, 8, dtype=torch.long, device=device)}
        return model, ids, "grouped-query Llama (16 query heads, 4 key/value heads)"
    return Decoder().to(device).eval(), torch.zeros(1, 8, dtype=torch.long, device=device), "GPT-2-sized decoder"


def memory_probe(name: str, which: str) -> None:
    """Print the peak memory growth of one from_module call (first or cached) in this fresh process."""
    model, example_inputs, _ = build(name, "cpu")
    if which == "cached":
        spec = netgraph.spec_of(model, example_inputs)
        print(peak_growth(lambda: netgraph.from_module(model, spec=spec)))
    else:
        print(peak_growth(lambda: netgraph.from_module(model, example_inputs)))


def probed_growth(name: str, which: str, threads: int) -> int:
    out = subprocess.run(
        [sys.executable, __file__, "--threads", str(threads), "--probe", name, which],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--models",
        nargs="+",
        default=["cifar", "imagenet", "gpt2", "llama", "zoo"],
        choices=["cifar", "imagenet", "gpt2", "llama", "zoo"],
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="process CPU time (default: steady on a shared machine; one thread) or wall time",
    )
    parser.add_argument("--probe", nargs=2, metavar=("MODEL", "first|cached"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = CLOCKS[args.clock]
    if args.device != "cpu" and args.clock == "cpu":
        CLOCK = CLOCKS["wall"]  # GPU work does not show in the process CPU time
    if args.probe:
        return memory_probe(*args.probe)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)

    for name in args.models:
        if name == "zoo":
            convert_zoo(args.repeats, sync, device)
        else:
            convert(name, args.repeats, sync, device, args.threads)
        gc.collect()


def convert(name: str, repeats: int, sync, device, threads: int) -> None:
    model, example_inputs, label = build(name, device)
    params = sum(p.numel() for p in model.parameters())
    state_bytes = sum(v.numel() * v.element_size() for v in model.state_dict().values())
    baseline = timed(lambda: copy.deepcopy(model.state_dict()), repeats, sync)

    def first_call():
        netgraph.convert._SPECS.clear()
        return netgraph.from_module(model, example_inputs)

    traced = timed(first_call, max(1, repeats // 2), sync)
    spec = netgraph.spec_of(model, example_inputs)
    cached = timed(lambda: netgraph.from_module(model, spec=spec), repeats, sync)
    memory = device.type == "cpu"
    first_mem = probed_growth(name, "first", threads) if memory else math.nan
    cached_mem = probed_growth(name, "cached", threads) if memory else math.nan
    graph = netgraph.from_module(model, spec=spec)
    back = timed(lambda: netgraph.to_state_dict(graph), repeats, sync)
    stored = sum(v.numel() * v.element_size() for v in graph.stores[0].values() if isinstance(v, torch.Tensor))
    mib = 2**20
    print(
        f"device {device}, clock {CLOCK.__name__}; {label}: {params / 1e6:.1f}M parameters, state dict {state_bytes / mib:.0f} MiB, "
        f"{graph.num_nodes} nodes, {spec.num_edges / 1e6:.2f}M edges, kernel {spec.kernel_shape}, "
        f"graph tensors {stored / mib:.0f} MiB"
    )
    print(f"  deepcopy(state_dict)          {baseline * 1e3:8.1f} ms   (baseline)")
    print(f"  from_module, traced           {traced * 1e3:8.1f} ms   ratio {traced / baseline:5.2f}x")
    print(f"  from_module, cached spec      {cached * 1e3:8.1f} ms   ratio {cached / baseline:5.2f}x")
    print(f"  to_state_dict                 {back * 1e3:8.1f} ms   ratio {back / baseline:5.2f}x")
    print(f"  peak memory growth, traced    {first_mem / mib:8.0f} MiB  ratio {first_mem / state_bytes:5.2f}x")
    print(f"  peak memory growth, cached    {cached_mem / mib:8.0f} MiB  ratio {cached_mem / state_bytes:5.2f}x")
    padded = spec.num_edges * spec.kernel_numel * torch.finfo(spec.dtype).bits // 8
    print(f"  padded edge_attr view         {padded / mib:8.0f} MiB  ratio {padded / state_bytes:5.2f}x")


def convert_zoo(repeats: int, sync, device) -> None:
    nets = []
    for seed in range(1000):
        torch.manual_seed(seed)
        nets.append({k: v.to(device) for k, v in SmallCNN(1).state_dict().items()})
    zoo_spec = netgraph.trace(SmallCNN(1))
    listed = timed(lambda: netgraph.from_state_dicts(zoo_spec, nets), repeats, sync)
    stacked = {k: torch.stack([n[k] for n in nets]) for k in nets[0]}
    stacked_time = timed(lambda: netgraph.from_state_dicts(zoo_spec, stacked), repeats, sync)
    pyg = timed(lambda: torch_geometric_batch(zoo_spec, nets), 1, sync)
    print(f"1,000 Small CNN Zoo nets ({zoo_spec.num_nodes} nodes, {zoo_spec.num_edges} edges each):")
    print(f"  from_state_dicts(list)        {listed * 1e3:8.1f} ms   {1000 / listed:9.0f} graphs/s")
    print(f"  from_state_dicts(stacked)     {stacked_time * 1e3:8.1f} ms   {1000 / stacked_time:9.0f} graphs/s")
    print(f"  one by one + Batch.from_data_list {pyg * 1e3:6.1f} ms   ratio to list path {pyg / listed:5.1f}x")


def torch_geometric_batch(spec, nets):
    from torch_geometric.data import Batch

    return Batch.from_data_list([netgraph.from_state_dict(spec, n) for n in nets])


if __name__ == "__main__":
    main()
