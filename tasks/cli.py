"""``netgraph-train``: the hydra app over :func:`~netgraph.tasks.train_metanet`.

    netgraph-train                                        # GMN predicts accuracy on the digits zoo, vs StatNN
    netgraph-train task=inr_classification metanet=dwsnet seed=1
    netgraph-train -m task=sine_regression metanet=gmn,ngt,nfn_hnp seed=0,1,2 baselines=[]
    netgraph-train task=accuracy_prediction_cifar10gs task.zoo.path=/data/cifar10
    netgraph-train 'augment=[permutation,{name: gaussian_noise, std: 0.05}]' variant=aug
    torchrun --nproc_per_node=2 -m netgraph.tasks.cli train.epochs=5        # DistributedDataParallel
    netgraph-train action=summary                          # mean and std over seeds of every run

Each run writes ``<run_dir>`` (default ``runs/<task>/<metanet>/<variant>/seed<seed>``):
checkpoints, ``history.csv``, ``results.json``, ``test_figure.png`` (predicted vs true, a confusion
matrix or INR renderings, also logged to TensorBoard with ``train.tensorboard=true``); re-running the same command resumes it (or
reports a finished one). :func:`run` does the work for a composed config and can be called
without hydra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import hydra
import torch
import torch.distributed as dist
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from netgraph.metanets import metanet_preset

from .experiment import train_metanet
from .summary import collect_results, results_table
from netgraph.cli import friendly_errors, strip_debug_flag
from netgraph.errors import ConfigError
from netgraph.provenance import config_hash
from netgraph.validation import field_problems, flag, integer, one_of, optional

from .trainer import RUNTIME_FIELDS, TRAIN_RULES, TrainConfig

__all__ = ["main", "run", "validate", "register_configs", "TrainCommand", "metanet_preset", "ACTIONS"]

ACTIONS = ("train", "summary")


@dataclass
class TrainCommand:
    """The ``netgraph-train`` config (``configs/train.yaml`` fills it; see the module docstring)."""

    action: str = "train"
    task: Dict[str, Any] = field(default_factory=dict)
    metanet: Dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: List[Any] = field(default_factory=list)
    baselines: List[str] = field(default_factory=list)
    seed: int = 0
    device: str = "cpu"
    num_threads: Optional[int] = None
    variant: str = "default"
    runs_root: str = "runs"
    run_dir: str = "${runs_root}/${task.name}/${metanet.name}/${variant}-${netgraph_run_hash:}/seed${seed}"
    resume: bool = True


def register_configs() -> None:
    """Store this app's typed schema in hydra's ConfigStore and register ``${netgraph_run_hash:}`` (the
    config hash in ``run_dir``). The entry point calls it; call it yourself before composing the app's
    config with ``hydra.compose``."""
    ConfigStore.instance().store(name="train_schema", node=TrainCommand)
    if not OmegaConf.has_resolver(RUN_HASH_RESOLVER):
        OmegaConf.register_new_resolver(RUN_HASH_RESOLVER, _resolve_run_hash)


RUN_HASH_RESOLVER = "netgraph_run_hash"


def run_hash(values: Mapping[str, Any], metanet: Mapping[str, Any] | None = None) -> str:
    """The short config hash in a run's folder name: of everything that changes its result (task,
    metanet, training recipe, augmentations) except the seed, so the seeds of one config sit side by
    side and a run of another config (``train.epochs=50`` vs ``3``) never shares their folder.

    Example:
        >>> a = {"task": {"name": "t"}, "metanet": {"name": "gmn"}, "train": {"epochs": 3, "seed": 0}}
        >>> b = {**a, "train": {"epochs": 3, "seed": 1}}
        >>> run_hash(a) == run_hash(b), run_hash(a) == run_hash({**a, "train": {"epochs": 50}})
        (True, False)
    """
    train = {k: v for k, v in dict(values.get("train") or {}).items() if k not in RUNTIME_FIELDS + ("seed",)}
    return config_hash(
        {
            "task": values.get("task") or {},
            "metanet": dict(metanet if metanet is not None else values.get("metanet") or {}),
            "train": train,
            "augment": list(values.get("augment") or []),
        }
    )


def _resolve_run_hash(*, _root_: DictConfig) -> str:
    parts = {k: OmegaConf.to_container(_root_[k], resolve=True) for k in ("task", "metanet", "train", "augment")}
    return run_hash(parts)


def run(cfg: DictConfig | dict[str, Any]) -> dict[str, Any] | str:
    """Carry out ``cfg.action``: ``{metanet: results}`` for ``train``, a markdown table for ``summary``."""
    if isinstance(cfg, DictConfig):
        values = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    else:
        values = dict(cfg)
    validate(values)
    action = values["action"]
    if action == "summary":
        return results_table(collect_results(values["runs_root"]))
    if values.get("num_threads"):
        torch.set_num_threads(int(values["num_threads"]))
    started_group = _init_distributed(values["train"]["device"])
    try:
        runs = {values["metanet"]["name"]: (values["metanet"], Path(values["run_dir"]))}
        seed_dir = f"seed{values['seed']}"
        for name in values["baselines"]:
            if name != values["metanet"]["name"]:
                preset = metanet_preset(name)
                variant = f"{values['variant']}-{run_hash(values, preset)}"
                runs[name] = (preset, Path(values["runs_root"], values["task"]["name"], name, variant, seed_dir))
        results = {}
        for name, (metanet, folder) in runs.items():
            extra = {"variant": values["variant"], "run_dir": str(folder), "config_hash": run_hash(values, metanet)}
            results[name] = train_metanet(
                values["task"],
                name,
                metanet,
                values["train"],
                folder,
                values["augment"],
                resume=values["resume"],
                extra=extra,
            )
        return results
    finally:
        if started_group:
            dist.destroy_process_group()


def validate(values: dict[str, Any]) -> None:
    """Refuse a ``netgraph-train`` config with a bad field before anything runs (one line per field)."""
    from netgraph.metanets import list_metanets

    problems = field_problems(
        values, {"action": one_of(*ACTIONS), "seed": integer(0), "resume": flag(), "num_threads": optional(integer(1))}
    )
    problems += field_problems(values.get("train", {}), TRAIN_RULES, prefix="train.")
    if values.get("action") == "train":
        for group in ("task", "metanet"):
            if not isinstance(values.get(group), dict) or not values[group].get("name"):
                problems.append(
                    f"{group}={values.get(group)!r}: expected a {group} config with a name "
                    f"({group}=<one of configs/{group}/*.yaml>)"
                )
        unknown = [b for b in values.get("baselines", []) if b not in list_metanets()]
        if unknown:
            problems.append(f"baselines={values['baselines']!r}: expected names from {list_metanets()}")
        if not str(values.get("variant", "")).strip():
            problems.append(f"variant={values.get('variant')!r}: expected a non-empty label (part of run_dir)")
    if problems:
        raise ConfigError("netgraph-train config", problems)


def _init_distributed(device: str) -> bool:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, nccl on CUDA)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return True


def report(results: dict[str, dict[str, Any]]) -> str:
    """The comparison printed after training: one row per metanet with its test metrics."""
    first = next(iter(results.values()))
    sizes = first["num_networks"]
    header = (
        f"{first['task']} on zoo {first['zoo']!r}: {sizes['train']} train / {sizes['val']} val / "
        f"{sizes['test']} test networks (test metrics of the best validation checkpoint)"
    )
    return header + "\n\n" + results_table(results.values()).split("\n", 2)[2]


def main() -> None:
    """The ``netgraph-train`` entry point (``--help`` says what it does; ``--debug`` shows tracebacks)."""
    strip_debug_flag()
    register_configs()
    _main()


@hydra.main(version_base="1.3", config_path="pkg://netgraph.configs", config_name="train")
@friendly_errors
def _main(cfg: DictConfig) -> None:
    result = run(cfg)
    if int(os.environ.get("RANK", "0")) > 0:  # torchrun: rank 0 reports
        return
    print(result if isinstance(result, str) else report(result))
    if isinstance(result, dict):
        print(
            "\n"
            + "\n".join(
                f"{name}: {r['run_dir']}/results.json" + (f", {r['run_dir']}/{r['figure']}" if r.get("figure") else "")
                for name, r in result.items()
            )
        )


if __name__ == "__main__":
    main()
