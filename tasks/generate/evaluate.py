"""Judging weight generators: generated networks against random initialisation and the trained zoo,
before and after a short fine-tuning.

* :func:`summarize`: ``{metric: [n]}`` -> mean / std / best-by-validation / max of the test metric
  (the best network is picked on the validation split, never on the test split).
* :func:`fine_tune`: ``epochs`` of the zoos' training recipe (:func:`netgraph.datasets.train_classifiers`,
  one optimiser for all) from given weights.
* :func:`evaluate_classifier_generator`: for each target architecture, ``n`` generated networks
  and ``n`` PyTorch-default initialisations, as they are and after ``finetune_epochs``.
* :func:`zoo_summary`: the same summary for the trained networks of a zoo.
* :func:`nearest_checkpoint`: how far generated networks lie from the networks the generator was
  trained on (copies or new networks?), against how far those lie from each other.
* :func:`evaluate_signal_generator`: a conditioned generator on held-out waves, against the same
  generator given the condition of another wave (does it use the condition?) and the zoo's own fits.

Example:
    >>> import torch
    >>> summarize({"test_acc": torch.tensor([0.5, 0.9]), "val_acc": torch.tensor([0.8, 0.6])})["best_by_val"]
    0.5
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from netgraph.datasets import ClassificationData, StackedModel, Zoo, train_classifiers
from netgraph.metanets import DefaultInitGenerator, WeightGenerator
from netgraph.seeding import seeds_global_rng

from .problems import ClassificationProblem, SineProblem

__all__ = [
    "summarize",
    "fine_tune",
    "evaluate_classifier_generator",
    "zoo_summary",
    "nearest_checkpoint",
    "evaluate_signal_generator",
]


def summarize(
    metrics: Mapping[str, torch.Tensor], metric: str = "test_acc", select: str = "val_acc"
) -> dict[str, float]:
    """``{"n", "mean", "std", "best_by_val", "max"}`` of ``metrics[metric] [n]`` (best: the network with
    the highest ``metrics[select]``)."""
    values = metrics[metric].double()
    best = int(metrics[select].double().argmax()) if select in metrics else int(values.argmax())
    return {
        "n": len(values),
        "mean": round(float(values.mean()), 4),
        "std": round(float(values.std()), 4) if len(values) > 1 else 0.0,
        "best_by_val": round(float(values[best]), 4),
        "max": round(float(values.max()), 4),
    }


def fine_tune(
    target: nn.Module,
    data: ClassificationData,
    params: Mapping[str, torch.Tensor],
    epochs: int = 1,
    lr: float = 1e-3,
    optimizer: str = "adam",
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Metrics ``{name: [n]}`` of the networks ``params`` (stacked) after ``epochs`` of training."""
    n = next(iter(params.values())).shape[0]
    result = train_classifiers(
        target,
        data,
        {"learning_rate": [lr] * n, "optimizer": [optimizer] * n},
        epochs,
        [epochs],
        batch_size,
        torch.Generator().manual_seed(seed),
        initial=params,
    )
    return {k: v[:, -1] for k, v in result.metrics.items()}


@seeds_global_rng("seed")
def evaluate_classifier_generator(
    generator: WeightGenerator,
    targets: Mapping[str, nn.Module],
    problem: ClassificationProblem,
    n: int = 64,
    finetune_epochs: int = 1,
    finetune_lr: float = 1e-3,
    finetune_optimizer: str = "adam",
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per target name: summaries of ``generated``, ``random init`` and both after fine-tuning."""
    report = {}
    generator.eval()
    for name, target in targets.items():  # a loop over architectures
        with torch.no_grad():
            starts = {
                "generated": generator.generate(target, n=n),
                "random init": DefaultInitGenerator().generate(target, n=n),
            }
        rows = {label: summarize(problem.evaluate(nets)) for label, nets in starts.items()}
        if finetune_epochs:
            for label, nets in starts.items():
                params = {k: nets.state_dicts()[k] for k, _ in target.named_parameters()}
                tuned = fine_tune(
                    target, problem.data, params, finetune_epochs, finetune_lr, finetune_optimizer, batch_size, seed
                )
                rows[f"{label} + {finetune_epochs} epoch{'s' if finetune_epochs > 1 else ''}"] = summarize(tuned)
        report[name] = rows
    return report


def zoo_summary(zoo: Zoo, nets: torch.Tensor | Sequence[int], epoch: int | None = None) -> dict[str, float]:
    """:func:`summarize` of the zoo networks ``nets`` at ``epoch`` (default: the last checkpoint)."""
    column = zoo.checkpoint_index(epoch)
    index = torch.as_tensor(nets, dtype=torch.long)
    return summarize({k: v[index, column] for k, v in zoo.metrics.items()})


@torch.no_grad()
def nearest_checkpoint(
    target: nn.Module,
    generated: Mapping[str, torch.Tensor],
    checkpoints: Mapping[str, torch.Tensor],
    data: ClassificationData | None = None,
) -> dict[str, float]:
    """Euclidean distance (all parameters as one vector) of each generated network ``{name: [n, ...]}``
    to its nearest training network ``{name: [k, ...]}``, summarised, next to the distance of each
    training network to its nearest *other* one and the training networks' mean norm. With
    ``data``: the share of test predictions a generated network shares with its nearest checkpoint
    (and a checkpoint with its nearest other one)."""
    names = [k for k, _ in target.named_parameters()]
    flat = lambda params: torch.cat([params[k].detach().flatten(1).double() for k in names], 1)  # noqa: E731
    g, c = flat(generated), flat(checkpoints)
    to_train = torch.cdist(g, c)  # [n, k]
    among = torch.cdist(c, c).fill_diagonal_(float("inf"))  # [k, k]
    gen_d, gen_i = to_train.min(1)
    ck_d, ck_i = among.min(1)
    row = {
        "generated_to_nearest_mean": float(gen_d.mean()),
        "generated_to_nearest_min": float(gen_d.min()),
        "generated_to_nearest_max": float(gen_d.max()),
        "checkpoint_to_nearest_other_mean": float(ck_d.mean()),
        "checkpoint_first_to_last": float((c[0] - c[-1]).norm()),
        "checkpoint_norm_mean": float(c.norm(dim=1).mean()),
        "distinct_nearest_checkpoints": int(gen_i.unique().numel()),
    }
    if data is not None:
        net, x = StackedModel(target), data.x["test"]
        pred_g = net({k: generated[k].detach() for k in names}, x, shared_inputs=True).argmax(-1)  # [n, m]
        pred_c = net({k: checkpoints[k].detach() for k in names}, x, shared_inputs=True).argmax(-1)  # [k, m]
        row["generated_same_predictions_as_nearest"] = float((pred_g == pred_c[gen_i]).double().mean())
        row["checkpoint_same_predictions_as_nearest_other"] = float((pred_c == pred_c[ck_i]).double().mean())
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


@torch.no_grad()
@seeds_global_rng("seed")
def evaluate_signal_generator(
    generator: WeightGenerator,
    target: nn.Module,
    problem: SineProblem,
    waves: Mapping[str, torch.Tensor],
    zoo_psnr: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """PSNR of one generated network per wave (``waves``: ``amplitude``, ``frequency``, ``phase`` ``[k]``),
    conditioned on a set of samples of its wave, and conditioned on another wave's samples."""
    generator.eval()
    condition, coords, values = problem.waves(
        waves["amplitude"], waves["frequency"], waves["phase"], torch.Generator(problem.device).manual_seed(seed)
    )
    k = values.shape[0]
    rows = {}
    for label, given in (("conditioned on its wave", condition), ("conditioned on another wave", condition.roll(1, 0))):
        nets = generator.generate(target, given, n=k)
        fit = problem.evaluate_fit(nets(coords), values)
        rows[label] = _psnr_summary(fit["psnr"])
    rows["zero function"] = _psnr_summary(problem.evaluate_fit(torch.zeros_like(values), values)["psnr"])
    if zoo_psnr is not None:
        rows["zoo (fitted INRs)"] = _psnr_summary(zoo_psnr)
    return rows


def _psnr_summary(psnr: torch.Tensor) -> dict[str, Any]:
    psnr = psnr.double()
    return {
        "n": len(psnr),
        "psnr_mean": round(float(psnr.mean()), 2),
        "psnr_median": round(float(psnr.median()), 2),
        "share_above_20db": round(float((psnr > 20).double().mean()), 3),
    }
