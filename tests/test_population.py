"""Population: B networks of one architecture run in one vmap equal a Python loop over their modules."""

import copy

import pytest
import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, mlp
from netgraph.population import Population


def _modules(make, n, seed=0):
    torch.manual_seed(seed)
    return [make() for _ in range(n)]


def test_outputs_equal_a_loop_over_the_modules():
    nets = _modules(lambda: SmallCNN(1, channels=4), 4)
    population = Population.from_modules(nets)
    x = torch.randn(3, 1, 8, 8)
    together = population(x)
    assert together.shape == (4, 3, 10)
    for i, net in enumerate(nets):
        assert torch.allclose(together[i], net(x), atol=1e-6)
    assert not torch.allclose(together[0], together[1])


def test_per_network_inputs_keyword_inputs_and_capture():
    nets = _modules(lambda: mlp([3, 5, 2]), 3)
    population = Population.from_modules(nets)
    xs = torch.randn(3, 4, 3)  # one batch per network
    out = population.run(xs, per_network=True)
    for i, net in enumerate(nets):
        assert torch.allclose(out[i], net(xs[i]), atol=1e-6)
    assert torch.allclose(population(input=xs[0]), population(xs[0]))  # keyword inputs
    out, captured = population.run(xs[0], capture=["0"])
    for i, net in enumerate(nets):
        assert torch.allclose(captured["0"][i], net[0](xs[0]), atol=1e-6)
    with pytest.raises(KeyError, match="no submodule"):
        population.run(xs[0], capture=["nope"])


def test_partial_weights_use_the_template_for_the_rest_and_modules_round_trip():
    nets = _modules(lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)), 3)
    for net in nets:
        net[1].running_mean.normal_()
        net.eval()
    template = nets[0]
    params = {k: torch.stack([dict(n.named_parameters())[k] for n in nets]) for k, _ in template.named_parameters()}
    population = Population(params, template)  # buffers: the template's own, shared
    x = torch.randn(5, 3)
    shared_stats = [copy.deepcopy(n) for n in nets]
    for n in shared_stats:
        n[1].load_state_dict(template[1].state_dict())
    out = population(x)
    for i, net in enumerate(shared_stats):
        assert torch.allclose(out[i], net(x), atol=1e-6)
        assert torch.allclose(population[i](x), net(x), atol=1e-6)
    full = Population.from_modules(nets)
    assert [type(m) for m in full.modules()] == [nn.Sequential] * 3
    for key, value in full.state_dict(1).items():
        assert torch.equal(full[1].state_dict()[key], value)


def test_graphs_round_trip_and_batchnorm_updates_the_stored_statistics():
    nets = _modules(lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=1.0)), 2)
    batch = netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])
    population = Population.from_graphs(batch, copy.deepcopy(nets[0]).train())
    assert population.to_batch() is batch and len(population) == 2
    rebuilt = Population.from_modules(nets).to_batch()
    assert torch.equal(rebuilt.x, batch.x) and torch.equal(rebuilt.edge_attr, batch.edge_attr)
    x = torch.randn(8, 3)
    population(x)
    for i, net in enumerate(nets):
        net.train()(x)
        assert torch.allclose(population.state_dicts()["1.running_mean"][i], net[1].running_mean, atol=1e-6)


def test_device_and_bad_input():
    population = Population.from_modules(_modules(lambda: mlp([2, 3, 1]), 2))
    moved = population.to("cpu")
    assert moved.device == torch.device("cpu") and moved.template is not population.template
    with pytest.raises(ValueError, match="leading sizes"):
        Population({"0.weight": torch.zeros(2, 3, 2), "0.bias": torch.zeros(3, 3)}, mlp([2, 3, 1]))
    with pytest.raises(TypeError, match="needs the architecture"):
        Population({"0.weight": torch.zeros(2, 3, 2)})
    with pytest.raises(ValueError, match="other state-dict keys"):
        Population.from_modules([mlp([2, 3, 1]), mlp([2, 3, 3, 1])])
    mixed = Batch.from_data_list([netgraph.from_module(mlp([2, 3, 1])), netgraph.from_module(mlp([2, 4, 1]))])
    with pytest.raises(ValueError, match="one architecture"):
        Population.from_graphs(mixed)
    with pytest.raises(IndexError, match="out of range"):
        population[2]
    with pytest.raises(TypeError, match="needs the target nn.Module"):
        Population(graphs=netgraph.from_module(mlp([2, 3, 1])))(torch.zeros(1, 2))
