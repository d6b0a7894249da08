"""Loaders of published zoos, proven on tiny files written in their exact formats."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from netgraph.architectures import Siren, SmallCNN
from netgraph.datasets import (
    ZooDataset,
    ZooFormatError,
    load_dwsnets_inrs,
    load_model,
    load_nfn_sirens,
    load_small_cnn_zoo,
    load_zoo,
    render_inr,
)

from _published_formats import dwsnets_state, to_keras, write_small_cnn_zoo_files


@pytest.fixture()
def small_cnn_zoo(tmp_path):
    """3 nets (relu, tanh, relu) at steps 0 and 86, plus one net that only has step 0."""
    torch.manual_seed(0)
    nets = {
        "net_a": ("relu", SmallCNN(1, padding=0)),
        "net_b": ("tanh", SmallCNN(1, activation="tanh", padding=0)),
        "net_c": ("relu", SmallCNN(1, padding=0)),
        "net_d": ("relu", SmallCNN(1, padding=0)),
    }
    rows, metrics, states = [], [], {}
    for name, (act, model) in nets.items():
        for step in (0, 86) if name != "net_d" else (0,):
            state = {k: v + 0.01 * step for k, v in model.state_dict().items()}
            flat, layout = to_keras(state)
            rows.append(flat)
            states[(name, step)] = state
            metrics.append(
                {
                    "modeldir": name,
                    "step": step,
                    "test_accuracy": 0.1 + step / 100,
                    "test_loss": 2.3,
                    "train_accuracy": 0.2,
                    "train_loss": 2.2,
                    "config.activation": act,
                    "config.learning_rate": 0.005,
                    "config.optimizer": "adam",
                    "config.w_init": "he_normal",
                    "config.train_fraction": 0.5,
                    "laststep": step == 86,
                }
            )
    write_small_cnn_zoo_files(tmp_path, rows, metrics, layout)
    return tmp_path, states


def test_small_cnn_zoo_loads_exact_weights_metrics_and_functions(small_cnn_zoo):
    path, states = small_cnn_zoo
    zoo = load_small_cnn_zoo(path)
    assert len(zoo) == 3 and zoo.checkpoints == [0, 86] and zoo.info["dropped_nets"] == 1
    assert [r["modeldir"] for r in zoo.rows] == ["net_a", "net_b", "net_c"]
    assert zoo.rows[1]["activation"] == "tanh" and zoo.rows[0]["learning_rate"] == 0.005
    assert zoo.metrics["test_acc"][:, 1].tolist() == [0.96, 0.96, 0.96]
    x = torch.randn(2, 1, 32, 32)
    for net, name in enumerate(["net_a", "net_b", "net_c"]):
        for step in (0, 86):
            stored = zoo.state_dict(net, step)
            assert all(torch.equal(stored[k], v) for k, v in states[(name, step)].items())
            state, act = states[(name, step)], torch.relu if zoo.rows[net]["activation"] == "relu" else torch.tanh
            hidden = x  # Keras: valid 3x3 convs, stride 2
            for layer in ("features.0", "features.2", "features.4"):
                hidden = act(F.conv2d(hidden, state[f"{layer}.weight"], state[f"{layer}.bias"], stride=2))
            assert hidden.shape[-2:] == (3, 3)  # 32 -> 15 -> 7 -> 3
            expected = hidden.mean((2, 3)) @ state["classifier.weight"].T + state["classifier.bias"]
            assert torch.allclose(load_model(zoo, net, step)(x), expected, atol=1e-6)
    data = ZooDataset(zoo, split="all", target="test_acc", checkpoints="all")
    assert len(data) == 6 and data[1].y.item() == pytest.approx(0.96)
    converted = load_zoo(zoo.save(path / "netgraph-format"))  # to the netgraph format and back
    assert converted.rows == zoo.rows and torch.equal(converted.metrics["test_acc"], zoo.metrics["test_acc"])
    assert all(torch.equal(converted.state_dict(2, 86)[k], v) for k, v in zoo.state_dict(2, 86).items())


def test_small_cnn_zoo_step_selection_and_errors(small_cnn_zoo, tmp_path):
    path, _ = small_cnn_zoo
    only_init = load_small_cnn_zoo(path, steps=[0])
    assert len(only_init) == 4 and only_init.info["dropped_nets"] == 0
    with pytest.raises(FileNotFoundError, match="layout.csv"):
        load_small_cnn_zoo(tmp_path / "empty")
    np.save(path / "weights.npy", np.zeros((2, 4970), dtype=np.float32))
    with pytest.raises(ZooFormatError, match="one weights row per metrics row"):
        load_small_cnn_zoo(path)


def test_dwsnets_inrs_from_splits_json_and_folder(tmp_path):
    root = tmp_path / "mnist-inrs"
    entries = {"train": [], "val": [], "test": []}
    states = {}
    for i, (run, label, split) in enumerate(
        [
            ("mnist_png_training_3_11", 3, "train"),
            ("mnist_png_training_8_12", 8, "val"),
            ("mnist_png_testing_1_13", 1, "test"),
        ]
    ):
        folder = root / run / "checkpoints"
        folder.mkdir(parents=True)
        torch.save(dwsnets_state(i), folder / "model_final.pth")
        entries[split].append((f"mnist-inrs/{run}/checkpoints/model_final.pth", str(label)))
        states[label] = dwsnets_state(i)
    splits = {s: {"path": [p for p, _ in e], "label": [lab for _, lab in e]} for s, e in entries.items()}
    (tmp_path / "mnist_splits.json").write_text(json.dumps(splits))
    zoo = load_dwsnets_inrs(tmp_path / "mnist_splits.json")
    assert [(r["class"], r["split"]) for r in zoo.rows] == [(3, "train"), (8, "val"), (1, "test")]
    for i, row in enumerate(zoo.rows):
        raw = states[row["class"]]
        assert all(torch.equal(zoo.state_dict(i)[f"layers.{k[4]}.{k[6:]}"], v) for k, v in raw.items())
    assert ZooDataset(zoo, split="val", target="class").y.tolist() == [8]
    from_folder = load_dwsnets_inrs(root)
    assert sorted((r["class"], r["split"]) for r in from_folder.rows) == [(1, "test"), (3, "train"), (8, "train")]
    missing = {"train": {"path": ["nowhere.pth"], "label": ["1"]}}
    (tmp_path / "bad.json").write_text(json.dumps(missing))
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_dwsnets_inrs(tmp_path / "bad.json")


def test_dwsnets_decoding_matches_their_forward(tmp_path):
    """Their INR: seq(x) + 0.5 on numpy-meshgrid (x = column, y = row) coordinates, image = view(H, W)."""
    folder = tmp_path / "mnist_png_testing_4_0" / "checkpoints"
    folder.mkdir(parents=True)
    state = dwsnets_state(7)
    torch.save(state, folder / "model_final.pth")
    zoo = load_dwsnets_inrs(tmp_path)
    h, w = 5, 7  # not square: catches swapped axes
    xs, ys = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    coords = torch.tensor(np.stack([xs.flatten(), ys.flatten()]).T, dtype=torch.float32)
    hidden = coords
    for i in range(2):
        hidden = torch.sin(30.0 * (hidden @ state[f"seq.{i}.weight"].T + state[f"seq.{i}.bias"]))
    expected = (hidden @ state["seq.2.weight"].T + state["seq.2.bias"] + 0.5).view(h, w)
    decode = zoo.info["decode"]
    image = render_inr(zoo.model(0), (h, w), decode["offset"], decode["indexing"])
    assert torch.allclose(image[0], expected, atol=1e-5)


def test_nfn_sirens_layout_labels_and_split_points(tmp_path):
    states = []
    for idx, label in enumerate([2, 5, 5, 9]):
        folder = tmp_path / f"randinit_smaller_{label}s"
        folder.mkdir(exist_ok=True)
        torch.manual_seed(idx)
        layers = Siren().layers
        state = {
            "net.0.linear.weight": layers[0].weight.detach(),
            "net.0.linear.bias": layers[0].bias.detach(),
            "net.1.linear.weight": layers[1].weight.detach(),
            "net.1.linear.bias": layers[1].bias.detach(),
            "net.2.weight": layers[2].weight.detach(),
            "net.2.bias": layers[2].bias.detach(),
        }
        torch.save(state, folder / f"net{idx}.pth")
        states.append(state)
    zoo = load_nfn_sirens(tmp_path, split_points=(2, 3))
    assert [r["class"] for r in zoo.rows] == [2, 5, 5, 9] and [r["split"] for r in zoo.rows] == [
        "train",
        "train",
        "val",
        "test",
    ]
    assert torch.equal(zoo.state_dict(3)["layers.1.weight"], states[3]["net.1.linear.weight"])
    coords = torch.rand(4, 2)
    assert isinstance(zoo.model(0), nn.Module) and zoo.model(0)(coords).shape == (4, 1)
    assert ZooDataset(zoo, split="train", target="class").y.tolist() == [2, 5]
    with pytest.raises(FileNotFoundError, match="NFN layout"):
        load_nfn_sirens(tmp_path, prefix="other")


def test_keras_layout_helper_is_the_published_size():
    flat, layout = to_keras(SmallCNN(1, padding=0).state_dict())
    assert (
        flat.size == 4970
        and layout[1]["shape"] == "(3, 3, 1, 16)"
        and layout[0]["varname"] == "sequential/conv2d/bias:0"
    )


def test_fashion_mnist_inrs_read_their_label_from_the_file(tmp_path):
    """The Fashion-MNIST INR files hold {'seq.*': tensors, 'label': ...}; the splits JSON may omit labels."""
    root = tmp_path / "fmnist_inrs"
    paths = {}
    for i, (label, split) in enumerate([(4, "train"), (9, "val"), (0, "test")]):
        folder = root / f"fmnist_{split}"
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({**dwsnets_state(i), "label": torch.tensor(label)}, folder / f"{i}.pth")
        paths[split] = f"fmnist_inrs/fmnist_{split}/{i}.pth"
    splits = {s: {"path": [p]} for s, p in paths.items()}
    (tmp_path / "fmnist_splits.json").write_text(json.dumps(splits))
    zoo = load_dwsnets_inrs(tmp_path / "fmnist_splits.json")
    assert [(r["class"], r["split"]) for r in zoo.rows] == [(4, "train"), (9, "val"), (0, "test")]
    assert sorted(zoo.state_dict(0)) == [f"layers.{i}.{k}" for i in range(3) for k in ("bias", "weight")]
    assert torch.equal(zoo.state_dict(1)["layers.2.weight"], dwsnets_state(1)["seq.2.weight"])
    from_folder = load_dwsnets_inrs(root)  # folder mode: no label in the path, read from the file
    assert sorted(r["class"] for r in from_folder.rows) == [0, 4, 9]
    assert ZooDataset(zoo, split="val").y.tolist() == [9]
    splits["train"]["label"] = ["5"]  # disagrees with the file's label 4
    (tmp_path / "bad.json").write_text(json.dumps(splits))
    with pytest.raises(ZooFormatError, match="'label' entry is 4"):
        load_dwsnets_inrs(tmp_path / "bad.json")
    unlabelled = tmp_path / "plain" / "run" / "0.pth"
    unlabelled.parent.mkdir(parents=True)
    torch.save(dwsnets_state(0), unlabelled)
    with pytest.raises(ZooFormatError, match="holds no .label. entry"):
        load_dwsnets_inrs(tmp_path / "plain")


def _nfn_split_oracle(steps, nets, idcs):
    """The NFN / Neural Graphs reading code's split, step by step on plain lists: rows shuffled by idcs,
    final rows (step 86) kept, test = second half, train / val = first half shuffled by Random(0), 80/20."""
    import random

    rows = [(nets[i], steps[i]) for i in idcs]
    final = [net for net, step in rows if step == 86]
    half = int(0.5 * len(final))
    trainval = list(range(half))
    random.Random(0).shuffle(trainval)
    cut = int(0.8 * len(trainval))
    return {
        "train": sorted(final[i] for i in trainval[:cut]),
        "val": sorted(final[i] for i in trainval[cut:]),
        "test": sorted(final[half:]),
    }


def test_small_cnn_zoo_split_matches_the_published_protocol(tmp_path):
    torch.manual_seed(0)
    rows, metrics, steps, nets = [], [], [], []
    for n in range(13):
        model = SmallCNN(1, channels=2, padding=0)
        for step in (0, 86) if n != 5 else (0,):  # net 5 stopped early: no step 86
            flat, layout = to_keras(model.state_dict())
            rows.append(flat)
            metrics.append(
                {"modeldir": f"net{n:02d}", "step": step, "test_accuracy": n / 13, "config.activation": "relu"}
            )
            steps.append(step)
            nets.append(f"net{n:02d}")
    write_small_cnn_zoo_files(tmp_path, rows, metrics, layout)
    idcs = torch.randperm(len(rows), generator=torch.Generator().manual_seed(3)).tolist()
    (tmp_path / "idcs.csv").write_text("\n".join(str(i) for i in idcs) + "\n")
    zoo = load_small_cnn_zoo(tmp_path, steps=[86], order=tmp_path / "idcs.csv")
    expected = _nfn_split_oracle(steps, nets, idcs)
    for split, names in expected.items():
        data = ZooDataset(zoo, split=split, splits="small_cnn_zoo")
        assert sorted(r["modeldir"] for r in data.rows) == names
    assert sum(len(v) for v in expected.values()) == 12 and len(expected["test"]) == 6
    seeded = [
        sorted(
            r["modeldir"]
            for r in ZooDataset(
                load_small_cnn_zoo(tmp_path, steps=[86]), split="test", splits="small_cnn_zoo", split_seed=s
            ).rows
        )
        for s in (0, 0, 1)
    ]
    assert seeded[0] == seeded[1] != seeded[2]  # without the index file: seeded halves
    with pytest.raises(ValueError, match="permutation of the 25 metrics rows"):
        load_small_cnn_zoo(tmp_path, steps=[86], order=[0, 1])
    with pytest.raises(ValueError, match="small_cnn_zoo"):
        ZooDataset(zoo, splits="nfn")


def test_small_cnn_zoo_activation_names(tmp_path):
    torch.manual_seed(0)
    rows, metrics = [], []
    for n, act in enumerate(["linear", "relu", "selu"]):
        flat, layout = to_keras(SmallCNN(1, channels=2, padding=0).state_dict())
        rows.append(flat)
        metrics.append({"modeldir": f"n{n}", "step": 86, "test_accuracy": 0.5, "config.activation": act})
    write_small_cnn_zoo_files(tmp_path, rows, metrics, layout)
    zoo = load_small_cnn_zoo(tmp_path)
    assert [a["kwargs"]["activation"] for a in zoo.architectures] == ["identity", "relu", "selu"]
    x = torch.randn(2, 1, 28, 28)
    assert zoo.model(0)(x).shape == (2, 10) and isinstance(zoo.model(0).features[1], nn.Identity)
    assert len(ZooDataset(zoo, split="all")) == 3  # graphs build for every activation
    metrics[2]["config.activation"] = "weird"
    write_small_cnn_zoo_files(tmp_path, rows, metrics, layout)
    with pytest.raises(ValueError, match="'weird'.*linear"):
        load_small_cnn_zoo(tmp_path)
