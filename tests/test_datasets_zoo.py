"""Zoo builds end to end: exact reloads, resume after a crash, corrupt shards, merges, INR zoos."""

import csv
import os

import pytest
import torch
import torch.nn.functional as F

from netgraph.datasets import (
    ZooDataset,
    ZooFormatError,
    build_zoo,
    classification_data,
    digit_images,
    inr_grid,
    load_model,
    load_zoo,
    merge_zoos,
    psnr,
    render_inr,
    zoo_config,
)
from netgraph.datasets import build as build_module
from netgraph.datasets.storage import shard_path
from _faults import dead_writers_temporary


def tiny_cnn_config(root, **overrides):
    """6 digit CNNs (relu and tanh), 1 epoch, 2 shards per activation."""
    values = dict(num_nets=6, epochs=1, checkpoints=[0, 1], batch_size=128, nets_per_shard=2, root=str(root))
    return zoo_config("digits_cnn", **{**values, **overrides})


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    return build_zoo(tiny_cnn_config(tmp_path_factory.mktemp("zoo") / "digits"), progress=False)


def test_every_stored_net_reproduces_its_recorded_metrics_exactly(tiny_zoo):
    zoo = load_zoo(tiny_zoo)
    data = classification_data("digits")
    assert len(zoo) == 6 and zoo.checkpoints == [0, 1]
    assert {a["kwargs"]["activation"] for a in zoo.architectures} == {"relu", "tanh"}
    for net in range(len(zoo)):
        for c, epoch in enumerate(zoo.checkpoints):
            model = load_model(tiny_zoo, net, checkpoint=epoch)
            with torch.no_grad():
                for split in ("val", "test"):
                    logits = model(data.x[split])
                    correct = (logits.argmax(1) == data.y[split]).double().sum() / len(data.y[split])
                    assert zoo.metrics[f"{split}_acc"][net, c].item() == correct.item()
                    loss = F.cross_entropy(logits.double(), data.y[split])
                    assert abs(zoo.metrics[f"{split}_loss"][net, c].item() - loss.item()) < 1e-5
    assert zoo.metrics["test_acc"][:, 1].max() > zoo.metrics["test_acc"][:, 0].max()  # training helps


def test_metadata_table_has_one_row_per_net(tiny_zoo):
    zoo = load_zoo(tiny_zoo)
    with open(tiny_zoo / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["net_id"]) for r in rows] == list(range(6))
    for row, stored in zip(rows, zoo.rows):
        assert row["activation"] == stored["activation"] and float(row["learning_rate"]) == stored["learning_rate"]
        assert float(row["test_acc@1"]) == zoo.metrics["test_acc"][int(row["net_id"]), 1].item()
        assert float(row["test_acc"]) == float(row["test_acc@1"])
    assert set(zoo.rows[0]) >= {"seed", "shard_seed", "optimizer", "init", "dropout", "train_fraction", "weight_decay"}


def test_build_is_deterministic_and_resumes_after_a_crash(tmp_path, tiny_zoo, monkeypatch):
    root = tmp_path / "crashed"
    calls = {"n": 0}
    real_write = build_module.write_shard

    def crash_on_second(path, shard):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")
        real_write(path, shard)

    monkeypatch.setattr(build_module, "write_shard", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        build_zoo(tiny_cnn_config(root), progress=False)
    monkeypatch.setattr(build_module, "write_shard", real_write)
    first = shard_path(root, 0)
    assert first.exists() and not shard_path(root, 1).exists()
    before = (first.read_bytes(), first.stat().st_mtime_ns)
    leftover = dead_writers_temporary(shard_path(root, 1))  # a killed writer's leftover
    leftover.write_bytes(b"half a shard")
    build_zoo(tiny_cnn_config(root), progress=False)
    assert (first.read_bytes(), first.stat().st_mtime_ns) == before  # the finished shard is kept
    assert not list((root / "shards").glob(".*.tmp"))
    resumed, reference = load_zoo(root), load_zoo(tiny_zoo)
    for a in range(len(reference.weights)):
        for k, v in reference.weights[a].items():
            assert torch.equal(resumed.weights[a][k], v)
    assert torch.equal(resumed.metrics["test_acc"], reference.metrics["test_acc"])


def test_corrupt_or_truncated_shard_gives_a_clear_error(tmp_path, tiny_zoo):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny_zoo, root)
    victim = shard_path(root, 1)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(ZooFormatError, match="shard-00001.safetensors is corrupt or truncated"):
        load_zoo(root)
    victim.write_bytes(b"\x00" * 3)
    with pytest.raises(ZooFormatError, match="run the build again"):
        load_zoo(root)


def test_same_root_with_another_config_is_refused(tiny_zoo):
    with pytest.raises(ValueError, match=r"already holds a different zoo: it was made with num_nets=6, but num_nets=7"):
        build_zoo(tiny_cnn_config(tiny_zoo, num_nets=7), progress=False)


def test_merge_joins_parts_of_a_seed_sweep(tmp_path, tiny_zoo):
    other = build_zoo(tiny_cnn_config(tmp_path / "seed1", seed=1, num_nets=3), progress=False)
    merged = load_zoo(merge_zoos([tiny_zoo, other], tmp_path / "merged"))
    a, b = load_zoo(tiny_zoo), load_zoo(other)
    assert len(merged) == 9 and [r["part"] for r in merged.rows] == [0] * 6 + [1] * 3
    assert [r["seed"] for r in merged.rows] == [0] * 6 + [1] * 3
    for k in range(3):
        for name, value in b.state_dict(k).items():
            assert torch.equal(merged.state_dict(6 + k)[name], value)
        assert merged.rows[6 + k]["learning_rate"] == b.rows[k]["learning_rate"]
    assert torch.equal(merged.metrics["test_acc"], torch.cat([a.metrics["test_acc"], b.metrics["test_acc"]]))
    different = build_zoo(tiny_cnn_config(tmp_path / "bs", num_nets=2, batch_size=32), progress=False)
    with pytest.raises(ValueError, match=r"differ in \['batch_size'\]"):
        merge_zoos([tiny_zoo, different], tmp_path / "bad")


def test_digit_inr_zoo_records_class_and_decodes_to_the_image(tmp_path):
    cfg = zoo_config("digits_inr", num_nets=5, steps=150, checkpoints=[150], psnr_stop=25.0, root=str(tmp_path / "inr"))
    zoo = load_zoo(build_zoo(cfg, progress=False))
    images, labels = digit_images()
    assert [r["class"] for r in zoo.rows] == labels[:5].tolist()
    decode = zoo.info["decode"]
    for i in range(5):
        image = render_inr(zoo.model(i), decode["shape"], decode["offset"], decode["indexing"])
        assert image.shape == (1, 8, 8)
        assert abs(psnr(image, images[i : i + 1]).item() - zoo.metrics["psnr"][i, -1].item()) < 1e-3
    assert zoo.info["recipe"]["psnr_stop"] == 25.0 and zoo.info["architectures"][0]["factory"] == "Siren"
    assert ZooDataset(zoo, split="all").y.tolist() == labels[:5].tolist()  # default target: the class


def test_shared_init_starts_every_inr_of_every_shard_from_one_draw(tmp_path):
    def starts(shared, folder):
        cfg = zoo_config(
            "sine_inr",
            num_nets=6,
            nets_per_shard=2,
            steps=5,
            checkpoints=[0, 5],
            shared_init=shared,
            root=str(tmp_path / folder),
        )
        zoo = load_zoo(build_zoo(cfg, progress=False))
        return zoo, [zoo.model(i, checkpoint=0).layers[0].weight for i in range(6)]

    zoo, shared = starts(True, "shared")
    assert all(torch.equal(w, shared[0]) for w in shared)  # across the 3 shards too
    assert not torch.equal(zoo.model(0).layers[0].weight, zoo.model(1).layers[0].weight)  # then fitted apart
    assert "shared" in zoo.info["recipe"]["init"]
    _, independent = starts(False, "independent")
    assert not torch.equal(independent[0], independent[1])
    with pytest.raises(ValueError, match="INR zoos only"):
        build_zoo(tiny_cnn_config(tmp_path / "cnn", shared_init=True), progress=False)


def test_sine_inr_zoo_records_wave_parameters(tmp_path):
    cfg = zoo_config("sine_inr", num_nets=4, steps=20, checkpoints=[0, 20], root=str(tmp_path / "sine"))
    zoo = load_zoo(build_zoo(cfg, progress=False))
    model = zoo.model(2, checkpoint=0)
    assert model.layers[0].in_features == 1
    row = zoo.rows[2]
    assert 0.1 <= row["amplitude"] <= 1.0 and 0.5 <= row["frequency"] <= 3.0
    assert zoo.metrics["mse"][:, 1].mean() < zoo.metrics["mse"][:, 0].mean()
    assert inr_grid(zoo.info["decode"]["shape"]).shape == (64, 1)
    y = ZooDataset(zoo, split="all").y  # default: amplitude, frequency
    assert y.shape == (4, 2) and y[2].tolist() == pytest.approx([row["amplitude"], row["frequency"]])


def test_bad_configs_are_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        build_zoo(tiny_cnn_config(tmp_path / "a", hparams={"momentum": 0.5}), progress=False)
    with pytest.raises(ValueError, match="classifier zoos train on"):
        build_zoo(tiny_cnn_config(tmp_path / "b", data="cifar10"), progress=False)
    with pytest.raises(ValueError, match="1797 digit images"):
        build_zoo(zoo_config("digits_inr", num_nets=2000, root=str(tmp_path / "c")), progress=False)
    with pytest.raises(ValueError, match="unknown zoo preset"):
        zoo_config("cifar")
    assert not os.path.exists(tmp_path / "b")
