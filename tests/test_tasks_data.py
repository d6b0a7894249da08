"""Task data: weight standardisation (exact inverse, equivariant, parameter slots only), target
scaling, zoo sources, and GraphLoader (epoch coverage, seeded orders, dense layout, rank shards)."""

import pytest
import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import mlp
from netgraph.datasets import ZooDataset
from netgraph.metanets import spec_parameter_masks
from netgraph.tasks import GraphLoader, TargetScaler, WeightStandardizer, dense_layout_spec, load_task_zoo
from netgraph.tasks import loader as loader_module

from _task_helpers import tiny_zoos  # noqa: F401  (fixture)


def bn_batch(count=5):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 1))
    states = []
    for _ in range(count):
        for p in model.parameters():
            nn.init.normal_(p, 0.3, 2.0)
        model[1].running_mean.uniform_(-1, 1)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    return netgraph.from_state_dicts(model, states, kernel_shape=(3, 3))


def test_standardizer_normalises_each_parameter_and_inverts_exactly():
    batch = bn_batch()
    standardize = WeightStandardizer.fit(netgraph.to_state_dicts(batch, stacked=True))
    out = standardize(batch)
    weights = netgraph.to_state_dicts(out, stacked=True)
    for name in ("0.weight", "0.bias", "1.weight", "3.weight"):
        assert float(weights[name].mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(weights[name].std(correction=0)) == pytest.approx(1.0, abs=1e-5)
    before = netgraph.to_state_dicts(batch, stacked=True)
    assert torch.equal(weights["1.running_mean"], before["1.running_mean"])  # buffers are not inputs to scale
    node_mask, edge_mask = spec_parameter_masks(batch.spec[0])
    edge_mask = edge_mask.repeat(batch.num_graphs, 1)
    assert torch.equal(out.edge_attr[~edge_mask], batch.edge_attr[~edge_mask])  # kernel padding untouched
    back = standardize.inverse(out)
    assert torch.allclose(back.x, batch.x, atol=1e-5) and torch.allclose(back.edge_attr, batch.edge_attr, atol=1e-5)
    again = WeightStandardizer.from_state_dict(standardize.state_dict())(batch)
    assert torch.equal(again.edge_attr, out.edge_attr) and torch.equal(again.x, out.x)


def test_standardizer_commutes_with_permutations_and_mixed_batches():
    a, b = mlp([3, 6, 2]), mlp([3, 5, 5, 2])
    batch = Batch.from_data_list([netgraph.from_module(m) for m in (a, b, a)])
    stats = {**{k: (0.1, 2.0) for k in a.state_dict()}, **{k: (-0.2, 0.5) for k in b.state_dict()}}
    standardize = WeightStandardizer(stats)
    perm = netgraph.random_permutation(batch, generator=torch.Generator().manual_seed(0))
    left, right = standardize(netgraph.permute(batch, perm)), netgraph.permute(standardize(batch), perm)
    assert torch.equal(left.x, right.x) and torch.equal(left.edge_attr, right.edge_attr)
    second = netgraph.to_state_dicts(standardize(batch))[1]
    assert torch.allclose(second["0.weight"], (b.state_dict()["0.weight"] + 0.2) / 0.5)
    with pytest.raises(ValueError, match="no statistics for parameters"):
        WeightStandardizer({"0.weight": (0.0, 1.0)})(batch)


def test_target_scaler_round_trip():
    y = torch.tensor([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    scaler = TargetScaler.fit(y)
    encoded = scaler.encode(y)
    assert torch.allclose(encoded[:, 0], torch.tensor([-1.2247, 0.0, 1.2247]), atol=1e-4)
    assert torch.allclose(scaler.decode(encoded), y)
    assert TargetScaler.from_state_dict(scaler.state_dict()).mean == scaler.mean


def test_zoo_sources(tiny_zoos, tmp_path):
    zoo = load_task_zoo(tiny_zoos["sine"])  # complete: read, not rebuilt
    assert len(zoo) == 40 and load_task_zoo(tiny_zoos["sine"]["root"]).info == zoo.info
    with pytest.raises(ValueError, match="already holds a different zoo"):
        load_task_zoo({**tiny_zoos["sine"], "num_nets": 41}, progress=False)
    with pytest.raises(ValueError, match="needs path="):
        load_task_zoo({"loader": "small_cnn_zoo"})
    with pytest.raises(ValueError, match="unknown zoo loader"):
        load_task_zoo({"loader": "nope", "path": str(tmp_path)})
    with pytest.raises(ValueError, match="names no zoo"):
        load_task_zoo({"root": str(tmp_path)})


def test_loader_covers_each_epoch_once_in_seeded_orders(tiny_zoos):
    data = ZooDataset(tiny_zoos["sine"]["root"], split="train", target="amplitude")
    loader = GraphLoader(data, batch_size=7, shuffle=True, seed=3)
    first = torch.cat([b.net_id for b in loader])
    assert sorted(first.tolist()) == sorted(data.net_ids.tolist()) and [b.num_graphs for b in loader] == [7] * 4 + [4]
    assert torch.equal(first, torch.cat([b.net_id for b in GraphLoader(data, 7, shuffle=True, seed=3)]))
    loader.set_epoch(1)
    assert not torch.equal(first, torch.cat([b.net_id for b in loader]))
    batch = next(iter(GraphLoader(data, 5)))
    assert torch.equal(batch.y, data.y[:5]) and torch.equal(batch.x, data.to_batch().x[: batch.num_nodes])
    marked = GraphLoader(data, 5, transform=lambda b: setattr(b, "mark", 1) or b)
    assert next(iter(marked)).mark == 1
    per_item = ZooDataset(
        tiny_zoos["sine"]["root"],
        split="train",
        target="amplitude",
        transform=lambda g: setattr(g, "x", g.x + 1.0) or g,
    )
    shifted = next(iter(GraphLoader(per_item, 5)))
    assert torch.equal(shifted.x, batch.x + 1.0) and torch.equal(shifted.y, batch.y)
    assert len(GraphLoader(data, 7, drop_last=True)) == 4


def test_dense_layout_serves_activation_variants_under_one_spec(tiny_zoos):
    data = ZooDataset(tiny_zoos["cnn"]["root"], split="all", checkpoints="all")
    assert len(data.specs) == 2  # ReLU and tanh
    loader = GraphLoader(data, batch_size=10, dense=True, shuffle=True)
    for batch in loader:
        assert all(spec is loader.shared_spec for spec in batch.spec)
        weights = netgraph.to_state_dicts(batch, stacked=True)
        stored = torch.stack(
            [data.zoo.state_dict(int(n), int(c))["features.0.weight"] for n, c in zip(batch.net_id, batch.checkpoint)]
        )
        assert torch.equal(weights["features.0.weight"], stored)  # the items' own weights, in batch order
        rows = {(int(n), int(c)): float(v) for n, c, v in zip(data.net_ids, data.checkpoint_of, data.y)}
        assert [rows[(int(n), int(c))] for n, c in zip(batch.net_id, batch.checkpoint)] == batch.y.tolist()
    graph_batch = next(iter(GraphLoader(data, batch_size=24)))
    assert len({id(s) for s in graph_batch.spec}) == 2  # graph models see both architectures


def test_dense_layout_augments_each_architecture_with_its_own_activations(tiny_zoos):
    # ReLU neurons may be rescaled, tanh neurons may not: under dense=True the augmentation must read
    # each item's real spec, not the one shared spec the dense metanets see (a ReLU or a tanh one).
    from netgraph.augment import ReLUScaling

    data = ZooDataset(tiny_zoos["cnn"]["root"], split="all", checkpoints="all")
    loader = GraphLoader(data, batch_size=len(data), dense=True, transform=ReLUScaling(2.0, 2.0))
    batch = next(iter(loader))
    assert all(spec is loader.shared_spec for spec in batch.spec)
    weights = netgraph.to_state_dicts(batch, stacked=True)["features.0.weight"]
    activations = [data.zoo.architectures[int(data.zoo.net_arch[int(n)])]["kwargs"]["activation"] for n in batch.net_id]
    assert {"relu", "tanh"} <= set(activations)
    for i, (n, c) in enumerate(zip(batch.net_id, batch.checkpoint)):
        stored = data.zoo.state_dict(int(n), int(c))["features.0.weight"]
        if activations[i] == "tanh":
            assert torch.equal(weights[i], stored)
        else:
            assert torch.allclose(weights[i], 2.0 * stored)


def test_dense_layout_rejects_different_weight_layouts(tmp_path):
    from netgraph.datasets import Zoo

    architectures = [{"factory": "mlp", "kwargs": {"sizes": sizes}} for sizes in ([2, 3, 1], [2, 4, 1])]
    zoo = Zoo(
        {"name": "two", "architectures": architectures, "checkpoints": [0]},
        rows=[{"net_id": 0, "arch": 0}, {"net_id": 1, "arch": 1}],
        metrics={"test_acc": torch.tensor([[0.1], [0.2]], dtype=torch.float64)},
        weights=[{k: v[None, None] for k, v in mlp(s).state_dict().items()} for s in ([2, 3, 1], [2, 4, 1])],
        members=[torch.tensor([0]), torch.tensor([1])],
    )
    with pytest.raises(ValueError, match="dense metanets read one weight layout"):
        dense_layout_spec(ZooDataset(zoo, split="all"))


def test_rank_shards_split_every_global_batch(tiny_zoos, monkeypatch):
    data = ZooDataset(tiny_zoos["sine"]["root"], split="train")  # 32 nets
    single = [b.net_id for b in GraphLoader(data, 8, shuffle=True, seed=1)]
    shards = []
    for rank in (0, 1):
        monkeypatch.setattr(loader_module, "distributed_rank", lambda rank=rank: (rank, 2))
        shards.append([b.net_id for b in GraphLoader(data, 8, shuffle=True, seed=1)])
    assert len(shards[0]) == len(shards[1]) == len(single)
    for whole, a, b in zip(single, *shards):
        assert len(a) == len(b) == 4 and torch.equal(torch.cat([a, b]), whole)
    monkeypatch.setattr(loader_module, "distributed_rank", lambda: (0, 3))
    with pytest.raises(ValueError, match="divisible by the world size 3"):
        list(GraphLoader(data, 8))
