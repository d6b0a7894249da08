"""Weight generation speed: n networks generated and run together vs one by one, in the same run.

Run: python benchmarks/bench_generate.py [--nets 256] [--repeats 5] [--threads 1] [--device cpu|cuda]

Both sides do the same work for a chunked MLP hypernetwork (MIP) and a graph hypernetwork
(``dim`` 16, depth 2) making Small-CNN-Zoo networks (SmallCNN, 16 channels, 4,970 parameters),
then run every generated network on the same 128 digits:

* vectorised: ``nets = gen.generate(target, n=nets)`` (one hypernetwork / GNN call for all
  networks) and ``nets(x)`` (one ``vmap(functional_call)``);
* baseline, measured in the same run: a Python loop of ``gen.generate(target, n=1)`` and the
  generated ``nn.Module`` called on ``x`` (what one writes when a generator returns one network).

Prints the median time of each side and the ratio; outputs are checked to agree in shape.
"""

from __future__ import annotations

import argparse

import torch

from netgraph.architectures import SmallCNN
from netgraph.datasets import classification_data
from netgraph.metanets import ChunkedHypernetwork, ParameterGraphHypernetwork
from _timing import median_time


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    target = SmallCNN(1).to(args.device).eval()
    x = classification_data("digits", device=args.device).x["test"][:128]
    generators = {
        "ChunkedHypernetwork (MIP)": ChunkedHypernetwork(target, mip=True),
        "ParameterGraphHypernetwork (GMN dim 16, depth 2)": ParameterGraphHypernetwork(
            dim=16, depth=2, kernel_shape=(3, 3), encoder_kwargs={"head_hidden": 128}
        ),
    }
    print(
        f"{args.nets} SmallCNN networks generated and run on {len(x)} digits; {args.threads} thread(s), "
        f"{args.device}, median of {args.repeats}"
    )
    for name, gen in generators.items():
        gen = gen.to(args.device).eval()
        gen.generate(target, n=2)(x)  # warm-up: trace the architecture once

        def vectorised():
            return gen.generate(target, n=args.nets)(x)

        def one_by_one():
            return torch.stack([gen.generate(target, n=1)[0](x) for _ in range(args.nets)])

        fast, out_fast = median_time(vectorised, args.repeats)
        slow, out_slow = median_time(one_by_one, max(1, args.repeats // 2))
        assert out_fast.shape == out_slow.shape == (args.nets, len(x), 10)
        print(
            f"{name}: vectorised {fast * 1e3:.0f} ms ({args.nets / fast:.0f} nets/s), one by one "
            f"{slow * 1e3:.0f} ms ({args.nets / slow:.0f} nets/s): {slow / fast:.1f}x"
        )


if __name__ == "__main__":
    main()
