"""Weight-space tasks: training and evaluating metanetworks and weight generators (imported as ``netgraph.tasks``).

Weight generation:

* tasks generators learn from: :class:`ClassificationTask`, :class:`SineTask`;
* training: :func:`train_on_task` (hypernetworks, graph hypernetworks), :func:`train_weight_diffusion`;
* evaluation: :func:`evaluate_classifier_generator`, :func:`evaluate_signal_generator`, :func:`zoo_summary`,
  :func:`fine_tune`, :func:`summarize`;
* recipes (zoo -> train -> evaluate -> save): :class:`GenerateRecipe`, :func:`run_recipe`;
* ``netgraph-generate``: :func:`generate_weights` (weights from a generator repo into a file).
"""

from .generate_cli import build_target, generate_weights
from .generate_eval import evaluate_classifier_generator, evaluate_signal_generator, fine_tune, summarize, zoo_summary
from .generate_recipes import GenerateRecipe, architecture_name, run_recipe
from .generate_tasks import ClassificationTask, SineTask, make_task
from .generate_train import train_on_task, train_weight_diffusion

__all__ = ["ClassificationTask", "SineTask", "make_task", "train_on_task", "train_weight_diffusion",
           "evaluate_classifier_generator", "evaluate_signal_generator", "fine_tune", "summarize", "zoo_summary",
           "GenerateRecipe", "run_recipe", "architecture_name", "generate_weights", "build_target"]
