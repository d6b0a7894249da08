"""Meta-training a pruning metanet (Liu et al., "Meta Pruning via Graph Metanetworks").

A graph metanet with an equivariant edit head maps a network's parameter graph to an edited one,
``w + scale * delta``. It is trained on a zoo of networks of one family so that the edited networks
stay accurate and become group-sparse, i.e. easy to prune:

    loss = CE(f(x; edit(w)), y) + sparsity * sum_groups sum_units ||edit(w)[unit]||_2

The edited networks are run as one :class:`~netgraph.population.Population` (one ``vmap`` for the
whole batch of networks); the training loop is :class:`~netgraph.tasks.Trainer` over a
:class:`~netgraph.tasks.FunctionObjective`, the checkpoint is selected on *validation* networks and
validation data. Zoos are trained with :func:`netgraph.datasets.train_classifiers` (families without
BatchNorm: ``mlp``, ``vgg``).

Example:
    >>> zoo = build_pruning_zoo("mlp", "iris", num_nets=4, epochs=1, seed=0)
    >>> zoo.weights["0.weight"].shape
    torch.Size([4, 64, 4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

import netgraph
from netgraph.datasets import train_classifiers
from netgraph.datasets.offline_data import ClassificationData
from netgraph.metanets import create_metanet, metanet_class
from netgraph.population import Population
from netgraph.seeding import scoped_rng

from ..objective import FunctionObjective
from ..trainer import FitResult, TrainConfig, Trainer
from .data import data_shape, load_data
from .engine import spec_for
from .families import get_family
from .groups import group_lasso, prunable_groups

__all__ = ["PruningZoo", "build_pruning_zoo", "train_pruning_metanet", "load_metanet", "MetaPruningRun"]


@dataclass
class PruningZoo:
    """Trained networks of one family: ``weights[name] [B, *shape]``, their ``val_acc [B]``, the family
    module (``base``) and the data."""

    arch: str
    base: nn.Module
    weights: dict[str, torch.Tensor]
    val_acc: torch.Tensor
    data: ClassificationData

    def __len__(self) -> int:
        return self.val_acc.shape[0]


def build_pruning_zoo(
    arch: str = "mlp",
    data: str | ClassificationData = "digits",
    num_nets: int = 32,
    epochs: int = 10,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> PruningZoo:
    """Train ``num_nets`` networks of family ``arch`` on ``data`` with varied learning rates, weight
    decays and initialisations (all at once, :func:`netgraph.datasets.train_classifiers`)."""
    family = get_family(arch)
    if not family.zoo_ready:
        raise ValueError(
            f"arch={arch} has BatchNorm, which zoo training does not support; meta-train on "
            "arch=mlp or arch=vgg (prune resnets with metanet=none)"
        )
    loaded = load_data(data, flatten=family.flatten, device=device)
    base = family.build(data_shape(loaded), loaded.num_classes).to(device)
    generator = torch.Generator().manual_seed(seed)
    uniform = torch.rand(3, num_nets, generator=generator)
    hparams = {
        "learning_rate": (10 ** (-3 + uniform[0])).tolist(),
        "weight_decay": (10 ** (-6 + 3 * uniform[1])).tolist(),
        "optimizer": ["adam"] * num_nets,
        "init": ["he_normal" if u < 0.5 else "glorot_uniform" for u in uniform[2].tolist()],
    }
    result = train_classifiers(
        base, loaded, hparams, epochs=epochs, checkpoints=[epochs], generator=generator, device=device
    )
    weights = {k: v[:, -1] for k, v in result.weights.items()}
    return PruningZoo(arch, base, weights, result.metrics["val_acc"][:, -1], loaded)


@dataclass
class _MetaBatch:
    graphs: Any
    x: torch.Tensor
    y: torch.Tensor

    @property
    def num_graphs(self) -> int:
        return self.graphs.num_graphs


class _ZooLoader:
    """Batches of (networks, data) for the Trainer; each epoch's order drawn from ``(seed, epoch)``."""

    def __init__(
        self,
        zoo: PruningZoo,
        nets: torch.Tensor,
        split: str,
        batch_size: int,
        data_batch: int,
        kernel_shape: tuple[int, ...],
        seed: int,
        shuffle: bool,
    ):
        self.zoo, self.nets, self.split = zoo, nets, split
        self.batch_size, self.data_batch = batch_size, data_batch
        self.spec = spec_for(zoo.base, zoo.data.x["train"][:1]).with_kernel_shape(kernel_shape)
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.nets) / self.batch_size)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = self.nets[torch.randperm(len(self.nets), generator=generator)] if self.shuffle else self.nets
        x, y = self.zoo.data.x[self.split], self.zoo.data.y[self.split]
        for start in range(0, len(order), self.batch_size):
            ids = order[start : start + self.batch_size]
            rows = (
                torch.randperm(len(y), generator=generator)[: self.data_batch]
                if self.shuffle
                else torch.arange(min(len(y), self.data_batch))
            )
            stacked = {k: v[ids.to(v.device)] for k, v in self.zoo.weights.items()}
            graphs = netgraph.from_state_dicts(self.spec, stacked)
            yield _MetaBatch(graphs, x[rows.to(x.device)], y[rows.to(y.device)])


def _objective(base: nn.Module, groups, sparsity: float) -> FunctionObjective:
    base = base.eval()

    def parts(metanet: nn.Module, batch: _MetaBatch) -> tuple[torch.Tensor, torch.Tensor]:
        edited = metanet.edit(batch.graphs.to(batch.x.device))
        params = netgraph.to_state_dicts(edited, stacked=True)
        logits = Population(params, base).run(batch.x)
        ce = F.cross_entropy(logits.flatten(0, 1), batch.y.repeat(logits.shape[0]))
        return ce, group_lasso(edited, groups)

    def loss(metanet, batch):
        ce, lasso = parts(metanet, batch)
        return ce + sparsity * lasso

    def outputs(metanet, batch):
        ce, lasso = parts(metanet, batch)
        count = torch.tensor([float(batch.num_graphs)], dtype=torch.float64)
        return {
            "ce": ce.detach().reshape(1).double().cpu(),
            "lasso": lasso.detach().reshape(1).double().cpu(),
            "count": count,
        }

    def metrics(out):
        w = out["count"] / out["count"].sum()
        ce, lasso = float((out["ce"] * w).sum()), float((out["lasso"] * w).sum())
        return {"loss": ce + sparsity * lasso, "ce": ce, "lasso": lasso}

    return FunctionObjective(loss=loss, outputs=outputs, metrics=metrics, monitor="loss", mode="min")


@dataclass
class MetaPruningRun:
    """What :func:`train_pruning_metanet` returns: the trained metanet, its fit and its zoo."""

    metanet: nn.Module
    fit: FitResult
    zoo: PruningZoo


def train_pruning_metanet(
    arch: str = "mlp",
    data: str | ClassificationData = "digits",
    *,
    zoo: PruningZoo | None = None,
    num_nets: int = 32,
    zoo_epochs: int = 10,
    metanet: str = "gmn",
    metanet_config: Mapping[str, Any] | None = None,
    sparsity: float = 1e-3,
    train: TrainConfig | Mapping[str, Any] | None = None,
    data_batch: int = 256,
    val_fraction: float = 0.25,
    run_dir: str | Path | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> MetaPruningRun:
    """Train a pruning metanet on a zoo of ``arch`` networks (see the module docstring).

    Args:
        arch, data: the family and its data (the zoo is built unless ``zoo`` is given).
        num_nets, zoo_epochs: zoo size and training length.
        metanet, metanet_config: registry name (an edit-capable graph metanet, ``gmn`` or ``ngt``) and
            its settings over those of ``configs/metanet/<name>.yaml`` (``edit=True`` and ``edge_features``
            are filled in).
        sparsity: weight of the group-lasso term.
        train: :class:`~netgraph.tasks.TrainConfig` fields (epochs, batch_size = networks per step, lr...).
        data_batch: data examples per step (validation uses the first ``data_batch`` of the val split).
        val_fraction: share of the zoo's networks held out to select the checkpoint.
        run_dir: checkpoints and ``history.csv`` (``None``: in memory).
    """
    cfg = (
        TrainConfig.from_any(
            {"epochs": 10, "batch_size": 8, "progress": False, **dict(train or {}), "seed": seed, "device": str(device)}
        )
        if not isinstance(train, TrainConfig)
        else train
    )
    zoo = zoo if zoo is not None else build_pruning_zoo(arch, data, num_nets, zoo_epochs, seed, device)
    family = get_family(zoo.arch)
    kernel_shape = family.kernel_shape
    spec = spec_for(zoo.base, zoo.data.x["train"][:1]).with_kernel_shape(kernel_shape)
    groups = prunable_groups(spec)
    order = torch.randperm(len(zoo), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(len(zoo) * val_fraction))
    if len(zoo) - n_val < 1:
        raise ValueError(
            f"a zoo of {len(zoo)} networks is too small to split into train and validation; use num_nets >= 2"
        )
    train_loader = _ZooLoader(zoo, order[n_val:], "train", cfg.batch_size, data_batch, kernel_shape, seed, True)
    val_loader = _ZooLoader(zoo, order[:n_val], "val", cfg.batch_size, data_batch, kernel_shape, seed, False)
    settings = {**dict(metanet_config or {}), "edit": True, "edge_features": max(1, spec.kernel_numel)}
    settings.setdefault("out_features", 0)
    with scoped_rng(seed):
        model = create_metanet(metanet, **settings)
    trainer = Trainer(
        model,
        _objective(zoo.base, groups, sparsity),
        cfg,
        run_dir=run_dir,
        metadata={
            "name": f"meta-prune-{zoo.arch}",
            "metanet": metanet,
            "config": settings,
            "arch": zoo.arch,
            "sparsity": sparsity,
        },
    )
    fit = trainer.fit(train_loader, val_loader)
    return MetaPruningRun(trainer.model.eval(), fit, zoo)


def load_metanet(ref: str | Path | nn.Module, name: str = "gmn", device: torch.device | str = "cpu") -> nn.Module:
    """A pruning metanet from a ``save_pretrained`` folder or a Hub id (offline: the local cache)."""
    if isinstance(ref, nn.Module):
        return ref.to(device).eval()
    cls = metanet_class(name)
    try:
        model = cls.from_pretrained(str(ref))
    except Exception as exc:  # noqa: BLE001 - hub / file errors are many; name the input
        raise FileNotFoundError(
            f"cannot load a {name} metanet from metanet={str(ref)!r}: give a folder written "
            "by save_pretrained (e.g. from train_pruning_metanet), a cached Hub id, or "
            f"metanet=none for magnitude pruning ({type(exc).__name__}: {exc})"
        ) from exc
    return model.to(device).eval()
