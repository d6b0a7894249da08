"""Align, interpolate and merge networks through their parameter graphs.

Alignment reads the symmetry groups the core discovers (residual ties, attention heads, channel
groups), so it works for every architecture :func:`netgraph.from_module` supports.

* :func:`align` (also ``netgraph.align``): node permutation of B matching A, by weight matching
  (Git Re-Basin), activation matching, or Sinkhorn re-basin; :func:`rebasin` returns B permuted;
  :func:`align_batch` matches many pairs of a zoo at once.
* :func:`interpolate`, :func:`barrier` (loss / accuracy along the path, all points in one ``vmap``),
  :func:`reset_batchnorm` / :func:`recompute_batchnorm_stats` (statistics of merged networks),
  :func:`repair` (REPAIR renormalisation of networks without normalisation layers).
* :func:`task_arithmetic`, :func:`ties_merging`, :func:`dare`, :func:`model_soup`, :func:`greedy_soup`.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.merge import rebasin, interpolate
    >>> a, b = mlp([4, 16, 3]), mlp([4, 16, 3])
    >>> b_aligned = rebasin(a, b)                       # same function as b, weights matched to a
    >>> x = torch.randn(5, 4)
    >>> torch.allclose(b_aligned(x), b(x), atol=1e-6)
    True
    >>> mid = interpolate(a, b_aligned, 0.5)            # an nn.Module
"""

from ..activations import record_activations
from .activation_matching import ActivationFeatures, activation_features
from .align import METHODS, align, align_batch, rebasin
from .arithmetic import dare, greedy_soup, model_soup, task_arithmetic, task_vectors, ties_merging
from .assignment import linear_assignment
from .barrier import InterpolationPath, barrier
from .batchnorm import batchnorm_keys, recompute_batchnorm_stats, reset_batchnorm
from .evaluation import evaluate_many
from .interpolation import interpolate, interpolation_states
from ..masks import buffer_keys, parameter_masks, spec_parameter_masks
from .matching import WeightFeatures, coordinate_descent
from .repair import repair
from .sinkhorn import SoftPermuter, sinkhorn, sinkhorn_rebasin
from .stack import Stacked, stack_networks

__all__ = [
    "align",
    "align_batch",
    "rebasin",
    "METHODS",
    "interpolate",
    "interpolation_states",
    "barrier",
    "InterpolationPath",
    "reset_batchnorm",
    "recompute_batchnorm_stats",
    "batchnorm_keys",
    "repair",
    "task_vectors",
    "task_arithmetic",
    "ties_merging",
    "dare",
    "model_soup",
    "greedy_soup",
    "linear_assignment",
    "record_activations",
    "parameter_masks",
    "spec_parameter_masks",
    "buffer_keys",
    "coordinate_descent",
    "WeightFeatures",
    "ActivationFeatures",
    "activation_features",
    "sinkhorn",
    "sinkhorn_rebasin",
    "SoftPermuter",
    "evaluate_many",
    "stack_networks",
    "Stacked",
]
