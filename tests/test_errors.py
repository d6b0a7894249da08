"""Bad input gets a clear error naming the module and what to do, never a silently wrong graph."""

import pytest
import torch
import torch.nn as nn

import netgraph


class _BilinearHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Linear(4, 8), nn.Bilinear(8, 8, 3)

    def forward(self, x):
        h = self.body(x)
        return self.head(h, h)


@pytest.mark.parametrize("export", [False, True])
def test_unsupported_module_names_path_type_and_remedy(export):
    with pytest.raises(netgraph.UnsupportedModuleError) as err:
        netgraph.from_module(_BilinearHead(), example_inputs=(torch.randn(2, 4),) if export else None)
    message = str(err.value)
    assert "'head'" in message and "Bilinear" in message and "register" in message


def test_untraceable_forward_suggests_example_inputs():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else x

    with pytest.raises(netgraph.UnsupportedModuleError, match="example_inputs"):
        netgraph.from_module(DataDependent())


def test_layer_norm_over_several_dims_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 6, 6]))
    with pytest.raises(netgraph.UnsupportedModuleError, match="LayerNorm over 3 dims"):
        netgraph.from_module(model, example_inputs=(torch.randn(1, 3, 8, 8),))


class _Select(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 8), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x)[..., :4])


def test_selecting_neurons_is_refused_under_fx():
    with pytest.raises(netgraph.UnsupportedModuleError, match="neuron dim"):
        netgraph.trace(_Select())


def test_selected_neurons_are_pinned_under_export():
    """A slice of the neuron dim (aten.slice) selects neurons by position: their layer converts but is not
    permuted."""
    model = _Select()
    graph = netgraph.from_module(model, (torch.randn(2, 3),), verify=True)
    fc1 = [s for s in graph.spec.spaces if "fc1" in s.name][0]
    assert (graph.spec.sym_group[fc1.start : fc1.start + fc1.size] == -1).all()


def test_parametrised_weights_are_refused():
    model = nn.utils.parametrizations.weight_norm(nn.Linear(3, 4))
    with pytest.raises(netgraph.UnsupportedModuleError):
        netgraph.from_module(nn.Sequential(model, nn.ReLU(), nn.Linear(4, 1)))


def test_state_dict_of_another_architecture_is_refused():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    spec = netgraph.trace(model)
    other = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1)).state_dict()
    with pytest.raises(ValueError, match="'0.weight' has shape"):
        netgraph.from_state_dict(spec, other)
    with pytest.raises(KeyError):
        netgraph.from_state_dict(spec, {})


class _InPlaceScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h.mul_(self.scale)  # in place: torch.fx shows `self.b` reading h before the update
        return self.b(h)


def test_in_place_update_read_later_is_refused_under_fx_and_wired_right_under_export():
    model = _InPlaceScale().eval()
    with pytest.raises(netgraph.UnsupportedModuleError, match="in-place `Tensor.mul_`"):
        netgraph.from_module(model)
    spec = netgraph.from_module(model, example_inputs=(torch.randn(2, 3),), verify=True).spec
    pieces = {p.param: p for p in spec.edge_pieces}
    assert torch.equal(pieces["b.weight"].in_nodes, pieces["scale"].out_nodes)  # b reads the scaled neurons
