"""Parameter slots (netgraph.masks): exactly the learnable values, never constant edges, padding or buffers."""

import pytest
import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet, mlp
from netgraph.masks import (
    buffer_keys,
    fill_parameter_slots,
    num_parameter_slots,
    parameter_masks,
    read_parameter_slots,
    spec_parameter_masks,
)


def _learnable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "make",
    [
        lambda: mlp([3, 5, 2]),
        lambda: SmallCNN(1, channels=4),
        lambda: cifar_resnet(8),
        lambda: nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1)),
    ],
)
def test_slots_are_exactly_the_learnable_values(make):
    model = make()
    spec = netgraph.spec_of(model)
    node_mask, edge_mask = spec_parameter_masks(spec)
    assert int(node_mask.sum() + edge_mask.sum()) == _learnable(model) == num_parameter_slots(spec)
    for const in spec.const_edges:  # residual identities are no slots
        assert not edge_mask[const.offset : const.offset + const.count].any()


def test_residual_network_has_constant_edges_outside_the_mask():
    spec = netgraph.spec_of(cifar_resnet(8))
    assert sum(c.count for c in spec.const_edges) > 0  # the case the previous test guards


def test_batch_masks_follow_each_architecture():
    graphs = [netgraph.from_module(m, kernel_shape=(3, 3)) for m in (SmallCNN(1, channels=4), mlp([3, 4, 2]))]
    batch = Batch.from_data_list([graphs[0], graphs[1], graphs[0]])
    node_mask, edge_mask = parameter_masks(batch)
    offset_n = offset_e = 0
    for g in (graphs[0], graphs[1], graphs[0]):
        n, e = spec_parameter_masks(g.spec)
        assert torch.equal(node_mask[offset_n : offset_n + g.num_nodes], n)
        assert torch.equal(edge_mask[offset_e : offset_e + g.edge_attr.shape[0]], e)
        offset_n, offset_e = offset_n + g.num_nodes, offset_e + g.edge_attr.shape[0]


def test_slot_vectors_round_trip_and_buffers_are_not_slots():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    spec = netgraph.spec_of(model)
    values = torch.randn(2, num_parameter_slots(spec))
    batch = fill_parameter_slots(spec, values)
    assert torch.equal(read_parameter_slots(batch), values)
    state = netgraph.to_state_dicts(batch, stacked=True)
    assert torch.equal(state["1.running_var"], torch.ones(2, 3)) and not state["1.running_mean"].any()
    assert buffer_keys(spec) >= {"1.running_mean", "1.running_var"}
