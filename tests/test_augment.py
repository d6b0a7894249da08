"""Weight-space augmentations: function preservation on every architecture, whole batches at once,
the neurons each transform may touch, noise statistics, MixUp, registry."""

import pytest
import torch
import torch.nn as nn
from torch_geometric.data import Batch
from torch_geometric.transforms import Compose

import netgraph
from _models import CASES, randomize_norm_stats
from conftest import DEVICES
from netgraph.architectures import SmallCNN, Siren, mlp
from netgraph.augment import (
    GaussianNoise,
    MixUp,
    QuantileZeroing,
    RandomPermutation,
    ReLUScaling,
    SignFlip,
    SirenBiasShift,
    WeightDropout,
    compose,
    create_augmentation,
    list_augmentations,
    register_augmentation,
    rescalable_nodes,
    rescale_neurons,
)
from netgraph.augment.neurons import ODD, POSITIVE_HOMOGENEOUS
from netgraph.merge import parameter_masks

PRESERVING = {
    "permutation": RandomPermutation,
    "relu_scaling": ReLUScaling,
    "sign_flip": SignFlip,
    "siren_bias_shift": SirenBiasShift,
}
# architectures on which each transform must actually change weights (so the check can fail)
CHANGES = {
    "permutation": sorted(CASES),
    "relu_scaling": ["small_cnn", "flatten_cnn", "mha", "transformer_encoder"],
    "sign_flip": ["mlp", "siren", "flatten_cnn", "hand_attention"],
    "siren_bias_shift": ["siren"],
}


def _build(name, seed=0):
    make, make_input, export = CASES[name]
    torch.manual_seed(seed)
    model = make().eval()
    randomize_norm_stats(model, seed)
    return model, make_input(), ((make_input(),) if export else None)


@pytest.mark.parametrize("kind", sorted(PRESERVING))
@pytest.mark.parametrize("name", sorted(CASES))
def test_function_preserving_augmentations_preserve_the_function(kind, name):
    model, x, example = _build(name)
    graph = netgraph.from_module(model, example)
    out = PRESERVING[kind](generator=torch.Generator().manual_seed(1))(graph)
    twin = netgraph.to_module(out, model)
    torch.testing.assert_close(twin(x), model(x), atol=1e-5, rtol=1e-5)
    changed = not (torch.equal(out.edge_attr, graph.edge_attr) and torch.equal(out.x, graph.x))
    if name in CHANGES[kind]:
        assert changed
    assert torch.equal(graph.edge_attr, netgraph.from_module(model, example).edge_attr), "input must not change"


def test_rescaling_a_neuron_the_rules_exclude_changes_the_function():
    """The eligibility rules are needed: scaling through BatchNorm / a residual tie, or flipping ReLU
    neurons, does change the function."""
    model, x, _ = _build("resnet20")
    graph = netgraph.from_module(model)
    assert not rescalable_nodes(graph.spec, POSITIVE_HOMOGENEOUS).any()  # BN everywhere, residual ties
    factor = torch.ones(graph.num_nodes)
    factor[graph.spec.spaces[1].start] = 2.0  # a conv output channel followed by BatchNorm
    broken = netgraph.to_module(netgraph.make_graph(graph.spec, *rescale_neurons(graph, factor), graph.aux), model)
    assert not torch.allclose(broken(x), model(x), atol=1e-4)

    relu = SmallCNN(3).eval()
    g = netgraph.from_module(relu)
    assert not rescalable_nodes(g.spec, ODD).any() and rescalable_nodes(g.spec, POSITIVE_HOMOGENEOUS).any()
    flip = torch.where(rescalable_nodes(g.spec, POSITIVE_HOMOGENEOUS), -1.0, 1.0)
    flipped = netgraph.to_module(netgraph.make_graph(g.spec, *rescale_neurons(g, flip), g.aux), relu)
    xi = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(flipped(xi), relu(xi), atol=1e-4)


def test_siren_bias_shift_needs_the_right_frequency():
    model = Siren()
    graph = netgraph.from_module(model)
    x = torch.rand(20, 2) * 2 - 1
    good = netgraph.to_module(SirenBiasShift(w0=30.0)(graph), model)
    bad = netgraph.to_module(SirenBiasShift(w0=20.0)(graph), model)
    torch.testing.assert_close(good(x), model(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(bad(x), model(x), atol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
def test_augmentations_act_on_a_whole_mixed_batch_with_per_graph_randomness(device):
    models = [mlp([2, 16, 16, 1], "tanh").eval() for _ in range(3)] + [SmallCNN(1).eval() for _ in range(3)]
    graphs = [netgraph.from_module(m, kernel_shape=(3, 3)) for m in models]
    batch = Batch.from_data_list(graphs).to(device)
    pipeline = Compose([RandomPermutation(), ReLUScaling(), SignFlip()])
    out = pipeline(batch)
    inputs = {True: torch.randn(4, 2), False: torch.randn(4, 1, 8, 8)}
    for i, model in enumerate(models):
        twin = netgraph.to_module(out[i].cpu(), model)
        x = inputs[i < 3]
        torch.testing.assert_close(twin(x), model(x), atol=1e-5, rtol=1e-5)
    zoo = netgraph.from_state_dicts(models[0], [models[0].state_dict()] * 4).to(device)  # 4 copies of one net
    moved = SignFlip()(RandomPermutation()(zoo))
    per_graph = moved.edge_attr.view(4, -1)
    assert not torch.equal(per_graph[0], per_graph[1])  # each graph draws its own permutation and flips


def test_gaussian_noise_is_random_relative_to_each_layer_and_spares_constants():
    model = nn.Sequential(
        nn.Conv2d(3, 64, 5),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    with torch.no_grad():
        model[3].weight.mul_(10)
    graph = netgraph.from_module(model)
    node_mask, edge_mask = parameter_masks(graph)
    first, second = GaussianNoise(0.5)(graph), GaussianNoise(0.5)(graph)
    assert not torch.equal(first.edge_attr, second.edge_attr)  # real random noise, not a constant
    delta = first.edge_attr - graph.edge_attr
    assert torch.equal(delta[~edge_mask], torch.zeros_like(delta[~edge_mask]))  # padding of the 3x3 kernels
    assert torch.equal(first.x[~node_mask], graph.x[~node_mask])  # running statistics untouched
    for piece in graph.spec.edge_pieces:
        w = graph.spec.edge_block(graph.edge_attr.unsqueeze(0), piece)
        d = graph.spec.edge_block(delta.unsqueeze(0), piece)
        ratio = float(d.std() / w.std())
        assert 0.45 < ratio < 0.55, (piece.param, ratio)
    constant = nn.Linear(3, 2)
    with torch.no_grad():
        constant.weight.fill_(0.3)
    g = netgraph.from_module(constant)
    assert torch.equal(GaussianNoise(1.0)(g).edge_attr, g.edge_attr)  # a layer with zero std gets no noise


def test_weight_dropout_zeroes_about_p_of_the_learned_weights():
    graph = netgraph.from_module(nn.Sequential(nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)))
    out = WeightDropout(0.3)(graph)
    zeroed = (out.edge_attr == 0) & (graph.edge_attr != 0)
    assert 0.27 < float(zeroed.float().mean()) < 0.33
    kept = out.edge_attr != 0
    assert torch.equal(out.edge_attr[kept], graph.edge_attr[kept])
    assert torch.equal(out.x, graph.x)
    scaled = WeightDropout(0.5, biases=True, rescale=True)(graph)
    kept = scaled.edge_attr != 0
    torch.testing.assert_close(scaled.edge_attr[kept], 2 * graph.edge_attr[kept])
    assert (scaled.x[:, 0] == 0).any()


def test_quantile_zeroing_removes_exactly_the_smallest_weights_of_each_layer():
    layer = nn.Linear(5, 4)  # 20 weights; q = 0.25 -> the 5 smallest magnitudes of the layer
    with torch.no_grad():
        layer.weight.copy_(
            torch.arange(1, 21, dtype=torch.float).view(4, 5) * torch.tensor([1.0, -1.0] * 10).view(4, 5)
        )
    graph = netgraph.from_module(nn.Sequential(layer))
    out = QuantileZeroing(0.25, random=False)(graph)
    weight = netgraph.to_state_dict(out)["0.weight"]
    assert sorted(layer.weight.abs()[weight == 0].tolist()) == [1, 2, 3, 4, 5]
    assert torch.equal(weight[weight != 0], layer.weight[weight != 0])
    batch = netgraph.from_state_dicts(nn.Sequential(layer), [nn.Sequential(nn.Linear(5, 4)).state_dict()] * 3)
    zeroed = (QuantileZeroing(0.5, random=False)(batch).edge_attr == 0).view(3, -1).sum(1)
    assert zeroed.tolist() == [10, 10, 10]


def _permuted_copies(model, count):
    graph = netgraph.from_module(model)
    batch = netgraph.from_state_dicts(model, [model.state_dict()] * count)
    return netgraph.permute(batch, netgraph.random_permutation(batch, torch.Generator().manual_seed(0))), graph


def test_aligned_mixup_of_permuted_copies_keeps_the_network_and_plain_mixup_does_not():
    model = mlp([3, 12, 12, 2], "relu").eval()
    batch, _ = _permuted_copies(model, 6)
    batch.y = torch.tensor([0, 1, 0, 1, 1, 0])
    x = torch.randn(8, 3)
    aligned = MixUp(mode="align", num_classes=2, generator=torch.Generator().manual_seed(0))(batch)
    plain = MixUp(mode="plain", num_classes=2, generator=torch.Generator().manual_seed(0))(batch)
    for i in range(6):
        torch.testing.assert_close(netgraph.to_module(aligned[i], model)(x), model(x), atol=1e-5, rtol=1e-5)
    assert any(not torch.allclose(netgraph.to_module(plain[i], model)(x), model(x), atol=1e-3) for i in range(6))
    assert aligned.y.shape == (6, 2) and torch.allclose(aligned.y.sum(1), torch.ones(6))
    assert torch.equal(aligned.y, plain.y)  # same generator: same partners and weights


def test_mixup_of_identical_networks_is_the_identity_and_labels_are_convex():
    model = mlp([2, 4, 1])
    batch = netgraph.from_state_dicts(model, [model.state_dict()] * 5)
    batch.y = torch.rand(5, 3)
    for mode in ("plain", "permute"):
        out = MixUp(mode=mode)(batch)
        if mode == "plain":
            torch.testing.assert_close(out.edge_attr, batch.edge_attr)
        assert bool((out.y >= batch.y.min(0).values - 1e-6).all() & (out.y <= batch.y.max(0).values + 1e-6).all())
    with pytest.raises(ValueError, match="collated Batch"):
        MixUp()(netgraph.from_module(model))
    batch.y = torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="num_classes"):
        MixUp()(batch)


def test_registry_and_bad_arguments():
    assert set(list_augmentations()) >= {
        "permutation",
        "relu_scaling",
        "sign_flip",
        "siren_bias_shift",
        "gaussian_noise",
        "dropout",
        "quantile_zeroing",
        "mixup",
    }
    assert isinstance(create_augmentation("dropout", p=0.2), WeightDropout)
    pipeline = compose(["permutation", {"name": "gaussian_noise", "std": 0.01}])
    assert [type(t) for t in pipeline.transforms] == [RandomPermutation, GaussianNoise]
    with pytest.raises(KeyError, match="no augmentation named 'rotate'"):
        create_augmentation("rotate")
    with pytest.raises(TypeError, match="'name' key"):
        compose([{"std": 0.1}])
    with pytest.raises(ValueError, match="already registered"):
        register_augmentation("mixup")(WeightDropout)
    for bad in (
        lambda: ReLUScaling(low=2, high=1),
        lambda: SignFlip(p=2),
        lambda: SirenBiasShift(w0=0),
        lambda: GaussianNoise(-1),
        lambda: WeightDropout(1.0),
        lambda: QuantileZeroing(1.0),
        lambda: MixUp(mode="cutmix"),
        lambda: MixUp(alpha=0),
    ):
        with pytest.raises(ValueError):
            bad()
