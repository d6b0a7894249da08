"""Dense weight-space view (DWSNet / NFN layout) and its inverse."""

import torch

import netgraph
from netgraph.architectures import SmallCNN, mlp


def test_mlp_weight_space_layout():
    model = mlp([2, 32, 32, 1])
    ws = netgraph.weight_space(model)
    assert [tuple(w.shape) for w in ws.weights] == [(1, 32, 2), (1, 32, 32), (1, 1, 32)]
    assert torch.equal(ws.weights[1][0], model[2].weight.detach())
    assert torch.equal(ws.biases[2][0], model[4].bias.detach())


def test_cnn_weight_space_keeps_kernels():
    model = SmallCNN(1)
    ws = netgraph.weight_space(model)
    assert tuple(ws.weights[0].shape) == (1, 16, 1, 3, 3)
    assert torch.equal(ws.weights[1][0], model.features[2].weight.detach())


def test_weight_space_round_trip_on_a_batch():
    nets = [mlp([3, 5, 2]).state_dict() for _ in range(4)]
    batch = netgraph.from_state_dicts(mlp([3, 5, 2]), nets)
    ws = netgraph.weight_space(batch)
    assert ws.weights[0].shape == (4, 5, 3)
    ws.weights[0] = ws.weights[0] * 2
    edited = netgraph.to_state_dicts(ws.to_graph())
    for before, after in zip(nets, edited):
        assert torch.equal(after["0.weight"], before["0.weight"] * 2)
        assert torch.equal(after["2.weight"], before["2.weight"])
