"""Training-step time of the graph metanets (GMN, NG-T, ScaleGMN, ScaleGMN-B) on SIREN batches.

Run: python benchmarks/bench_graph_metanets.py [--threads 1] [--repeats 5] [--batch 32]

One step is forward + backward + Adam on a batch of ``--batch`` parameter graphs of SIREN INRs
2 -> 32 -> 32 -> 1 (the ``mnist_inr`` zoo's architecture), with the widths of
``configs/metanet/<name>.yaml``. Prints the median ms/step of each model and the share of the step
spent in the scatter-reduce kernels (PyTorch's profiler), the known hot spot of PNA's min/max.

This is the baseline measurement of issue 27 item 3; no faster path exists yet to compare against.
"""

from __future__ import annotations

import argparse

import torch
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import Siren
from netgraph.metanets import create_metanet
from _timing import median_time

MODELS = ("gmn", "ngt", "scalegmn", "scalegmn_b")


def siren_batch(count: int) -> Batch:
    """``count`` parameter graphs of freshly initialised SIRENs 2 -> 32 -> 32 -> 1."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        graphs = [netgraph.from_module(Siren()) for _ in range(count)]
    return Batch.from_data_list(graphs)


def step_fn(model: torch.nn.Module, batch: Batch):
    """One forward + backward + Adam step of ``model`` on ``batch``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(batch).square().mean().backward()
        optimizer.step()

    return step


def scatter_share(step) -> float:
    """Fraction of self CPU time of one step spent in scatter / index-reduce kernels."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    scatter = sum(e.self_cpu_time_total for e in events if "scatter" in e.key or "index_reduce" in e.key)
    return scatter / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = siren_batch(args.batch)
    print(
        f"batch: {args.batch} SIREN graphs, {batch.num_nodes} nodes, {batch.num_edges} edges; {args.threads} thread(s)"
    )
    for name in MODELS:
        model = create_metanet(name, edge_features=batch.edge_attr.shape[1]).train()
        step = step_fn(model, batch)
        seconds, _ = median_time(step, args.repeats, warmup=True)
        print(
            f"{name:11s} {1000 * seconds:8.1f} ms/step   scatter kernels {100 * scatter_share(step):4.1f} % of self time"
        )


if __name__ == "__main__":
    main()
