"""Diagnostics behind the weight-generation results (RESULTS.md, "Weight generation").

Run after the recipes (they write ``generators/<name>``):

    python benchmarks/generate_diagnostics.py ghn --generator generators/digits-mlp-ghn
    python benchmarks/generate_diagnostics.py autoencoder --generator generators/digits-cnn-diffusion
    python benchmarks/generate_diagnostics.py pdiff --generator generators/digits-cnn-pdiff
    python benchmarks/generate_diagnostics.py flatness        # no generator needed: the recipe's checkpoints

* ``ghn``: what a graph hypernetwork's networks look like next to PyTorch's default initialisation
  (same architectures): effective rank of the first layer's weights (``(sum s)^2 / sum s^2`` of its
  singular values), the share of first-layer ReLU units dead on 256 test digits, and the mean
  Frobenius norm of every weight matrix.
* ``autoencoder``: how much of a weight-diffusion model's accuracy is lost before diffusion: the zoo
  networks it was trained on, encoded and decoded by its autoencoder (no sampling), against the
  networks themselves, plus the reconstruction MSE in standardised units.
* ``pdiff``: a weight-diffusion model trained on checkpoints of one run (``run_checkpoints``): the
  checkpoints are rebuilt from the recorded recipe (same seed); their accuracy encoded and decoded,
  the generated networks' (same seed and count as the recipe's evaluation), and a baseline that
  needs no generator: each generated network's nearest checkpoint plus isotropic Gaussian noise of
  the same norm as the generated network's offset from it.
* ``flatness``: why p-diff's protocol cannot tell a generator from that baseline: the
  ``digits_pdiff`` recipe's checkpoints are rebuilt (same seed) and a random checkpoint plus
  isotropic Gaussian noise of norm ``r`` is evaluated for a range of ``r`` (``--nets`` per radius):
  test accuracy against distance from the training set. Every sampler whose samples lie within the
  radius where accuracy holds scores the same.
"""

from __future__ import annotations

import argparse

import torch

import netgraph
from netgraph.architectures import SmallCNN, mlp
from netgraph.datasets import ZooDataset, load_zoo
from netgraph.hub import load_generator
from netgraph.metanets import DefaultInitGenerator, GeneratedNetworks
from netgraph.tasks import ClassificationProblem, checkpoints_of_one_run, nearest_checkpoint


@torch.no_grad()
def ghn(args: argparse.Namespace) -> None:
    gen = load_generator(args.generator)
    problem = ClassificationProblem("digits", flatten=True, standardize=True)
    x = problem.data.x["test"][:256]
    torch.manual_seed(0)
    print("| architecture | weights | first-layer effective rank | dead first-layer units | weight norms |")
    print("|---|---|---|---|---|")
    for sizes in ([64, 64, 10], [64, 32, 32, 10], [64, 32, 32, 32, 10]):
        target = mlp(sizes)
        for name, source in (("graph hypernetwork", gen), ("default init", DefaultInitGenerator())):
            sd = source.generate(target, n=args.nets).state_dicts()
            singular = torch.linalg.svdvals(sd["0.weight"])
            rank = float((singular.sum(-1) ** 2 / singular.pow(2).sum(-1)).mean())
            hidden = torch.relu(torch.einsum("nhi,bi->nbh", sd["0.weight"], x) + sd["0.bias"][:, None])
            dead = float((hidden.amax(1) == 0).float().mean())
            norms = ", ".join(
                f"{k} {float(v.flatten(1).norm(dim=1).mean()):.2f}" for k, v in sd.items() if k.endswith("weight")
            )
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
    problem = ClassificationProblem("digits")
    tokens, valid = gen.normalized_tokens(graphs)
    decoded = gen.decode(gen.latents(tokens), target)
    mse = float((gen.autoencoder.decode(gen.autoencoder.encode(tokens)) - tokens).pow(2)[:, valid].mean())
    original = problem.evaluate(GeneratedNetworks(graphs, target))["test_acc"]
    rebuilt = problem.evaluate(GeneratedNetworks(decoded, target))["test_acc"]
    print(f"{len(index)} zoo networks, tokens {tuple(tokens.shape)}, latent {tuple(gen.latents(tokens).shape[1:])}")
    print(
        f"test accuracy: zoo networks {float(original.mean()):.3f}, after encode + decode "
        f"{float(rebuilt.mean()):.3f}; reconstruction MSE (standardised) {mse:.3f}"
    )


@torch.no_grad()
def pdiff(args: argparse.Namespace) -> None:
    gen = load_generator(args.generator)
    config = dict(gen.trained_on["run_checkpoints"])
    problem = ClassificationProblem(config.pop("data"))
    target = gen.target_architecture.build()
    with torch.enable_grad():
        run = checkpoints_of_one_run(target, problem.data, **config)
    names = [k for k, _ in target.named_parameters()]
    graphs = netgraph.from_state_dicts(target, run.weights)
    decoded = gen.decode(gen.latents(gen.normalized_tokens(graphs)[0]), target)
    torch.manual_seed(0)
    nets = gen.generate(target, n=args.nets)
    flat = lambda p: torch.cat([p[k].flatten(1) for k in names], 1)  # noqa: E731
    g, c = flat(nets.state_dicts()), flat(run.weights)
    distance, nearest = torch.cdist(g, c).min(1)
    noise = torch.randn_like(g)
    noisy = c[nearest] + noise / noise.norm(dim=1, keepdim=True) * distance.unsqueeze(1)
    sizes = [run.weights[k][0].numel() for k in names]
    noisy = {k: v.view(-1, *run.weights[k].shape[1:]) for k, v in zip(names, noisy.split(sizes, 1))}
    mean = {k: run.weights[k].mean(0, keepdim=True) for k in names}
    rows = {
        "training checkpoints": run.metrics["test_acc"],
        "checkpoints encoded + decoded": problem.evaluate(GeneratedNetworks(decoded, target))["test_acc"],
        "generated": problem.evaluate(nets)["test_acc"],
        "nearest checkpoint + noise of the same norm": _accuracy(target, noisy, problem),
        "mean of the checkpoints": _accuracy(target, mean, problem),
    }
    print("| networks | n | test accuracy mean ± std | min | max |")
    print("|---|---|---|---|---|")
    for name, acc in rows.items():
        acc = acc.double()
        print(
            f"| {name} | {len(acc)} | {float(acc.mean()):.4f} ± {float(acc.std()) if len(acc) > 1 else 0:.4f} | "
            f"{float(acc.min()):.4f} | {float(acc.max()):.4f} |"
        )
    print(nearest_checkpoint(target, nets.state_dicts(), run.weights, problem.data))
    along = c[-1] - c[0]
    offset = g - c[nearest]
    cosine = (offset @ along) / (offset.norm(dim=1) * along.norm())
    print(
        f"|cos| of (generated - nearest checkpoint) with the run's first-to-last direction: "
        f"mean {float(cosine.abs().mean()):.3f} (random directions: ~{(2 / 3.1416 / g.shape[1]) ** 0.5:.3f})"
    )


@torch.no_grad()
def flatness(args: argparse.Namespace) -> None:
    from omegaconf import OmegaConf

    recipe = OmegaConf.to_container(OmegaConf.load("configs/generate_recipe/digits_pdiff.yaml"))
    problem = ClassificationProblem(recipe["problem"]["data"])
    target = SmallCNN(**recipe["targets"][0]["kwargs"])
    with torch.enable_grad():
        run = checkpoints_of_one_run(target, problem.data, **recipe["run_checkpoints"], seed=recipe["seed"])
    names = [k for k, _ in target.named_parameters()]
    sizes = [run.weights[k][0].numel() for k in names]
    c = torch.cat([run.weights[k].flatten(1) for k in names], 1)
    g = torch.Generator().manual_seed(0)
    print(f"checkpoints: {len(c)}, parameters: {c.shape[1]}, first-to-last distance {float((c[-1] - c[0]).norm()):.2f}")
    print("| noise norm r | test accuracy mean ± std | min |")
    print("|---|---|---|")
    for r in (0.0, 0.3, 0.6, 1.0, 2.0, 3.0, 5.0, 8.0):  # a loop over radii, each a batch of nets
        start = c[torch.randint(0, len(c), (args.nets,), generator=g)]
        noise = torch.randn(start.shape, generator=g)
        noisy = start + noise / noise.norm(dim=1, keepdim=True) * r
        params = {k: v.view(-1, *run.weights[k].shape[1:]) for k, v in zip(names, noisy.split(sizes, 1))}
        acc = _accuracy(target, params, problem).double()
        print(f"| {r:g} | {float(acc.mean()):.4f} ± {float(acc.std()):.4f} | {float(acc.min()):.4f} |")


def _accuracy(target, params, problem: ClassificationProblem) -> torch.Tensor:
    from netgraph.datasets import StackedModel, evaluate_classifiers

    return evaluate_classifiers(StackedModel(target), params, problem.data)["test_acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["ghn", "autoencoder", "pdiff", "flatness"])
    parser.add_argument("--generator", help="a generator folder written by a recipe (not for flatness)")
    parser.add_argument("--zoo", default="zoos/digits-cnn", help="autoencoder: the zoo the model was trained on")
    parser.add_argument(
        "--nets",
        type=int,
        default=16,
        help="ghn: nets per architecture; pdiff: generated nets (the recipe evaluated 64)",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"ghn": ghn, "autoencoder": autoencoder, "pdiff": pdiff, "flatness": flatness}[args.check](args)


if __name__ == "__main__":
    main()
