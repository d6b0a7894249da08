"""Which architectures weight matching handles: netgraph vs the ``rebasin`` package, same pairs.

Run: python benchmarks/bench_merge_support.py

For every architecture of the test suite (``tests/_models.py``: MLP, SIREN, CNNs, ResNet with
BatchNorm, flatten -> Linear, grouped / depthwise convolutions, attention: ``nn.MultiheadAttention``,
hand-written heads, transformer encoders, a tiny ViT, an embedding model), two independently
initialised networks A and B are aligned by weight matching with ``netgraph.merge.rebasin`` and
with ``rebasin.PermutationCoordinateDescent``. Printed per architecture and method: whether the
aligned B still computes B's function (to 1e-4), and the squared weight distance to A before and
after (alignment should lower it; "unchanged" means no weight moved).
"""

from __future__ import annotations

import copy
import pathlib
import sys
import warnings

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from _models import CASES, randomize_norm_stats  # noqa: E402

import netgraph  # noqa: E402


def distance(a, b) -> float:
    with torch.no_grad():
        return float(
            sum(
                (p - q).pow(2).sum()
                for p, q in zip(a.state_dict().values(), b.state_dict().values())
                if p.is_floating_point()
            )
        )


def main() -> None:
    from rebasin import PermutationCoordinateDescent

    torch.set_num_threads(1)
    print("| architecture | method | keeps B's function | weight distance to A: before -> after |")
    print("|---|---|---|---|")
    for name, (make, make_input, export) in CASES.items():
        torch.manual_seed(0)
        a = make().eval()
        randomize_norm_stats(a, 0)
        torch.manual_seed(1)
        b = make().eval()
        randomize_norm_stats(b, 1)
        x = make_input()
        example = (x,) if export else None
        with torch.no_grad():
            reference = b(x)
        theirs = copy.deepcopy(b)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                PermutationCoordinateDescent(a, theirs, x).rebasin()
            outcome = theirs
        except Exception as err:  # report, do not hide, what the package cannot do
            outcome = f"fails ({type(err).__name__})"
        ours = netgraph.merge.rebasin(a, b, example_inputs=example)
        before = distance(a, b)
        for method, result in (("netgraph", ours), ("rebasin 0.0.47", outcome)):
            if isinstance(result, str):
                print(f"| {name} | {method} | {result} | |")
                continue
            with torch.no_grad():
                same = torch.allclose(result(x), reference, atol=1e-4)
            after = distance(a, result)
            moved = "unchanged" if after == before else f"{after:.2f}"
            print(f"| {name} | {method} | {'yes' if same else 'NO'} | {before:.2f} -> {moved} |", flush=True)


if __name__ == "__main__":
    main()
