"""Ops classified by what they do to neuron dims (issue 25 item 1): in-place ops as their out-of-place
twins, elementwise functions of one neuron (soft-capping ``c * tanh(x / c)``), eval-mode identities
(dropout). Each converts, round-trips exactly, and a random permutation of every symmetry group keeps
the function."""

import pytest
import torch
import torch.nn as nn

import netgraph


class Hidden(nn.Module):
    """``Linear -> f -> Linear`` with ``f`` one elementwise construct on the hidden neurons."""

    def __init__(self, construct: str):
        super().__init__()
        self.construct = construct
        self.inp, self.out, self.drop = nn.Linear(3, 5), nn.Linear(5, 2), nn.Dropout(0.3)

    def forward(self, x):
        h = self.inp(x)
        if self.construct == "in-place relu":
            h = torch.relu_(h)
        elif self.construct == "soft-capping":
            h = 2.0 * torch.tanh(h / 2.0)
        elif self.construct == "dropout":
            h = self.drop(h)
        return self.out(h)


@pytest.mark.parametrize("tracer", ["fx", "export"])
@pytest.mark.parametrize("construct", ["in-place relu", "soft-capping", "dropout"])
def test_an_elementwise_construct_keeps_the_hidden_neurons(construct, tracer):
    torch.manual_seed(0)
    model, x = Hidden(construct).eval(), torch.randn(4, 3)
    graph = netgraph.from_module(model, None if tracer == "fx" else x)
    assert [(g.level, g.units) for g in graph.spec.groups] == [(0, 5)]
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    torch.testing.assert_close(netgraph.to_module(graph, model)(x), model(x))
    permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
    assert not torch.equal(permuted.inp.weight, model.inp.weight)
    torch.testing.assert_close(permuted(x), model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("construct", ["pow", "clamp", "erf"])
def test_an_unclassified_elementwise_op_is_refused_by_name(construct):
    """Not yet classified (no node-function kind for them): refused with the op's name, never a wrong graph."""

    class Unclassified(Hidden):
        def forward(self, x):
            h = self.inp(x)
            h = {"pow": lambda t: t.pow(2), "clamp": lambda t: t.clamp(-0.5, 0.5), "erf": torch.erf}[construct](h)
            return self.out(h)

    with pytest.raises(netgraph.errors.UnsupportedModuleError, match=construct):
        netgraph.from_module(Unclassified("none").eval(), torch.randn(4, 3))


@pytest.mark.filterwarnings("ignore:.*weight_norm:FutureWarning", "ignore:The tensor attribute:UserWarning")
def test_legacy_weight_norm_without_inputs_is_traced_through_its_hook():
    """The legacy hook version computes ``weight`` outside the state dict (once a bare ``KeyError: '0.weight'``):
    the graph stores the original ``weight_g`` / ``weight_v`` and the rebuilt module recomputes ``weight``."""
    torch.manual_seed(0)
    model = nn.Sequential(torch.nn.utils.weight_norm(nn.Linear(3, 5)), nn.ReLU(), nn.Linear(5, 2)).eval()
    x = torch.randn(4, 3)
    graph = netgraph.from_module(model)
    assert "0.weight_v" in {p.param for p in graph.spec.edge_pieces}
    state = netgraph.to_state_dict(graph)
    assert sorted(state) == sorted(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.equal(netgraph.to_module(graph, model)(x), model(x))


@pytest.mark.parametrize("construct", ["in-place relu", "soft-capping"])
def test_must_fail_twin_moving_the_hidden_neurons_on_one_side_only_changes_the_output(construct):
    """The permutation check above can fail: the hidden rows moved without the next layer's columns differ."""
    torch.manual_seed(0)
    model, x = Hidden(construct).eval(), torch.randn(4, 3)
    graph = netgraph.from_module(model, x)
    permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
    permuted.out.load_state_dict(model.out.state_dict())
    assert not torch.allclose(permuted(x), model(x), atol=1e-5)
