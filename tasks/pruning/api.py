"""``prune``: one call from a trained network to a smaller, fine-tuned one, with a before/after table.

Example:
    >>> import torch
    >>> from netgraph.tasks.pruning import prune
    >>> from netgraph.architectures import mlp
    >>> result = prune(mlp([4, 32, 32, 3]), speedup=2.0, data="iris", finetune_epochs=1)
    >>> result.speedup >= 2.0, result.after["params"] < result.before["params"]
    (True, True)
    >>> print(result.table().splitlines()[0])
    | stage | params | FLOPs | speed-up | val acc | test acc |
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn
from safetensors.torch import load_file

from netgraph.errors import CorruptFileError
from netgraph.io import CHECKSUMS_JSON, save_safetensors, verify_checksums, write_text
from netgraph.datasets.offline_data import ClassificationData
from netgraph.seeding import scoped_rng

from .data import data_shape, load_data
from .engine import METHODS, apply_metanet, check_speedup, prune_to_speedup, spec_for, torch_pruning_to_speedup
from .families import get_family
from .finetune import accuracy, finetune
from .groups import prunable_groups
from .models import CONFIG_JSON, MODEL_FILE, seal_pruned_folder, start_pruned_folder
from .cost import measure
from .surgery import resize_like

__all__ = ["PruneResult", "prune", "save_pruned", "load_pruned", "load_model_file", "CONFIG_JSON", "MODEL_FILE"]


@dataclass
class PruneResult:
    """A pruned network and how it compares with the original.

    Attributes:
        model: the pruned (and fine-tuned) ``nn.Module``.
        method: ``magnitude``, ``metanet`` or ``torch_pruning``.
        rows: one dict per stage (``original``, ``edited`` for the metanet route, ``pruned``,
            ``fine-tuned``) with ``params``, ``flops``, ``speedup``, ``val_acc``, ``test_acc``.
        history: fine-tuning rows (``epoch``, ``train_loss``, ``val_acc``).
    """

    model: nn.Module
    method: str
    rows: list[dict[str, Any]]
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def before(self) -> dict[str, Any]:
        return self.rows[0]

    @property
    def after(self) -> dict[str, Any]:
        return self.rows[-1]

    @property
    def speedup(self) -> float:
        return self.after["speedup"]

    def table(self) -> str:
        """A markdown table of the stages."""
        lines = ["| stage | params | FLOPs | speed-up | val acc | test acc |", "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            lines.append(
                f"| {r['stage']} | {r['params']:,} | {r['flops']:,} | {r['speedup']:.2f}x | "
                f"{r['val_acc']:.4f} | {r['test_acc']:.4f} |"
            )
        return "\n".join(lines)


def _row(stage: str, model: nn.Module, x: torch.Tensor, data: ClassificationData, base_flops: int | None) -> dict:
    flops, params = measure(model, x)
    return {
        "stage": stage,
        "params": params,
        "flops": flops,
        "speedup": (base_flops or flops) / flops,
        "val_acc": accuracy(model, data, "val"),
        "test_acc": accuracy(model, data, "test"),
    }


def prune(
    model: nn.Module,
    metanet: nn.Module | str | Path | None = None,
    speedup: float = 2.0,
    data: str | ClassificationData = "digits",
    *,
    arch: str | None = None,
    method: str | None = None,
    finetune_epochs: int = 5,
    lr: float = 1e-3,
    norm: str = "l1",
    step: float = 0.05,
    seed: int = 0,
    metanet_name: str = "gmn",
    structures: tuple[str, ...] = ("channels", "heads"),
    device: torch.device | str = "cpu",
) -> PruneResult:
    """Prune ``model`` to ``speedup`` times fewer FLOPs, fine-tune it, and measure it before and after.

    Args:
        model: a trained network (left unchanged; a pruned copy is returned).
        metanet: a pruning metanet (module, ``save_pretrained`` folder or Hub id) or ``None``.
        speedup: FLOPs before / FLOPs after (``>= 1``).
        data: a bundled data set name, a tensors file or :class:`ClassificationData` (fine-tuning,
            checkpoint selection on ``val``, accuracy on ``test``).
        arch: the model's family (flattens inputs for ``mlp``); ``None``: flatten when the first
            weight layer is ``nn.Linear``.
        method: ``metanet`` (default with a metanet), ``magnitude`` (default without) or
            ``torch_pruning`` (Torch-Pruning's group-norm pruner, the baseline).
        finetune_epochs, lr: fine-tuning budget (best validation epoch kept).
        norm, step: group norm (``l1`` / ``l2``) and share of units removed per pruning step.
        structures: group kinds pruned by the graph routes (``channels``, ``heads``, ``normalized``).
    """
    speedup = check_speedup(speedup)
    method = method or ("metanet" if metanet is not None else "magnitude")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "metanet" and metanet is None:
        raise ValueError("method='metanet' needs a metanet (a module, a save_pretrained folder or a Hub id)")
    if arch is not None:
        flatten = get_family(arch).flatten
    else:
        first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))), None)
        flatten = isinstance(first, nn.Linear)
    loaded = load_data(data, flatten=flatten, device=device)
    model = copy.deepcopy(model).to(device).eval()
    x = torch.zeros(1, *data_shape(loaded), device=device)
    try:
        model(x)
    except RuntimeError as exc:
        raise ValueError(
            f"the model does not take inputs of shape {list(data_shape(loaded))} from data="
            f"{loaded.name!r}; check arch= and data= ({exc})"
        ) from exc
    rows = [_row("original", model, x, loaded, None)]
    base_flops = rows[0]["flops"]
    if method == "metanet":
        from .meta import load_metanet

        net = load_metanet(metanet, metanet_name, device)
        model = apply_metanet(
            model, net, spec_for(model, x).kernel_shape if arch is None else get_family(arch).kernel_shape, x
        )
        rows.append(_row("edited", model, x, loaded, base_flops))
    if method == "torch_pruning":
        heads = any(g.kind == "heads" for g in prunable_groups(spec_for(model, x), structures))
        pruned = torch_pruning_to_speedup(model, x, speedup, step, heads_and_neurons=heads)
    else:
        pruned = prune_to_speedup(model, x, speedup, norm, step, structures=structures)
    rows.append(_row("pruned", pruned, x, loaded, base_flops))
    with scoped_rng(seed):
        history = finetune(pruned, loaded, finetune_epochs, lr=lr, seed=seed)
    rows.append(_row("fine-tuned", pruned, x, loaded, base_flops))
    return PruneResult(pruned, method, rows, history)


def save_pruned(
    folder: str | Path,
    model: nn.Module,
    arch: str,
    data_shape: tuple[int, ...],
    num_classes: int,
    arch_kwargs: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``prune_config.json`` (family, kwargs, data shape, every
    parameter's shape, ``info``) so :func:`load_pruned` rebuilds the pruned module."""
    folder = start_pruned_folder(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_safetensors(folder / MODEL_FILE, state, {"arch": arch, "format": "netgraph-pruned/1"})
    config = {
        "arch": arch,
        "arch_kwargs": dict(arch_kwargs or {}),
        "data_shape": list(data_shape),
        "num_classes": num_classes,
        "shapes": {k: list(v.shape) for k, v in state.items()},
        **dict(info or {}),
    }
    write_text(folder / CONFIG_JSON, json.dumps(config, indent=1))
    seal_pruned_folder(folder)
    return folder


def load_pruned(
    folder: str | Path,
    device: torch.device | str = "cpu",
    verify: bool = True,
    factory: Callable[..., nn.Module] | None = None,
) -> nn.Module:
    """The pruned module saved by :func:`save_pruned` or ``netgraph-prune`` in ``folder`` (a built-in
    family, a factory model, or a Hugging Face ``save_pretrained`` folder).

    ``verify`` checks every model file (weights, configs) against the folder's ``checksums.json``
    (``CorruptFileError`` naming the file; the weights are hashed once, there). Nothing
    named in the folder is imported: a stored factory must be a registered architecture, else pass
    the factory the model was pruned from as ``factory`` (a ``ValueError`` says so).
    """
    folder = Path(folder)
    if not (folder / CONFIG_JSON).is_file():
        raise FileNotFoundError(f"{folder} has no {CONFIG_JSON}; give a folder written by netgraph-prune / save_pruned")
    if verify:
        try:
            verify_checksums(folder)
        except CorruptFileError as exc:
            if exc.path.name != CHECKSUMS_JSON:
                raise
            raise CorruptFileError(
                exc.path,
                exc.reason,
                "A netgraph-prune run that was interrupted leaves no checksums.json: run it again (or load with "
                "verify=False if you trust the folder)",
            ) from None
    config = json.loads((folder / CONFIG_JSON).read_text())
    if config.get("format") == "netgraph-pruned/2":
        from .models import rebuild

        return rebuild(folder, config, device, factory=factory)
    model = get_family(config["arch"]).build(config["data_shape"], config["num_classes"], **config["arch_kwargs"])
    resize_like(model, {k: tuple(v) for k, v in config["shapes"].items()})
    model.load_state_dict(load_file(str(folder / MODEL_FILE)))
    return model.to(device).eval()


def load_model_file(
    path: str | Path,
    arch: str,
    data_shape: tuple[int, ...],
    num_classes: int,
    arch_kwargs: Mapping[str, Any] | None = None,
) -> nn.Module:
    """A network of family ``arch`` with the state dict in ``path`` (``.safetensors``, or ``.pt`` /
    ``.pth`` holding a state dict); smaller (already pruned) shapes are accepted."""
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(
            f"model={str(path)!r} is a folder but not a model folder: a Hugging Face model folder holds config.json "
            "and model.safetensors (written by save_pretrained); otherwise give a .safetensors state dict of an "
            f"arch={arch} network, or package.module:factory"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"model={str(path)!r} does not exist; give a .safetensors state dict of an arch={arch} network"
        )
    try:
        state = (
            load_file(str(path))
            if path.suffix == ".safetensors"
            else torch.load(path, map_location="cpu", weights_only=True)
        )
    except Exception as exc:  # noqa: BLE001 - corrupt files raise many types; name the file
        raise ValueError(
            f"cannot read model={str(path)!r} as a state dict ({type(exc).__name__}: {exc}); give a "
            ".safetensors file written by save_file(model.state_dict())"
        ) from exc
    if not isinstance(state, Mapping):
        raise ValueError(f"model={str(path)!r} holds a {type(state).__name__}, not a state dict")
    model = get_family(arch).build(data_shape, num_classes, **dict(arch_kwargs or {}))
    expected = set(model.state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(
            f"model={str(path)!r} is not an arch={arch} network for inputs {list(data_shape)} and "
            f"{num_classes} classes: missing keys {missing[:3]}, unexpected keys {extra[:3]}; check "
            "arch= and data="
        )
    resize_like(model, {k: tuple(v.shape) for k, v in state.items()})
    model.load_state_dict(state)
    return model.eval()
