"""Zoo push / load through huggingface_hub, offline against a local cache in Hub layout."""

import shutil

import pytest
import torch

from netgraph.datasets import ZooDataset, ZooFormatError, build_zoo, load_zoo
from netgraph.hub import HubRepoError, dataset_card, load_from_hub, push_to_hub
from netgraph.datasets import zoo_config

from _hub import COMMIT, LocalHub


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory):
    cfg = zoo_config(
        "iris_mlp", num_nets=5, epochs=1, checkpoints=[0, 1], root=str(tmp_path_factory.mktemp("z") / "iris")
    )
    return build_zoo(cfg, progress=False)


def test_push_then_load_from_a_local_hub_cache_offline(zoo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = LocalHub(tmp_path / "cache")
    url = push_to_hub(zoo_root, "someone/iris-zoo", api=hub, private=True)
    assert url.endswith(COMMIT) and hub.repos == [("someone/iris-zoo", "dataset", True, True)]
    files = hub.uploads[0][2]
    assert {"zoo.json", "metadata.csv", "README.md"} <= set(files) and "shards/shard-00000.safetensors" in files
    folder = load_from_hub("someone/iris-zoo", cache_dir=tmp_path / "cache")
    assert folder.name == COMMIT and (folder / "README.md").read_text().startswith("---\nlicense: mit")
    original, loaded = load_zoo(zoo_root), load_zoo(folder)
    assert loaded.rows == original.rows and torch.equal(loaded.metrics["test_acc"], original.metrics["test_acc"])
    for a, weights in enumerate(original.weights):
        assert all(torch.equal(loaded.weights[a][k], v) for k, v in weights.items())
    assert len(ZooDataset(folder, split="all")) == 5


def test_load_from_hub_accepts_a_local_folder_and_rejects_other_folders(zoo_root, tmp_path):
    assert load_from_hub(zoo_root) == zoo_root
    with pytest.raises(HubRepoError, match="not a netgraph zoo folder"):
        load_from_hub(tmp_path)
    with pytest.raises(HubRepoError, match="is not a folder, a zoo folder or a Hub repo id"):
        load_from_hub(tmp_path / "missing")
    with pytest.raises(HubRepoError, match="nor a valid Hub repo id"):
        load_from_hub("two words")


def test_push_refuses_an_incomplete_zoo(zoo_root, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(zoo_root, broken)
    (broken / "shards" / "shard-00000.safetensors").unlink()
    with pytest.raises(ZooFormatError, match="incomplete"):
        push_to_hub(broken, "someone/broken", api=LocalHub(tmp_path / "cache"))


def test_dataset_card_describes_the_zoo(zoo_root):
    card = dataset_card(zoo_root)
    assert "5 trained classifier networks" in card and "`mlp`" in card and "size_categories:\n- n<1K" in card
    assert "checkpoints at\nepochs [0, 1]" in card and 'target="test_acc"' in card
