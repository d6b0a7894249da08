"""``netgraph-generate``: the hydra app over :func:`generate_weights` and :func:`~.recipes.run_recipe`.

    netgraph-generate repo=iris-mlp-hypernet n=8 out=weights.safetensors    # weights from a generator
    netgraph-generate repo=me/ghn target=SmallCNN "target_kwargs={channels: 8}" out=cnn.safetensors
    netgraph-generate repo=./my-generator target=mypkg.models:MyNet          # any importable factory
    netgraph-generate action=init repo=digits-cnn-ghn target=vgg out=vgg-init  # initialise one model (GHN)
    netgraph-generate action=init repo=digits-cnn-ghn target=./my-hf-model out=./my-hf-model-ghn
    netgraph-generate --config-name generate_train generate_recipe=digits_hypernet      # train a generator
    netgraph-generate --config-name generate_train generate_recipe=iris_hypernet push_to=me/iris-hypernet

``repo`` is a bundled name, a local folder in Hub layout or a Hub repo id (``HF_HUB_OFFLINE=1``
reads the Hub cache only). ``target`` is ``null`` (the architecture recorded with the generator), a
factory of :mod:`netgraph.architectures` with ``target_kwargs``, or ``package.module:factory``.
The output file holds the stacked weights ``[n, *shape]`` per state-dict key and the architecture
(:meth:`netgraph.metanets.GeneratedNetworks.load` reads it back); a picture of their per-layer
distributions next to a PyTorch-initialised network's is written beside it (``out`` with ``.png``).

``action=init`` initialises *one* model with a generator that takes a model
(:class:`~netgraph.metanets.OperationGraphHypernetwork`: ``generator(model)``) and writes it to the folder ``out``: a
Hugging Face folder (``save_pretrained``) when ``target`` is one (a folder with a transformers
``config.json``), else ``model.safetensors`` (``model.load_state_dict(safetensors.torch.load_file(...))``).

:func:`run` does the work for a composed config, so it can be called without hydra too.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import hydra
import torch
import torch.nn as nn
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from safetensors import safe_open
from safetensors.torch import save_file

from netgraph import NODE_FEATURES, GraphSpec, architectures
from netgraph.cli import friendly_errors, strip_debug_flag
from netgraph.io import atomic_write
from netgraph.metanets import OperationGraphHypernetwork, GeneratedNetworks
from netgraph.seeding import scoped_rng
from netgraph.validation import check_fields, integer

from ..figures import write_figure
from .recipes import GenerateRecipe, run_recipe

__all__ = [
    "main",
    "run",
    "register_configs",
    "generate_weights",
    "build_target",
    "initialise",
    "load_hf_model",
    "write_model",
    "check_memory",
    "generation_bytes",
    "GenerateCommand",
    "TrainCommand",
]

ACTIONS = ("generate", "train", "init")


@dataclass
class GenerateCommand:
    """The ``netgraph-generate`` config (``action=generate``)."""

    action: str = "generate"
    repo: str = "iris-mlp-hypernet"
    target: Optional[str] = None
    target_kwargs: Any = None
    condition: Optional[str] = None
    n: int = 8
    out: str = "weights.safetensors"
    seed: int = 0
    device: str = "cpu"
    revision: Optional[str] = None


@dataclass
class TrainCommand(GenerateRecipe):
    """The ``netgraph-generate --config-name generate_train`` config: a recipe plus where to push it."""

    action: str = "train"
    push_to: Optional[str] = None


def register_configs() -> None:
    """Store this app's typed schema in hydra's ConfigStore. The entry point calls it; call it yourself
    before composing the app's config with ``hydra.compose``."""
    ConfigStore.instance().store(name="generate_schema", node=GenerateCommand)
    ConfigStore.instance().store(name="generate_train_schema", node=TrainCommand)


def build_target(name: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """A target module: a factory of :mod:`netgraph.architectures` (``"SmallCNN"``) or an importable
    ``"package.module:factory"``, called with ``kwargs``."""
    try:
        factory = architectures.resolve_factory(name)
    except ValueError as exc:
        raise ValueError(f"target={name!r}: {exc}") from exc
    return factory(**dict(kwargs or {}))


def generate_weights(
    repo: str,
    target: str | nn.Module | None = None,
    target_kwargs: dict[str, Any] | None = None,
    n: int = 8,
    condition: torch.Tensor | str | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    revision: str | None = None,
) -> GeneratedNetworks:
    """``n`` networks from the generator ``repo`` for ``target`` (a module, a factory name, or ``None``:
    the generator's recorded architecture); ``condition`` may be a tensor or a safetensors file holding
    a tensor named ``condition``."""
    from netgraph.hub import load_generator

    check_fields("netgraph-generate request", {"n": n, "seed": seed}, {"n": integer(1), "seed": integer(0)})
    with scoped_rng():  # building modules draws from the global RNG; leave it as it was
        generator = load_generator(repo, device=device, revision=revision)
        module = build_target(target, target_kwargs) if isinstance(target, str) else target
        module = generator.resolve_target(module)
    check_memory(generator.target_spec(module), n, device)
    if isinstance(condition, (str, Path)):
        with safe_open(str(condition), framework="pt") as f:
            if "condition" not in f.keys():
                raise ValueError(f"{condition} holds {list(f.keys())}; expected a tensor named 'condition'")
            condition = f.get_tensor("condition")
    with scoped_rng(seed), torch.no_grad():  # the generator's noise
        return generator.generate(module, condition, n=n)


def generation_bytes(spec: GraphSpec, n: int) -> int:
    """Bytes that generating ``n`` networks of ``spec`` holds at once (a lower bound): their graphs
    (node and edge features), the stacked state dicts and the copy written to the output file."""
    item = torch.empty((), dtype=spec.dtype).element_size()
    per_net = spec.num_nodes * len(NODE_FEATURES) + spec.num_edges * max(1, spec.kernel_numel) + 2 * spec.num_params
    return n * per_net * item


def available_bytes(device: torch.device | str) -> int | None:
    """Free memory of ``device`` (``MemAvailable`` of the host for the CPU), ``None`` when unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def check_memory(spec: GraphSpec, n: int, device: torch.device | str, share: float = 0.8) -> None:
    """Refuse, before allocating anything, to generate more networks than ``share`` of the free
    memory of ``device`` holds."""
    need, free = generation_bytes(spec, n), available_bytes(device)
    if free is not None and need > share * free:
        fits = max(0, int(share * free // max(1, generation_bytes(spec, 1))))
        raise MemoryError(
            f"n={n} networks of {spec.num_params:,} values each need at least {need / 2**30:.1f} GiB on "
            f"{device}, but {free / 2**30:.1f} GiB are free; generate at most about n={fits:,} per run "
            "(several runs with different seeds), or use a device with more memory"
        )


def load_hf_model(folder: str | Path) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A freshly initialised ``transformers`` model of the folder's ``config.json`` (the class its
    ``architectures`` names, else ``AutoModel``) and example inputs to trace it with (8 tokens)."""
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            f"target={str(folder)!r} is a Hugging Face folder; reading it needs transformers (pip install transformers)"
        ) from exc
    config = transformers.AutoConfig.from_pretrained(str(folder))
    names = getattr(config, "architectures", None) or []
    cls = getattr(transformers, names[0], None) if names else None
    model = cls(config) if cls is not None else transformers.AutoModel.from_config(config)
    accepted = inspect.signature(model.forward).parameters
    example = {
        "input_ids": torch.zeros(1, 8, dtype=torch.long),
        "token_type_ids": torch.zeros(1, 8, dtype=torch.long),
        "attention_mask": torch.ones(1, 8, dtype=torch.long),
    }
    return model.eval(), {k: v for k, v in example.items() if k in accepted}


def initialise(
    repo: str,
    target: str | nn.Module,
    target_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    revision: str | None = None,
) -> nn.Module:
    """``target`` (a module, a factory name, ``package.module:factory`` or a Hugging Face folder)
    initialised by the generator ``repo`` (one that takes a model, e.g. a :class:`~netgraph.metanets.OperationGraphHypernetwork`)."""
    from netgraph.hub import load_generator

    generator = load_generator(repo, device=device, revision=revision)
    if not isinstance(generator, OperationGraphHypernetwork):
        raise TypeError(
            f"{repo} holds a {type(generator).__name__}, which generates networks of its own architecture "
            "but does not initialise a given model; use a GHN (e.g. repo=digits-cnn-ghn) or "
            "action=generate"
        )
    example = None
    if isinstance(target, (str, Path)) and Path(target).is_dir():
        model, example = load_hf_model(target)
    else:
        model = build_target(target, target_kwargs) if isinstance(target, str) else target
    model.to(device)
    return generator(model, torch.Generator(device).manual_seed(seed), example_inputs=example)


def write_model(model: nn.Module, folder: str | Path) -> Path:
    """Save ``model`` into ``folder``: ``save_pretrained`` when it has one, else ``model.safetensors``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(str(folder))
    else:
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    return folder


def run(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """Carry out ``cfg.action`` and return a summary (also printed by the app)."""
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    action = values.pop("action", "generate")
    if action == "generate":
        command = GenerateCommand(**values)
        nets = generate_weights(
            command.repo,
            command.target,
            command.target_kwargs,
            command.n,
            command.condition,
            command.seed,
            command.device,
            command.revision,
        )
        path = nets.save(command.out)
        figure = write_figure(
            lambda viz: viz.plot_weight_stats(
                {
                    "generated": nets.state_dicts(),
                    "PyTorch init (the template)": {k: v.unsqueeze(0) for k, v in nets.template.state_dict().items()},
                },
                title=f"{command.repo}: weights of {len(nets)} generated networks",
            ),
            path.with_suffix(".png"),
        )
        return {
            "out": str(path),
            "n": len(nets),
            "architecture": type(nets.template).__name__,
            "learnable_values": nets.spec.num_params,
            "figure": figure and str(figure),
        }
    if action == "init":
        command = GenerateCommand(**values)
        if command.target is None:
            raise ValueError("action=init needs target=<factory name | package.module:factory | Hugging Face folder>")
        model = initialise(
            command.repo, command.target, command.target_kwargs, command.seed, command.device, command.revision
        )
        folder = write_model(model, command.out)
        return {
            "out": str(folder),
            "architecture": type(model).__name__,
            "generator": command.repo,
            "initialised_values": sum(p.numel() for p in model.parameters()),
        }
    if action == "train":
        push_to = values.pop("push_to", None)
        generator, results = run_recipe(values)
        summary = {
            "recipe": results["recipe"],
            "out_dir": values.get("out_dir"),
            "evaluation": results["evaluation"],
            "cpu_seconds": results["cpu_seconds"],
        }
        if "zoo" in results:
            summary["zoo"] = results["zoo"]
        if push_to:
            from netgraph.hub import push

            summary["pushed"] = push(values["out_dir"] if values.get("out_dir") else generator, push_to)
        return summary
    raise ValueError(f"action={action!r}; expected one of {list(ACTIONS)}")


def main() -> None:
    """The ``netgraph-generate`` entry point (``--help`` says what it does; ``--debug`` shows tracebacks)."""
    strip_debug_flag()
    register_configs()
    _main()


@hydra.main(version_base="1.3", config_path="pkg://netgraph.configs", config_name="generate")
@friendly_errors
def _main(cfg: DictConfig) -> None:
    print(json.dumps(run(cfg), indent=1))


if __name__ == "__main__":
    main()
