"""Meta-pruning (Liu et al., "Meta Pruning via Graph Metanetworks"), imported as ``netgraph.tasks.pruning``."""

from .engine import METHODS, apply_metanet, check_speedup, output_layers, prune_to_speedup, torch_pruning_to_speedup
from .families import FAMILIES, Family, get_family, vgg
from .finetune import accuracy, finetune
from .groups import PruneGroup, group_importance, group_lasso, node_scores, prunable_groups
from .surgery import measure, remove_channels, resize_like
