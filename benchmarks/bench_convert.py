"""Conversion speed: module -> parameter graph -> state dict, against copying the state dict.

Run: python benchmarks/bench_convert.py [--device cpu|cuda] [--repeats 5]

Prints, for ResNet-50 (defined locally) with a CIFAR stem (3x3 kernels at most, 23.5M parameters)
and with the ImageNet stem (one 7x7 conv forces every edge feature to 49 values, 25.6M parameters):
  * copy.deepcopy(model.state_dict())           (the baseline, same run)
  * from_module with tracing (first call)        and its ratio to the baseline
  * from_module with the cached spec             and its ratio
  * to_state_dict                                and its ratio
and for 1,000 Small-CNN-Zoo networks: from_state_dicts graphs/s (list of state dicts and stacked).
"""

from __future__ import annotations

import argparse
import copy

import torch

import netgraph
from netgraph.architectures import SmallCNN, resnet50
from _timing import median_time


def timed(fn, repeats: int, sync) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (after one warm-up)."""
    return median_time(fn, repeats, warmup=True, sync=sync)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)

    for stem, classes in (("cifar", 10), ("imagenet", 1000)):
        convert_resnet(resnet50(classes, stem).to(device).eval(), stem, args.repeats, sync, device)

    nets = []
    for seed in range(1000):
        torch.manual_seed(seed)
        nets.append({k: v.to(device) for k, v in SmallCNN(1).state_dict().items()})
    zoo_spec = netgraph.trace(SmallCNN(1))
    listed = timed(lambda: netgraph.from_state_dicts(zoo_spec, nets), args.repeats, sync)
    stacked = {k: torch.stack([n[k] for n in nets]) for k in nets[0]}
    stacked_time = timed(lambda: netgraph.from_state_dicts(zoo_spec, stacked), args.repeats, sync)
    pyg = timed(lambda: torch_geometric_batch(zoo_spec, nets), 1, sync)
    print(f"1,000 Small CNN Zoo nets ({zoo_spec.num_nodes} nodes, {zoo_spec.num_edges} edges each):")
    print(f"  from_state_dicts(list)        {listed * 1e3:8.1f} ms   {1000 / listed:9.0f} graphs/s")
    print(f"  from_state_dicts(stacked)     {stacked_time * 1e3:8.1f} ms   {1000 / stacked_time:9.0f} graphs/s")
    print(f"  one by one + Batch.from_data_list {pyg * 1e3:6.1f} ms   ratio to list path {pyg / listed:5.1f}x")


def convert_resnet(model, stem: str, repeats: int, sync, device) -> None:
    params = sum(p.numel() for p in model.parameters())
    baseline = timed(lambda: copy.deepcopy(model.state_dict()), repeats, sync)

    def first_call():
        netgraph.convert._SPECS.clear()
        return netgraph.from_module(model)

    traced = timed(first_call, max(1, repeats // 2), sync)
    spec = netgraph.spec_of(model)
    cached = timed(lambda: netgraph.from_module(model, spec=spec), repeats, sync)
    graph = netgraph.from_module(model, spec=spec)
    back = timed(lambda: netgraph.to_state_dict(graph), repeats, sync)  # noqa: F821 (called before `del graph`)
    print(f"device {device}; ResNet-50 ({stem} stem): {params / 1e6:.1f}M parameters, {graph.num_nodes} nodes, "
          f"{graph.num_edges / 1e6:.2f}M edges, kernel {spec.kernel_shape}, "
          f"edge_attr {graph.edge_attr.numel() * 4 / 2**20:.0f} MiB")
    print(f"  deepcopy(state_dict)          {baseline * 1e3:8.1f} ms   (baseline)")
    print(f"  from_module, traced           {traced * 1e3:8.1f} ms   ratio {traced / baseline:5.2f}x")
    print(f"  from_module, cached spec      {cached * 1e3:8.1f} ms   ratio {cached / baseline:5.2f}x")
    print(f"  to_state_dict                 {back * 1e3:8.1f} ms   ratio {back / baseline:5.2f}x")
    del graph


def torch_geometric_batch(spec, nets):
    from torch_geometric.data import Batch
    return Batch.from_data_list([netgraph.from_state_dict(spec, n) for n in nets])


if __name__ == "__main__":
    main()
