"""``python -m netgraph``: convert the bundled reference architectures and check the core guarantees.

For each architecture it prints the graph size, the number of symmetry groups, whether the
module -> graph -> state dict round trip is exact, and how far the outputs of a randomly permuted
copy are from the original (they should agree to float precision).
"""

from __future__ import annotations

import time

import torch

import netgraph
from netgraph.architectures import SmallCNN, Siren, cifar_resnet, mlp


def main() -> None:
    torch.manual_seed(0)
    cases = {
        "MLP 784-256-128-10": (mlp([784, 256, 128, 10]), torch.randn(8, 784)),
        "SIREN 2-32-32-1": (Siren(), torch.rand(64, 2)),
        "Small CNN Zoo net": (SmallCNN(1), torch.randn(8, 1, 28, 28)),
        "CIFAR ResNet-20": (cifar_resnet(20), torch.randn(4, 3, 32, 32)),
    }
    print(
        f"{'architecture':22s} {'params':>9s} {'nodes':>7s} {'edges':>9s} {'groups':>6s} {'exact':>6s} "
        f"{'perm max|dy|':>12s} {'ms':>7s}"
    )
    for name, (model, x) in cases.items():
        model.eval()
        start = time.perf_counter()
        graph = netgraph.from_module(model)
        elapsed = (time.perf_counter() - start) * 1e3
        state = netgraph.to_state_dict(graph)
        exact = all(torch.equal(state[k], v) for k, v in model.state_dict().items())
        permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
        with torch.no_grad():
            gap = (permuted(x) - model(x)).abs().max().item()
        print(
            f"{name:22s} {graph.num_params:9d} {graph.num_nodes:7d} {graph.num_edges:9d} "
            f"{graph.spec.num_groups:6d} {str(exact):>6s} {gap:12.2e} {elapsed:7.1f}"
        )


if __name__ == "__main__":
    main()
