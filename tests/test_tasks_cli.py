"""``netgraph-train``: hydra composition of every task and metanet config, training and summary runs,
the published-data configs on tiny files of the published formats, the augmentation switch,
the console script, and DistributedDataParallel with torchrun (gloo on CPU)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netgraph.datasets.storage import zoo_config_hash
import torch
from hydra import compose, initialize_config_module
from omegaconf.errors import MissingMandatoryValue

from netgraph.architectures import SmallCNN
from netgraph.tasks import CheckpointStore, load_trained, task_preset_names
from netgraph.tasks.cli import metanet_preset, register_configs, run

from _task_helpers import tiny_zoos  # noqa: F401  (fixture)
from _published_formats import dwsnets_state, to_keras, write_small_cnn_zoo_files

METANETS = ["dwsnet", "gmn", "mlp", "nfn_hnp", "nfn_np", "ngt", "statnn"]
QUICK = ["train.epochs=2", "train.progress=false", "metanet.dim=8", "metanet.depth=1", "metanet.head_hidden=8"]


def composed(overrides):
    register_configs()
    with initialize_config_module(config_module="netgraph.configs", version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def zoo_overrides(source):
    return [
        f"task.zoo.{k}={json.dumps(v).replace(' ', '')}"
        if k in ("preset", "root", "num_nets", "num_threads")
        else f"+task.zoo.{k}={json.dumps(v).replace(' ', '')}"
        for k, v in source.items()
    ]


def test_every_task_and_metanet_config_composes():
    for preset in task_preset_names():
        cfg = composed([f"task={preset}"])
        assert preset.startswith(cfg.task.name) and cfg.train.epochs > 0 and cfg.task.zoo
    for metanet in METANETS:
        assert metanet_preset(metanet) == dict(composed([f"metanet={metanet}"]).metanet)
    cfg = composed([])
    assert (cfg.task.name, cfg.metanet.name, list(cfg.baselines)) == ("accuracy_prediction", "gmn", ["statnn"])
    assert re.fullmatch(r"runs/accuracy_prediction/gmn/default-[0-9a-f]{12}/seed0", cfg.run_dir) and cfg.train.seed == 0
    with pytest.raises(Exception, match="epochs"):
        composed(["train.epochs=many"])
    with pytest.raises(MissingMandatoryValue, match="task.zoo.path"):
        run(composed(["task=accuracy_prediction_cifar10gs"]))
    with pytest.raises(ValueError, match="no metanet config"):
        metanet_preset("nope")


def test_train_with_a_baseline_then_summarise(tiny_zoos, tmp_path):
    overrides = (
        ["task=sine_regression", f"runs_root={tmp_path}", "num_threads=1"] + QUICK + zoo_overrides(tiny_zoos["sine"])
    )
    results = run(composed(overrides))
    assert sorted(results) == ["gmn", "statnn"]
    for name, result in results.items():
        (folder,) = (tmp_path / "sine_regression" / name).glob("default-*/seed0")  # one folder per config
        assert json.loads((folder / "results.json").read_text())["test"] == result["test"]
        assert result["run_dir"] == str(folder) and result["variant"] == "default"
        assert folder.parent.name == f"default-{result['config_hash']}"
        assert result["provenance"]["inputs"]["zoo"] == zoo_config_hash(tiny_zoos["sine"]["root"])  # made from this zoo
        assert result["figure"] == "test_figure.png" and (folder / "test_figure.png").stat().st_size > 0
    model, task = load_trained(results["gmn"]["run_dir"])
    assert model.embedding.node_values.out_features == 8 and task.name == "sine_regression"
    results_1 = run(composed(overrides + ["seed=1", "baselines=[]"]))
    assert sorted(results_1) == ["gmn"]
    table = run(composed([f"runs_root={tmp_path}", "action=summary"]))
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| metanet | variant | seeds | r2 | mse")
    assert rows[1].startswith("| statnn | default | 1 |") and rows[2].startswith("| gmn | default | 2 |")
    gmn_r2 = [results["gmn"]["test"]["r2"], results_1["gmn"]["test"]["r2"]]
    assert f"{np.mean(gmn_r2):.4g} ± {np.std(gmn_r2, ddof=1):.4g}" in rows[2]
    with pytest.raises(ValueError, match="action='fit'"):
        run(composed(["action=fit"]))


def test_augmentation_switch(tiny_zoos, tmp_path):
    overrides = (
        ["task=sine_regression", f"runs_root={tmp_path}", "baselines=[]", "variant=aug", "augment=[permutation]"]
        + QUICK
        + zoo_overrides(tiny_zoos["sine"])
    )
    result = run(composed(overrides))["gmn"]
    assert result["augment"] == ["permutation"] and result["variant"] == "aug"
    assert (Path(result["run_dir"]) / "results.json").is_file() and Path(result["run_dir"]).parent.name.startswith(
        "aug-"
    )


def write_small_cnn_zoo(folder, count=12):
    """``count`` nets at steps 0 and 86 in the Small CNN Zoo files (weights.npy, metrics.csv.gz, layout.csv)."""
    folder.mkdir()
    torch.manual_seed(0)
    rows, metrics = [], []
    for i in range(count):
        act = "relu" if i % 2 else "tanh"
        model = SmallCNN(1, activation=act, padding=0)
        for step in (0, 86):
            flat, layout = to_keras({k: v * (1 + step / 86) for k, v in model.state_dict().items()})
            rows.append(flat)
            metrics.append(
                {
                    "modeldir": f"net{i}",
                    "step": step,
                    "test_accuracy": 0.1 + 0.07 * i * step / 86,
                    "test_loss": 2.0,
                    "train_accuracy": 0.5,
                    "train_loss": 1.0,
                    "config.activation": act,
                }
            )
    write_small_cnn_zoo_files(folder, rows, metrics, layout)


def write_dwsnets_inrs(folder, count=15):
    """``count`` SIRENs in the DWSNets layout with a splits JSON (train / val / test)."""
    entries = {"train": [], "val": [], "test": []}
    for i in range(count):
        split = ["train", "train", "train", "val", "test"][i % 5]
        run_folder = folder / f"mnist_png_{'testing' if split == 'test' else 'training'}_{i % 10}_{i}" / "checkpoints"
        run_folder.mkdir(parents=True)
        torch.save(dwsnets_state(i), run_folder / "model_final.pth")
        entries[split].append((str(run_folder / "model_final.pth"), str(i % 10)))
    splits = {s: {"path": [p for p, _ in e], "label": [lab for _, lab in e]} for s, e in entries.items()}
    (folder / "mnist_splits.json").write_text(json.dumps(splits))
    return folder / "mnist_splits.json"


@pytest.mark.parametrize("metanet", ["statnn", "gmn"])
def test_published_cifar10gs_config_on_files_of_that_format(tmp_path, metanet):
    write_small_cnn_zoo(tmp_path / "cifar10")
    result = run(
        composed(
            [
                "task=accuracy_prediction_cifar10gs",
                f"task.zoo.path={tmp_path / 'cifar10'}",
                f"metanet={metanet}",
                f"runs_root={tmp_path / 'runs'}",
                "baselines=[]",
                "train.progress=false",
                "train.epochs=2",
                "train.batch_size=4",
            ]
        )
    )[metanet]
    assert result["zoo"] == "cifar10" and result["num_networks"] == {
        "train": 4,
        "val": 2,
        "test": 6,
    }  # small_cnn_zoo split
    assert set(result["test"]) == {"kendall_tau", "r2", "mse"}


def test_published_dwsnets_config_keeps_their_split(tmp_path):
    splits = write_dwsnets_inrs(tmp_path)
    result = run(
        composed(
            [
                "task=inr_classification_dwsnets",
                f"task.zoo.path={splits}",
                "metanet=dwsnet",
                "metanet.hidden=4",
                "metanet.depth=1",
                f"runs_root={tmp_path / 'runs'}",
                "baselines=[]",
                "train.progress=false",
                "train.epochs=2",
                "train.batch_size=4",
            ]
        )
    )["dwsnet"]
    assert result["num_networks"] == {"train": 9, "val": 3, "test": 3} and 0.0 <= result["test"]["accuracy"] <= 1.0


def console(args, cwd, launcher=None, timeout=300):
    script = shutil.which("netgraph-train", path=os.path.dirname(sys.executable))
    command = (launcher or ([script] if script else [sys.executable, "-m", "netgraph.tasks.cli"])) + args
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # a fresh interpreter importing torch, hydra and PyG: several seconds
def test_console_script_help(tmp_path):
    out = console(["--help"], tmp_path)
    assert out.returncode == 0 and "netgraph-train" in out.stdout
    assert "accuracy_prediction, accuracy_prediction_cifar10gs" in out.stdout and "gmn, mlp, nfn_hnp" in out.stdout


@pytest.mark.slow  # two torchrun workers (gloo on CPU) and a single-process reference run
def test_torchrun_ddp_matches_one_process(tiny_zoos, tmp_path):
    common = [
        "task=sine_regression",
        "baselines=[]",
        "train.epochs=2",
        "train.batch_size=8",
        "train.progress=false",
        "metanet.dim=8",
        "metanet.depth=1",
        "metanet.head_hidden=8",
        "hydra.run.dir=.",
    ] + zoo_overrides(tiny_zoos["sine"])
    single = console(common + ["runs_root=single"], tmp_path)
    assert single.returncode == 0, single.stderr
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "netgraph.tasks.cli",
    ]
    ddp = console(common + ["runs_root=ddp"], tmp_path, launcher=torchrun)
    assert ddp.returncode == 0, ddp.stderr
    assert ddp.stdout.count("sine_regression on zoo") == 1  # rank 0 reports
    folders = [
        next((tmp_path / root / "sine_regression" / "gmn").glob("default-*/seed0")) for root in ("single", "ddp")
    ]
    one, two = (json.loads((f / "results.json").read_text()) for f in folders)
    assert one["num_networks"] == two["num_networks"]
    for key, value in one["test"].items():
        assert two["test"][key] == pytest.approx(value, rel=1e-4, abs=1e-6)
    (model_one, _), (model_two, _) = (load_trained(CheckpointStore(f).path("last")) for f in folders)
    for a, b in zip(model_one.state_dict().values(), model_two.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)
