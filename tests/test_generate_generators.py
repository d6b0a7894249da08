"""Weight generators: generated weights load into the target and run, targets are checked with errors
that name the difference, conditioning is enforced, the graph hypernetwork is equivariant."""

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.architectures import SmallCNN, Siren, cifar_resnet, mlp
from netgraph.metanets import (
    ArchitectureMismatchError,
    ChunkedHypernetwork,
    DefaultInitGenerator,
    GeneratedNetworks,
    ParameterGraphHypernetwork,
    TargetArchitecture,
    TokenLayout,
    WeightDiffusion,
    fan_in_scales,
    fill_parameter_slots,
    mip_encoding,
    num_parameter_slots,
    read_parameter_slots,
)
from netgraph.metanets.testing import permute_fixed_nodes
from netgraph.types import NodeType


class Residual(nn.Module):
    """Same parameters as ``Plain``, but a skip connection: only the wiring differs."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.b(h) + h


class Plain(Residual):
    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def small_hypernet(target, **kw):
    return ChunkedHypernetwork(target, **{"chunk_size": 32, "hidden": [16], **kw})


# ------------------------------------------------------------------ target architectures
def test_differences_name_missing_extra_and_reshaped_parameters():
    record = TargetArchitecture.of(mlp([4, 16, 3]))
    assert record.differences(mlp([4, 16, 3])) == []
    (reshaped,) = record.differences(mlp([4, 32, 3]))
    assert "'0.weight' is (32, 4) here, (16, 4) expected" in reshaped and "'2.weight' is (3, 32) here" in reshaped
    problems = record.differences(mlp([4, 16, 16, 3]))
    assert any("extra parameters: '4.weight' (3, 16); '4.bias' (3,)" in p for p in problems)
    assert any("'2.weight' is (16, 16) here, (3, 16) expected" in p for p in problems)
    missing = TargetArchitecture.of(mlp([4, 16, 16, 3])).differences(mlp([4, 16, 3]))
    assert any(p.startswith("missing parameters: '4.weight' (3, 16)") for p in missing)


def test_differences_name_activations_and_wiring():
    (activation,) = TargetArchitecture.of(mlp([4, 8, 3])).differences(mlp([4, 8, 3], activation="tanh"))
    assert (
        "module '0' (Linear) out: 8 hidden nodes, activation tanh here" in activation and "relu expected" in activation
    )
    (wiring,) = TargetArchitecture.of(Residual()).differences(Plain())
    assert "sum: absent here, 4 sum nodes" in wiring


def test_record_survives_json_and_rebuilds_from_its_factory():
    import json

    ref = {"factory": "SmallCNN", "kwargs": {"in_channels": 1, "channels": 4}}
    record = TargetArchitecture.of(SmallCNN(1, channels=4), factory=ref)
    again = TargetArchitecture.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record and again.learnable == sum(p.numel() for p in SmallCNN(1, channels=4).parameters())
    assert again.differences(again.build()) == []
    with pytest.raises(ValueError, match="without a factory"):
        TargetArchitecture.of(mlp([2, 3])).build()
    with pytest.raises(ValueError, match=r"\['layers', 'learnable'\] missing"):
        TargetArchitecture.from_dict({"params": {}, "spaces": [], "structure": "x"})


# ------------------------------------------------------------------ generated networks
def test_generated_networks_run_together_and_as_modules():
    target = SmallCNN(1, channels=4)
    nets = DefaultInitGenerator().generate(target, n=3)
    x = torch.randn(5, 1, 8, 8)
    together = nets(x)
    assert together.shape == (3, 5, 10) and len(nets) == 3
    modules = nets.modules()
    for i, module in enumerate(modules):
        assert type(module) is SmallCNN and module is not target
        assert torch.allclose(module(x), together[i], atol=1e-5)
    assert not torch.allclose(together[0], together[1])
    assert torch.equal(nets[-1].features[0].weight, nets.state_dicts()["features.0.weight"][2])
    with pytest.raises(IndexError, match="network 3 out of range: the population has 3 networks"):
        nets[3]


def test_generated_networks_from_a_spec_have_weights_but_no_modules():
    nets = DefaultInitGenerator().generate(netgraph.trace(mlp([2, 4, 1])), n=2)
    assert nets.state_dicts()["0.weight"].shape == (2, 4, 2)
    with pytest.raises(TypeError, match="needs the target nn.Module"):
        nets[0]


def test_generated_networks_save_and_load_give_identical_outputs(tmp_path):
    target = mlp([4, 8, 3])
    nets = DefaultInitGenerator().generate(target, n=4)
    path = nets.save(tmp_path / "w.safetensors")
    again = GeneratedNetworks.load(path, mlp([4, 8, 3]))
    x = torch.randn(6, 4)
    assert torch.equal(again(x), nets(x))
    with pytest.raises(ArchitectureMismatchError, match=r"'0.weight' is \(9, 4\) here, \(8, 4\) expected"):
        GeneratedNetworks.load(path, mlp([4, 9, 3]))
    with pytest.raises(FileNotFoundError, match="not found"):
        GeneratedNetworks.load(tmp_path / "nothing.safetensors", target)


def test_parameter_slots_round_trip_and_buffers_take_defaults():
    target = nn.Sequential(
        nn.Conv2d(1, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    spec = netgraph.trace(target)
    assert num_parameter_slots(spec) == sum(p.numel() for p in target.parameters())
    values = torch.randn(3, num_parameter_slots(spec))
    batch = fill_parameter_slots(spec, values)
    assert torch.equal(read_parameter_slots(batch), values)
    state = netgraph.to_state_dicts(batch, stacked=True)
    assert torch.equal(state["1.running_var"], torch.ones(3, 4)) and torch.equal(
        state["1.running_mean"], torch.zeros(3, 4)
    )
    with pytest.raises(ValueError, match=r"values must be \[n, 54\]"):
        fill_parameter_slots(spec, torch.randn(3, 5))


# ------------------------------------------------------------------ chunked hypernetwork
@pytest.mark.parametrize("mip", [False, True])
def test_hypernetwork_weights_load_into_the_target_and_train(mip):
    target = SmallCNN(1, channels=4)
    hyper = small_hypernet(target, mip=mip)
    assert hyper.num_chunks == -(-sum(p.numel() for p in target.parameters()) // 32)
    nets = hyper.generate(target, n=4)
    state = nets.state_dicts()
    clone = SmallCNN(1, channels=4)
    clone.load_state_dict({k: v[1].detach() for k, v in state.items()})  # strict: every key, right shapes
    x = torch.randn(3, 1, 8, 8)
    out = nets(x)
    assert torch.allclose(clone(x), out[1], atol=1e-5)
    assert not torch.allclose(out[0], out[1])  # noise -> different networks
    out.pow(2).mean().backward()
    assert hyper.output.weight.grad.abs().sum() > 0 and hyper.chunk_embeddings.grad.abs().sum() > 0


def test_mip_is_a_residual_around_the_default_initialisation():
    target = mlp([4, 16, 3])
    hyper = small_hypernet(target, mip=True)
    nn.init.zeros_(hyper.output.weight)
    nn.init.zeros_(hyper.output.bias)
    values = hyper.parameter_vectors(n=2)
    assert torch.equal(values[0], hyper.theta0) and torch.equal(values[1], hyper.theta0)
    bound = 1 / 2.0  # default init of Linear(4, 16): U(-1/sqrt(4), 1/sqrt(4))
    first = netgraph.to_state_dicts(fill_parameter_slots(netgraph.trace(target), values), stacked=True)["0.weight"]
    assert first.abs().max() <= bound and first.abs().max() > 0.8 * bound
    z = torch.rand(5, 3)
    assert torch.allclose(mip_encoding(z).norm(dim=1), torch.full((5,), 3**0.5))  # constant magnitude


def test_hypernetwork_refuses_another_architecture_naming_the_difference():
    hyper = small_hypernet(mlp([4, 16, 3]))
    with pytest.raises(ArchitectureMismatchError, match=r"'0.weight' is \(32, 4\) here, \(16, 4\) expected"):
        hyper.generate(mlp([4, 32, 3]))
    with pytest.raises(ArchitectureMismatchError, match="activation tanh here"):
        hyper.generate(mlp([4, 16, 3], activation="tanh"))
    with pytest.raises(ValueError, match="n .* must be a positive int, got 0"):
        hyper.generate(mlp([4, 16, 3]), n=0)
    with pytest.raises(TypeError, match="for a GraphSpec pass TargetArchitecture.of"):
        ChunkedHypernetwork(netgraph.trace(mlp([4, 16, 3])))


def test_target_none_rebuilds_the_recorded_architecture_or_asks_for_one():
    ref = {"factory": "mlp", "kwargs": {"sizes": [4, 8, 3]}}
    hyper = small_hypernet(TargetArchitecture.of(mlp([4, 8, 3]), factory=ref))
    nets = hyper.generate(n=2)
    assert type(nets[0]) is nn.Sequential and nets(torch.randn(1, 4)).shape == (2, 1, 3)
    with pytest.raises(ValueError, match="without a factory"):
        small_hypernet(mlp([4, 8, 3])).generate(n=1)
    with pytest.raises(ValueError, match="any architecture: pass the target module"):
        ParameterGraphHypernetwork(dim=8, depth=1).generate(n=1)


def test_conditioned_hypernetwork_needs_its_condition_and_uses_it():
    target = Siren(1, 8, 3, 1)
    hyper = small_hypernet(target, noise_dim=0, condition={"kind": "set", "features": 2, "dim": 8})
    samples = torch.randn(3, 10, 2)
    a = hyper.generate_state_dicts(target, samples, n=3)
    shuffled = samples[:, torch.randperm(10)]
    b = hyper.generate_state_dicts(target, shuffled, n=3)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # a set: order of samples does not matter
    assert not torch.allclose(a["layers.0.weight"][0], a["layers.0.weight"][1])  # different sets -> different nets
    shared = hyper.generate_state_dicts(target, samples[0], n=2)  # one set for all n
    assert torch.allclose(shared["layers.0.weight"][1], a["layers.0.weight"][0], atol=1e-6)
    with pytest.raises(ValueError, match="pass condition=... to generate"):
        hyper.generate(target, n=1)
    with pytest.raises(ValueError, match=r"\[n, m, features\] or \[m, features\] with features=2, got \(3, 10, 5\)"):
        hyper.generate(target, torch.randn(3, 10, 5), n=3)
    with pytest.raises(ValueError, match="holds 3 entries but n=2"):
        hyper.generate(target, samples, n=2)
    with pytest.raises(ValueError, match="is not conditioned"):
        small_hypernet(target).generate(target, samples, n=3)


# ------------------------------------------------------------------ graph hypernetwork
def test_graph_hypernetwork_generates_weights_for_unseen_architectures():
    ghn = ParameterGraphHypernetwork(dim=8, depth=2, kernel_shape=(3, 3)).eval()
    x_img = torch.randn(2, 3, 8, 8)
    for target, x in [
        (mlp([5, 7, 11, 2]), torch.randn(2, 5)),
        (SmallCNN(3, channels=6), x_img),
        (cifar_resnet(8, width=4).eval(), x_img),
    ]:
        nets = ghn.generate(target, n=2)
        module = nets[1]
        module.load_state_dict(module.state_dict())
        assert torch.allclose(module(x), nets(x)[1], atol=1e-4)
        assert torch.isfinite(nets(x)).all()
    with pytest.raises(ValueError, match=r"kernels up to \(5, 5\).*kernel_shape \(3, 3\)"):
        ghn.generate(nn.Sequential(nn.Conv2d(1, 2, 5)), n=1)
    with pytest.raises(ValueError, match="is not conditioned"):
        ghn.generate(mlp([2, 3, 1]), torch.randn(1, 4), n=1)


def test_graph_hypernetwork_scales_weights_by_fan_in():
    g = netgraph.from_module(mlp([4, 16, 3]))
    node_scale, edge_scale = fan_in_scales(g)
    assert torch.allclose(edge_scale[:64], torch.full((64, 1), 0.5)) and torch.allclose(
        edge_scale[64:], torch.full((48, 1), 0.25)
    )
    assert torch.allclose(node_scale[4:20, 0], torch.full((16,), 0.5)) and torch.equal(
        node_scale[:, 1:], torch.ones(23, 4)
    )
    ghn = ParameterGraphHypernetwork(
        dim=8, depth=1, edit_scale=0.0
    ).eval()  # no edit: the default initialisation itself
    noise = DefaultInitGenerator().generate_graphs(mlp([4, 16, 3]), n=2)
    assert torch.allclose(ghn.transform(noise).edge_attr, noise.edge_attr, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: mlp([3, 6, 5, 2]), lambda: cifar_resnet(8, width=2, in_channels=1)])
def test_graph_hypernetwork_is_equivariant_to_the_architecture_symmetries(make):
    target = make().eval()
    ghn = ParameterGraphHypernetwork(dim=8, depth=2, kernel_shape=(3, 3), edit_scale=0.5).eval()
    noise = DefaultInitGenerator().generate_graphs(netgraph.spec_of(target, kernel_shape=(3, 3)), n=3)
    perm = netgraph.random_permutation(noise, torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = ghn.transform(noise)
        permuted_first = ghn.transform(netgraph.permute(noise, perm))
        permuted_after = netgraph.permute(out, perm)
        assert not torch.allclose(out.edge_attr, noise.edge_attr, atol=1e-3)  # it does edit
        assert torch.allclose(permuted_first.edge_attr, permuted_after.edge_attr, atol=1e-5)
        assert torch.allclose(permuted_first.x, permuted_after.x, atol=1e-5)
        # relabelling the (never permuted) output neurons is not a symmetry: the output must notice
        moved = permute_fixed_nodes(noise, NodeType.OUTPUT)
        relabelled = permute_fixed_nodes(out, NodeType.OUTPUT)
        assert not torch.allclose(ghn.transform(moved).edge_attr, relabelled.edge_attr, atol=1e-3)
    # the permuted generated networks compute the same functions
    x = torch.randn(4, 3) if isinstance(target, nn.Sequential) else torch.randn(4, 1, 8, 8)
    a = GeneratedNetworks(out, target)(x)
    b = GeneratedNetworks(permuted_first, target)(x)
    assert torch.allclose(a, b, atol=1e-4)


# ------------------------------------------------------------------ weight diffusion
def tiny_diffusion(target, **kw):
    return WeightDiffusion(
        target,
        **{
            "dim": 16,
            "latent_dim": 2,
            "depth": 1,
            "heads": 2,
            "denoiser_dim": 16,
            "denoiser_depth": 1,
            "timesteps": 50,
            "sampling_steps": 5,
            **kw,
        },
    )


def conv_bn_net():
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 3, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, 2),
    )
    nn.init.normal_(net[1].weight)
    nn.init.normal_(net[1].bias)
    return net


def test_tokens_round_trip_every_parameter_and_refuse_uncovered_ones():
    target, other = conv_bn_net(), conv_bn_net()
    spec = netgraph.trace(target)
    layout = TokenLayout.of(spec)
    assert layout.shape == (4 + 3 + 2, 2 * 9 + 2)  # neurons; widest: 18 weights + BN w, b
    batch = netgraph.from_state_dicts(target, [target.state_dict(), other.state_dict()])
    tokens = layout.tokens(batch)
    assert torch.equal(tokens[0, 0, :18], target[0].weight[0].flatten())
    assert torch.equal(tokens[0, 0, 18:], torch.stack([target[1].weight[0], target[1].bias[0]]))
    back = netgraph.to_state_dicts(layout.graphs(tokens), stacked=True)
    for key, value in netgraph.to_state_dicts(batch, stacked=True).items():
        if "running" not in key and "num_batches" not in key:
            assert torch.equal(back[key], value), key
    with pytest.raises(ValueError, match="8 of 23 learnable values .* not on a weight layer's neurons"):
        TokenLayout.of(netgraph.trace(nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 3))))


def test_weight_diffusion_normalises_tokens_and_generates_loadable_networks():
    target = mlp([4, 8, 3])
    model = tiny_diffusion(target)
    zoo = DefaultInitGenerator().generate_graphs(target, n=16)
    model.fit_normalization(zoo)
    tokens, valid = model.normalized_tokens(zoo)
    weights = tokens[:, :8, :4]  # layer 0 weights
    assert abs(float(weights.mean())) < 1e-5 and abs(float(weights.std(unbiased=False)) - 1) < 1e-4
    assert valid.sum() == num_parameter_slots(netgraph.trace(target))
    model.eval()
    torch.manual_seed(0)
    first = model.generate_state_dicts(target, n=3)
    torch.manual_seed(0)
    second = model.generate_state_dicts(target, n=3)
    assert all(torch.equal(first[k], second[k]) for k in first)  # eta = 0: noise decides everything
    mlp([4, 8, 3]).load_state_dict({k: v[0] for k, v in first.items()})
    with pytest.raises(ArchitectureMismatchError, match="extra parameters"):
        model.generate(mlp([4, 8, 8, 3]), n=1)


def test_conditioned_weight_diffusion_needs_a_condition():
    target = Siren(1, 8, 3, 1)
    model = tiny_diffusion(target, condition={"kind": "set", "features": 2, "dim": 4}).eval()
    nets = model.generate(target, torch.randn(2, 5, 2), n=2)
    assert nets(torch.randn(7, 1)).shape == (2, 7, 1)
    with pytest.raises(ValueError, match="pass condition=... to generate"):
        model.generate(target, n=2)
    latents = torch.randn(4, 8 + 8 + 1, 2)
    assert model.denoising_loss(latents, torch.randn(4, 5, 2)).shape == ()
    with pytest.raises(ValueError, match="sampling_steps must lie in"):
        tiny_diffusion(target, sampling_steps=100)


def test_weight_diffusion_sampling_stays_bounded_when_the_denoiser_is_wrong():
    """The cosine schedule ends at alpha_bar ~ 2e-9: an unbounded DDIM step multiplies the denoiser's
    error by sqrt(alpha_bar_prev / alpha_bar) and the samples blow up; ``clip`` bounds each clean estimate."""
    target = mlp([4, 8, 3])
    bounded = WeightDiffusion(
        target,
        dim=8,
        latent_dim=2,
        depth=1,
        heads=2,
        denoiser_dim=8,
        denoiser_depth=1,
        timesteps=1000,
        sampling_steps=50,
        clip=3.0,
    ).eval()
    unbounded = WeightDiffusion(
        target,
        dim=8,
        latent_dim=2,
        depth=1,
        heads=2,
        denoiser_dim=8,
        denoiser_depth=1,
        timesteps=1000,
        sampling_steps=50,
        clip=None,
    ).eval()
    for model in (bounded, unbounded):
        nn.init.constant_(model.denoiser.out.bias, 0.3)  # a denoiser that is off by 0.3 everywhere
    torch.manual_seed(0)
    assert float(bounded.sample_latents(8).abs().max()) <= 3.0 + 1e-4
    torch.manual_seed(0)
    assert float(unbounded.sample_latents(8).abs().max()) > 100
    with pytest.raises(ValueError, match="clip must be positive"):
        WeightDiffusion(target, clip=0.0)


def test_a_mistyped_bundled_name_lists_the_bundled_generators_and_suggests_the_nearest():
    from netgraph.hub import HubRepoError

    with pytest.raises(
        HubRepoError, match="Did you mean 'iris-mlp-hypernet'.*Known bundled generators: digits-cnn-ghn"
    ):
        netgraph.hub.load_generator("iris-mlp-hypernett")
