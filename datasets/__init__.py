"""Model-zoo builders and research datasets of trained networks (imported as ``netgraph.datasets``).

* Build: :func:`build_zoo` (config or preset name -> zoo folder), :func:`merge_zoos`, presets
  :func:`zoo_config` (``digits_cnn``, ``digits_inr``, ``sine_inr``, ``iris_mlp``, and on real MNIST
  images ``mnist_inr``, ``mnist_cnn``: ``pip install netgraph[data]``); the
  ``netgraph-zoo`` command is a hydra app over them.
* Read: :func:`load_zoo` -> :class:`Zoo`, :func:`load_model` (any stored net as a module),
  :class:`ZooDataset` (PyG dataset of ``ParamGraph`` s with targets and splits).
* Published zoos: :func:`load_small_cnn_zoo` (CIFAR10-GS / SVHN-GS ...), :func:`load_dwsnets_inrs`,
  :func:`load_nfn_sirens`.
* Hub: :func:`netgraph.hub.push` / :func:`netgraph.hub.load_zoo` (all Hub I/O lives in ``netgraph.hub``).
* Training blocks: :class:`StackedModel`, :class:`StackedOptimizer`, :func:`train_classifiers`,
  :func:`fit_inrs`, :func:`render_inr`.

Example:
    >>> import tempfile
    >>> from netgraph.datasets import build_zoo, zoo_config, ZooDataset
    >>> cfg = zoo_config("iris_mlp", num_nets=6, epochs=1, checkpoints=[1], num_threads=1, root=tempfile.mkdtemp())
    >>> root = build_zoo(cfg, progress=False)
    >>> data = ZooDataset(root, split="train", target="test_acc")
    >>> data[0].y.shape
    torch.Size([1])
"""

from .build import ShardPlan, ZooPlan, build_zoo, merge_zoos, plan_zoo
from .config import ZooConfig, preset_names, zoo_config
from .inr import fit_inrs, inr_grid, psnr, render_inr
from .offline_data import ClassificationData, classification_data, digit_images, mnist_images, sine_waves, split_indices
from .published import load_dwsnets_inrs, load_nfn_sirens, load_small_cnn_zoo
from .search_space import sample_hparams
from .stacked import RateDropout, StackedModel, StackedOptimizer, stacked_init
from .storage import Zoo, ZooFormatError, build_architecture, load_model, load_zoo
from .train_classifiers import TrainResult, evaluate_classifiers, train_classifiers
from .zoo_dataset import NAMED_SPLITS, ZooDataset, small_cnn_zoo_split

__all__ = [
    "build_zoo",
    "merge_zoos",
    "plan_zoo",
    "ZooPlan",
    "ShardPlan",
    "ZooConfig",
    "zoo_config",
    "preset_names",
    "Zoo",
    "ZooFormatError",
    "load_zoo",
    "load_model",
    "build_architecture",
    "fit_inrs",
    "inr_grid",
    "psnr",
    "render_inr",
    "ClassificationData",
    "classification_data",
    "digit_images",
    "mnist_images",
    "split_indices",
    "sine_waves",
    "small_cnn_zoo_split",
    "NAMED_SPLITS",
    "sample_hparams",
    "StackedModel",
    "StackedOptimizer",
    "RateDropout",
    "stacked_init",
    "TrainResult",
    "train_classifiers",
    "evaluate_classifiers",
    "ZooDataset",
    "load_small_cnn_zoo",
    "load_dwsnets_inrs",
    "load_nfn_sirens",
]
