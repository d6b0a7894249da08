"""The user's own model in, the pruned model out, each reloadable in its own library.

``model=`` of ``netgraph-prune`` is one of

* a Hugging Face model: a local ``save_pretrained`` folder, or a Hub id already in the local cache
  (runs are offline) -> :func:`load_hf`; the pruned model is written with ``save_pretrained``
  (``config.json`` + ``model.safetensors`` + tokenizer) plus ``prune_config.json`` with every
  parameter's pruned shape and the changed module attributes (head counts, widths);
* ``package.module:factory`` (+ ``model_kwargs``, + ``weights=<file.safetensors>``) -> :func:`load_factory`;
  the pruned model is written as ``model.safetensors`` + ``prune_config.json`` (factory, kwargs,
  shapes, attributes);
* a ``.safetensors`` state dict of a built-in family (``arch=``), or nothing (a preset is trained).

:func:`load_pruned` rebuilds any of them: constructor (``from_config`` / factory / family), then
:func:`~netgraph.tasks.pruning.resize_like` to the saved shapes and attributes, then the weights.
Transformers 5 has no ``pruned_heads`` config entry any more, so ``AutoModel.from_pretrained`` alone
cannot rebuild per-layer head counts; :func:`load_pruned` does it through ``from_config``.

Example:
    >>> from netgraph.architectures import mlp
    >>> a, b = mlp([4, 8, 3]), mlp([4, 5, 3])
    >>> changed_attributes(a, b)
    {'0': {'out_features': 5}, '2': {'in_features': 5}}
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn
from safetensors.torch import load_file

from netgraph.architectures import list_architectures, resolve_factory
from netgraph.io import CHECKSUMS_JSON, save_safetensors, write_checksums, write_text

from .surgery import HEAD_COUNT_ATTRS, HEAD_WIDTH_ATTRS, KV_HEAD_ATTRS, resize_like

__all__ = [
    "is_hf_model",
    "load_hf",
    "load_factory",
    "changed_attributes",
    "save_pruned_hf",
    "save_pruned_factory",
    "rebuild",
    "start_pruned_folder",
    "seal_pruned_folder",
    "registered_name",
    "CONFIG_JSON",
    "MODEL_FILE",
    "TABLE_MD",
    "FIGURE",
]

CONFIG_JSON = "prune_config.json"
MODEL_FILE = "model.safetensors"
_SIZE_ATTRS = (
    "in_features",
    "out_features",
    "in_channels",
    "out_channels",
    "groups",
    "num_features",
    "normalized_shape",
    "num_channels",
    "num_embeddings",
    "embedding_dim",
    *HEAD_COUNT_ATTRS,
    *HEAD_WIDTH_ATTRS,
    *KV_HEAD_ATTRS,
)


def is_hf_model(ref: str | Path) -> bool:
    """``ref`` is a folder with a ``config.json``, or a Hub id whose config is in the local cache."""
    path = Path(str(ref))
    if path.is_dir():
        return (path / "config.json").is_file()
    if path.exists() or ":" in str(ref) or str(ref).endswith((".safetensors", ".pt", ".pth")):
        return False
    try:
        import transformers

        transformers.AutoConfig.from_pretrained(str(ref), local_files_only=True)
    except Exception:  # noqa: BLE001 - not a cached Hub id
        return False
    return True


def _hf_class(config: Any):
    import transformers

    for name in getattr(config, "architectures", None) or []:
        if hasattr(transformers, name):
            return getattr(transformers, name)
    return transformers.AutoModel


def load_hf(ref: str | Path) -> tuple[nn.Module, Any]:
    """``(model, tokenizer or None)`` of a local folder or cached Hub id, offline, in eval mode."""
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(str(ref), local_files_only=True)
        model = _hf_class(config).from_pretrained(str(ref), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - many error types; name the input and the remedy
        raise ValueError(
            f"cannot load model={str(ref)!r} with transformers ({type(exc).__name__}: {exc}); give a "
            "save_pretrained folder or a Hub id in the local cache (runs are offline)"
        ) from exc
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(ref), local_files_only=True)
    except Exception:  # noqa: BLE001 - a model without a tokenizer (e.g. vision) is fine
        tokenizer = None
    return model.eval(), tokenizer


def load_factory(ref: str, kwargs: Mapping[str, Any] | None = None, weights: str | Path | None = None) -> nn.Module:
    """``factory(**kwargs)`` for ``ref`` = ``"package.module:factory"`` (or a registered architecture name),
    with the state dict in ``weights`` (``.safetensors``) when given."""
    model = resolve_factory(ref)(**dict(kwargs or {}))
    if not isinstance(model, nn.Module):
        raise TypeError(f"model={ref!r} returned a {type(model).__name__}, not an nn.Module")
    if weights is None:
        warnings.warn(
            f"model={ref!r} was built without weights=, so its freshly initialised (untrained) weights are "
            "pruned; pass weights=<file.safetensors> with the trained state dict",
            UserWarning,
            stacklevel=2,
        )
    else:
        path = Path(str(weights))
        if not path.is_file():
            raise FileNotFoundError(
                f"weights={str(path)!r} does not exist; give the .safetensors state dict of {ref}(**model_kwargs)"
            )
        state = load_file(str(path))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"weights={str(path)!r} do not fit {ref}(**model_kwargs): missing keys {missing[:3]}, "
                f"unexpected keys {unexpected[:3]}; check model_kwargs"
            )
    return model.eval()


def changed_attributes(original: nn.Module, pruned: nn.Module) -> dict[str, dict[str, Any]]:
    """``{module name: {attribute: pruned value}}`` for the size attributes that pruning changed."""
    before = dict(original.named_modules())
    changed: dict[str, dict[str, Any]] = {}
    for name, module in pruned.named_modules():
        for attr in _SIZE_ATTRS:
            value = getattr(module, attr, None)
            if (
                isinstance(value, (int, tuple))
                and not isinstance(value, bool)
                and name in before
                and getattr(before[name], attr, None) != value
            ):
                changed.setdefault(name, {})[attr] = list(value) if isinstance(value, tuple) else value
    return changed


def _shapes(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


TABLE_MD = "table.md"  #: the params / FLOPs / accuracy table netgraph-prune writes beside the model
FIGURE = "accuracy_vs_speedup.png"  #: its figure
#: what in a pruned folder is not the model: hydra's records and the metanet (folders), the reports (rewritten
#: after the model is sealed, so they are never in its checksums)
_NOT_MODEL = (".hydra", "metanet", TABLE_MD, FIGURE)


def start_pruned_folder(folder: str | Path) -> Path:
    """Create ``folder`` and drop its ``checksums.json`` before anything is written: a run killed before
    :func:`seal_pruned_folder` leaves a folder that :func:`load_pruned` refuses, never one whose files
    come from two runs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CHECKSUMS_JSON).unlink(missing_ok=True)
    return folder


def seal_pruned_folder(folder: str | Path) -> Path:
    """Record the SHA-256 of every model file of ``folder`` (weights, configs, tokenizer, extras) in
    ``checksums.json``: the last write of a pruned folder, checked by :func:`load_pruned`."""
    folder = Path(folder)
    names = [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).parts[0] not in _NOT_MODEL and p.suffix != ".log"
    ]
    return write_checksums(folder, names)


def save_pruned_hf(
    folder: str | Path,
    original: nn.Module,
    pruned: nn.Module,
    tokenizer: Any = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """``pruned.save_pretrained(folder)`` (+ tokenizer) and ``prune_config.json`` (shapes, attributes, info)."""
    folder = start_pruned_folder(folder)
    pruned.save_pretrained(str(folder))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    config = {
        "format": "netgraph-pruned/2",
        "library": "transformers",
        "shapes": _shapes(pruned),
        "attributes": changed_attributes(original, pruned),
        **dict(info or {}),
    }
    write_text(folder / CONFIG_JSON, json.dumps(config, indent=1))
    seal_pruned_folder(folder)
    return folder


def save_pruned_factory(
    folder: str | Path,
    original: nn.Module,
    pruned: nn.Module,
    factory: str,
    kwargs: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """``model.safetensors`` + ``prune_config.json`` (factory, kwargs, shapes, attributes, info)."""
    folder = start_pruned_folder(folder)
    factory = registered_name(factory)
    state = {k: v.detach().contiguous().cpu() for k, v in pruned.state_dict().items()}
    save_safetensors(folder / MODEL_FILE, state, {"factory": factory, "format": "netgraph-pruned/2"})
    config = {
        "format": "netgraph-pruned/2",
        "factory": factory,
        "kwargs": dict(kwargs or {}),
        "shapes": _shapes(pruned),
        "attributes": changed_attributes(original, pruned),
        **dict(info or {}),
    }
    write_text(folder / CONFIG_JSON, json.dumps(config, indent=1))
    seal_pruned_folder(folder)
    return folder


def registered_name(ref: str) -> str:
    """The registered architecture name of factory ``ref`` when it has one, else ``ref`` itself: what a
    pruned folder stores, so that :func:`load_pruned` can rebuild it without importing anything by name.

    >>> registered_name("netgraph.architectures:vgg")
    'vgg'
    """
    factory = resolve_factory(ref)
    return next((name for name in list_architectures() if resolve_factory(name) is factory), ref)


def rebuild(
    folder: Path,
    config: Mapping[str, Any],
    device: torch.device | str = "cpu",
    factory: Callable[..., nn.Module] | None = None,
) -> nn.Module:
    """The pruned module of a ``netgraph-pruned/2`` folder (Hugging Face or factory).

    The stored factory name resolves only to a registered architecture (nothing named in a file is
    imported); for your own factory pass it as ``factory``.
    """
    if config.get("library") == "transformers":
        import transformers

        hf_config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        cls = _hf_class(hf_config)
        model = cls.from_config(hf_config) if cls is transformers.AutoModel else cls._from_config(hf_config)
    else:
        build = factory if factory is not None else resolve_factory(config["factory"], allow_import=False)
        model = build(**config.get("kwargs", {}))
    resize_like(model, {k: tuple(v) for k, v in config["shapes"].items()}, config.get("attributes"))
    state = load_file(str(folder / MODEL_FILE))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    if unexpected or [k for k in missing if k not in tied]:
        raise ValueError(
            f"{folder / MODEL_FILE} does not fit the rebuilt model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model.to(device).eval()
