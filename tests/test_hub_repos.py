"""netgraph.hub: generators, metanets and zoos as Hub repos, tested offline against local folders in
Hub layout and a local Hub cache (``HF_HUB_OFFLINE=1``); the bundled generator works with no network."""

import json
import shutil

import pytest
import torch

import netgraph
from netgraph.architectures import SmallCNN, Siren, mlp
from netgraph.datasets import build_zoo, load_zoo, zoo_config
from netgraph.hub import HubRepoError, bundled_generators, load_generator, load_metanet, load_zoo as hub_load_zoo
from netgraph.hub import push, save
from netgraph.metanets import (
    ArchitectureMismatchError,
    ChunkedHypernetwork,
    ParameterGraphHypernetwork,
    TargetArchitecture,
    WeightDiffusion,
    create_metanet,
)
from netgraph.tasks import ClassificationProblem

from _hub import COMMIT, LocalHub


def generators():
    cnn = SmallCNN(1, channels=4)
    ref = {"factory": "SmallCNN", "kwargs": {"in_channels": 1, "channels": 4}}
    return {
        "hypernetwork": (
            ChunkedHypernetwork(
                TargetArchitecture.of(cnn, factory=ref),
                chunk_size=64,
                hidden=[16],
                mip=True,
                trained_on={"data": "digits"},
            ),
            cnn,
        ),
        "parameter_graph_hypernetwork": (ParameterGraphHypernetwork(dim=8, depth=1, kernel_shape=(3, 3)), cnn),
        "weight_diffusion": (
            WeightDiffusion(
                cnn,
                dim=16,
                latent_dim=2,
                depth=1,
                heads=2,
                denoiser_dim=16,
                denoiser_depth=1,
                timesteps=20,
                sampling_steps=3,
            ),
            cnn,
        ),
    }


def same_weights(gen, other, target, seed=3):
    torch.manual_seed(seed)
    a = gen.eval().generate_state_dicts(target, n=2)
    torch.manual_seed(seed)
    b = other.generate_state_dicts(target, n=2)
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["hypernetwork", "parameter_graph_hypernetwork", "weight_diffusion"])
def test_save_then_load_generates_identical_networks(kind, tmp_path):
    gen, target = generators()[kind]
    folder = save(gen, tmp_path / kind)
    config = json.loads((folder / "config.json").read_text())
    assert config["netgraph"]["kind"] == "generator" and config["netgraph"]["class"].endswith(type(gen).__name__)
    loaded = load_generator(folder)
    assert type(loaded) is type(gen) and not loaded.training
    assert same_weights(gen, loaded, target)
    x = torch.randn(3, 1, 8, 8)
    torch.manual_seed(0)
    expected = gen.generate(target, n=2)(x)
    torch.manual_seed(0)
    assert torch.equal(loaded.generate(target, n=2)(x), expected)


def test_push_then_load_from_the_hub_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gen, target = generators()["hypernetwork"]
    hub = LocalHub(tmp_path / "cache")
    url = push(
        gen,
        "someone/cnn-hypernet",
        api=hub,
        private=True,
        results={"evaluation": {"cnn": {"generated": {"mean": 0.9}}}},
    )
    assert url.endswith(COMMIT) and hub.repos == [("someone/cnn-hypernet", "model", True, True)]
    assert hub.uploads[0][2] == ["README.md", "checksums.json", "config.json", "model.safetensors", "results.json"]
    loaded = load_generator("someone/cnn-hypernet", cache_dir=tmp_path / "cache")
    assert same_weights(gen, loaded, target)
    card = (tmp_path / "cache" / "models--someone--cnn-hypernet" / "snapshots" / COMMIT / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: netgraph") and "| `features.0.weight` | (4, 1, 3, 3) |" in card
    assert 'netgraph.architectures.SmallCNN(**{"in_channels": 1, "channels": 4})' in card
    assert 'data: `"digits"`' in card and "| generated | 0.9 |" in card
    assert 'load_generator("someone/cnn-hypernet")' in card and "gen.generate(n=8)" in card
    with pytest.raises(HubRepoError, match="not in the local Hub cache"):
        load_generator("someone/never-pushed", cache_dir=tmp_path / "cache")


def test_metanets_and_zoos_share_the_verbs(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = LocalHub(tmp_path / "cache")
    metanet = create_metanet("gmn", dim=8, depth=1, edge_features=9, out_features=1).eval()
    push(metanet, "someone/gmn", api=hub)
    loaded = load_metanet("someone/gmn", cache_dir=tmp_path / "cache")
    graph = netgraph.from_module(SmallCNN(1, channels=4))
    assert type(loaded).__name__ == "GMN" and torch.equal(loaded(graph), metanet(graph))
    cfg = zoo_config("iris_mlp", num_nets=3, epochs=1, checkpoints=[1], num_threads=1, root=str(tmp_path / "zoo"))
    root = build_zoo(cfg, progress=False)
    push(root, "someone/iris-zoo", api=hub)
    assert hub.uploads[-1][1] == "dataset" and "zoo.json" in hub.uploads[-1][2]
    folder = hub_load_zoo("someone/iris-zoo", cache_dir=tmp_path / "cache")
    assert load_zoo(folder).rows == load_zoo(root).rows
    with pytest.raises(HubRepoError, match="holds a model zoo .* netgraph.hub.load_zoo"):
        load_generator(root)


def test_a_repo_of_the_wrong_kind_or_incomplete_gives_a_clear_error(tmp_path):
    gen, _ = generators()["hypernetwork"]
    folder = save(gen, tmp_path / "gen")
    metanet_folder = save(create_metanet("gmn", dim=8, depth=1, edge_features=9, out_features=1), tmp_path / "gmn")
    with pytest.raises(HubRepoError, match=r"holds a netgraph generator .*ChunkedHypernetwork.*load_generator"):
        load_metanet(folder)
    with pytest.raises(HubRepoError, match="holds a netgraph metanet .* with netgraph.hub.load_metanet"):
        load_generator(metanet_folder)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(
        HubRepoError, match=r"lacks model.safetensors \(it holds \['README.md', 'checksums.json', 'config.json'\]\)"
    ):
        load_generator(broken)
    with pytest.raises(HubRepoError, match="is not a folder, a bundled generator .* or a Hub repo id"):
        load_generator(str(tmp_path / "nowhere"))
    mismatched = tmp_path / "mismatched"
    shutil.copytree(folder, mismatched)
    other = ChunkedHypernetwork(SmallCNN(1, channels=4), chunk_size=32, hidden=[16], mip=True)
    save(other, tmp_path / "other")
    shutil.copyfile(tmp_path / "other" / "model.safetensors", mismatched / "model.safetensors")
    with pytest.raises(HubRepoError, match="model.safetensors is corrupt .*checksums.json.*push the model again"):
        load_generator(mismatched)  # the checksum of the swapped file no longer matches
    with pytest.raises(HubRepoError, match="does not fit the model its config.json describes"):
        load_generator(mismatched, verify=False)


def test_a_plain_save_pretrained_folder_loads_with_its_class(tmp_path):
    gen, target = generators()["hypernetwork"]
    gen.save_pretrained(tmp_path / "plain")  # huggingface_hub's own layout, no netgraph entry
    with pytest.raises(HubRepoError, match="has no checksums.json .* verify=False"):
        load_generator(tmp_path / "plain")  # fail closed: nothing to check its files against
    with pytest.raises(HubRepoError, match="no 'netgraph' entry .* pass cls="):
        load_generator(tmp_path / "plain", verify=False)
    assert same_weights(gen, load_generator(tmp_path / "plain", cls=ChunkedHypernetwork, verify=False), target)
    config = json.loads((tmp_path / "plain" / "config.json").read_text())
    config["netgraph"] = {"kind": "generator", "class": "os.path.join"}
    (tmp_path / "plain" / "config.json").write_text(json.dumps(config))
    with pytest.raises(HubRepoError, match="not part of netgraph"):
        load_generator(tmp_path / "plain", verify=False)


def test_loading_checks_the_target_architecture(tmp_path):
    gen, _ = generators()["hypernetwork"]
    folder = save(gen, tmp_path / "gen")
    load_generator(folder, target=SmallCNN(1, channels=4))
    with pytest.raises(
        ArchitectureMismatchError, match=r"'features.0.weight' is \(8, 1, 3, 3\) here, \(4, 1, 3, 3\) expected"
    ):
        load_generator(folder, target=SmallCNN(1, channels=8))
    with pytest.raises(ArchitectureMismatchError, match="activation tanh here"):
        load_generator(folder, target=SmallCNN(1, channels=4, activation="tanh"))
    ghn = save(ParameterGraphHypernetwork(dim=8, depth=1, kernel_shape=(3, 3)), tmp_path / "ghn")
    load_generator(ghn, target=SmallCNN(1, channels=8))  # a graph hypernetwork takes any architecture


def test_save_refuses_what_is_not_a_netgraph_model(tmp_path):
    with pytest.raises(TypeError, match="saves weight generators .* and metanets"):
        save(torch.nn.Linear(2, 3), tmp_path / "x")
    with pytest.raises(HubRepoError, match="lacks config.json and model.safetensors"):
        push(tmp_path, "someone/empty", api=LocalHub(tmp_path / "cache"))


def test_the_bundled_generator_is_tiny_trained_and_needs_no_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "iris-mlp-hypernet" in bundled_generators()
    folder = netgraph.hub.bundled_path("iris-mlp-hypernet")
    assert sum(p.stat().st_size for p in folder.iterdir()) < 64 * 1024
    gen = netgraph.hub.load_generator("iris-mlp-hypernet")
    nets = gen.generate(n=16)  # the recorded architecture: mlp([4, 16, 16, 3])
    accuracy = ClassificationProblem("iris").evaluate(nets)["test_acc"]
    assert accuracy.mean() > 0.9  # random initialisations average about 0.35 on iris
    with pytest.raises(ArchitectureMismatchError, match=r"'0.weight' is \(32, 4\) here, \(16, 4\) expected"):
        gen.generate(mlp([4, 32, 16, 3]), n=1)
    with pytest.raises(ValueError, match="is not conditioned"):
        gen.generate(n=1, condition=torch.zeros(3))


def test_conditioned_generator_round_trip(tmp_path):
    target = Siren(1, 8, 3, 1)
    gen = ChunkedHypernetwork(
        target, noise_dim=0, chunk_size=32, hidden=[16], condition={"kind": "set", "features": 2, "dim": 8}
    )
    loaded = load_generator(save(gen, tmp_path / "sine"))
    samples = torch.randn(2, 6, 2)
    a, b = gen.generate_state_dicts(target, samples, n=2), loaded.generate_state_dicts(target, samples, n=2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_issue_api_verbatim_for_a_user_network(tmp_path, monkeypatch):
    """gen = load_generator("org/repo"); gen.generate(MyNet(), condition=..., n=8); push(gen, "org/repo");
    netgraph-generate repo=... target=... out=weights.safetensors -- for a network class of the user's own."""
    from safetensors.torch import save_file

    from netgraph.metanets import GeneratedNetworks
    from netgraph.tasks import generate_weights

    (tmp_path / "user_models.py").write_text(
        "import torch.nn as nn\n\n"
        "class MyNet(nn.Module):\n"
        "    def __init__(self, hidden=12):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, 2))\n\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from user_models import MyNet

    gen = ChunkedHypernetwork(
        MyNet(), noise_dim=2, chunk_size=16, hidden=[8], condition={"kind": "vector", "features": 3, "dim": 4}
    )
    hub = LocalHub(tmp_path / "cache")
    netgraph.hub.push(gen, "org/repo", api=hub)
    gen = netgraph.hub.load_generator("org/repo", cache_dir=tmp_path / "cache")
    condition = torch.randn(8, 3)
    model = gen.generate(MyNet(), condition=condition, n=8)
    x = torch.randn(4, 5)
    assert model(x).shape == (8, 4, 2)
    assert torch.allclose(model[3](x), model(x)[3], atol=1e-6)  # each network is an ordinary MyNet
    assert isinstance(model[3], MyNet)
    with pytest.raises(ArchitectureMismatchError, match=r"'body.0.weight' is \(7, 5\) here, \(12, 5\) expected"):
        gen.generate(MyNet(hidden=7), condition=condition, n=8)
    with pytest.raises(ValueError, match="condition"):
        gen.generate(MyNet(), n=8)  # conditioned: refuses to run without one
    # netgraph-generate repo=... target=... out=weights.safetensors (the app's function, offline cache)
    save_file({"condition": condition[:2].contiguous()}, str(tmp_path / "condition.safetensors"))
    folder = netgraph.hub.save(gen, tmp_path / "org-repo")
    out = tmp_path / "weights.safetensors"
    from netgraph.tasks.generate.cli import run

    run(
        {
            "action": "generate",
            "repo": str(folder),
            "target": "user_models:MyNet",
            "target_kwargs": None,
            "condition": str(tmp_path / "condition.safetensors"),
            "n": 2,
            "out": str(out),
            "seed": 0,
            "device": "cpu",
            "revision": None,
        }
    )
    nets = GeneratedNetworks.load(out, MyNet())
    assert nets(x).shape == (2, 4, 2)
    torch.manual_seed(0)
    again = generate_weights(str(folder), "user_models:MyNet", n=2, condition=condition[:2], seed=0)
    assert torch.equal(nets(x), again(x))
    with pytest.raises(ArchitectureMismatchError, match="body.0.weight"):
        run(
            {
                "action": "generate",
                "repo": str(folder),
                "target": "user_models:MyNet",
                "target_kwargs": {"hidden": 3},
                "condition": str(tmp_path / "condition.safetensors"),
                "n": 2,
                "out": str(out),
                "seed": 0,
                "device": "cpu",
                "revision": None,
            }
        )
