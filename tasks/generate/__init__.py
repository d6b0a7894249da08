"""Weight generation (imported as ``netgraph.tasks.generate``): train, judge and use weight generators.

* :mod:`.problems`: what generators learn from and are judged on (:class:`ClassificationProblem`,
  :class:`SineProblem`, :func:`make_problem`).
* :mod:`.train`: :func:`train_on_problem` (hypernetworks, graph hypernetworks),
  :func:`train_weight_diffusion`, :func:`checkpoints_of_one_run`.
* :mod:`.evaluate`: :func:`evaluate_classifier_generator`, :func:`evaluate_signal_generator`,
  :func:`fine_tune`, :func:`summarize`, :func:`zoo_summary`, :func:`nearest_checkpoint`.
* :mod:`.recipes`: :class:`GenerateRecipe`, :func:`run_recipe` (zoo -> train -> evaluate -> save).
* :mod:`.cli`: the ``netgraph-generate`` command (:func:`generate_weights`, :func:`build_target`).

Example:
    >>> from netgraph.tasks.generate import ClassificationProblem
    >>> ClassificationProblem("iris").data.num_classes
    3
"""

from .cli import build_target, generate_weights
from .evaluate import (
    evaluate_classifier_generator,
    evaluate_signal_generator,
    fine_tune,
    nearest_checkpoint,
    summarize,
    zoo_summary,
)
from .recipes import GenerateRecipe, architecture_name, run_recipe
from .problems import ClassificationProblem, SineProblem, make_problem
from .train import checkpoints_of_one_run, train_on_problem, train_weight_diffusion

__all__ = [
    "ClassificationProblem",
    "SineProblem",
    "make_problem",
    "train_on_problem",
    "train_weight_diffusion",
    "checkpoints_of_one_run",
    "evaluate_classifier_generator",
    "evaluate_signal_generator",
    "fine_tune",
    "summarize",
    "zoo_summary",
    "nearest_checkpoint",
    "GenerateRecipe",
    "run_recipe",
    "architecture_name",
    "generate_weights",
    "build_target",
]
