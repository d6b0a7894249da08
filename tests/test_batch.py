"""Many networks of one architecture as one PyG batch; mixed architectures through plain PyG."""

import time

import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

import netgraph
from netgraph.architectures import SmallCNN, mlp


def _zoo(n):
    nets = []
    for seed in range(n):
        torch.manual_seed(seed)
        nets.append(SmallCNN(1).state_dict())
    return nets


def test_from_state_dicts_equals_graph_by_graph():
    nets = _zoo(5)
    batch = netgraph.from_state_dicts(SmallCNN(1), nets)
    assert batch.num_graphs == 5
    for i, state in enumerate(nets):
        one = netgraph.from_state_dict(batch.spec[0], state)
        graph = batch[i]
        assert torch.equal(graph.x, one.x) and torch.equal(graph.edge_attr, one.edge_attr)
        assert torch.equal(graph.edge_index, one.edge_index)
    reference = Batch.from_data_list([netgraph.from_state_dict(batch.spec[0], s) for s in nets])
    assert torch.equal(reference.edge_index, batch.edge_index) and torch.equal(reference.batch, batch.batch)


def test_to_state_dicts_inverts_from_state_dicts_also_stacked():
    nets = _zoo(4)
    batch = netgraph.from_state_dicts(SmallCNN(1), nets)
    for state, back in zip(nets, netgraph.to_state_dicts(batch)):
        assert all(torch.equal(state[k], back[k]) for k in state)
    stacked = netgraph.to_state_dicts(batch, stacked=True)
    assert stacked["classifier.weight"].shape == (4, 10, 16)
    assert torch.equal(stacked["features.0.weight"][2], nets[2]["features.0.weight"])


def test_stacked_state_dict_input():
    nets = _zoo(3)
    stacked = {k: torch.stack([n[k] for n in nets]) for k in nets[0]}
    a = netgraph.from_state_dicts(SmallCNN(1), stacked)
    b = netgraph.from_state_dicts(SmallCNN(1), nets)
    assert torch.equal(a.edge_attr, b.edge_attr)


def test_mixed_architectures_batch_with_a_pyg_loader():
    graphs = [netgraph.from_module(m, kernel_shape=(3, 3)) for m in (mlp([3, 8, 2]), SmallCNN(1), mlp([3, 4, 4, 2]))]
    assert {g.edge_attr.shape[1] for g in graphs} == {9}
    loader = DataLoader(graphs, batch_size=3)
    batch = next(iter(loader))
    assert batch.num_graphs == 3 and len(batch.spec) == 3
    for graph, state in zip(graphs, netgraph.to_state_dicts(batch)):
        assert all(torch.equal(v, netgraph.to_state_dict(graph)[k]) for k, v in state.items())
    perm = netgraph.random_permutation(batch)
    permuted = netgraph.permute(batch, perm)
    assert permuted.edge_attr.shape == batch.edge_attr.shape


def test_thousand_small_cnns_convert_quickly():
    """Sanity bound only (the measured figure is in BENCHMARKS.md): well under a second."""
    nets = _zoo(1000)
    spec = netgraph.trace(SmallCNN(1))
    start = time.perf_counter()
    batch = netgraph.from_state_dicts(spec, nets)
    assert time.perf_counter() - start < 2.0
    assert batch.num_graphs == 1000
