"""A parameter read through a slice (a position table cut to the sequence length, ``self.pos[:, :T]``) is
used by the forward pass: it becomes edges like the whole table, and the neurons it is added to keep their
symmetry group."""

import warnings

import pytest
import torch
import torch.nn as nn

import netgraph


class PositionTable(nn.Module):
    """Token features plus a learned position table longer than the sequence, cut to it."""

    def __init__(self, width: int = 4, max_len: int = 8, cut_neurons: bool = False):
        super().__init__()
        self.inp = nn.Linear(3, width)
        self.pos = nn.Parameter(torch.randn(1, max_len, width + 2 if cut_neurons else width))
        self.out = nn.Linear(width, 2)
        self.cut_neurons = cut_neurons

    def forward(self, x):
        length, width = x.shape[1], self.inp.out_features
        pos = self.pos[:, :length, :width] if self.cut_neurons else self.pos[:, :length]
        return self.out(self.inp(x) + pos)


def convert(model, example_inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "'pos' is not used by the traced forward pass" would fail here
        return netgraph.from_module(model, example_inputs)


@pytest.mark.parametrize("tracer", ["fx", "export"])
def test_a_sliced_position_table_is_used_and_keeps_the_hidden_group(tracer):
    torch.manual_seed(0)
    model, x = PositionTable().eval(), torch.randn(2, 5, 3)
    graph = convert(model, None if tracer == "fx" else x)
    assert [(g.level, g.units) for g in graph.spec.groups] == [(0, 4)]
    assert "pos" in {p.param for p in graph.spec.edge_pieces}
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
    assert not torch.equal(permuted.pos, model.pos)  # the table moved with the hidden units
    torch.testing.assert_close(permuted(x), model(x), atol=1e-5, rtol=1e-5)


def test_a_slice_that_cuts_the_neurons_pins_them():
    model, x = PositionTable(cut_neurons=True).eval(), torch.randn(2, 5, 3)
    graph = convert(model, x)
    assert graph.spec.groups == []
    assert "pos" in {p.param for p in graph.spec.aux_pieces}
