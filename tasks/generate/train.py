"""Training loops of weight generators (kept specific to generators and small).

* :func:`train_on_problem`: hypernetworks and graph hypernetworks learn from the loss (on the problem) of the
  networks they generate (Ha et al.; GHN-2): each step generates ``nets_per_step`` networks of
  every target architecture, runs them on a minibatch (``nets(x)``, one ``vmap`` call) and steps
  the generator on the mean loss.
* :func:`train_weight_diffusion`: the two stages of p-diff / D2NWG on a zoo: the weight
  autoencoder on standardised tokens, then the latent denoiser (and condition encoder) on the
  frozen autoencoder's latents.
* :func:`checkpoints_of_one_run`: p-diff's training set (Wang et al. 2024): checkpoints of *one*
  training run of the target, saved along its last epochs at a small constant learning rate (one
  basin), instead of a zoo of independently trained networks.

All three run on :func:`step_loop` (Adam at a constant rate, clipping, a tqdm bar) and return a
history of ``{"step", "loss", ...}`` rows.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import ChunkedHypernetwork
    >>> from netgraph.tasks import ClassificationProblem
    >>> target = mlp([4, 8, 3])
    >>> history = train_on_problem(ChunkedHypernetwork(target, chunk_size=16, hidden=[8]), ClassificationProblem("iris"),
    ...                         [target], steps=3, progress=False)
    >>> [row["step"] for row in history]
    [1, 2, 3]
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
import torch.nn as nn
from torch_geometric.data import Batch
from tqdm.auto import tqdm

from netgraph.datasets import ClassificationData, TrainResult, train_classifiers
from netgraph.metanets import WeightDiffusion, WeightGenerator
from netgraph.seeding import seeds_global_rng

from .problems import ClassificationProblem, SineProblem

__all__ = ["train_on_problem", "train_weight_diffusion", "checkpoints_of_one_run", "step_loop"]

ConditionFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@seeds_global_rng("seed")  # the generators' noise
def train_on_problem(
    generator: WeightGenerator,
    problem: ClassificationProblem | SineProblem,
    targets: Sequence[nn.Module],
    steps: int,
    lr: float = 1e-3,
    nets_per_step: int = 8,
    batch_size: int = 64,
    grad_clip: float = 1.0,
    seed: int = 0,
    eval_every: int = 0,
    eval_nets: int = 16,
    progress: bool = True,
) -> list[dict]:
    """Train ``generator`` on ``problem`` for ``steps`` Adam steps (see the module docstring).

    Args:
        targets: the architectures to generate (one for a fixed-target hypernetwork; a family for a
            graph hypernetwork; a loop over architectures per step).
        eval_every: every this many steps, add the mean validation accuracy of ``eval_nets`` fresh
            networks per target to the history (classification problems; 0: never).
    Returns:
        one row per step: ``{"step", "loss"}`` (+ ``"val_acc"`` at evaluation steps).
    """
    if steps < 1 or not targets:
        raise ValueError(
            f"train_on_problem needs steps >= 1 and at least one target; got steps={steps}, {len(targets)} targets"
        )
    device = next(generator.parameters()).device
    rng = torch.Generator(device).manual_seed(seed)
    generator.train()

    def loss_of_step(step: int) -> torch.Tensor:
        losses = []
        for target in targets:  # a loop over architectures
            condition, inputs, labels = problem.sample(nets_per_step, batch_size, rng)
            nets = generator.generate(target, condition, n=nets_per_step)
            losses.append(problem.loss(nets(inputs), labels))
        return torch.stack(losses).mean()

    def after_step(row: dict) -> None:
        if eval_every and row["step"] % eval_every == 0 and isinstance(problem, ClassificationProblem):
            row["val_acc"] = mean_val_accuracy(generator, problem, targets, eval_nets)

    history = step_loop(
        generator.parameters(),
        loss_of_step,
        steps,
        lr,
        grad_clip,
        f"train {type(generator).__name__}",
        progress,
        after_step,
    )
    generator.eval()
    return history


def step_loop(
    parameters: Iterable[nn.Parameter],
    loss_of_step: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
    grad_clip: float | None = 1.0,
    desc: str = "train",
    progress: bool = True,
    after_step: Callable[[dict], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    first_step: int = 1,
) -> list[dict]:
    """The one step loop of the generators: Adam steps ``first_step .. steps`` at a constant ``lr`` on
    ``loss_of_step(step)`` (steps count from 1), clipping the gradient norm to ``grad_clip``
    (``None``: no clipping). ``after_step(row)`` may add entries to each ``{"step", "loss"}`` row.
    A resumed run passes its restored ``optimizer`` (Adam over ``parameters``) and ``first_step``.

    Why not :class:`netgraph.tasks.trainer.Trainer`: generators (and the GHN) train for a number of
    steps or a CPU-time budget at a constant Adam ``lr``, drawing a fresh batch of architectures /
    data each step, with no validation split; ``Trainer`` is epoch-based (AdamW, warm-up + cosine
    decay, a validation pass per epoch). Moving them would change every bundled generator's recipe,
    so each would have to be retrained; not done.

    Their data is sampled afresh every step (no epochs, no validation split to select on), which
    is why they do not use :class:`~netgraph.tasks.Trainer`.

    >>> w = nn.Parameter(torch.tensor([3.0]))
    >>> rows = step_loop([w], lambda step: (w ** 2).sum(), steps=50, lr=0.1, progress=False)
    >>> rows[-1]["step"], rows[-1]["loss"] < rows[0]["loss"]
    (50, True)
    """
    parameters = list(parameters)
    optimizer = optimizer or torch.optim.Adam(parameters, lr=lr)
    history = []
    for step in tqdm(range(first_step, steps + 1), desc=desc, disable=not progress):
        loss = loss_of_step(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{desc}: the loss is {loss.item()} at step {step}; lower the learning rate "
                f"(lr={lr}) or check the inputs"
            )
        optimizer.zero_grad()
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(parameters, grad_clip)
        optimizer.step()
        row = {"step": step, "loss": loss.item()}
        if after_step is not None:
            after_step(row)
        history.append(row)
    return history


@torch.no_grad()
def mean_val_accuracy(
    generator: WeightGenerator, problem: ClassificationProblem, targets: Sequence[nn.Module], n: int
) -> float:
    """Mean validation accuracy of ``n`` fresh networks per target."""
    was_training = generator.training
    generator.eval()
    accuracies = [problem.evaluate(generator.generate(target, n=n))["val_acc"].mean() for target in targets]
    generator.train(was_training)
    return float(torch.stack(accuracies).mean())


@seeds_global_rng("seed")
def train_weight_diffusion(
    model: WeightDiffusion,
    graphs: Batch,
    autoencoder_steps: int,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    condition: ConditionFn | None = None,
    input_noise: float = 0.001,
    latent_noise: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Train the autoencoder, then the denoiser, of ``model`` on the networks of ``graphs`` (a batch
    of the model's architecture, e.g. ``ZooDataset(...).to_batch()``).

    Args:
        condition: for a conditioned model, ``condition(net_index [b], generator) -> [b, ...]``, the
            condition of each training network (drawn afresh every step, e.g. a random subset of
            its data).
        input_noise, latent_noise: p-diff's noise augmentation while the autoencoder trains.
    Returns:
        one row per step, ``{"stage": "autoencoder" | "diffusion", "step", "loss"}``.
    """
    if (model.condition is None) != (condition is None):
        raise ValueError(
            "a conditioned WeightDiffusion needs condition=... (the condition of each training network) "
            "and an unconditioned one takes none"
        )
    device = model.token_mean.device
    rng = torch.Generator(device).manual_seed(seed)
    model.fit_normalization(graphs)
    tokens, valid = model.normalized_tokens(graphs)
    num = tokens.shape[0]
    model.train()

    def autoencoder_loss(step: int) -> torch.Tensor:
        index = torch.randint(0, num, (min(batch_size, num),), generator=rng, device=device)
        return model.autoencoder_loss(tokens[index], valid, input_noise, latent_noise)

    history = [
        {"stage": "autoencoder", **row}
        for row in step_loop(
            model.autoencoder.parameters(),
            autoencoder_loss,
            autoencoder_steps,
            lr,
            None,
            "train weight autoencoder",
            progress,
        )
    ]
    model.eval()
    with torch.no_grad():
        model.latent_std.fill_(float(model.autoencoder.encode(tokens).std()))
        latents = model.latents(tokens)
    model.train()
    trained = list(model.denoiser.parameters()) + (list(model.condition.parameters()) if model.condition else [])

    def denoising_loss(step: int) -> torch.Tensor:
        index = torch.randint(0, num, (min(batch_size, num),), generator=rng, device=device)
        return model.denoising_loss(latents[index], condition(index, rng) if condition is not None else None)

    history += [
        {"stage": "diffusion", **row}
        for row in step_loop(trained, denoising_loss, steps, lr, 1.0, "train latent denoiser", progress)
    ]
    model.eval()
    return history


def checkpoints_of_one_run(
    target: nn.Module,
    data: ClassificationData,
    epochs: int,
    keep: int,
    lr: float = 1e-3,
    keep_lr: float = 1e-4,
    optimizer: str = "adam",
    batch_size: int = 32,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """``keep`` checkpoints of one run of ``target`` on ``data`` (p-diff's protocol).

    One network (seeded by ``seed``) trains for ``epochs`` at ``lr`` with the zoos' training loop
    (:func:`netgraph.datasets.train_classifiers`); it then trains ``keep`` more epochs at the
    constant ``keep_lr`` (a fresh optimiser state) and its weights are saved after each of them.

    Returns:
        ``TrainResult`` with ``weights[name] [keep, *shape]`` (the parameters; buffers keep the
        module's values) and ``metrics[name] [keep]`` (loss / accuracy per split).
    """
    if epochs < 1 or keep < 1:
        raise ValueError(f"checkpoints_of_one_run needs epochs >= 1 and keep >= 1; got epochs={epochs}, keep={keep}")
    rng = torch.Generator(device).manual_seed(seed)
    first = train_classifiers(
        target, data, {"learning_rate": [lr], "optimizer": [optimizer]}, epochs, [epochs], batch_size, rng, device
    )
    last = train_classifiers(
        target,
        data,
        {"learning_rate": [keep_lr], "optimizer": [optimizer]},
        keep,
        range(1, keep + 1),
        batch_size,
        rng,
        device,
        initial={k: v[:, -1] for k, v in first.weights.items()},
    )
    return TrainResult({k: v[0] for k, v in last.weights.items()}, {k: v[0] for k, v in last.metrics.items()})
