"""Diagnostics behind the weight-generation results (RESULTS.md, "Weight generation").

Run after the recipes (they write ``generators/<name>``):

    python benchmarks/generate_diagnostics.py ghn --generator generators/digits-mlp-ghn
    python benchmarks/generate_diagnostics.py autoencoder --generator generators/digits-cnn-diffusion

* ``ghn``: what a graph hypernetwork's networks look like next to PyTorch's default initialisation
  (same architectures): effective rank of the first layer's weights (``(sum s)^2 / sum s^2`` of its
  singular values), the share of first-layer ReLU units dead on 256 test digits, and the mean
  Frobenius norm of every weight matrix.
* ``autoencoder``: how much of a weight-diffusion model's accuracy is lost before diffusion: the zoo
  networks it was trained on, encoded and decoded by its autoencoder (no sampling), against the
  networks themselves, plus the reconstruction MSE in standardised units.
"""

from __future__ import annotations

import argparse

import torch

from netgraph.architectures import SmallCNN, mlp
from netgraph.datasets import ZooDataset, load_zoo
from netgraph.hub import load_generator
from netgraph.metanets import DefaultInitGenerator, GeneratedNetworks
from netgraph.tasks import ClassificationTask


@torch.no_grad()
def ghn(args: argparse.Namespace) -> None:
    gen = load_generator(args.generator)
    task = ClassificationTask("digits", flatten=True, standardize=True)
    x = task.data.x["test"][:256]
    torch.manual_seed(0)
    print("| architecture | weights | first-layer effective rank | dead first-layer units | weight norms |")
    print("|---|---|---|---|---|")
    for sizes in ([64, 64, 10], [64, 32, 32, 10], [64, 32, 32, 32, 10]):
        target = mlp(sizes)
        for name, source in (("graph hypernetwork", gen), ("default init", DefaultInitGenerator())):
            sd = source.generate(target, n=args.nets).state_dicts
            singular = torch.linalg.svdvals(sd["0.weight"])
            rank = float((singular.sum(-1) ** 2 / singular.pow(2).sum(-1)).mean())
            hidden = torch.relu(torch.einsum("nhi,bi->nbh", sd["0.weight"], x) + sd["0.bias"][:, None])
            dead = float((hidden.amax(1) == 0).float().mean())
            norms = ", ".join(f"{k} {float(v.flatten(1).norm(dim=1).mean()):.2f}" for k, v in sd.items()
                              if k.endswith("weight"))
            print(f"| {'-'.join(map(str, sizes))} | {name} | {rank:.1f} | {dead:.2f} | {norms} |")


@torch.no_grad()
def autoencoder(args: argparse.Namespace) -> None:
    gen = load_generator(args.generator)
    zoo = load_zoo(args.zoo)
    data = ZooDataset(zoo, split="train")
    archs = [i for i, ref in enumerate(zoo.architectures) if ref["kwargs"].get("activation") == "relu"]
    index = torch.tensor([k for k, i in enumerate(data.net_ids.tolist()) if zoo.rows[i]["arch"] in archs])
    graphs = data[index].to_batch()
    target = SmallCNN(in_channels=1, num_classes=10, channels=16, activation="relu")
    task = ClassificationTask("digits")
    tokens, valid = gen.normalised_tokens(graphs)
    decoded = gen.decode(gen.latents(tokens), target)
    mse = float((gen.autoencoder.decode(gen.autoencoder.encode(tokens)) - tokens).pow(2)[:, valid].mean())
    original = task.evaluate(GeneratedNetworks(graphs, target))["test_acc"]
    rebuilt = task.evaluate(GeneratedNetworks(decoded, target))["test_acc"]
    print(f"{len(index)} zoo networks, tokens {tuple(tokens.shape)}, latent {tuple(gen.latents(tokens).shape[1:])}")
    print(f"test accuracy: zoo networks {float(original.mean()):.3f}, after encode + decode "
          f"{float(rebuilt.mean()):.3f}; reconstruction MSE (standardised) {mse:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["ghn", "autoencoder"])
    parser.add_argument("--generator", required=True, help="a generator folder written by a recipe")
    parser.add_argument("--zoo", default="zoos/digits-cnn", help="autoencoder: the zoo the model was trained on")
    parser.add_argument("--nets", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"ghn": ghn, "autoencoder": autoencoder}[args.check](args)


if __name__ == "__main__":
    main()
