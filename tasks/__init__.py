"""Weight-space tasks: training and evaluating metanetworks and weight generators (imported as ``netgraph.tasks``).

* Tasks (:func:`create_task`, :func:`list_tasks`): ``accuracy_prediction`` (Kendall tau, R^2),
  ``inr_classification`` (accuracy), ``inr_editing`` (MSE of rendered images),
  ``sine_regression`` (R^2 of amplitude and frequency). Each is a :class:`Task`: a zoo and its
  splits, a model head, a loss and metrics; adding one is a file plus a config.
* Training: :class:`Trainer` / :class:`TrainConfig` (AdamW + warm-up cosine, clipping, early
  stopping, exact resume, DDP) over any :class:`Objective` (a task, or :class:`FunctionObjective`
  of plain functions); :class:`GraphLoader` batches zoo datasets.
* One call: :func:`train_metanet`; the ``netgraph-train`` command is a hydra app over it.
* Results: :func:`load_trained` / :func:`push_trained` (model + task from / to a run, a
  checkpoint or the Hub),
  :func:`collect_results` / :func:`results_table` (mean and std over seeds).
* Weight generation: the problems generators learn from (:class:`ClassificationProblem`, :class:`SineProblem`),
  :func:`train_on_problem` (hypernetworks, graph hypernetworks), :func:`train_weight_diffusion`,
  evaluation (:func:`evaluate_classifier_generator`, :func:`evaluate_signal_generator`,
  :func:`zoo_summary`, :func:`fine_tune`, :func:`summarize`), recipes (:class:`GenerateRecipe`,
  :func:`run_recipe`: zoo -> train -> evaluate -> save) and the ``netgraph-generate`` command
  (:func:`generate_weights`).

Example:
    >>> from netgraph.tasks import list_tasks
    >>> list_tasks()
    ['accuracy_prediction', 'inr_classification', 'inr_editing', 'sine_regression']
"""

from .accuracy_prediction import AccuracyPrediction
from .base import Task
from .checkpoint import CheckpointStore
from .experiment import build_augmentation, train_metanet
from .figures import write_task_figure
from .inr_classification import INRClassification
from .inr_editing import IMAGE_EDITS, INREditing, render_inrs
from .loader import GraphLoader, dense_layout_spec, distributed_rank
from .metrics import accuracy, kendall_tau, mean_squared_error, r2_score
from .models import build_metanet, is_dense_metanet, load_trained, metanet_input_config, push_trained
from .normalization import TargetScaler, WeightStandardizer
from .objective import FunctionObjective, Objective
from .registry import create_task, list_tasks, register_task, task_class, task_preset, task_preset_names
from .regression import RegressionTask
from .sine_regression import SineRegression
from .summary import collect_results, results_table
from .trainer import FitResult, TrainConfig, Trainer, warmup_cosine
from .zoo_source import load_task_zoo
from .generate import (
    ClassificationProblem,
    GenerateRecipe,
    SineProblem,
    architecture_name,
    build_target,
    checkpoints_of_one_run,
    evaluate_classifier_generator,
    evaluate_signal_generator,
    fine_tune,
    generate_weights,
    make_problem,
    nearest_checkpoint,
    run_recipe,
    summarize,
    train_on_problem,
    train_weight_diffusion,
    zoo_summary,
)
from .pruning import prune  # noqa: E402  (meta-pruning; needs the trainer above)

__all__ = [
    "Task",
    "RegressionTask",
    "AccuracyPrediction",
    "INRClassification",
    "INREditing",
    "SineRegression",
    "IMAGE_EDITS",
    "render_inrs",
    "create_task",
    "list_tasks",
    "register_task",
    "task_class",
    "task_preset",
    "task_preset_names",
    "collect_results",
    "results_table",
    "Trainer",
    "TrainConfig",
    "FitResult",
    "warmup_cosine",
    "Objective",
    "FunctionObjective",
    "CheckpointStore",
    "GraphLoader",
    "dense_layout_spec",
    "distributed_rank",
    "train_metanet",
    "build_augmentation",
    "write_task_figure",
    "build_metanet",
    "is_dense_metanet",
    "metanet_input_config",
    "load_trained",
    "push_trained",
    "load_task_zoo",
    "WeightStandardizer",
    "TargetScaler",
    "kendall_tau",
    "r2_score",
    "mean_squared_error",
    "accuracy",
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
    "prune",
]
