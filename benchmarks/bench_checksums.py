"""Cost of verifying checksums when loading a zoo: ``load_zoo(verify=True)`` vs ``verify=False``,
measured in the same run on the same synthetic zoo (random weights of Small CNN Zoo size).

    python benchmarks/bench_checksums.py --nets 1024 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_time  # noqa: E402

from netgraph.architectures import SmallCNN  # noqa: E402
from netgraph.datasets import Zoo, load_zoo  # noqa: E402


def synthetic_zoo(nets: int, checkpoints: int, generator: torch.Generator) -> Zoo:
    """``nets`` SmallCNNs with random weights at ``checkpoints`` checkpoints (one architecture)."""
    template = SmallCNN(1, channels=16)
    weights = {
        k: torch.randn(nets, checkpoints, *v.shape, generator=generator) for k, v in template.state_dict().items()
    }
    info = {
        "name": "bench",
        "architectures": [{"factory": "SmallCNN", "kwargs": {"in_channels": 1, "channels": 16}}],
        "checkpoints": list(range(checkpoints)),
    }
    metrics = {"test_acc": torch.rand(nets, checkpoints, generator=generator, dtype=torch.float64)}
    rows = [{"net_id": i, "arch": 0} for i in range(nets)]
    return Zoo(info, rows, metrics, [weights], [torch.arange(nets)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, default=1024)
    parser.add_argument("--checkpoints", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    zoo = synthetic_zoo(args.nets, args.checkpoints, torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        root = zoo.save(tmp, nets_per_shard=256)
        size = sum(p.stat().st_size for p in (root / "shards").iterdir()) / 2**20
        plain, _ = median_time(lambda: load_zoo(root, verify=False), args.repeats, warmup=True)
        checked, _ = median_time(lambda: load_zoo(root, verify=True), args.repeats, warmup=True)
    print(f"zoo: {args.nets} SmallCNNs x {args.checkpoints} checkpoints, {size:.1f} MiB of shards")
    print(f"load_zoo verify=False: {plain * 1e3:.1f} ms")
    print(
        f"load_zoo verify=True:  {checked * 1e3:.1f} ms  ({checked / plain:.2f}x; "
        f"{size / max(checked - plain, 1e-9):.0f} MiB/s of checking)"
    )


if __name__ == "__main__":
    main()
