"""ZooDataset: graphs equal the stored nets, targets, per-net splits, dense view, permutations."""

import pytest
import torch
from torch_geometric.loader import DataLoader

import netgraph
from netgraph.datasets import Zoo, ZooDataset, build_zoo, load_model, load_zoo, zoo_config


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory):
    cfg = zoo_config(
        "digits_cnn",
        num_nets=10,
        epochs=2,
        checkpoints=[0, 1, 2],
        batch_size=256,
        nets_per_shard=4,
        root=str(tmp_path_factory.mktemp("zoo") / "digits"),
    )
    return build_zoo(cfg, progress=False)


def test_splits_are_per_net_disjoint_deterministic_and_complete(zoo_root):
    parts = {s: ZooDataset(zoo_root, split=s, checkpoints="all") for s in ("train", "val", "test")}
    nets = {s: set(d.net_ids.tolist()) for s, d in parts.items()}
    assert nets["train"].isdisjoint(nets["val"]) and nets["train"].isdisjoint(nets["test"])
    assert nets["val"].isdisjoint(nets["test"]) and set.union(*nets.values()) == set(range(10))
    assert [len(v) for v in nets.values()] == [8, 1, 1]
    for data in parts.values():  # every checkpoint of a net is in its net's split
        for net in set(data.net_ids.tolist()):
            assert sorted(data.checkpoint_of[data.net_ids == net].tolist()) == [0, 1, 2]
    again = ZooDataset(zoo_root, split="train", checkpoints="all")
    assert torch.equal(again.net_ids, parts["train"].net_ids)
    other = ZooDataset(zoo_root, split="train", split_seed=1)
    assert set(other.net_ids.tolist()) != nets["train"]  # another seed, another split


def test_graphs_are_the_stored_nets_and_targets_their_metrics(zoo_root):
    zoo = load_zoo(zoo_root)
    data = ZooDataset(zoo_root, split="all", target="test_acc", checkpoints=[1, 2])
    assert len(data) == 20
    for i in range(len(data)):
        graph = data[i]
        net, epoch = int(graph.net_id), int(graph.checkpoint)
        reference = netgraph.from_module(load_model(zoo_root, net, epoch))
        assert torch.equal(graph.x, reference.x) and torch.equal(graph.edge_attr, reference.edge_attr)
        assert torch.equal(graph.edge_index, reference.edge_index) and torch.equal(graph.node_act, reference.node_act)
        assert graph.y.item() == pytest.approx(zoo.metrics["test_acc"][net, zoo.checkpoints.index(epoch)].item())
        state = netgraph.to_state_dict(graph)
        assert all(torch.equal(v, zoo.state_dict(net, epoch)[k]) for k, v in state.items())


def test_categorical_and_multiple_targets(zoo_root):
    zoo = load_zoo(zoo_root)
    data = ZooDataset(zoo_root, split="all", target="optimizer")
    assert data.classes["optimizer"] == ["sgd", "adam", "rmsprop"] and data.y.dtype == torch.long
    assert [data.classes["optimizer"][c] for c in data.y.tolist()] == [r["optimizer"] for r in zoo.rows]
    multi = ZooDataset(zoo_root, split="all", target=["learning_rate", "test_acc"])
    assert multi[3].y.shape == (1, 2)
    assert multi[3].y[0, 0].item() == pytest.approx(zoo.rows[3]["learning_rate"], rel=1e-6)
    with pytest.raises(ValueError, match="not recorded for every net"):
        ZooDataset(zoo_root, target="momentum")


def test_batches_dense_view_and_stacked_state_dicts(zoo_root):
    data = ZooDataset(zoo_root, split="train", checkpoints="all")
    batch = data.to_batch()
    reference = next(iter(DataLoader(data, batch_size=len(data))))
    assert torch.equal(batch.edge_attr, reference.edge_attr) and torch.equal(batch.y, reference.y)
    assert torch.equal(batch.edge_index, reference.edge_index) and batch.y.shape == (len(data),)
    ws = data.weight_space()  # relu and tanh nets share one dense layout
    assert len({a["kwargs"]["activation"] for a in load_zoo(zoo_root).architectures}) == 2
    assert [tuple(w.shape) for w in ws.weights] == [
        (24, 16, 1, 3, 3),
        (24, 16, 16, 3, 3),
        (24, 16, 16, 3, 3),
        (24, 10, 16, 1),
    ]  # the core keeps a unit kernel dim
    stacked = data.state_dicts()
    for i in (0, 5, 23):
        state = load_model(zoo_root, int(data.net_ids[i]), int(data.checkpoint_of[i])).state_dict()
        assert torch.equal(ws.weights[1][i], state["features.2.weight"]) and torch.equal(
            ws.biases[3][i], state["classifier.bias"]
        )
        assert all(torch.equal(stacked[k][i], v) for k, v in state.items())
    subset = data[torch.tensor([1, 4])]
    assert torch.equal(subset.to_batch().y, data.y[[1, 4]])


def test_permuted_graphs_compute_the_same_function_and_broken_ones_do_not(zoo_root):
    data = ZooDataset(zoo_root, split="all", transform=lambda g: netgraph.permute(g, netgraph.random_permutation(g)))
    plain = ZooDataset(zoo_root, split="all")
    x = torch.randn(7, 1, 8, 8)
    for i in plain.y.argsort(descending=True)[:2].tolist():  # the two best nets: outputs far from constant
        model = load_model(zoo_root, int(plain.net_ids[i]))
        permuted = netgraph.to_module(data[i], model)
        assert not torch.equal(data[i].edge_attr, plain[i].edge_attr)
        assert torch.allclose(permuted(x), model(x), atol=1e-5)
        broken = plain[i].clone()  # permute hidden channels of one conv's outputs only
        spec = plain.spec if len(plain.specs) == 1 else plain.specs[int(plain._arch[i])]
        piece = next(p for p in spec.edge_pieces if p.param == "features.0.weight")
        edge_attr = broken.edge_attr  # computed from the stored weights: edit it, then assign it back
        block = spec.edge_block(edge_attr.unsqueeze(0), piece)[0]
        spec.write_edge_block(edge_attr.unsqueeze(0), piece, block.roll(1, dims=0).unsqueeze(0))
        broken.edge_attr = edge_attr
        assert not torch.allclose(netgraph.to_module(broken, model)(x), model(x), rtol=1e-2, atol=1e-6)


def test_diverged_nets_are_left_out_unless_asked():
    weights = {"0.weight": torch.randn(3, 1, 2, 2), "0.bias": torch.zeros(3, 1, 2)}
    weights["0.weight"][1, 0, 0, 0] = float("nan")
    zoo = Zoo(
        {"name": "t", "architectures": [{"factory": "mlp", "kwargs": {"sizes": [2, 2]}}], "checkpoints": [0]},
        [{"net_id": i, "arch": 0, "lr": 0.1 * i} for i in range(3)],
        {},
        [weights],
        [torch.arange(3)],
    )
    assert ZooDataset(zoo, split="all", target="lr").net_ids.tolist() == [0, 2]
    assert ZooDataset(zoo, split="all", target="lr", include_diverged=True).net_ids.tolist() == [0, 1, 2]


def test_bad_arguments_are_explained(zoo_root):
    with pytest.raises(ValueError, match="split='dev'"):
        ZooDataset(zoo_root, split="dev")
    with pytest.raises(ValueError, match=r"checkpoint 3 not stored; this zoo has checkpoints \[0, 1, 2\]"):
        ZooDataset(zoo_root, checkpoints=[3])
    with pytest.raises(ValueError, match="summing to 1"):
        ZooDataset(zoo_root, splits=(0.5, 0.1, 0.1))
