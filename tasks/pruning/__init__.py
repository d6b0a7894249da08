"""Meta-pruning and structural pruning (imported as ``netgraph.tasks.pruning``).

After Liu et al., "Meta Pruning via Graph Metanetworks": a graph metanet (GMN edit head) is trained
on a zoo to turn networks into easy-to-prune ones; pruning is then one metanet forward pass,
group-norm pruning to a FLOPs target, and fine-tuning.

* :func:`prune` -> :class:`PruneResult` (pruned module + params / FLOPs / accuracy table); the
  ``netgraph-prune`` command is a hydra app over it.
* :func:`train_pruning_metanet` (zoo by :func:`build_pruning_zoo`), :func:`load_metanet`.
* Building blocks: :func:`prunable_groups` (channels, whole conv groups, tied channels and attention
  heads = level-0 symmetry groups of the parameter graph), :func:`group_importance`, :func:`group_lasso`,
  :func:`remove_units` / :func:`remove_channels` (surgery through the same groups),
  :func:`measure`, :func:`prune_to_speedup`, :func:`torch_pruning_to_speedup`.
* Your own model: :func:`load_hf` / :func:`load_factory`, :func:`prune_text_encoder` (Hugging Face text
  encoders: heads + MLP neurons, distillation on offline text), :func:`save_pruned_hf` /
  :func:`save_pruned_factory` (rebuilt by :func:`load_pruned`).
* Families (``mlp``, ``vgg``, ``resnet``, ``resnet56``, ``vit``): :func:`get_family`; saved pruned models:
  :func:`save_pruned` / :func:`load_pruned`.

Example:
    >>> from netgraph.tasks.pruning import get_family, prune
    >>> model = get_family("mlp").build((4,), 3, hidden=[16, 16])
    >>> prune(model, speedup=1.5, data="iris", finetune_epochs=0).speedup >= 1.5
    True
"""

from .api import CONFIG_JSON, MODEL_FILE, PruneResult, load_model_file, load_pruned, prune, save_pruned
from .engine import (
    METHODS,
    apply_metanet,
    check_speedup,
    output_layers,
    prune_to_speedup,
    spec_for,
    torch_pruning_to_speedup,
)
from .families import FAMILIES, Family, get_family
from .finetune import accuracy, finetune, fit_batches
from .groups import KINDS, NORMS, PruneGroup, group_importance, group_kind, group_lasso, node_scores, prunable_groups
from .meta import MetaPruningRun, PruningZoo, build_pruning_zoo, load_metanet, train_pruning_metanet
from .models import changed_attributes, is_hf_model, load_factory, load_hf, save_pruned_factory, save_pruned_hf
from .cost import measure
from .surgery import dependency_graph, remove_channels, remove_units, resize_like
from .text import TextPruneResult, distill, docstring_sentences, load_sentences, mean_pooled, prune_text_encoder

__all__ = [
    "prune",
    "PruneResult",
    "save_pruned",
    "load_pruned",
    "load_model_file",
    "CONFIG_JSON",
    "MODEL_FILE",
    "METHODS",
    "prune_to_speedup",
    "spec_for",
    "torch_pruning_to_speedup",
    "apply_metanet",
    "check_speedup",
    "output_layers",
    "FAMILIES",
    "Family",
    "get_family",
    "accuracy",
    "finetune",
    "fit_batches",
    "NORMS",
    "KINDS",
    "PruneGroup",
    "prunable_groups",
    "group_kind",
    "node_scores",
    "group_importance",
    "group_lasso",
    "MetaPruningRun",
    "PruningZoo",
    "build_pruning_zoo",
    "train_pruning_metanet",
    "load_metanet",
    "dependency_graph",
    "measure",
    "remove_units",
    "remove_channels",
    "resize_like",
    "is_hf_model",
    "load_hf",
    "load_factory",
    "changed_attributes",
    "save_pruned_hf",
    "save_pruned_factory",
    "prune_text_encoder",
    "TextPruneResult",
    "docstring_sentences",
    "load_sentences",
    "mean_pooled",
    "distill",
]
