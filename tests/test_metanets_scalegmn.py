"""ScaleGMN / ScaleGMN-B: invariant to neuron permutations *and* to the activations' rescalings (sign
flips for tanh / sine, positive scales for ReLU), each check paired with one that must fail: a
rescaling that is not a symmetry, the canonicalisation or the scale-equivariant encoders removed,
and a plain GMN, which is not invariant to sign flips."""

import pytest
import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, Siren, cifar_resnet, mlp
from netgraph.augment import RandomPermutation, ReLUScaling, SignFlip
from netgraph.augment.neurons import ODD, POSITIVE_HOMOGENEOUS, batch_rescalable, rescale_neurons
from netgraph.metanets import create_metanet, scalegmn
from netgraph.metanets.testing import break_coupling
from _models import randomize_norm_stats

NAMES = ["scalegmn", "scalegmn_b"]
EXACT, CHANGED = 1e-9, 1e-7  # float64: symmetries hold to ~1e-11 (rescaling by up to 25x), changes are >1e-7

ARCHS = {  # (factory, kernel_shape, the augmentation whose rescalings are symmetries of the nets)
    "siren": (lambda: Siren(hidden=8), (), SignFlip),
    "tanh_mlp": (lambda: mlp([3, 8, 8, 2], "tanh"), (), SignFlip),
    "relu_mlp": (lambda: mlp([3, 8, 8, 2]), (), ReLUScaling),
    "relu_cnn": (lambda: SmallCNN(1, channels=4), (3, 3), ReLUScaling),
}


def zoo(arch, n=3):
    factory, kernel, _ = ARCHS[arch]
    torch.manual_seed(sorted(ARCHS).index(arch))  # fixed nets: the margins below are checked
    nets = [factory() for _ in range(n)]
    batch = netgraph.from_state_dicts(nets[0], [m.state_dict() for m in nets], kernel_shape=kernel)
    batch.x, batch.edge_attr = (
        4 * batch.x.double(),
        4 * batch.edge_attr.double(),
    )  # about the scale of standardised weights
    return batch


def build(name, batch, **extra):
    torch.manual_seed(0)
    config = dict(dim=8, depth=2, head_hidden=16, edge_features=batch.edge_attr.shape[1], **extra)
    return create_metanet(name, **config).double().eval()


def diff(a, b):
    return (a - b).abs().max().item()


def augmentation(kind, seed):
    gen = torch.Generator().manual_seed(seed)
    return SignFlip(generator=gen) if kind is SignFlip else ReLUScaling(0.2, 5.0, generator=gen)


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("name", NAMES)
def test_invariant_to_permutations_and_rescalings(name, arch):
    batch = zoo(arch)
    model = build(name, batch)
    y = model(batch)
    kind = ARCHS[arch][2]
    for seed in range(2):
        permuted = RandomPermutation(generator=torch.Generator().manual_seed(seed))(batch)
        assert diff(permuted.edge_attr, batch.edge_attr) > 1e-3
        rescaled = augmentation(kind, seed)(batch)
        assert diff(rescaled.edge_attr, batch.edge_attr) > 1e-3  # the augmentation did change the weights
        both = augmentation(kind, seed + 7)(permuted)
        for changed in (permuted, rescaled, both):
            assert diff(model(changed), y) < EXACT


@pytest.mark.parametrize("name", NAMES)
def test_invariant_on_mixed_architectures_with_norms_and_residuals(name):
    torch.manual_seed(0)
    nets = [SmallCNN(1, channels=4), mlp([3, 8, 8, 2], "tanh"), cifar_resnet(8, 4)] * 2
    for i, net in enumerate(nets):
        randomize_norm_stats(net, seed=i)
    batch = Batch.from_data_list([netgraph.from_module(net, kernel_shape=(3, 3)) for net in nets])
    batch.x, batch.edge_attr = batch.x.double(), batch.edge_attr.double()
    model = build(name, batch)
    y = model(batch)
    assert y.shape == (6, 1)
    gen = torch.Generator().manual_seed(0)
    changed = SignFlip(generator=gen)(ReLUScaling(0.2, 5.0, generator=gen)(RandomPermutation(generator=gen)(batch)))
    assert diff(changed.edge_attr, batch.edge_attr) > 1e-3
    assert diff(model(changed), y) < EXACT


@pytest.mark.parametrize("name", NAMES)
def test_sees_rescalings_that_are_not_symmetries_and_broken_couplings(name):
    """Sign flips of ReLU neurons, or positive scales of tanh neurons, change the function: the model sees them."""
    relu, tanh = zoo("relu_mlp"), zoo("tanh_mlp")
    for batch, group, wrong_factor in ((relu, POSITIVE_HOMOGENEOUS, -1.0), (tanh, ODD, 3.0)):
        model = build(name, batch)
        factor = torch.where(batch_rescalable(batch, group), wrong_factor, 1.0).double()
        x, edge_attr = rescale_neurons(batch, factor)
        wrongly = batch.clone()
        wrongly.x, wrongly.edge_attr = x, edge_attr
        assert diff(model(wrongly), model(batch)) > CHANGED
        assert (model(break_coupling(batch, layer=1)) - model(batch)).abs().amax(1).min().item() > CHANGED


@pytest.mark.parametrize("name", NAMES)
def test_edits_rescale_with_the_weights(name):
    batch = zoo("tanh_mlp")
    model = build(name, batch, edit=True)
    node_out, edge_out = model.parameter_outputs(batch)
    flip = torch.where(batch_rescalable(batch, ODD), -1.0, 1.0).double()
    flip[torch.arange(len(flip)) % 2 == 0] = 1.0  # flip about half of the neurons
    flipped = batch.clone()
    flipped.x, flipped.edge_attr = rescale_neurons(batch, flip)
    node_new, edge_new = model.parameter_outputs(flipped)
    src, dst = batch.edge_index
    assert diff(node_new, node_out * flip.unsqueeze(1)) < EXACT
    assert diff(edge_new, edge_out * (flip[dst] / flip[src]).unsqueeze(1)) < EXACT
    assert diff(edge_new, edge_out) > CHANGED


def test_removing_the_canonicalisation_breaks_invariance(monkeypatch):
    for arch in ("tanh_mlp", "relu_mlp"):
        batch = zoo(arch)
        model = build("scalegmn_b", batch)
        rescaled = augmentation(ARCHS[arch][2], 0)(batch)
        assert diff(model(rescaled), model(batch)) < EXACT
        with monkeypatch.context() as patch:
            patch.setattr(scalegmn, "canonical", lambda x, positive: x)  # no normalisation ...
            patch.setattr(torch, "where", _no_flip(torch.where))  # ... and no symmetrisation
            assert diff(model(rescaled), model(batch)) > CHANGED


def _no_flip(where):
    """``torch.where`` that ignores the sign-flip branch of ScaleInvariant (returns ``c`` for ``-c``)."""

    def patched(cond, a=None, b=None):
        if a is None:
            return where(cond)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, -b):
            return b
        return where(cond, a, b)

    return patched


def test_removing_the_scale_equivariant_encoders_breaks_invariance():
    """A bias in the value encoders (``Gamma x + beta``) is no longer scale-equivariant."""
    batch = zoo("tanh_mlp")
    model = build("scalegmn", batch)
    flipped = augmentation(SignFlip, 0)(batch)
    assert diff(model(flipped), model(batch)) < EXACT
    with torch.no_grad():
        model.node_values = nn.Linear(model.node_values.in_features, model.node_values.out_features).double()
    assert diff(model(flipped), model(batch)) > CHANGED


def test_plain_gmn_is_not_invariant_to_sign_flips():
    batch = zoo("siren")
    gmn = create_metanet("gmn", dim=8, depth=2, head_hidden=16, edge_features=1).double().eval()
    flipped = augmentation(SignFlip, 0)(batch)
    assert diff(gmn(RandomPermutation(generator=torch.Generator().manual_seed(0))(batch)), gmn(batch)) < EXACT
    assert diff(gmn(flipped), gmn(batch)) > CHANGED


def test_probe_features_rescale_with_their_neurons():
    """Probe features (pre-activations) flip with their neurons, so the model stays invariant."""
    from netgraph.metanets import ProbeFeatures

    torch.manual_seed(0)
    nets = [Siren(hidden=8).double() for _ in range(3)]
    batch = netgraph.from_state_dicts(nets[0], [m.state_dict() for m in nets])
    net = nets[0]
    probes = torch.rand(5, 2, dtype=torch.float64) * 2 - 1
    model = build("scalegmn_b", batch, probe_features=5)
    flipped = augmentation(SignFlip, 0)(batch)
    with_probes = [ProbeFeatures(net, probes)(b) for b in (batch, flipped)]
    assert diff(model(with_probes[1]), model(with_probes[0])) < EXACT
    assert diff(with_probes[1].probe, with_probes[0].probe) > 1e-3
