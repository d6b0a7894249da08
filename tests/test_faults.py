"""Fault injection: damaged files, edited manifests, stale runs, bad arguments and concurrent writers are
refused with a message naming the file (or field) and the fix, or recovered from correctly.

Each test failed on the code before the reliability work (issue 13); the kill-at-random loops are marked slow.
"""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.architectures import mlp
from netgraph.datasets import ZooFormatError, build_zoo, load_zoo, zoo_config
from netgraph.datasets.storage import ZOO_JSON, read_shard, shard_path
from netgraph.errors import ConfigError, CorruptFileError, UnsupportedModuleError
from netgraph.io import remove_stale_temporaries, save_safetensors, temporary_path, verify_safetensors, write_text
from netgraph.tasks import CheckpointStore, FunctionObjective, Trainer, train_metanet
from netgraph.tasks.checkpoint import CheckpointError

from _faults import dead_writers_temporary, flip_byte, truncate


def iris_config(root, **overrides):
    values = dict(num_nets=6, epochs=1, checkpoints=[0, 1], nets_per_shard=3, num_threads=1, root=str(root))
    return zoo_config("iris_mlp", **{**values, **overrides})


@pytest.fixture(scope="module")
def iris_zoo(tmp_path_factory):
    """A 6-net iris zoo in two shards (built once, copied by the tests that damage it)."""
    return build_zoo(iris_config(tmp_path_factory.mktemp("iris")), progress=False)


def copy_zoo(iris_zoo, tmp_path):
    return shutil.copytree(iris_zoo, tmp_path / "zoo")


# ---------------------------------------------------------------------------------------------- 2. corruption
def test_a_flipped_bit_in_a_zoo_shard_is_detected_and_named(iris_zoo, tmp_path):
    root = copy_zoo(iris_zoo, tmp_path)
    flip_byte(shard_path(root, 1), 0.9)  # inside the weights: the file still parses
    with pytest.raises(ZooFormatError, match=r"shard-00001.safetensors is corrupt .*SHA-256.*run the build again"):
        load_zoo(root)
    assert len(load_zoo(root, verify=False)) == 6  # the opt-out reads it anyway


def test_a_rebuild_replaces_a_corrupt_shard(iris_zoo, tmp_path):
    root = copy_zoo(iris_zoo, tmp_path)
    flip_byte(shard_path(root, 1), 0.9)
    with pytest.warns(UserWarning, match=r"shard-00001.safetensors is corrupt.*moved it to .*\.corrupt"):
        build_zoo(iris_config(root), progress=False)
    good, rebuilt = read_shard(shard_path(iris_zoo, 1)), read_shard(shard_path(root, 1))
    assert all(torch.equal(good.weights[k], rebuilt.weights[k]) for k in good.weights)  # rebuilt deterministically
    assert (root / "shards" / "shard-00001.safetensors.corrupt").is_file()
    assert len(load_zoo(root)) == 6


def test_safetensors_checksum_covers_header_and_data(tmp_path):
    path = tmp_path / "w.safetensors"
    save_safetensors(path, {"w": torch.arange(64.0)}, {"note": "abc"})
    assert verify_safetensors(path)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"abc"', b'"abd"'))  # an edited header value
    with pytest.raises(CorruptFileError, match="w.safetensors is corrupt: its content does not match"):
        verify_safetensors(path)
    path.write_bytes(raw)
    truncate(path)
    with pytest.raises(CorruptFileError, match="truncated"):
        verify_safetensors(path)


# ---------------------------------------------------------------------------------------------- 3. zoo.json edits
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda info: info.update(checkpoints=info["checkpoints"][1:]), r"checkpoints are \[1\] but shard-00000"),
        (lambda info: info.update(shards=info["shards"][:1], num_nets=3), r"lists 1 shards but .* also holds"),
        (lambda info: info.update(num_nets=5), r"num_nets is 5 but the shards hold 6 nets"),
        (lambda info: info["architectures"][0]["kwargs"].update(sizes=[4, 7, 3]), r"was trained as"),
    ],
)
def test_edited_zoo_json_is_checked_against_the_shards(iris_zoo, tmp_path, edit, message):
    """Refused by the checksum manifest, and even unchecked (verify=False) by the shards' own headers."""
    root = copy_zoo(iris_zoo, tmp_path)
    info = json.loads((root / ZOO_JSON).read_text())
    edit(info)
    (root / ZOO_JSON).write_text(json.dumps(info))
    with pytest.raises(ZooFormatError, match="edited by hand"):
        load_zoo(root)
    with pytest.raises(ZooFormatError, match=message):
        load_zoo(root, verify=False)


# ---------------------------------------------------------------------------------------------- 4. permute
def test_permute_refuses_maps_that_are_not_bijections():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    g = netgraph.from_module(model)
    perm = netgraph.random_permutation(g, torch.Generator().manual_seed(0))
    repeated = perm.clone()
    hidden = torch.arange(3, 7)  # the 4 hidden neurons
    repeated[hidden[0]] = repeated[hidden[1]]
    with pytest.raises(ValueError, match="not a bijection"):
        netgraph.permute(g, repeated)
    with pytest.raises(ValueError, match=r"shape \[9\]"):
        netgraph.permute(g, torch.cat([perm, torch.tensor([0])]))
    outside = perm.clone()
    outside[hidden[0]] = 40
    with pytest.raises(ValueError, match="outside"):
        netgraph.permute(g, outside)
    assert torch.equal(netgraph.permute(g, perm).x.sort(0).values, g.x.sort(0).values)


# ---------------------------------------------------------------------------------------------- 5. to_module
def test_to_module_compares_the_recorded_architecture():
    relu = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    tanh = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    g = netgraph.from_module(relu)
    with pytest.raises(ValueError, match="activations differ: .* relu in the first, tanh in the second"):
        netgraph.to_module(g, tanh)
    loaded = netgraph.to_module(g, tanh, check=False)  # explicit opt-out
    assert torch.equal(loaded[0].weight, relu[0].weight)
    x = torch.randn(5, 2)
    assert torch.equal(netgraph.to_module(g, nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))(x), relu(x))


def test_to_module_detects_other_wiring():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)) + x)

    class Plain(Residual):
        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    with pytest.raises(ValueError, match="wired differently"):
        netgraph.to_module(netgraph.from_module(Residual()), Plain())


# ---------------------------------------------------------------------------------------------- raw errors
def test_from_state_dicts_names_the_state_dict_that_does_not_fit():
    model = mlp([2, 4, 1])
    good = model.state_dict()
    missing = {k: v for k, v in good.items() if k != "0.bias"}
    extra = {**good, "2.scale": torch.ones(1)}
    misshapen = {**good, "0.weight": torch.zeros(4, 3)}
    with pytest.raises(KeyError, match=r"state dict 1 of 2 .* missing \['0.bias'\]"):
        netgraph.from_state_dicts(model, [good, missing])
    with pytest.raises(KeyError, match=r"state dict 1 of 2 .* unexpected \['2.scale'\]"):
        netgraph.from_state_dicts(model, [good, extra])
    with pytest.raises(ValueError, match=r"state dict 0 of 2: '0.weight' has shape \(4, 3\), .* expects \(4, 2\)"):
        netgraph.from_state_dicts(model, [misshapen, good])


def test_a_module_without_parameters_is_refused_clearly():
    with pytest.raises(UnsupportedModuleError, match="has no parameters"):
        netgraph.from_module(nn.Sequential(nn.ReLU()))


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "results.json"

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", full)
    with pytest.raises(OSError, match=r"could not write .*results.json: No space left on device; the disk is full"):
        write_text(target, "{}")
    monkeypatch.undo()
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "out").iterdir())


# ---------------------------------------------------------------------------------------------- 7. concurrency
def test_cleaning_keeps_temporaries_of_live_writers(tmp_path):
    live = temporary_path(tmp_path / "shard-00000.safetensors")  # this (live) process is writing it
    live.write_bytes(b"in flight")
    dead = dead_writers_temporary(tmp_path / "shard-00001.safetensors")
    dead.write_bytes(b"left by a killed writer")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert live.exists() and not dead.exists()


def test_two_builders_on_one_folder(iris_zoo, tmp_path):
    """A second build of the same config while the first is mid-shard leaves the first's temporary alone."""
    root = tmp_path / "zoo"
    shutil.copytree(iris_zoo, root)
    shard_path(root, 1).unlink()
    in_flight = temporary_path(shard_path(root, 1))
    in_flight.write_bytes(b"the first builder is writing this")
    build_zoo(iris_config(root), progress=False)
    assert in_flight.exists()
    assert len(load_zoo(root)) == 6


# ---------------------------------------------------------------------------------------------- checkpoints
def tiny_fit(run_dir, epochs=3, lr=1e-2, callbacks=(), identity=None):
    torch.manual_seed(0)
    nets = [mlp([2, 4, 1]) for _ in range(4)]
    batch = netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])
    batch.y = torch.randn(4, 1, generator=torch.Generator().manual_seed(1))
    model = nn.Sequential(nn.Linear(1, 1))
    objective = FunctionObjective(loss=lambda m, b: (m(b.x[:4, :1]) - b.y).pow(2).mean())
    trainer = Trainer(
        model,
        objective,
        {"epochs": epochs, "lr": lr, "progress": False},
        run_dir,
        callbacks=list(callbacks),
        identity=identity,
    )
    return trainer, trainer.fit([batch])


@pytest.mark.parametrize("damage", ["flip_weights", "truncate_state", "bad_json", "no_json"])
def test_a_damaged_last_checkpoint_falls_back_to_an_intact_one(tmp_path, damage):
    def stop_at_2(trainer, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    reference, _ = tiny_fit(tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        tiny_fit(tmp_path / "run", callbacks=[stop_at_2])
    store = CheckpointStore(tmp_path / "run")
    # epoch 2 is the last; epoch 1 is kept as the best only when it was better: keep a copy to fall back to
    last = store.path("last")
    backup = store.folder / "epoch-0001"
    if not backup.exists():
        shutil.copytree(last, backup)
        (store.folder / "index.json").write_text(json.dumps({"last": last.name, "best": backup.name}))
    {
        "flip_weights": lambda: flip_byte(last / "model.safetensors", 0.99),
        "truncate_state": lambda: truncate(last / "training_state.safetensors"),
        "bad_json": lambda: (last / "checkpoint.json").write_text("{not json"),
        "no_json": lambda: (last / "checkpoint.json").unlink(),
    }[damage]()
    with pytest.warns(UserWarning, match="resuming from the older checkpoint"):
        trainer, result = tiny_fit(tmp_path / "run")
    assert result.epochs_run == 3
    assert torch.equal(trainer.model[0].weight, reference.model[0].weight)  # the resumed run is exact


def test_no_intact_checkpoint_names_the_file_and_the_fix(tmp_path):
    tiny_fit(tmp_path / "run", epochs=1)
    last = CheckpointStore(tmp_path / "run").path("last")
    flip_byte(last / "model.safetensors", 0.99)
    with pytest.raises(CheckpointError, match=r"model.safetensors is corrupt.*resume=false"):
        tiny_fit(tmp_path / "run", epochs=2)
    with pytest.raises(CheckpointError):
        CheckpointStore.read(last)
    CheckpointStore.read(last, verify=False)  # the opt-out


def test_a_model_of_another_shape_is_refused_on_resume(tmp_path):
    tiny_fit(tmp_path / "run", epochs=1)
    with pytest.raises(CheckpointError, match="does not fit this Sequential .*resume=false"):
        CheckpointStore.load_weights(nn.Sequential(nn.Linear(1, 2)), CheckpointStore(tmp_path / "run").path("last"))


# ---------------------------------------------------------------------------------------------- 1. stale runs
def test_resuming_with_another_identity_is_refused(tmp_path):
    tiny_fit(tmp_path / "run", epochs=2, identity={"task": {"splits": [0.8, 0.1, 0.1]}})
    with pytest.raises(ValueError, match=r"another configuration \(task.splits: \[0.8, 0.1, 0.1\] -> \[0.5, 0.25"):
        tiny_fit(tmp_path / "run", epochs=2, identity={"task": {"splits": [0.5, 0.25, 0.25]}})
    _, result = tiny_fit(tmp_path / "run", epochs=2, identity={"task": {"splits": (0.8, 0.1, 0.1)}})  # same: resumes
    assert result.epochs_run == 2


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(task={"splits": [0.5, 0.3, 0.2]}), r"task.splits: \[0.5, 0.25, 0.25\] -> \[0.5, 0.3, 0.2\]"),
        (dict(task={"target": "train_acc"}), r"task.target: 'test_acc' -> 'train_acc'"),
        (dict(task={"normalize": False}), r"task.normalize: True -> False"),
        (dict(augment=["permutation"]), r"augment: \[\] -> \['permutation'\]"),
        (dict(metanet={"hidden": 16}), r"metanet_config.hidden: 8 -> 16"),
        (dict(train={"seed": 1}), r"train.seed: 0 -> 1"),
    ],
)
def test_train_metanet_refuses_a_stale_run(iris_zoo, tmp_path, change, message):
    zoo = str(iris_zoo)
    base = {
        "task": {"name": "accuracy_prediction", "zoo": zoo, "splits": [0.5, 0.25, 0.25]},
        "metanet": {"hidden": 8},
        "train": {"epochs": 1, "progress": False},
        "augment": [],
    }

    def run(values):
        return train_metanet(
            values["task"], "statnn", values["metanet"], values["train"], tmp_path / "run", values["augment"]
        )

    run(base)
    changed = {
        k: ({**v, **change[k]} if isinstance(v, dict) else change[k]) if k in change else v for k, v in base.items()
    }
    with pytest.raises(ValueError, match=message):
        run(changed)


def test_runtime_settings_of_the_zoo_do_not_change_a_runs_identity(tmp_path):
    zoo = {"preset": "iris_mlp", "num_nets": 6, "epochs": 1, "checkpoints": [1], "root": str(tmp_path / "zoo")}
    settings = dict(
        metanet="statnn", metanet_config={"hidden": 8}, train={"epochs": 1, "progress": False}, run_dir=tmp_path / "run"
    )
    task = {"name": "accuracy_prediction", "splits": [0.5, 0.25, 0.25]}
    first = train_metanet({**task, "zoo": {**zoo, "num_threads": 1}}, **settings)
    again = train_metanet({**task, "zoo": {**zoo, "num_threads": None}}, **settings)  # resumes, not refused
    assert again["test"] == first["test"]
    with pytest.raises(ValueError, match=r"task.zoo.num_nets: 6 -> 7.*zoo.config.num_nets: 6 -> 7"):
        train_metanet({**task, "zoo": {**zoo, "num_nets": 7, "root": str(tmp_path / "zoo7")}}, **settings)


# ---------------------------------------------------------------------------------------------- 6. impossible sizes
@pytest.mark.parametrize(
    "override, line",
    [
        (dict(batch_size=-8), "batch_size=-8: expected an integer >= 1"),
        (dict(epochs=0), "epochs=0: expected an integer >= 1"),
        (dict(num_nets=0, lr=-1.0), "num_nets=0: expected an integer >= 1\n  lr=-1.0: expected a number > 0"),
        (dict(val_fraction=0.5, test_fraction=0.5), "val_fraction + test_fraction = 1: expected < 1"),
    ],
)
def test_zoo_configs_are_validated_one_line_per_field(tmp_path, override, line):
    from netgraph.datasets.cli import run

    with pytest.raises(ConfigError, match="invalid zoo config 'iris-mlp'") as info:
        run({**iris_config(tmp_path / "z").to_dict(), **override, "action": "build", "progress": False})
    assert line in str(info.value)
    assert not (tmp_path / "z").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "override, line",
    [
        ("train.epochs=0", "train.epochs=0: expected an integer >= 1"),
        ("train.epochs=-1", "train.epochs=-1: expected an integer >= 1"),
        ("train.batch_size=0", "train.batch_size=0: expected an integer >= 1"),
        ("train.lr=0", "train.lr=0.0: expected a number > 0"),
        ("baselines=[nosuch]", "baselines=['nosuch']: expected names from"),
    ],
)
def test_train_cli_configs_are_validated(override, line):
    from hydra import compose, initialize_config_module
    from netgraph.tasks.cli import register_configs, run

    register_configs()
    with initialize_config_module(config_module="netgraph.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[override])
    with pytest.raises(ConfigError, match="invalid netgraph-train config") as info:
        run(cfg)
    assert line in str(info.value)


@pytest.mark.parametrize(
    "override, line",
    [
        ("step=-0.1", "step=-0.1: expected a number > 0 and < 1"),
        ("step=0", "step=0: expected a number > 0 and < 1"),
        ("finetune.epochs=-1", "finetune.epochs=-1: expected an integer >= 0"),
        ("meta.batch_size=0", "meta.batch_size=0: expected an integer >= 1"),
    ],
)
def test_prune_cli_configs_are_validated(override, line):
    from hydra import compose, initialize_config_module
    from netgraph.tasks.pruning.cli import run

    with initialize_config_module(config_module="netgraph.configs.prune", version_base="1.3"):
        cfg = compose(config_name="prune", overrides=[override])
    with pytest.raises(ConfigError, match="invalid netgraph-prune config") as info:
        run(cfg)
    assert line in str(info.value)


def test_generator_recipes_are_validated():
    from netgraph.tasks.generate.recipes import run_recipe

    with pytest.raises(ConfigError, match="invalid generator recipe 'generator'") as info:
        run_recipe({"train": {"steps": 0, "lr": -1.0}, "evaluate": {"n": 0}})
    assert str(info.value).splitlines()[1:] == [
        "  train.steps=0: expected an integer >= 1",
        "  train.lr=-1.0: expected a number > 0",
        "  evaluate.n=0: expected an integer >= 1",
    ]


def test_trainer_refuses_zero_epochs():
    with pytest.raises(ConfigError, match="epochs=0: expected an integer >= 1"):
        tiny_fit(None, epochs=0)


def test_generate_estimates_memory_before_allocating(tmp_path, monkeypatch):
    from netgraph.tasks.generate import cli

    monkeypatch.setattr(cli, "available_bytes", lambda device: 2**30)
    allocated = []
    monkeypatch.setattr(netgraph.metanets.WeightGenerator, "generate", lambda *a, **k: allocated.append(1))
    with pytest.raises(MemoryError, match=r"n=10000000 networks of 403 values each need at least .* GiB .* n=\d"):
        cli.run({"action": "generate", "repo": "iris-mlp-hypernet", "n": 10_000_000, "out": str(tmp_path / "w")})
    assert not allocated
    with pytest.raises(ConfigError, match="n=0: expected an integer >= 1"):
        cli.run({"action": "generate", "repo": "iris-mlp-hypernet", "n": 0, "out": str(tmp_path / "w")})


# ---------------------------------------------------------------------------------------------- Hub and published
def test_truncated_hub_weights_raise_hub_repo_error(tmp_path):
    from netgraph.hub import HubRepoError, bundled_path, load_generator

    folder = shutil.copytree(bundled_path("iris-mlp-hypernet"), tmp_path / "gen")
    truncate(folder / "model.safetensors")
    with pytest.raises(HubRepoError, match="model.safetensors is truncated or damaged"):
        load_generator(folder, verify=False)
    sums = json.loads((folder / "checksums.json").read_text())
    sums["sha256"]["model.safetensors"] = "0" * 64
    (folder / "checksums.json").write_text(json.dumps(sums))
    with pytest.raises(HubRepoError, match="model.safetensors is corrupt .*download it again"):
        load_generator(folder)


def test_the_bundled_generator_is_verified(tmp_path):
    from netgraph.hub import HubRepoError, bundled_path, load_generator

    folder = shutil.copytree(bundled_path("iris-mlp-hypernet"), tmp_path / "gen")
    load_generator(folder)
    flip_byte(folder / "model.safetensors", 0.99)
    with pytest.raises(HubRepoError, match="model.safetensors is corrupt"):
        load_generator(folder)


def test_hub_load_zoo_wraps_missing_repos_and_malformed_ids(tmp_path, monkeypatch):
    from netgraph.hub import HubRepoError, load_zoo as hub_load_zoo

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubRepoError, match="not in the local Hub cache"):
        hub_load_zoo("someone/no-such-zoo", cache_dir=tmp_path)
    with pytest.raises(HubRepoError, match="nor a valid Hub repo id"):
        hub_load_zoo("bad id!")


def test_a_stray_file_in_a_published_zoo_folder_is_named(tmp_path):
    from netgraph.architectures import Siren
    from netgraph.datasets import load_dwsnets_inrs

    root = tmp_path / "inrs"
    sd = {f"seq.{i}.{k}": v for i, layer in enumerate(Siren().layers) for k, v in layer.state_dict().items()}
    (root / "mnist_png_training_3_0" / "checkpoints").mkdir(parents=True)
    torch.save(sd, root / "mnist_png_training_3_0" / "checkpoints" / "model_final.pth")
    (root / "notes").mkdir()
    torch.save(sd, root / "notes" / "copy.pth")
    with pytest.raises(ZooFormatError, match=r"notes/copy.pth does not lie in a DWSNets run folder .*move stray"):
        load_dwsnets_inrs(root)


# ---------------------------------------------------------------------------------------------- kill at random (slow)
BUILD = """
import sys
from netgraph.datasets import build_zoo, zoo_config
build_zoo(zoo_config("iris_mlp", num_nets=12, epochs=2, checkpoints=[0, 2], nets_per_shard=2, num_threads=1,
                     root=sys.argv[1]), progress=False)
"""


def _same_zoo(a, b):
    za, zb = load_zoo(a), load_zoo(b)
    assert len(za) == len(zb) and torch.equal(za.metrics["test_acc"], zb.metrics["test_acc"])
    for wa, wb in zip(za.weights, zb.weights):
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_zoo_builds_killed_at_random_resume_to_the_same_zoo(tmp_path):
    import random
    import signal
    import subprocess
    import sys
    import time

    reference, root = tmp_path / "reference", tmp_path / "killed"
    subprocess.run([sys.executable, "-c", BUILD, str(reference)], check=True)
    rng = random.Random(0)
    for _ in range(6):
        process = subprocess.Popen([sys.executable, "-c", BUILD, str(root)])
        time.sleep(rng.uniform(1.0, 6.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    subprocess.run([sys.executable, "-c", BUILD, str(root)], check=True)
    _same_zoo(reference, root)


@pytest.mark.slow
def test_two_concurrent_builders_finish_one_zoo(tmp_path):
    import subprocess
    import sys

    reference, root = tmp_path / "reference", tmp_path / "shared"
    subprocess.run([sys.executable, "-c", BUILD, str(reference)], check=True)
    processes = [subprocess.Popen([sys.executable, "-c", BUILD, str(root)]) for _ in range(2)]
    assert [p.wait() for p in processes] == [0, 0]
    _same_zoo(reference, root)
    assert not list((root / "shards").glob(".*.tmp"))


TRAIN = """
import sys
from netgraph.tasks import train_metanet
train_metanet({"name": "accuracy_prediction", "zoo": sys.argv[1], "splits": [0.5, 0.25, 0.25]}, "statnn",
              {"hidden": 8}, {"epochs": 40, "progress": False}, sys.argv[2])
"""


@pytest.mark.slow
def test_training_killed_at_random_resumes_exactly(iris_zoo, tmp_path):
    import random
    import signal
    import subprocess
    import sys
    import time

    subprocess.run([sys.executable, "-c", TRAIN, str(iris_zoo), str(tmp_path / "straight")], check=True)
    rng = random.Random(1)
    for _ in range(6):
        process = subprocess.Popen([sys.executable, "-c", TRAIN, str(iris_zoo), str(tmp_path / "killed")])
        time.sleep(rng.uniform(3.0, 8.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    subprocess.run([sys.executable, "-c", TRAIN, str(iris_zoo), str(tmp_path / "killed")], check=True)
    a, b = (json.loads((tmp_path / run / "results.json").read_text()) for run in ("straight", "killed"))
    assert a["test"] == b["test"] and a["best_epoch"] == b["best_epoch"]


def test_generated_weights_files_are_verified(tmp_path):
    from netgraph.metanets import GeneratedNetworks
    from netgraph.tasks.generate.cli import run

    out = tmp_path / "w.safetensors"
    run({"action": "generate", "repo": "iris-mlp-hypernet", "n": 2, "out": str(out)})
    target = mlp([4, 16, 16, 3])
    assert len(GeneratedNetworks.load(out, target)) == 2
    flip_byte(out, 0.99)
    with pytest.raises(CorruptFileError, match="w.safetensors is corrupt"):
        GeneratedNetworks.load(out, target)
    assert len(GeneratedNetworks.load(out, target, verify=False)) == 2


def test_pruned_model_files_are_verified(tmp_path):
    from netgraph.tasks.pruning import load_pruned, save_pruned
    from netgraph.tasks.pruning.families import get_family

    model = get_family("mlp").build((4,), 3)
    folder = save_pruned(tmp_path / "pruned", model, "mlp", (4,), 3, {})
    x = torch.randn(2, 4)
    assert torch.equal(load_pruned(folder)(x), model.eval()(x))
    flip_byte(folder / "model.safetensors", 0.99)
    with pytest.raises(CorruptFileError, match="model.safetensors is corrupt"):
        load_pruned(folder)
    load_pruned(folder, verify=False)
