"""Metanets learn end to end: each model fits a property of networks that depends on their weights
(the mean output of a tiny MLP on fixed probe inputs, invariant to neuron permutations), and the
edit head learns to move a network's function, run through ``netgraph.Population``."""

import pytest
import torch

import netgraph
from netgraph.architectures import mlp
from netgraph.metanets import create_metanet, layer_shapes_of

ARCH = [2, 8, 8, 1]


def mean_outputs(batch, template, probes):
    """``[B]``: mean output of every network of ``batch`` on ``probes`` (all networks run at once)."""
    outputs = netgraph.Population.from_graphs(batch, template)(probes)
    return outputs.mean(dim=(1, 2))


def zoo(count, seed):
    torch.manual_seed(seed)
    nets = [mlp(ARCH, "tanh") for _ in range(count)]
    with torch.no_grad():
        for net in nets:  # spread the mean outputs: scale every net's weights differently
            for p in net.parameters():
                p.mul_(torch.empty(()).uniform_(0.5, 2.5))
    return netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])


CONFIGS = {
    "gmn": dict(dim=32, depth=2, edge_features=1),
    "ngt": dict(dim=32, depth=2, heads=4, edge_features=1),
    "nfn_hnp": dict(hidden=16, depth=2),
    "dwsnet": dict(hidden=16, depth=2, reduction="mean"),
    "statnn": dict(hidden=64),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_models_fit_an_invariant_target(name):
    template = mlp(ARCH, "tanh")
    probes = torch.rand(64, 2) * 2 - 1
    train = zoo(64, seed=0)
    target = mean_outputs(train, template, probes)
    target = (target - target.mean()) / target.std()
    config = dict(CONFIGS[name])
    if name not in ("gmn", "ngt"):
        config["layer_shapes"] = layer_shapes_of(train)
    torch.manual_seed(0)
    model = create_metanet(name, **config)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        optimiser.zero_grad()
        loss = (model(train).squeeze(1) - target).pow(2).mean()  # 1 - R^2 on the training networks
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1, f"{name}: training 1 - R^2 = {loss.item():.3f}"


@pytest.mark.parametrize("name", [pytest.param("gmn", marks=pytest.mark.slow), "nfn_hnp"])
def test_edit_head_learns_to_shift_the_function(name):
    """Train edits so that every network's mean output rises by 1: the edited networks (through
    ``netgraph.Population``) get there, the unedited ones do not move."""
    template = mlp(ARCH, "tanh")
    probes = torch.rand(32, 2) * 2 - 1
    batch = zoo(32, seed=0)
    before = mean_outputs(batch, template, probes)
    config = dict(CONFIGS[name], out_features=0, edit=True, edit_scale=0.1)
    if name != "gmn":
        config["layer_shapes"] = layer_shapes_of(batch)
    torch.manual_seed(0)
    model = create_metanet(name, **config)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        loss = (mean_outputs(model.edit(batch), template, probes) - (before + 1)).pow(2).mean()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.05, loss.item()
    assert torch.equal(mean_outputs(batch, template, probes), before)
