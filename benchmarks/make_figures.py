"""The pictures of docs/viz.md that no table script draws: parameter graphs, INRs, weights, a confusion matrix.

Run: python benchmarks/make_figures.py [--out docs/figures] [--only graphs inrs weights confusion]

* ``graph_*.png``: ``plot_graph`` of a SmallCNN, a SIREN, a ResNet block, a transformer block (full
  drawings) and a CIFAR ResNet-20 (per-layer summary), networks at their PyTorch initialisation
  (``torch.manual_seed(0)``).
* ``inrs.png``: ``plot_inrs`` of a small ``digits_inr`` zoo (200 SIRENs) with ``netgraph-train``'s
  INR-editing figure: a DWSNet trained 5 epochs to dilate the digits (original / edited / target).
* ``confusion.png``: ``plot_confusion`` of a StatNN classifying the same INRs (``netgraph-train``'s
  INR-classification figure, 20 epochs).
* ``weight_stats.png``: ``plot_weight_stats`` of 64 networks from the bundled ``iris-mlp-hypernet``
  vs 64 MLPs of the ``iris_mlp`` zoo preset trained on iris.

The other figures of the docs come from the scripts that make RESULTS.md's tables
(``bench_merge_barriers.py --figure``, ``bench_prune.py --figure``, ``netgraph-train``'s
``test_figure.png``). One torch thread; about two minutes on an idle CPU core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import netgraph
from netgraph.architectures import Siren, SmallCNN, cifar_resnet
from netgraph.viz import plot_graph, plot_weight_stats, save_figure


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the identity, then ReLU (a ResNet basic block)."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def graphs(out: Path) -> None:
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
    cases = {
        "smallcnn": (SmallCNN(channels=8), {}),
        "siren": (Siren(hidden=16), {}),
        "resnet_block": (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), ResidualBlock(8)), {}),
        "transformer_block": (block, {"example_inputs": (torch.randn(1, 5, 16),)}),
        "resnet20_summary": (cifar_resnet(20, 16), {}),
    }
    for name, (module, kwargs) in cases.items():
        fig = plot_graph(netgraph.from_module(module, **kwargs))
        print(save_figure(fig, out / f"graph_{name}.png", dpi=100))


def inr_tasks(out: Path, root: Path) -> None:
    from netgraph.tasks import create_task, train_metanet

    zoo = {"preset": "digits_inr", "root": str(root / "digits-inr"), "num_nets": 200, "num_threads": 1}
    runs = {
        "inrs.png": ("inr_editing", "dwsnet", {"hidden": 8, "depth": 2}, 5),
        "confusion.png": ("inr_classification", "statnn", {"hidden": 64}, 20),
    }
    for name, (task, metanet, config, epochs) in runs.items():
        run_dir = root / task
        train_metanet(create_task(task, zoo=zoo), metanet, config, {"epochs": epochs, "progress": False}, run_dir)
        (out / name).write_bytes((run_dir / "test_figure.png").read_bytes())
        print(out / name)


def weights(out: Path, root: Path) -> None:
    from netgraph.datasets import build_zoo, load_zoo, zoo_config
    from netgraph.tasks import generate_weights

    generated = generate_weights("iris-mlp-hypernet", n=64, seed=0).state_dicts()
    zoo = load_zoo(
        build_zoo(zoo_config("iris_mlp", root=str(root / "iris"), num_nets=64, num_threads=1), progress=False)
    )
    trained = {k: v[:, -1] for k, v in zoo.weights[0].items()}  # [nets, checkpoints, *shape] -> the last checkpoint
    fig = plot_weight_stats(
        {"generated (iris-mlp-hypernet)": generated, "trained (iris_mlp zoo)": trained},
        title="MLP 4-16-16-3 on iris: 64 generated vs 64 trained networks",
    )
    print(save_figure(fig, out / "weight_stats.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument(
        "--only", nargs="+", default=["graphs", "inrs", "weights"], choices=["graphs", "inrs", "weights"]
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.only:
            {
                "graphs": lambda: graphs(out),
                "inrs": lambda: inr_tasks(out, Path(tmp)),
                "weights": lambda: weights(out, Path(tmp)),
            }[part]()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
