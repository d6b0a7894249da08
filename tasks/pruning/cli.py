"""``netgraph-prune``: the hydra app over :func:`~netgraph.tasks.pruning.prune`.

    netgraph-prune                                          # train a digits MLP, magnitude-prune it 2x
    netgraph-prune model=net.safetensors arch=vgg speedup=3 finetune.epochs=10
    netgraph-prune arch=mlp metanet=train                   # meta-train a GMN on a zoo, then prune
    netgraph-prune model=resnet56.safetensors arch=resnet56 data=cifar10.pt speedup=2 metanet=none
    netgraph-prune -m method=magnitude,torch_pruning speedup=1.5,2,3
    netgraph-prune model=path/to/hf_folder speedup=2 finetune.epochs=2    # heads + MLP neurons, distilled
    netgraph-prune model=mypkg.nets:build +model_kwargs.width=32 weights=net.safetensors data=mypkg.data:load

Writes to ``out`` (default ``pruned/<model>-<speedup>x-seed<seed>``, named after the model: the preset, the
factory or the folder's name; ``2`` and ``2.0`` are one speed-up): ``model.safetensors`` and
``prune_config.json`` (rebuild with :func:`~netgraph.tasks.pruning.load_pruned`), ``table.md`` and its
figure ``accuracy_vs_speedup.png`` (:func:`netgraph.viz.plot_pruning`), and
``original.safetensors`` / ``metanet/`` when it trained them; ``checksums.json`` is written last, so an
interrupted run leaves a folder ``load_pruned`` refuses, and ``prune_config.json`` records the run's
provenance (its resolved config and the SHA-256 of the input weights). :func:`run` does the work for a
composed config and can be called without hydra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from netgraph.cli import friendly_errors, strip_debug_flag
from netgraph.io import file_sha256, save_safetensors, write_text
from netgraph.provenance import provenance
from netgraph.seeding import scoped_rng
from netgraph.validation import check_fields, integer, number, optional

from ..figures import write_figure

from .api import PruneResult, load_model_file, prune, save_pruned
from .data import data_shape, load_data
from .engine import check_speedup
from .families import get_family
from .finetune import finetune
from .meta import train_pruning_metanet
from .models import FIGURE, TABLE_MD, is_hf_model, load_factory, load_hf, save_pruned_factory, save_pruned_hf
from .text import TextPruneResult, load_sentences, prune_text_encoder

__all__ = ["main", "run", "FIGURE", "CONFIG_RULES", "output_name", "register_resolvers"]


#: what each numeric field of ``configs/prune/prune.yaml`` accepts (checked before anything runs)
CONFIG_RULES = {
    "step": number(0, 1, open_min=True, open_max=True),
    "seed": integer(0),
    "num_threads": optional(integer(1)),
    "finetune.epochs": integer(0),
    "finetune.lr": number(0, open_min=True),
    "base.epochs": integer(1),
    "base.lr": number(0, open_min=True),
    "meta.num_nets": integer(2),
    "meta.zoo_epochs": integer(1),
    "meta.sparsity": number(0),
    "meta.epochs": integer(1),
    "meta.batch_size": integer(1),
    "meta.lr": number(0, open_min=True),
}


def output_name(model: Any, arch: str, speedup: Any, seed: Any) -> str:
    """The default output folder's name: ``<model>-<speedup>x-seed<seed>``, the model named by its folder,
    file or factory (the preset ``arch`` when none is given), the speed-up normalised (``2`` == ``2.0``).

    Example:
        >>> output_name(None, "mlp", "2.0", 0), output_name("models/all-MiniLM-L6-v2/", "mlp", 2, 1)
        ('mlp-2x-seed0', 'all-MiniLM-L6-v2-2x-seed1')
        >>> output_name("mypkg.nets:build_cnn", "mlp", 1.5, 0)
        'build_cnn-1.5x-seed0'
    """
    if model in (None, "", "None", "null"):
        name = arch
    elif ":" in str(model) and not Path(str(model)).exists():
        name = str(model).rpartition(":")[2]
    else:
        path = Path(str(model))
        name = path.stem if path.suffix in (".safetensors", ".pt", ".pth") else path.name
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "model"
    return f"{name}-{float(speedup):g}x-seed{int(float(seed))}"


def register_resolvers() -> None:
    """Register ``${prune_output_name:...}`` (used by ``out`` in configs/prune/prune.yaml); idempotent."""
    if not OmegaConf.has_resolver("prune_output_name"):
        OmegaConf.register_new_resolver("prune_output_name", output_name)


def _inputs(values: dict[str, Any]) -> dict[str, str]:
    """SHA-256 of the weight files the run reads (the ``inputs`` of its provenance)."""
    files = {"weights": values.get("weights"), "model": values.get("model")}
    found = {}
    for key, ref in files.items():
        path = Path(str(ref)) if ref else None
        if path is not None and path.is_dir():
            path = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
        if path is not None and path.is_file():
            found[key] = file_sha256(path)
    return found


def run(cfg: DictConfig | dict[str, Any]) -> tuple[PruneResult | TextPruneResult, Path]:
    """Prune as ``cfg`` says (see ``configs/prune.yaml``); returns the result and the output folder."""
    register_resolvers()
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    check_fields("netgraph-prune config", values, CONFIG_RULES)
    if values.get("num_threads"):
        torch.set_num_threads(int(values["num_threads"]))
    speedup = check_speedup(values["speedup"])
    ref = values.get("model")
    if ref and is_hf_model(ref):
        return _run_hf(values, speedup)
    if ref and ":" in str(ref) and not Path(str(ref)).exists():
        return _run_factory(values, speedup)
    arch, kwargs = values["arch"]["name"], dict(values["arch"].get("kwargs") or {})
    family = get_family(arch)
    device, seed, out = values["device"], int(values["seed"]), Path(values["out"])
    data = load_data(values["data"], flatten=family.flatten, device=device)
    shape = data_shape(data)
    if values.get("model"):
        model = load_model_file(values["model"], arch, shape, data.num_classes, kwargs).to(device)
    else:
        with scoped_rng(seed):
            model = family.build(shape, data.num_classes, **kwargs).to(device)
            finetune(model, data, int(values["base"]["epochs"]), lr=float(values["base"]["lr"]), seed=seed)
        save_safetensors(out / "original.safetensors", model.state_dict(), {"arch": arch})
    metanet = _metanet(values, arch, kwargs, data, out, seed, device)
    result = prune(
        model,
        metanet,
        speedup,
        data,
        arch=arch,
        method=values.get("method"),
        finetune_epochs=int(values["finetune"]["epochs"]),
        lr=float(values["finetune"]["lr"]),
        norm=values["norm"],
        step=float(values["step"]),
        seed=seed,
        metanet_name=values["metanet_name"],
        device=device,
    )
    info = {
        "method": result.method,
        "speedup_target": speedup,
        "table": result.rows,
        "source": values.get("model") or "trained by netgraph-prune",
        "provenance": provenance(values, _inputs(values)),
    }
    save_pruned(out, result.model, arch, shape, data.num_classes, kwargs, info)
    write_text(out / TABLE_MD, result.table() + "\n")
    write_figure(lambda viz: viz.plot_pruning([result], title=f"{arch}: {result.method}"), out / FIGURE)
    return result, out


def _structures(values: dict[str, Any]) -> tuple[str, ...]:
    return tuple(values.get("structures") or ("channels", "heads"))


def _run_hf(values: dict[str, Any], speedup: float) -> tuple[TextPruneResult, Path]:
    model, tokenizer = load_hf(values["model"])
    if tokenizer is None:
        raise ValueError(
            f"model={values['model']!r} has no tokenizer; netgraph-prune distils Hugging Face text "
            "encoders on text (prune other models from Python with prune_to_speedup)"
        )
    text = values.get("text") or {}
    method = values.get("method") or "magnitude"
    result = prune_text_encoder(
        model,
        tokenizer,
        speedup,
        method,
        load_sentences(text.get("sentences"), text),
        val=int(text.get("val", 64)),
        test=int(text.get("test", 128)),
        max_length=int(text.get("max_length", 32)),
        epochs=int(values["finetune"]["epochs"]),
        lr=float(text.get("lr", 1e-4)),
        structures=_structures(values),
        norm=values["norm"],
        step=float(values["step"]),
        seed=int(values["seed"]),
        device=values["device"],
    )
    out = Path(values["out"])
    save_pruned_hf(
        out,
        model,
        result.model,
        tokenizer,
        {
            "method": method,
            "speedup_target": speedup,
            "table": result.rows,
            "source": str(values["model"]),
            "provenance": provenance(values, _inputs(values)),
        },
    )
    write_text(out / TABLE_MD, result.table() + "\n")
    return result, out


def _run_factory(values: dict[str, Any], speedup: float) -> tuple[PruneResult, Path]:
    ref, kwargs = str(values["model"]), dict(values.get("model_kwargs") or {})
    model = load_factory(ref, kwargs, values.get("weights"))
    result = prune(
        model,
        None,
        speedup,
        values["data"],
        method=values.get("method"),
        finetune_epochs=int(values["finetune"]["epochs"]),
        lr=float(values["finetune"]["lr"]),
        norm=values["norm"],
        step=float(values["step"]),
        seed=int(values["seed"]),
        structures=_structures(values),
        device=values["device"],
    )
    out = Path(values["out"])
    save_pruned_factory(
        out,
        model,
        result.model,
        ref,
        kwargs,
        {
            "method": result.method,
            "speedup_target": speedup,
            "table": result.rows,
            "provenance": provenance(values, _inputs(values)),
        },
    )
    write_text(out / TABLE_MD, result.table() + "\n")
    return result, out


def _metanet(values: dict[str, Any], arch: str, kwargs: dict, data, out: Path, seed: int, device: str):
    ref = values.get("metanet")
    if ref in (None, "none", "null", ""):
        return None
    if ref != "train":
        return str(ref)
    if kwargs != get_family(arch).defaults and kwargs:
        raise ValueError(
            "metanet=train builds its zoo with the family's default widths; drop arch.kwargs overrides "
            "or train the metanet with train_pruning_metanet"
        )
    meta = values["meta"]
    trained = train_pruning_metanet(
        arch,
        data,
        num_nets=int(meta["num_nets"]),
        zoo_epochs=int(meta["zoo_epochs"]),
        metanet=values["metanet_name"],
        metanet_config=meta.get("metanet"),
        sparsity=float(meta["sparsity"]),
        train={"epochs": int(meta["epochs"]), "batch_size": int(meta["batch_size"]), "lr": float(meta["lr"])},
        seed=seed,
        device=device,
    )
    trained.metanet.save_pretrained(out / "metanet")
    return trained.metanet


def main() -> None:
    """The ``netgraph-prune`` entry point (``--help`` says what it does; ``--debug`` shows tracebacks)."""
    strip_debug_flag()
    register_resolvers()
    _main()


@hydra.main(version_base="1.3", config_path="pkg://netgraph.configs.prune", config_name="prune")
@friendly_errors
def _main(cfg: DictConfig) -> None:
    result, out = run(cfg)
    name = OmegaConf.select(cfg, "model") or OmegaConf.select(cfg, "arch.name")
    print(
        f"{name} pruned by {result.method} to {result.speedup:.2f}x fewer FLOPs "
        f"(target {cfg.speedup}x):\n\n{result.table()}\n\npruned model: {out}/model.safetensors "
        f"(+ prune_config.json; load with netgraph.tasks.pruning.load_pruned('{out}'))"
    )


if __name__ == "__main__":
    main()
