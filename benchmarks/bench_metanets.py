"""Graph metanets on sparse parameter graphs against the dense NG-style formulation.

Run: python benchmarks/bench_metanets.py [--device cpu|cuda] [--threads 1] [--repeats 7]

1. Forward + backward throughput (graphs/s) of GMN / NG-GNN (FiLM messages, PNA aggregation, edge
   updates) on batches of Small-CNN-Zoo graphs (59 nodes, 688 edges, 3x3 kernels), against the
   dense formulation of the public NG code: node features ``[B, N, d]`` and edge features on the
   full grid ``[B, N, N, d]`` with an adjacency mask, messages and edge updates computed for all
   ``N x N`` pairs. Both run the *same parameters* and give the same outputs (checked).
2. Peak memory of NG-T forward + backward, sparse (attention over real edges, ``O(E d)``) against
   dense (masked ``N x N`` attention, ``O(N^2 d)``), on CIFAR ResNets of growing depth (width 8):
   each measurement runs in a fresh subprocess; the peak is the growth of the process's resident
   set above its size before the step (``/proc/self/clear_refs`` resets the high-water mark), or
   ``torch.cuda.max_memory_allocated`` on a GPU.

The dense baselines below exist only here, to be measured against.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

import torch
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet
from netgraph.metanets import GMN, NGT, create_metanet
from _timing import median_time


# ---------------------------------------------------------------- dense NG-style formulation
def dense_inputs(model, batch):
    """Node features ``[B, N, d]``; edge features on the grid ``[B, N(target), N(source), d]``; mask ``[N, N]``."""
    spec = batch.spec[0]
    b, n, k = batch.num_graphs, spec.num_nodes, batch.edge_attr.shape[1]
    src, dst = spec.edge_index.to(batch.x.device)
    emb = model.embedding
    h = emb(batch)[0].view(b, n, -1)  # node part of the shared embedding (its sparse edge part is tiny)
    attr = batch.edge_attr.new_zeros(b, n, n, k)
    attr[:, dst, src] = batch.edge_attr.view(b, -1, k)
    kind = torch.zeros(n, n, dtype=torch.long, device=h.device)
    kind[dst, src] = spec.edge_type.to(h.device)
    mask = torch.zeros(n, n, dtype=torch.bool, device=h.device)
    mask[dst, src] = True
    e = emb.edge_values(attr) + emb.edge_type(kind)
    return h, e, mask


def dense_pna(m, mask, avg_log_degree):
    """PNA over the source axis of ``m [B, N, N, d]`` restricted to ``mask [N, N]`` (PyG's definitions)."""
    w = mask[None, :, :, None]
    deg = mask.sum(1).to(m.dtype)[None, :, None]
    count = deg.clamp(min=1)
    mean = (m * w).sum(2) / count
    var = (m * m * w).sum(2) / count - mean * mean
    has = deg > 0
    low = torch.where(has, m.masked_fill(~w, math.inf).amin(2), 0.0)
    high = torch.where(has, m.masked_fill(~w, -math.inf).amax(2), 0.0)
    std = var.clamp(min=1e-5).sqrt()
    std = std.masked_fill(std <= math.sqrt(1e-5), 0.0)
    out = torch.cat([mean, low, high, std], dim=-1)
    return torch.cat([out, out * (torch.log1p(deg) / avg_log_degree)], dim=-1)


def dense_pairs(module, h, e=None):
    """A :class:`PairwiseLinear` / :class:`EdgeMLP` on every (target i, source j) pair: ``[B, N, N, out]``."""
    source, target = module.node_terms(h)
    return (
        module.combine(source[:, None], target[:, :, None], e)
        if e is not None
        else module.combine(source[:, None], target[:, :, None])
    )


def dense_film(messages, h, e):
    """FiLM messages for every (target i, source j) pair: ``[B, N, N, d]``."""
    gamma, beta = messages.film(e).chunk(2, dim=-1)
    return torch.relu(dense_pairs(messages.pair, h) * (1 + gamma) + beta)


def dense_readout(model, h, e, mask):
    w = mask[None, :, :, None]
    edges = w.sum((1, 2)).clamp(min=1)
    pooled = [h.mean(1), h.amax(1), (e * w).sum((1, 2)) / edges, e.masked_fill(~w, -math.inf).amax((1, 2))]
    return model.head.mlp(torch.cat(pooled, dim=-1))


def dense_gmn(model: GMN, batch) -> tuple[torch.Tensor, ...]:
    """``(outputs [B, out], h [B, N, d], e [B, N, N, d], mask [N, N])`` of the dense formulation."""
    h, e, mask = dense_inputs(model, batch)
    for conv in model.layers:
        avg = conv.forward_messages.aggr_module.avg_log_degree
        forward = dense_pna(dense_film(conv.forward_messages, h, e), mask, avg)
        backward = dense_pna(dense_film(conv.backward_messages, h, e.transpose(1, 2)), mask.T, avg)
        h = conv.node_norm(h + conv.node_update(torch.cat([h, forward, backward], dim=-1)))
        e = conv.edge_norm(e + dense_pairs(conv.edge_update, h, e))
    return dense_readout(model, h, e, mask), h, e, mask


def dense_ngt(model: NGT, batch) -> tuple[torch.Tensor, ...]:
    """``(outputs [B, out], h [B, N, d], e [B, N, N, d], mask [N, N])`` of the dense formulation."""
    h, e, mask = dense_inputs(model, batch)
    n = h.shape[1]
    eye = torch.eye(n, dtype=torch.bool, device=h.device)
    relations = (mask | mask.T | eye)[None, :, :, None]
    for layer in model.layers:
        attn = layer.attention
        e_norm = layer.norm_r(e)
        r = (
            torch.where(mask[None, :, :, None], e_norm + layer.directions[0], 0.0)
            + torch.where(mask.T[None, :, :, None], e_norm.transpose(1, 2) + layer.directions[1], 0.0)
            + torch.where(eye[None, :, :, None], layer.directions[2], 0.0)
        )
        hn = layer.norm_h(h)
        split = lambda t: t.reshape(*t.shape[:-1], attn.heads, attn.head_dim)  # noqa: E731
        q = split(attn.query(hn))[:, :, None]
        k = split(attn.key(hn))[:, None] + split(attn.relation_key(r))
        v = split(attn.value(hn))[:, None] + split(attn.relation_value(r))
        scores = (q * k).sum(-1) / math.sqrt(attn.head_dim)
        alpha = torch.softmax(scores.masked_fill(~relations, -math.inf), dim=2)
        h = h + attn.out((alpha.unsqueeze(-1) * v).sum(2).reshape(*h.shape))
        h = h + layer.ffn(layer.norm_ffn(h))
        e = e + dense_pairs(layer.edge_mlp, h, layer.norm_e(e))
    h, e = model.final_norm_h(h), model.final_norm_e(e)
    return dense_readout(model, h, e, mask), h, e, mask


# ---------------------------------------------------------------- measurements
def max_gap(model, dense, batch) -> float:
    """Largest difference between the sparse model and its dense formulation, over the outputs and
    every node and edge feature after the last layer."""
    with torch.no_grad():
        out, h, e, mask = dense(model, batch)
        h_s, e_s = model.encode(batch)
        spec = batch.spec[0]
        src, dst = spec.edge_index.to(h.device)
        edges = e[:, dst, src].reshape(-1, e.shape[-1])
        return max(
            (model(batch) - out).abs().max().item(),
            (h_s - h.reshape(h_s.shape)).abs().max().item(),
            (e_s - edges).abs().max().item(),
        )


def timed(fn, repeats: int, sync, clock) -> float:
    """Median time of ``fn`` over ``repeats`` runs after one warm-up, on ``clock``."""
    return median_time(fn, repeats, warmup=True, sync=sync, clock=clock)[0]


def zoo_batch(count: int, device) -> Batch:
    nets = [SmallCNN(1) for _ in range(count)]
    return netgraph.from_state_dicts(nets[0], [m.state_dict() for m in nets]).to(device)


def throughput(args, device, sync) -> None:
    torch.manual_seed(0)
    # single-threaded CPU runs are timed in process CPU time, which other processes on a shared
    # machine barely disturb; GPU runs (and --threads > 1) in wall time
    cpu_clock = device.type == "cpu" and args.threads == 1
    clock = time.process_time if cpu_clock else time.perf_counter
    print(f"(times: median of {args.repeats}, {'process CPU time' if cpu_clock else 'wall time'})")
    print(
        f"\n1. GMN / NG-GNN forward+backward, Small CNN Zoo graphs (59 nodes, 688 edges, K=9), dim {args.dim}, "
        f"depth {args.depth}"
    )
    print(
        f"{'batch':>6s} {'sparse ms':>10s} {'sparse graphs/s':>16s} {'dense ms':>10s} {'dense graphs/s':>15s} "
        f"{'speed-up':>9s} {'max |diff|':>11s}"
    )
    print("(max |diff|: sparse vs dense, over the outputs and all node and edge features after the last layer)")
    model = create_metanet("gmn", dim=args.dim, depth=args.depth, head_hidden=128).to(device)
    for size in args.batch_sizes:
        batch = zoo_batch(size, device)
        diff = max_gap(model, dense_gmn, batch)
        sparse = timed(lambda: model(batch).sum().backward(), args.repeats, sync, clock)
        dense = timed(lambda: dense_gmn(model, batch)[0].sum().backward(), args.repeats, sync, clock)
        print(
            f"{size:6d} {sparse * 1e3:10.1f} {size / sparse:16,.0f} {dense * 1e3:10.1f} {size / dense:15,.0f} "
            f"{dense / sparse:8.1f}x {diff:11.1e}"
        )


NGT_ARCHS = {"resnet20": 20, "resnet32": 32, "resnet56": 56}


def ngt_batch(arch: str, device) -> Batch:
    torch.manual_seed(0)
    return Batch.from_data_list([netgraph.from_module(cifar_resnet(NGT_ARCHS[arch], 8), kernel_shape=(3, 3))]).to(
        device
    )


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_child(args) -> None:
    """One NG-T forward+backward in this (fresh) process; prints JSON with the peak growth in MiB."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    batch = ngt_batch(args.child_arch, device)
    model = create_metanet("ngt", dim=args.dim, depth=1, heads=4, head_hidden=128).to(device)
    run = (lambda: model(batch)) if args.child_kind == "sparse" else (lambda: dense_ngt(model, batch)[0])
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run().sum().backward()
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set (VmHWM) to the current size
        before = rss_kib("VmRSS")
        run().sum().backward()
        peak = (rss_kib("VmHWM") - before) / 1024
    print(json.dumps({"peak_mib": peak, "nodes": batch.num_nodes, "edges": batch.num_edges}))


def memory(args) -> None:
    print(f"\n2. NG-T forward+backward peak memory, one graph, dim {args.dim}, 1 block (CIFAR ResNets of width 8)")
    print(
        f"{'graph':>9s} {'nodes':>6s} {'edges':>7s} {'N^2':>10s} {'sparse MiB':>11s} {'dense MiB':>10s} "
        f"{'dense/sparse':>13s}   growth from the first row: edges, N^2, sparse, dense"
    )
    first = None
    for arch in NGT_ARCHS:
        result = {}
        for kind in ("sparse", "dense"):
            cmd = [
                sys.executable,
                __file__,
                "--child-kind",
                kind,
                "--child-arch",
                arch,
                "--device",
                args.device,
                "--dim",
                str(args.dim),
                "--threads",
                str(args.threads),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            result[kind] = json.loads(out)
        n, e = result["sparse"]["nodes"], result["sparse"]["edges"]
        row = (e, n * n, result["sparse"]["peak_mib"], result["dense"]["peak_mib"])
        first = first or row
        growth = "  ".join(f"{a / b:5.1f}x" for a, b in zip(row, first))
        print(
            f"{arch:>9s} {n:6d} {e:7d} {n * n:10,d} {row[2]:11.1f} {row[3]:10.1f} {row[3] / row[2]:12.1f}x   {growth}"
        )


def check_ngt(args, device) -> None:
    batch = ngt_batch("resnet20", device)
    model = create_metanet("ngt", dim=args.dim, depth=2, heads=4, head_hidden=128).to(device)
    print(
        f"NG-T sparse vs dense on ResNet-20 (width 8), 2 blocks: max |diff| of outputs, node and edge features "
        f"{max_gap(model, dense_ngt, batch):.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: stable on shared CPUs)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--skip", choices=["throughput", "memory"], nargs="*", default=[])
    parser.add_argument("--child-kind", choices=["sparse", "dense"], help=argparse.SUPPRESS)
    parser.add_argument("--child-arch", choices=sorted(NGT_ARCHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_kind:
        measure_child(args)
        return
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, device {device}, {args.threads} thread(s)")
    if "throughput" not in args.skip:
        throughput(args, device, sync)
    if "memory" not in args.skip:
        check_ngt(args, device)
        memory(args)


if __name__ == "__main__":
    main()
