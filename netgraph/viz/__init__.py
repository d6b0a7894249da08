"""``netgraph.viz``: the figures of weight-space learning, from the toolkit rather than a notebook.

Every function returns a matplotlib ``Figure`` and takes ``ax=`` (draw into your own axes; the
figure is then ``ax.figure``). Figures are built headless on the Agg canvas without ``pyplot``
(see :mod:`netgraph.viz._figure`). Needs the ``viz`` extra: ``pip install 'netgraph[viz]'``.

================== ===================================================================
plot_graph         a parameter graph in layers, edges coloured by weight, symmetry groups
plot_barrier       loss / accuracy along the interpolation path, naive vs aligned
plot_pruning       accuracy vs FLOPs speed-up per method, before / after fine-tuning
plot_predictions   predicted vs true values with Kendall's tau
plot_confusion     a confusion matrix of class predictions
plot_inrs          images INRs compute, rows such as original / edited / target
plot_weight_stats  per-layer weight distributions of several sets of networks
save_figure        write a figure atomically; ``log_figure``: add it to TensorBoard
================== ===================================================================
"""

from ._figure import log_figure, new_figure, save_figure
from .curves import plot_barrier, plot_pruning
from .graph import plot_graph
from .images import plot_inrs
from .predictions import plot_confusion, plot_predictions
from .weights import plot_weight_stats

__all__ = [
    "log_figure",
    "new_figure",
    "plot_barrier",
    "plot_confusion",
    "plot_graph",
    "plot_inrs",
    "plot_predictions",
    "plot_pruning",
    "plot_weight_stats",
    "save_figure",
]
