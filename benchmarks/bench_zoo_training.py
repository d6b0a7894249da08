"""Zoo training speed: 256 nets trained together (torch.func vmap) vs one by one, in the same run.

Run: python benchmarks/bench_zoo_training.py [--nets 256] [--epochs 1] [--inr-steps 200] [--threads N]
                                              [--device cpu|cuda]

1. Classifiers (the ``digits_cnn`` zoo):
Both sides do the same work: every net gets its own hyper-parameters (optimiser SGD / Adam /
RMSprop, learning rate, weight decay, dropout, init, train fraction; sampled from the
``digits_cnn`` preset, ReLU nets), trains ``epochs`` epochs of minibatches of 32 digits from its
own training subset, then is evaluated (loss and accuracy on its subset, val and test).

* vmap: :func:`netgraph.datasets.train_classifiers` (stacked parameters, ``vmap(functional_call)``,
  one vectorised optimiser for all nets).
* baseline, measured in the same run: a Python loop over nets, each an ``nn.Module`` with its own
  ``torch.optim`` optimiser (what one writes without netgraph).

2. INRs (the ``digits_inr`` zoo): one SIREN per digit image, ``--inr-steps`` full-batch Adam
   steps (no early stop), :func:`netgraph.datasets.fit_inrs` vs a loop of ``Siren`` + ``torch.optim.Adam``.

Prints both times, nets/s and the speed-up ratio of each.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from netgraph.architectures import Siren, SmallCNN
from netgraph.datasets import (
    classification_data,
    digit_images,
    fit_inrs,
    inr_grid,
    sample_hparams,
    train_classifiers,
    zoo_config,
)
from netgraph.datasets.train_classifiers import TRAINING_HPARAMS

OPTIMIZERS = {
    "sgd": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd),
    "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd),
    "rmsprop": lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr, weight_decay=wd),
}
INITS = {
    "he_normal": nn.init.kaiming_normal_,
    "he_uniform": nn.init.kaiming_uniform_,
    "glorot_normal": nn.init.xavier_normal_,
    "glorot_uniform": nn.init.xavier_uniform_,
}


def train_one_by_one(hp: dict[str, list], data, epochs: int, batch_size: int, device) -> list[dict[str, float]]:
    """The baseline: a loop over nets, each trained and evaluated on its own; returns their metrics."""
    metrics = []
    n_train = len(data.y["train"])
    steps = math.ceil(n_train / batch_size)
    for i in range(len(hp["learning_rate"])):
        model = SmallCNN(1, dropout=hp["dropout"][i]).to(device)
        for name, p in model.named_parameters():
            if p.dim() > 1:
                if hp["init"][i] == "normal":
                    nn.init.normal_(p, std=hp["init_std"][i])
                else:
                    INITS[hp["init"][i]](p)
            else:
                nn.init.zeros_(p)
        opt = OPTIMIZERS[hp["optimizer"][i]](model.parameters(), hp["learning_rate"][i], hp["weight_decay"][i])
        subset = torch.randperm(n_train, device=device)[: max(1, round(hp["train_fraction"][i] * n_train))]
        model.train()
        for _ in range(epochs):
            order = subset[torch.randperm(len(subset), device=device)].repeat(
                math.ceil(steps * batch_size / len(subset))
            )
            for s in range(steps):
                idx = order[s * batch_size : (s + 1) * batch_size]
                loss = F.cross_entropy(model(data.x["train"][idx]), data.y["train"][idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        record = {}
        with torch.no_grad():
            for split in ("train", "val", "test"):
                x, y = data.x[split], data.y[split]
                if split == "train":
                    x, y = x[subset], y[subset]
                logits = model(x)
                record[f"{split}_loss"] = F.cross_entropy(logits, y).item()
                record[f"{split}_acc"] = (logits.argmax(1) == y).double().mean().item()
        metrics.append(record)
    return metrics


def fit_one_by_one(coords: torch.Tensor, targets: torch.Tensor, steps: int, lr: float) -> list[float]:
    """The INR baseline: a loop over signals, one SIREN and one Adam each; returns the final MSEs."""
    losses = []
    for target in targets:
        model = Siren().to(coords.device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            loss = (model(coords) - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(loss.item())
    return losses


def timed(fn, sync):
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--inr-steps", type=int, default=200, help="0 skips the INR comparison")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    data = classification_data("digits", device=device)
    space = {k: v for k, v in zoo_config("digits_cnn").hparams.items() if k in TRAINING_HPARAMS}
    hp = sample_hparams(space, args.nets, seed=0)
    print(
        f"{args.nets} SmallCNN nets on digits ({len(data.y['train'])} training images), {args.epochs} epoch(s) of "
        f"batch {args.batch_size}, device {device}, {torch.get_num_threads()} threads"
    )

    torch.manual_seed(0)
    result, vmapped = timed(
        lambda: train_classifiers(
            SmallCNN(1),
            data,
            hp,
            args.epochs,
            [args.epochs],
            args.batch_size,
            torch.Generator(device).manual_seed(0),
            device,
        ),
        sync,
    )
    baseline, looped = timed(lambda: train_one_by_one(hp, data, args.epochs, args.batch_size, device), sync)
    print(
        f"vmap (netgraph.datasets.train_classifiers): {vmapped:8.2f} s  {args.nets / vmapped:8.1f} nets/s  "
        f"median test acc {result.metrics['test_acc'][:, -1].median().item():.3f}"
    )
    print(
        f"sequential loop (nn.Module + torch.optim):  {looped:8.2f} s  {args.nets / looped:8.1f} nets/s  "
        f"median test acc {torch.tensor([m['test_acc'] for m in baseline]).median().item():.3f}"
    )
    print(f"classifiers speed-up: {looped / vmapped:.1f}x")
    if args.inr_steps:
        images, _ = digit_images(device)
        coords, targets = inr_grid((8, 8), device=device), images[: args.nets].flatten(1).unsqueeze(-1)
        print(f"{len(targets)} SIRENs (2-32-32-1) on 8x8 digits, {args.inr_steps} full-batch Adam steps")
        fit, vmapped = timed(
            lambda: fit_inrs(
                Siren(),
                coords,
                targets,
                args.inr_steps,
                [args.inr_steps],
                1e-3,
                generator=torch.Generator(device).manual_seed(0),
                device=device,
            ),
            sync,
        )
        losses, looped = timed(lambda: fit_one_by_one(coords, targets, args.inr_steps, 1e-3), sync)
        print(
            f"vmap (netgraph.datasets.fit_inrs):          {vmapped:8.2f} s  {len(targets) / vmapped:8.1f} nets/s  "
            f"median mse {fit.metrics['mse'][:, -1].median().item():.2e}"
        )
        print(
            f"sequential loop (Siren + torch.optim.Adam): {looped:8.2f} s  {len(targets) / looped:8.1f} nets/s  "
            f"median mse {torch.tensor(losses).median().item():.2e}"
        )
        print(f"INR speed-up: {looped / vmapped:.1f}x")


if __name__ == "__main__":
    main()
