"""Recipes: one config that builds (or reuses) a zoo, trains a weight generator, evaluates it and
saves it as a Hub-layout folder with its results. ``netgraph-generate --config-name generate_train
generate_recipe=<name>`` runs the presets in ``netgraph/configs/generate_recipe``; :func:`run_recipe`
is the same from Python.

A recipe names

* ``generator``: ``{"kind": "hypernetwork" | "parameter_graph_hypernetwork" | "weight_diffusion", ...}`` and
  the constructor arguments of :class:`~netgraph.metanets.ChunkedHypernetwork`,
  :class:`~netgraph.metanets.ParameterGraphHypernetwork` or :class:`~netgraph.metanets.WeightDiffusion`;
* ``problem``: what the generated networks do (:func:`~.problems.make_problem`);
* ``targets``: the architectures trained on (``{"factory", "kwargs"}`` in
  :mod:`netgraph.architectures`); ``held_out``: architectures only evaluated (graph hypernetworks);
* ``zoo_networks``: a zoo preset (built under ``root`` if missing) to train on (weight diffusion) or
  to compare with, and which of its networks: ``architecture`` (kwargs to match), ``split``;
* ``run_checkpoints``: instead of a zoo, train weight diffusion on checkpoints of one run of the
  target on the problem's data (p-diff): the arguments of
  :func:`~.train.checkpoints_of_one_run` (``epochs``, ``keep``, ``lr``, ``keep_lr``, ...);
  the results then also summarise the checkpoints and how far generated networks lie from them;
* ``train`` / ``evaluate``: arguments of :func:`~.train.train_on_problem` or
  :func:`~.train.train_weight_diffusion`, and of the evaluation.

Example:
    >>> recipe = GenerateRecipe.from_any({"name": "demo", "train": {"steps": 2}, "evaluate": {"n": 2, "finetune_epochs": 0},
    ...                                   "generator": {"kind": "hypernetwork", "chunk_size": 32, "hidden": [8]}})
    >>> generator, results = run_recipe(recipe)
    >>> sorted(results["evaluation"]["mlp([4, 16, 16, 3])"])
    ['generated', 'random init']
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.nn as nn

from netgraph.convert import from_state_dicts
from netgraph.datasets import TrainResult, ZooDataset, build_architecture, build_zoo, load_zoo, zoo_config
from netgraph.metanets import (
    ChunkedHypernetwork,
    ParameterGraphHypernetwork,
    TargetArchitecture,
    WeightDiffusion,
    WeightGenerator,
)
from netgraph.seeding import scoped_rng, seeds_global_rng
from netgraph.validation import check_fields, integer, number, optional

from .evaluate import (
    evaluate_classifier_generator,
    evaluate_signal_generator,
    nearest_checkpoint,
    summarize,
    zoo_summary,
)
from .problems import ClassificationProblem, SineProblem, make_problem
from .train import checkpoints_of_one_run, train_on_problem, train_weight_diffusion

__all__ = ["GenerateRecipe", "run_recipe", "architecture_name", "GENERATOR_KINDS"]

GENERATOR_KINDS = {
    "hypernetwork": ChunkedHypernetwork,
    "parameter_graph_hypernetwork": ParameterGraphHypernetwork,
    "weight_diffusion": WeightDiffusion,
}


@dataclass
class GenerateRecipe:
    """Everything a generator training run needs (see the module docstring)."""

    name: str = "generator"
    generator: dict[str, Any] = field(default_factory=lambda: {"kind": "hypernetwork"})
    problem: dict[str, Any] = field(default_factory=lambda: {"kind": "classification", "data": "iris"})
    targets: list[dict[str, Any]] = field(
        default_factory=lambda: [{"factory": "mlp", "kwargs": {"sizes": [4, 16, 16, 3]}}]
    )
    held_out: list[dict[str, Any]] = field(default_factory=list)
    zoo_networks: dict[str, Any] | None = None
    run_checkpoints: dict[str, Any] | None = None
    train: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    out_dir: str | None = None
    progress: bool = True
    num_threads: int | None = 1
    device: str = "cpu"

    @classmethod
    def from_any(cls, config: "GenerateRecipe | Mapping[str, Any]") -> "GenerateRecipe":
        """A recipe from itself, a dict or a hydra config (unknown keys rejected)."""
        if isinstance(config, GenerateRecipe):
            return config
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
        if "task" in config:  # renamed: "task" means a weight-space task in netgraph.tasks
            raise ValueError(
                "recipe key 'task' was renamed 'problem' (what the generated networks are trained on, "
                "e.g. problem: {kind: classification, data: iris}); rename it in the recipe"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}; expected keys from {sorted(names)}")
        return cls(**dict(config))


#: what the numeric fields of a recipe accept (checked before anything is built)
RECIPE_RULES = {
    "seed": integer(0),
    "num_threads": optional(integer(1)),
    "train.steps": integer(1),
    "train.lr": number(0, open_min=True),
    "train.nets_per_step": integer(1),
    "train.batch_size": integer(1),
    "evaluate.n": integer(1),
    "evaluate.finetune_epochs": integer(0),
    "evaluate.finetune_lr": number(0, open_min=True),
}


def architecture_name(ref: Mapping[str, Any]) -> str:
    """A short readable name of an architecture reference, e.g. ``mlp([64, 32, 10])``."""
    kwargs = dict(ref.get("kwargs", {}))
    if ref["factory"] == "mlp":
        return f"mlp({kwargs.pop('sizes')})" + (f" {kwargs}" if kwargs else "")
    return f"{ref['factory']}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def run_recipe(recipe: GenerateRecipe | Mapping[str, Any]) -> tuple[WeightGenerator, dict[str, Any]]:
    """Train and evaluate the recipe's generator; save it (and ``results.json``) to ``out_dir`` when set.

    Returns the generator and the results: ``evaluation`` (per architecture, rows of
    :func:`~.evaluate.summarize`), ``zoo`` (reference summary), ``history`` (every 10th
    training row), ``cpu_seconds`` and ``wall_seconds`` per phase.
    """
    recipe = GenerateRecipe.from_any(recipe)
    check_fields(f"generator recipe {recipe.name!r}", recipe, RECIPE_RULES)
    threads = torch.get_num_threads()
    if recipe.num_threads:
        torch.set_num_threads(recipe.num_threads)
    try:
        return _run(recipe)
    finally:
        torch.set_num_threads(threads)


def _run(recipe: GenerateRecipe) -> tuple[WeightGenerator, dict[str, Any]]:
    clock = _Clock()
    problem = make_problem(recipe.problem, recipe.device)
    targets = {architecture_name(ref): build_architecture(ref) for ref in recipe.targets}
    held_out = {architecture_name(ref): build_architecture(ref) for ref in recipe.held_out}
    zoo, zoo_nets = _zoo(recipe) if recipe.zoo_networks else (None, None)
    clock.lap("zoo")
    run = _run_checkpoints(recipe, problem, targets) if recipe.run_checkpoints else None
    if run is not None:
        clock.lap("checkpoints")
    with scoped_rng(recipe.seed):  # after the zoo, so a zoo built in this run or before gives the same generator
        generator = _make_generator(recipe, targets, problem, zoo)
        generator.to(recipe.device)
        history = _train(recipe, generator, problem, targets, zoo, zoo_nets, run)
    clock.lap("train")
    results: dict[str, Any] = {"recipe": recipe.name}
    evaluate = dict(recipe.evaluate)
    if isinstance(problem, ClassificationProblem):
        results["evaluation"] = evaluate_classifier_generator(
            generator, {**targets, **held_out}, problem, seed=recipe.seed, **evaluate
        )
        if zoo is not None:
            results["zoo"] = zoo_summary(zoo, zoo_nets)
        if run is not None:
            results["training checkpoints"] = summarize(run.metrics)
            results["nearest checkpoint"] = _nearest_checkpoint(recipe, generator, problem, targets, run, evaluate)
    else:
        results["evaluation"] = _evaluate_signals(recipe, generator, problem, targets, zoo, evaluate)
    clock.lap("evaluate")
    results.update(
        history=history[9::10], cpu_seconds=clock.cpu, wall_seconds=clock.wall, torch_threads=torch.get_num_threads()
    )
    if recipe.out_dir:
        from netgraph.hub import save

        save(generator, recipe.out_dir, results=results)
    return generator, results


def _zoo(recipe: GenerateRecipe):
    """The recipe's zoo (built if missing) and the ids of the networks it uses."""
    spec = dict(recipe.zoo_networks)
    preset, root = spec.pop("preset"), spec.pop("root")
    match, split = spec.pop("architecture", {}), spec.pop("split", "all")
    build_zoo(zoo_config(preset, root=root, num_threads=recipe.num_threads, **spec), progress=recipe.progress)
    zoo = load_zoo(root)
    archs = [i for i, ref in enumerate(zoo.architectures) if all(ref["kwargs"].get(k) == v for k, v in match.items())]
    if not archs:
        raise ValueError(f"no architecture of zoo {root} matches {match}; it has {zoo.architectures}")
    dataset = ZooDataset(zoo, split=split)
    nets = torch.tensor([i for i in dataset.net_ids.tolist() if zoo.rows[i]["arch"] in archs], dtype=torch.long)
    return zoo, nets


def _run_checkpoints(recipe: GenerateRecipe, problem, targets: dict[str, nn.Module]) -> TrainResult:
    if not isinstance(problem, ClassificationProblem) or len(targets) != 1:
        raise ValueError(
            "run_checkpoints trains one target architecture on a classification problem; the recipe has "
            f"{len(targets)} targets and a {type(problem).__name__}"
        )
    config = {"seed": recipe.seed, **recipe.run_checkpoints}
    return checkpoints_of_one_run(next(iter(targets.values())), problem.data, device=recipe.device, **config)


@seeds_global_rng("recipe.seed")
def _nearest_checkpoint(
    recipe: GenerateRecipe,
    generator: WeightGenerator,
    problem: ClassificationProblem,
    targets: dict[str, nn.Module],
    run: TrainResult,
    evaluate: dict,
) -> dict[str, Any]:
    """Distances of the networks :func:`evaluate_classifier_generator` judged (same seed, same ``n``)
    to the training checkpoints."""
    name, target = next(iter(targets.items()))
    with torch.no_grad():
        nets = generator.generate(target, n=evaluate.get("n", 64))
    return {name: nearest_checkpoint(target, nets.state_dicts(), run.weights, problem.data)}


def _make_generator(recipe: GenerateRecipe, targets: dict[str, nn.Module], problem, zoo) -> WeightGenerator:
    config = dict(recipe.generator)
    kind = config.pop("kind", None)
    if kind not in GENERATOR_KINDS:
        raise ValueError(f"generator kind must be one of {sorted(GENERATOR_KINDS)}, got {kind!r}")
    trained_on = {"problem": recipe.problem, "architectures": recipe.targets, "recipe": recipe.name}
    if zoo is not None:
        used = {k: v for k, v in recipe.zoo_networks.items() if k != "root"}
        trained_on["zoo"] = {"name": zoo.info.get("name"), **used}
    if recipe.run_checkpoints:
        trained_on["run_checkpoints"] = {
            "data": recipe.problem.get("data"),
            "seed": recipe.seed,
            **recipe.run_checkpoints,
        }
    if kind == "parameter_graph_hypernetwork":
        return ParameterGraphHypernetwork(trained_on=trained_on, **config)
    if len(targets) != 1:
        raise ValueError(f"a {kind} makes weights for one architecture; the recipe lists {len(targets)} targets")
    target = TargetArchitecture.of(next(iter(targets.values())), factory=recipe.targets[0])
    return GENERATOR_KINDS[kind](target, trained_on=trained_on, **config)


def _train(
    recipe: GenerateRecipe, generator: WeightGenerator, problem, targets, zoo, zoo_nets, run: TrainResult | None = None
) -> list[dict]:
    train = dict(recipe.train)
    if not isinstance(generator, WeightDiffusion):
        return train_on_problem(
            generator, problem, list(targets.values()), seed=recipe.seed, progress=recipe.progress, **train
        )
    if run is not None:  # p-diff: checkpoints of one run
        target = next(iter(targets.values()))
        keep = next(iter(run.weights.values())).shape[0]
        stacked = {
            k: run.weights[k] if k in run.weights else v.detach().expand(keep, *v.shape)
            for k, v in target.state_dict().items()
        }
        graphs = from_state_dicts(target, {k: v.to(recipe.device) for k, v in stacked.items()})
        return train_weight_diffusion(generator, graphs, seed=recipe.seed, progress=recipe.progress, **train)
    if zoo is None:
        raise ValueError(
            "weight diffusion learns from a zoo or from checkpoints of one run: give the recipe "
            "zoo_networks (preset, root, architecture, split) or run_checkpoints (epochs, keep, ...)"
        )
    data = ZooDataset(zoo, split="all", device=recipe.device)
    graphs = data[torch.isin(data.net_ids, zoo_nets).nonzero().flatten()].to_batch()
    condition = None
    if isinstance(problem, SineProblem):
        waves = _waves(zoo, data.net_ids[torch.isin(data.net_ids, zoo_nets)], recipe.device)

        def condition(index: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
            return problem.waves(*(waves[k][index] for k in ("amplitude", "frequency", "phase")), rng)[0]

    return train_weight_diffusion(
        generator, graphs, condition=condition, seed=recipe.seed, progress=recipe.progress, **train
    )


def _waves(zoo, nets: torch.Tensor, device) -> dict[str, torch.Tensor]:
    return {
        k: torch.tensor([zoo.rows[i][k] for i in nets.tolist()], dtype=torch.float32, device=device)
        for k in ("amplitude", "frequency", "phase")
    }


def _evaluate_signals(
    recipe: GenerateRecipe, generator, problem: SineProblem, targets, zoo, evaluate
) -> dict[str, Any]:
    if zoo is None:
        raise ValueError(
            "the sine problem is evaluated on the held-out waves of a sine_inr zoo: give the recipe zoo_networks"
        )
    held_out = ZooDataset(zoo, split=evaluate.pop("split", "test")).net_ids
    waves = _waves(zoo, held_out, recipe.device)
    zoo_psnr = zoo.metrics["psnr"][held_out, -1]
    name, target = next(iter(targets.items()))
    return {name: evaluate_signal_generator(generator, target, problem, waves, zoo_psnr, seed=recipe.seed, **evaluate)}


class _Clock:
    """CPU (this process) and wall seconds per phase."""

    def __init__(self):
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def lap(self, name: str) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        self.cpu[name], self.wall[name] = round(cpu - self._cpu, 1), round(wall - self._wall, 1)
        self._cpu, self._wall = cpu, wall
