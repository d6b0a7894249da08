"""Probe features: the recorded activations are the networks' real ones, placed on the right nodes."""

import pytest
import torch
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet, mlp
from netgraph.metanets import ProbeFeatures, create_metanet, probe_features
from _models import randomize_norm_stats

ATOL = 1e-5


def hooked_outputs(module, probes):
    """Output of every Linear / Conv of ``module`` on ``probes``, spatial positions averaged: {path: [P, C]}."""
    outputs = {}
    hooks = [
        m.register_forward_hook(lambda _m, _i, y, name=name: outputs.__setitem__(name, y))
        for name, m in module.named_modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
    ]
    with torch.no_grad():
        module.eval()(probes)
    for hook in hooks:
        hook.remove()
    return {k: (v if v.dim() == 2 else v.flatten(2).mean(2)) for k, v in outputs.items()}


@pytest.mark.parametrize(
    "factory, shape",
    [
        (lambda: mlp([4, 8, 8, 3]), (4,)),
        (lambda: SmallCNN(1, channels=4), (1, 8, 8)),
        (lambda: cifar_resnet(8, 4, in_channels=1), (1, 8, 8)),
    ],
)
def test_probe_features_are_each_networks_layer_outputs(factory, shape):
    nets = [factory() for _ in range(3)]
    for i, net in enumerate(nets):
        randomize_norm_stats(net, seed=i)
    batch = netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])
    probes = torch.randn(5, *shape)
    features = probe_features(batch, nets[0], probes)
    spec = batch.spec[0]
    for i, net in enumerate(nets):
        outputs = hooked_outputs(net, probes)
        for piece in spec.edge_pieces:
            path = piece.param.rpartition(".")[0]
            if path in outputs:
                nodes = piece.out_nodes + i * spec.num_nodes
                assert torch.allclose(features[nodes].T, outputs[path], atol=ATOL), piece.param
    covered = torch.zeros(spec.num_nodes, dtype=torch.bool)
    for piece in spec.edge_pieces:
        covered[piece.out_nodes] = True
    assert (features[: spec.num_nodes][~covered] == 0).all()


def mixed():
    nets = [mlp([4, 8, 3]), SmallCNN(1, channels=4), mlp([4, 8, 3]), SmallCNN(1, channels=4)]
    batch = Batch.from_data_list([netgraph.from_module(n, kernel_shape=(3, 3)) for n in nets])
    return nets, batch


def test_graph_metanet_with_probes_is_invariant_and_sees_broken_couplings():
    net = SmallCNN(1, channels=4)
    nets = [SmallCNN(1, channels=4) for _ in range(3)]
    batch = netgraph.from_state_dicts(net, [n.state_dict() for n in nets])
    transform = ProbeFeatures(net, torch.randn(6, 1, 8, 8))
    model = create_metanet("gmn", dim=16, depth=2, head_hidden=16, probe_features=6).eval()
    y = model(transform(batch))
    for seed in range(2):
        permuted = netgraph.permute(batch, netgraph.random_permutation(batch, torch.Generator().manual_seed(seed)))
        assert (model(transform(permuted)) - y).abs().max() < ATOL
    stale = transform(batch)  # the permuted weights with the unpermuted networks' probe features
    stale.x, stale.edge_attr = permuted.x, permuted.edge_attr
    assert (model(stale) - y).abs().max() > 1e-3


def test_mixed_architectures_need_one_template_each():
    nets, batch = mixed()
    probes = {"mlp": torch.randn(3, 4), "cnn": torch.randn(3, 1, 8, 8)}
    with pytest.raises(ValueError, match="no template module matches"):
        probe_features(batch, nets[0], probes["mlp"])
    mlps = Batch.from_data_list([batch[0], batch[2]])
    assert probe_features(mlps, [nets[1], nets[0]], probes["mlp"]).abs().sum() > 0


def test_model_built_for_probes_refuses_graphs_without_them():
    net = mlp([4, 8, 3])
    model = create_metanet("ngt", dim=16, depth=1, heads=2, head_hidden=16, edge_features=1, probe_features=4)
    with pytest.raises(ValueError, match="ProbeFeatures"):
        model(netgraph.from_module(net))
    assert model(ProbeFeatures(net, torch.randn(4, 4))(netgraph.from_module(net))).shape == (1, 1)
