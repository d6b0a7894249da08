"""Weight-space augmentations (Shamsian et al. 2023 / 2024) as PyG transforms over parameter graphs.

Usable as a dataset ``transform=`` on single graphs or on a whole collated ``Batch`` on the device
(one tensor op per architecture, never a loop over networks), composable with
``torch_geometric.transforms.Compose`` and listed by name in configs (:func:`create`, :func:`compose`).

* function-preserving: :class:`RandomPermutation`, :class:`ReLUScaling`, :class:`SignFlip`,
  :class:`SirenBiasShift` (which neurons they may touch is read from the graph);
* perturbations: :class:`GaussianNoise` (relative to each layer's std), :class:`WeightDropout`,
  :class:`QuantileZeroing`;
* :class:`MixUp` (plain, random-permutation, alignment-based) on batches.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import Siren
    >>> from netgraph.augment import compose
    >>> model = Siren()
    >>> augment = compose(["permutation", "sign_flip", "siren_bias_shift"])
    >>> twin = netgraph.to_module(augment(netgraph.from_module(model)), model)
    >>> x = torch.rand(10, 2) * 2 - 1
    >>> torch.allclose(twin(x), model(x), atol=1e-5)
    True
"""

from .base import GraphAugmentation
from .mixup import MIXUP_MODES, MixUp
from .neurons import ODD, PERIODIC, POSITIVE_HOMOGENEOUS, bias_nodes, rescalable_nodes, rescale_neurons
from .noise import GaussianNoise, QuantileZeroing, WeightDropout
from .registry import compose, create_augmentation, list_augmentations, register_augmentation
from .symmetries import RandomPermutation, ReLUScaling, SignFlip, SirenBiasShift

__all__ = [
    "GraphAugmentation",
    "RandomPermutation",
    "ReLUScaling",
    "SignFlip",
    "SirenBiasShift",
    "GaussianNoise",
    "WeightDropout",
    "QuantileZeroing",
    "MixUp",
    "MIXUP_MODES",
    "create_augmentation",
    "list_augmentations",
    "register_augmentation",
    "compose",
    "rescalable_nodes",
    "rescale_neurons",
    "bias_nodes",
    "POSITIVE_HOMOGENEOUS",
    "ODD",
    "PERIODIC",
]
