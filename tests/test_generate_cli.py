"""netgraph-generate: the hydra app and the Python functions under it."""

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import torch
from hydra import compose, initialize_config_module

from netgraph.architectures import mlp
from netgraph.metanets import ArchitectureMismatchError, GeneratedNetworks
from netgraph.tasks import ClassificationProblem, build_target, generate_weights
from netgraph.tasks.generate.cli import register_configs, run


def compose_config(name, overrides):
    register_configs()
    with initialize_config_module(config_module="netgraph.configs", version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def test_generate_writes_weights_that_load_and_run(tmp_path):
    out = tmp_path / "weights.safetensors"
    summary = run(compose_config("generate", [f"out={out}", "n=5", "seed=1"]))
    figure = tmp_path / "weights.png"
    assert summary == {
        "out": str(out),
        "n": 5,
        "architecture": "Sequential",
        "learnable_values": 403,
        "figure": str(figure),
    }
    assert figure.stat().st_size > 0  # the weight statistics beside the weights
    nets = GeneratedNetworks.load(out, mlp([4, 16, 16, 3]))
    again = generate_weights("iris-mlp-hypernet", n=5, seed=1)  # the same call from Python
    x = torch.randn(7, 4)
    assert torch.equal(nets(x), again(x))
    assert ClassificationProblem("iris").evaluate(nets)["test_acc"].mean() > 0.9


def test_generate_checks_a_given_target(tmp_path):
    out = tmp_path / "w.safetensors"
    run(compose_config("generate", [f"out={out}", "n=2", "target=mlp", "target_kwargs={sizes: [4, 16, 16, 3]}"]))
    assert GeneratedNetworks.load(out, mlp([4, 16, 16, 3])).state_dicts()["0.weight"].shape == (2, 16, 4)
    with pytest.raises(ArchitectureMismatchError, match=r"'0.weight' is \(8, 4\) here, \(16, 4\) expected"):
        run(compose_config("generate", [f"out={out}", "target=mlp", "target_kwargs={sizes: [4, 8, 16, 3]}"]))
    with pytest.raises(ValueError, match="unknown architecture .NoSuchNet.; expected one of"):
        build_target("NoSuchNet")
    assert isinstance(build_target("torch.nn:Linear", {"in_features": 2, "out_features": 3}), torch.nn.Linear)
    with pytest.raises(ValueError, match="cannot import 'Nope' from 'torch.nn'"):
        build_target("torch.nn:Nope")
    with pytest.raises(ValueError, match="action='fly'"):
        run({"action": "fly"})


def test_train_a_recipe_saves_a_loadable_generator(tmp_path):
    out_dir = tmp_path / "gen"
    cfg = compose_config(
        "generate_train",
        [
            f"out_dir={out_dir}",
            "train.steps=20",
            "evaluate.n=4",
            "evaluate.finetune_epochs=1",
            "zoo_networks=null",
            "progress=false",
        ],
    )
    summary = run(cfg)
    (rows,) = summary["evaluation"].values()
    assert set(rows) == {"generated", "random init", "generated + 1 epoch", "random init + 1 epoch"}
    assert rows["generated"]["n"] == 4 and 0 <= rows["generated"]["mean"] <= 1
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "README.md",
        "checksums.json",
        "config.json",
        "model.safetensors",
        "results.json",
    ]
    results = json.loads((out_dir / "results.json").read_text())
    assert results["evaluation"] == summary["evaluation"] and set(results["cpu_seconds"]) == {
        "zoo",
        "train",
        "evaluate",
    }
    nets = generate_weights(str(out_dir), n=3)
    assert nets(torch.randn(2, 4)).shape == (3, 2, 3)


def test_every_recipe_composes():
    from importlib import resources

    names = sorted(
        p.name[:-5]
        for p in (resources.files("netgraph.configs") / "generate_recipe").iterdir()
        if p.name.endswith(".yaml")
    )
    assert {
        "iris_hypernet",
        "digits_hypernet",
        "digits_hypernet_mip",
        "digits_ghn",
        "digits_diffusion",
        "sine_diffusion",
        "sine_hypernet",
    } <= set(names)
    for name in names:
        cfg = compose_config("generate_train", [f"generate_recipe={name}"])
        assert (
            cfg.generator.kind in ("hypernetwork", "parameter_graph_hypernetwork", "weight_diffusion") and cfg.targets
        )


def test_console_script_is_declared():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "netgraph-generate"]
    assert script.value == "netgraph.tasks.generate.cli:main"


@pytest.mark.slow
def test_the_app_answers_help():
    result = subprocess.run(
        [sys.executable, "-m", "netgraph.tasks.generate.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "Options people use" in result.stdout and "repo=<name>" in result.stdout
    assert "== Config ==" not in result.stdout  # the tool's own options, not hydra's full dump
    typo = subprocess.run(
        [sys.executable, "-m", "netgraph.tasks.generate.cli", "repo=iris-mlp-hypernett"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert typo.returncode == 1 and "error:" in typo.stderr + typo.stdout and "Traceback" not in typo.stderr
    assert "Did you mean 'iris-mlp-hypernet'" in typo.stderr + typo.stdout
