"""Structure the graph must record exactly: constant edge signs, spec cache invalidation, wiring checks."""

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.architectures import mlp
from netgraph.metanets.target_architecture import ArchitectureMismatchError, TargetArchitecture


class _Difference(nn.Module):
    """``out(relu(a(x) - b(x)))``: the subtraction is a constant edge of value -1 from b's neurons."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.out(torch.relu(self.a(x) - self.b(x)))


class _Skip(nn.Module):
    """Two hidden layers; ``residual`` adds the first one's output to the second's."""

    def __init__(self, residual: bool):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.residual = residual

    def forward(self, x):
        h = torch.relu(self.a(x))
        g = torch.relu(self.b(h))
        return self.c(g + h if self.residual else g + g)


def _const_values(graph, spec):
    centre = tuple(k // 2 for k in spec.kernel_shape)
    edges = graph.edge_attr.reshape(spec.num_edges, *spec.kernel_shape)
    return {(c.offset, c.count): edges[(slice(c.offset, c.offset + c.count),) + centre] for c in spec.const_edges}


def test_subtraction_is_a_minus_one_edge_and_addition_a_plus_one_edge():
    model = _Difference()
    spec = netgraph.spec_of(model)
    graph = netgraph.from_module(model)
    written = _const_values(graph, spec)
    assert sorted(c.value for c in spec.const_edges) == [-1.0, 1.0]
    for const in spec.const_edges:  # the graph carries each constant with its sign
        assert torch.equal(written[(const.offset, const.count)], torch.full((const.count,), const.value))
    assert torch.equal(netgraph.to_state_dict(graph)["b.weight"], model.b.weight.detach())
    permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
    x = torch.randn(5, 3)
    assert torch.allclose(permuted(x), model(x), atol=1e-6)


def test_spec_cache_sees_a_swapped_module_type():
    model = mlp([3, 4, 2])
    before = netgraph.spec_of(model)
    model[1] = nn.Tanh()  # same parameters, another activation
    after = netgraph.spec_of(model)
    assert after is not before
    assert not torch.equal(after.node_act, before.node_act)
    assert torch.equal(after.node_act, netgraph.trace(model).node_act)


def test_same_parameters_wired_differently_is_a_mismatch():
    record = TargetArchitecture.of(_Skip(residual=True))
    assert record.differences(_Skip(residual=True)) == []
    differences = record.differences(_Skip(residual=False))
    assert len(differences) == 1 and "wired differently" in differences[0]
    with pytest.raises(ArchitectureMismatchError, match="wired differently"):
        record.check(_Skip(residual=False))
