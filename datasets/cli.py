"""``netgraph-zoo``: the hydra app over :func:`~.build.build_zoo` and :func:`~.build.merge_zoos`.

    netgraph-zoo                                   # the default zoo (digits_cnn) into zoos/digits-cnn
    netgraph-zoo zoo=sine_inr num_nets=200         # another preset, any ZooConfig field overridden
    netgraph-zoo --config-name zoo_joblib -m 'seed=range(0,4)'        # 4 parts in parallel processes
    netgraph-zoo action=merge "parts=[zoos/digits-cnn-seed*]" root=zoos/digits-cnn
    netgraph-zoo action=plan                       # what would be built, without training

:func:`run` does the work for a composed config, so it can be called without hydra too.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from netgraph.cli import friendly_errors, strip_debug_flag

from .build import build_zoo, merge_zoos, plan_zoo
from .config import ZooConfig

__all__ = ["main", "run", "register_configs", "ZooCommand"]

ACTIONS = ("build", "merge", "plan")


@dataclass
class ZooCommand(ZooConfig):
    """The ``netgraph-zoo`` config: a :class:`ZooConfig` plus what to do with it."""

    action: str = "build"
    parts: list[str] = field(default_factory=list)
    progress: bool = True


def register_configs() -> None:
    """Store this app's typed schema in hydra's ConfigStore. The entry point calls it; call it yourself
    before composing the app's config with ``hydra.compose``."""
    ConfigStore.instance().store(name="zoo_schema", node=ZooCommand)


def run(cfg: DictConfig | dict[str, Any]) -> Path | dict[str, Any]:
    """Carry out ``cfg.action``: the zoo folder for ``build`` / ``merge``, a summary for ``plan``."""
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    action, parts, progress = values.pop("action", "build"), values.pop("parts", []), values.pop("progress", True)
    config = ZooConfig.from_any(values)
    if action == "build":
        return build_zoo(config, progress=progress)
    if action == "merge":
        folders = sorted({p for pattern in parts for p in (glob.glob(pattern) or [pattern])})
        if not folders:
            raise ValueError(
                'action=merge needs parts=[folder, ...] (glob patterns allowed), e.g. "parts=[zoos/digits-cnn-seed*]"'
            )
        return merge_zoos(folders, config.root)
    if action == "plan":
        plan = plan_zoo(config)
        return {
            "root": config.root,
            "nets": len(plan.rows),
            "shards": len(plan.shards),
            "architectures": plan.info["architectures"],
            "checkpoints": plan.info["checkpoints"],
        }
    raise ValueError(f"action={action!r}; expected one of {list(ACTIONS)}")


@hydra.main(version_base="1.3", config_path="pkg://netgraph.configs", config_name="zoo")
@friendly_errors
def _main(cfg: DictConfig) -> None:
    result = run(cfg)
    print(json.dumps(result, indent=1) if isinstance(result, dict) else result)


def main() -> None:
    """The ``netgraph-zoo`` entry point (``--help`` says what it does; ``--debug`` shows tracebacks)."""
    strip_debug_flag()
    register_configs()
    _main()


if __name__ == "__main__":
    main()
