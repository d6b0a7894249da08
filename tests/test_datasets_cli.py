"""``netgraph-zoo``: hydra composition, build / plan / merge, sweeps through the real console script."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module

from netgraph.datasets import load_zoo
from netgraph.datasets.cli import register_configs, run


TINY = ["zoo=iris_mlp", "num_nets=3", "epochs=1", "checkpoints=[1]", "progress=false"]


def composed(overrides, config_name="zoo", hydra_node=False):
    register_configs()
    with initialize_config_module(config_module="netgraph.configs", version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=hydra_node)


def test_compose_build_plan_and_merge(tmp_path):
    for seed in (0, 1):
        root = run(composed(TINY + [f"seed={seed}", f"root={tmp_path}/iris-seed{seed}"]))
        assert len(load_zoo(root)) == 3
    plan = run(composed(TINY + ["action=plan", "num_nets=7"]))
    assert plan["nets"] == 7 and plan["checkpoints"] == [1]
    merged = run(composed(TINY + ["action=merge", f"parts=[{tmp_path}/iris-seed*]", f"root={tmp_path}/iris"]))
    zoo = load_zoo(merged)
    assert len(zoo) == 6 and sorted({r["seed"] for r in zoo.rows}) == [0, 1]
    with pytest.raises(ValueError, match="action=merge needs parts"):
        run(composed(TINY + ["action=merge"]))
    with pytest.raises(ValueError, match="action='train'"):
        run(composed(TINY + ["action=train"]))


def test_presets_are_typed_and_launcher_configs_compose():
    cfg = composed([])
    assert cfg.name == "digits-cnn" and cfg.num_nets == 256 and cfg.root == "zoos/digits-cnn"
    with pytest.raises(Exception, match="num_nets"):
        composed(["num_nets=many"])
    joblib = composed(["seed=3"], "zoo_joblib", hydra_node=True)
    assert "JoblibLauncher" in joblib.hydra.launcher._target_ and joblib.root == "zoos/digits-cnn-seed3"
    assert joblib.num_threads == 1
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    slurm = composed([], "zoo_slurm", hydra_node=True)
    assert "SlurmLauncher" in slurm.hydra.launcher._target_ and slurm.hydra.launcher.cpus_per_task == 4


def _console(args, cwd):
    script = shutil.which("netgraph-zoo", path=os.path.dirname(sys.executable))
    command = [script] if script else [sys.executable, "-m", "netgraph.datasets.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two fresh interpreters importing torch: several seconds on a shared machine
def test_console_script_help_and_plan(tmp_path):
    out = _console(["--help"], tmp_path)
    assert (
        out.returncode == 0
        and "netgraph-zoo" in out.stdout
        and "digits_cnn, digits_inr, iris_mlp, sine_inr" in out.stdout
    )
    out = _console(["action=plan", "zoo=sine_inr", "num_nets=10", "hydra.run.dir=."], tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["nets"] == 10


@pytest.mark.slow
def test_console_multirun_sweep_with_joblib_then_merge(tmp_path):
    out = _console(["--config-name", "zoo_joblib", "-m", "seed=0,1"] + TINY + ["root=parts/iris-seed${seed}"], tmp_path)
    assert out.returncode == 0, out.stderr
    out = _console(["action=merge", "parts=[parts/iris-seed*]", "root=iris", "hydra.run.dir=."], tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(load_zoo(tmp_path / "iris")) == 6
