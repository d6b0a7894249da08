"""Fault injection for stored zoos, checksum manifests and Hub folders (issue 23: nothing silent).

Each case was loaded or rewritten without a word before this work (or crashed with a bare error); each test
plants the fault and checks that it is refused naming the file / field and the fix, or recovered exactly.
"""

from __future__ import annotations

import errno
import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from netgraph.datasets import ZooFormatError, build_zoo, load_zoo, merge_zoos, zoo_config
from netgraph.datasets.build import ZooRootError
from netgraph.datasets.storage import METADATA_CSV, ZOO_JSON, read_shard, shard_path, zoo_config_hash
from netgraph.errors import ConfigError, CorruptFileError, ProvenanceError
from netgraph.io import CHECKSUMS_JSON, SHA256_KEY, verify_checksums, verify_safetensors, write_checksums, write_text


def iris_config(root, **overrides):
    values = dict(num_nets=6, epochs=1, checkpoints=[0, 1], nets_per_shard=3, num_threads=1, root=str(root))
    values["hparams"] = {"activation": {"choice": ["relu"]}}  # one architecture: sibling shards look alike
    return zoo_config("iris_mlp", **{**values, **overrides})


@pytest.fixture(scope="module")
def zoos(tmp_path_factory):
    """Two 6-net iris zoos (two shards each) whose configs differ only in their seed."""
    base = tmp_path_factory.mktemp("zoos")
    return build_zoo(iris_config(base / "seed0"), progress=False), build_zoo(
        iris_config(base / "seed1", seed=1), progress=False
    )


@pytest.fixture
def zoo(zoos, tmp_path):
    return shutil.copytree(zoos[0], tmp_path / "zoo")


def no_training(monkeypatch):
    """Make any training fail: a resumed build that should train nothing proves it."""
    from netgraph.datasets import build

    def refuse(*args, **kwargs):
        raise AssertionError("this build should have trained nothing")

    monkeypatch.setattr(build, "train_classifiers", refuse)


def without_sha256(path):
    """Rewrite a safetensors file with the same tensors and metadata, minus netgraph's checksum entry."""
    with safe_open(str(path), framework="pt") as f:
        meta = {k: v for k, v in (f.metadata() or {}).items() if k != SHA256_KEY}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(path), metadata=meta)


# ---------------------------------------------------------------------------------------------- provenance
def test_every_shard_and_zoo_json_record_the_build_config(zoos):
    root = zoos[0]
    info = json.loads((root / ZOO_JSON).read_text())
    assert info["provenance"]["config"] == iris_config(root).recipe()
    assert zoo_config_hash(root) == info["provenance"]["config_hash"] != zoo_config_hash(zoos[1])
    assert read_shard(shard_path(root, 1)).config_hash == info["provenance"]["config_hash"]


def test_a_shard_copied_from_a_sibling_build_is_refused(zoos, zoo):
    shutil.copyfile(shard_path(zoos[1], 1), shard_path(zoo, 1))  # same nets, architecture, checkpoints; seed 1
    with pytest.raises(ZooFormatError, match=r"shard-00001.safetensors was built by config \w+, but .*another build"):
        load_zoo(zoo)
    with pytest.raises(ZooFormatError, match="copied from another build"):
        build_zoo(iris_config(zoo), progress=False)  # the build refuses it too instead of keeping it


def test_load_compares_the_stored_config_with_the_asked_one(zoo):
    assert len(load_zoo(zoo, config=iris_config("elsewhere", num_threads=2))) == 6  # runtime fields
    with pytest.raises(ProvenanceError, match="made with seed=0, but seed=1 was asked for") as err:
        load_zoo(zoo, config=iris_config(zoo, seed=1))
    assert err.value.field == "seed"


def test_with_zoo_json_lost_a_build_of_another_config_writes_nothing(zoo, monkeypatch):
    (zoo / ZOO_JSON).unlink()
    before = {p.name: p.read_bytes() for p in (zoo / "shards").iterdir()}
    no_training(monkeypatch)
    with pytest.raises(
        ZooFormatError, match="has no zoo.json, and its shard .* not by this config .*nothing was written"
    ):
        build_zoo(iris_config(zoo, epochs=2, checkpoints=[0, 2]), progress=False)
    assert not (zoo / ZOO_JSON).exists()
    assert {p.name: p.read_bytes() for p in (zoo / "shards").iterdir()} == before


def test_with_zoo_json_lost_the_same_config_recovers_it_without_training(zoos, zoo, monkeypatch):
    (zoo / ZOO_JSON).unlink()
    no_training(monkeypatch)
    build_zoo(iris_config(zoo), progress=False)
    assert load_zoo(zoo).rows == load_zoo(zoos[0]).rows


def test_a_garbage_zoo_json_is_rebuilt_from_the_config_not_a_crash(zoos, zoo, monkeypatch):
    (zoo / ZOO_JSON).write_text("{ this is not json")
    with pytest.raises(ZooFormatError, match="zoo.json is not valid JSON .*run the build again with the same config"):
        load_zoo(zoo)
    no_training(monkeypatch)
    with pytest.warns(UserWarning, match="not valid JSON.*moved it to"):
        build_zoo(iris_config(zoo), progress=False)  # the advised fix works
    restored = load_zoo(zoo)
    assert torch.equal(restored.weights[0]["0.weight"], load_zoo(zoos[0]).weights[0]["0.weight"])


@pytest.mark.parametrize(
    "edit",
    [
        lambda info: info.update(default_target="train_acc"),
        lambda info: info["categories"].update(optimizer=list(reversed(info["categories"]["optimizer"]))),
    ],
)
def test_hand_edits_of_zoo_json_are_refused(zoo, edit):
    info = json.loads((zoo / ZOO_JSON).read_text())
    assert info["categories"]  # iris_mlp samples string choices (activation, optimiser)
    edit(info)
    (zoo / ZOO_JSON).write_text(json.dumps(info, indent=1))
    with pytest.raises(ZooFormatError, match="zoo.json does not match the SHA-256 .*edited by hand"):
        load_zoo(zoo)


def test_an_edited_metadata_table_is_refused(zoo):
    text = (zoo / METADATA_CSV).read_text()
    (zoo / METADATA_CSV).write_text(text.replace("relu", "tanh", 1) if "relu" in text else text + "x\n")
    with pytest.raises(ZooFormatError, match="metadata.csv is corrupt"):
        load_zoo(zoo)


@pytest.mark.parametrize("name", ["../../outside.safetensors", "/etc/passwd", "shard-00000.safetensors/../x"])
def test_shard_paths_must_stay_inside_the_zoo(zoo, name):
    info = json.loads((zoo / ZOO_JSON).read_text())
    info["shards"][0] = name
    write_text(zoo / ZOO_JSON, json.dumps(info))
    write_checksums(zoo, [ZOO_JSON, METADATA_CSV])  # even with a manifest that agrees
    with pytest.raises(ZooFormatError, match="nothing outside the folder is read"):
        load_zoo(zoo)


def test_an_older_netgraphs_build_of_the_same_config_is_adopted_other_configs_refused(zoos, zoo, monkeypatch):
    """A zoo (or a build in progress) made before provenance: resumed only for exactly its config."""
    info = json.loads((zoo / ZOO_JSON).read_text())
    del info["provenance"]
    write_text(zoo / ZOO_JSON, json.dumps(info))
    (zoo / CHECKSUMS_JSON).unlink()
    for index in (0, 1):
        shard = read_shard(shard_path(zoo, index))
        shard.config_hash = None
        from netgraph.datasets.storage import write_shard

        write_shard(shard_path(zoo, index), shard)
    with pytest.raises(ZooFormatError, match="checksums.json is missing"):
        load_zoo(zoo)
    assert len(load_zoo(zoo, verify=False)) == 6  # the explicit escape
    no_training(monkeypatch)
    with pytest.raises(ProvenanceError, match="already holds a different zoo: it was made with seed=0, but seed=1"):
        build_zoo(iris_config(zoo, seed=1), progress=False)
    build_zoo(iris_config(zoo), progress=False)  # same config: adopted, records added, nothing trained
    assert read_shard(shard_path(zoo, 0)).config_hash == zoo_config_hash(zoos[0])
    assert load_zoo(zoo).rows == load_zoo(zoos[0]).rows


def test_a_merged_zoo_records_its_parts(zoos, tmp_path):
    merged = merge_zoos(list(zoos), tmp_path / "merged")
    record = json.loads((merged / ZOO_JSON).read_text())["provenance"]
    assert sorted(record["inputs"].values()) == sorted(zoo_config_hash(z) for z in zoos)
    assert len(load_zoo(merged)) == 12


# ---------------------------------------------------------------------------------------------- fail closed
def test_a_missing_checksum_manifest_is_an_error_not_a_skipped_check(zoo):
    (zoo / CHECKSUMS_JSON).unlink()
    with pytest.raises(ZooFormatError, match="checksums.json is missing.*verify=False"):
        load_zoo(zoo)
    assert len(load_zoo(zoo, verify=False)) == 6
    from netgraph.datasets import ZooDataset

    with pytest.raises(ZooFormatError, match="checksums.json is missing"):
        ZooDataset(zoo, split="all")
    assert len(ZooDataset(zoo, split="all", verify=False)) == 6


def test_a_shard_without_its_sha256_is_an_error(zoo):
    without_sha256(shard_path(zoo, 0))
    with pytest.raises(ZooFormatError, match="records no SHA-256"):
        load_zoo(zoo)
    with pytest.raises(CorruptFileError, match="records no SHA-256 .*verify=False"):
        verify_safetensors(shard_path(zoo, 0))


def test_manifests_fail_closed_and_stay_inside_their_folder(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(CorruptFileError, match="checksums.json is corrupt: it is missing"):
        verify_checksums(tmp_path)
    write_checksums(tmp_path, ["a.txt", CHECKSUMS_JSON])  # the manifest never lists itself
    assert json.loads((tmp_path / CHECKSUMS_JSON).read_text())["sha256"].keys() == {"a.txt"}
    (tmp_path / "b.txt").write_text("b")
    with pytest.raises(CorruptFileError, match="b.txt is corrupt: .*records no checksum for it"):
        verify_checksums(tmp_path, ["a.txt", "b.txt"])
    (tmp_path / CHECKSUMS_JSON).write_text(json.dumps({"sha256": {"../secret": "0" * 64}}))
    with pytest.raises(CorruptFileError, match="a path outside"):
        verify_checksums(tmp_path)


def test_a_checkpoint_without_its_manifest_is_refused(tmp_path):
    import torch.nn as nn

    from netgraph.tasks import CheckpointStore
    from netgraph.tasks.checkpoint import CheckpointError, check_folder

    folder = CheckpointStore(tmp_path / "ckpt").save("epoch-0001", nn.Linear(2, 1), {"epoch": 1}, {}, best=True)
    check_folder(folder)
    (folder / CHECKSUMS_JSON).unlink()
    with pytest.raises(CheckpointError, match="checksums.json is corrupt: it is missing"):
        check_folder(folder)


def test_a_hub_folder_without_its_manifest_is_refused(tmp_path):
    from netgraph.hub import HubRepoError, bundled_path, load_generator

    folder = shutil.copytree(bundled_path("iris-mlp-hypernet"), tmp_path / "gen")
    (folder / CHECKSUMS_JSON).unlink()
    with pytest.raises(HubRepoError, match="has no checksums.json .*verify=False"):
        load_generator(folder)
    assert load_generator(folder, verify=False) is not None


# ---------------------------------------------------------------------------------------------- crashes
def test_a_read_only_zoo_root_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    root = tmp_path / "ro"
    real_mkdir = pathlib.Path.mkdir

    def read_only(self, *args, **kwargs):  # chmod does not stop root, so the file system says no
        if str(self).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    with pytest.raises(ZooRootError, match=rf"cannot write the zoo into {root}: .*Read-only.*root=<folder>") as err:
        build_zoo(iris_config(root), progress=False)
    assert len(str(err.value).splitlines()) == 1


def test_too_few_epochs_for_the_default_checkpoints_suggests_a_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"checkpoints=\[0, 1, 2, 4\]: .*pass e.g. checkpoints=\[0,2\]"):
        build_zoo(zoo_config("digits_cnn", epochs=2, root=str(tmp_path / "z")), progress=False)


def run_zoo_cli(*args):
    code = "from netgraph.datasets.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_the_zoo_cli_prints_errors_in_a_few_lines_and_has_its_own_help(tmp_path):
    result = run_zoo_cli("epochs=2", f"root={tmp_path / 'z'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "checkpoints=[0,2]" in result.stderr and len(result.stderr.strip().splitlines()) <= 5
    shown = run_zoo_cli("--help").stdout
    assert shown.startswith("netgraph-zoo builds")
    assert "num_nets=<n>" in shown and "checkpoints=[..]" in shown and "zoo=<preset>" in shown
    assert len(shown.splitlines()) <= 40
    assert not any(group in shown for group in ("metanet:", "task:", "generate_recipe", "prune/"))


# ---------------------------------------------------------------------------------------------- Hub folders
def small_gmn():
    from netgraph.metanets import create_metanet

    return create_metanet("gmn", dim=8, depth=1, edge_features=9, out_features=1).eval()


def test_a_metanets_save_pretrained_folder_and_run_checkpoint_load_everywhere(tmp_path):
    from netgraph.hub import load_metanet
    from netgraph.metanets import metanet_class
    from netgraph.tasks import CheckpointStore

    model = small_gmn()
    model.save_pretrained(tmp_path / "mixin")
    checkpoint = CheckpointStore(tmp_path / "run").save("epoch-0001", model, {"epoch": 1}, {}, best=True)
    for folder in (tmp_path / "mixin", checkpoint):
        for loaded in (load_metanet(folder), metanet_class("gmn").from_pretrained(folder)):
            assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_a_failed_hub_save_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    from netgraph.hub import load_metanet, model_repo, save

    folder = save(small_gmn(), tmp_path / "gmn")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken_card(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(model_repo, "model_card", broken_card)
    other = small_gmn()
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        save(other, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # no mix of two saves
    assert load_metanet(folder) is not None
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    from netgraph.hub import HubRepoError

    with pytest.raises(HubRepoError, match="holds other files .*notes.txt"):
        save(small_gmn(), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_saved_generators_carry_provenance(tmp_path):
    from netgraph.architectures import mlp
    from netgraph.hub import save
    from netgraph.metanets import ChunkedHypernetwork
    from netgraph.provenance import config_hash

    folder = save(ChunkedHypernetwork(mlp([4, 8, 3]), chunk_size=16, hidden=[8]), tmp_path / "g", inputs={"zoo": "abc"})
    config = json.loads((folder / "config.json").read_text())
    record = config["netgraph"]["provenance"]
    assert record["inputs"] == {"zoo": "abc"}
    assert record["config_hash"] == config_hash({k: v for k, v in config.items() if k != "netgraph"})


def test_the_hub_repo_modules_do_not_import_each_other():
    import ast

    import netgraph.hub.zoo_repo as zoo_repo

    tree = ast.parse(pathlib.Path(zoo_repo.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.endswith("model_repo") for m in imported)


def test_a_metanets_push_to_hub_uploads_the_one_format(tmp_path, monkeypatch):
    from _hub import LocalHub

    from netgraph.hub import load_metanet

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = LocalHub(tmp_path / "cache")
    model = small_gmn()
    model.push_to_hub("someone/gmn", api=hub)
    assert "checksums.json" in hub.uploads[-1][2]
    loaded = load_metanet("someone/gmn", cache_dir=tmp_path / "cache")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
