"""Alignment: exact recovery of shuffled copies on every architecture, optimality on small cases
checked by brute force, function preservation, soft permutations, activations, errors."""

import itertools

import pytest
import torch
import torch.nn as nn

import netgraph
from _models import CASES, randomize_norm_stats
from netgraph.architectures import cifar_resnet, mlp
from netgraph.merge import align, linear_assignment, rebasin, record_activations
from netgraph.merge.plan import dense_block
from netgraph.merge.sinkhorn import SoftPermuter, sinkhorn
from netgraph.symmetry import _node_map


def _build(name, seed=0):
    make, make_input, export = CASES[name]
    torch.manual_seed(seed)
    model = make().eval()
    randomize_norm_stats(model, seed)
    return model, make_input, ((make_input(),) if export else None)


def _shuffled(graph, seed):
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(seed))
    assert (perm != torch.arange(graph.num_nodes)).any()
    return netgraph.permute(graph, perm)


@pytest.mark.parametrize("name", sorted(CASES))
def test_weight_matching_recovers_a_shuffled_copy(name):
    model, _, example = _build(name)
    graph = netgraph.from_module(model, example)
    shuffled = _shuffled(graph, 3)
    perm = align(graph, shuffled)
    back = netgraph.permute(shuffled, perm, check=True)  # a valid symmetry of B's groups
    assert torch.equal(back.edge_attr, graph.edge_attr) and torch.equal(back.x, graph.x)


@pytest.mark.parametrize(
    "name", ["mlp", "resnet20", "mha_export", "hand_attention", "grouped_blocks", "tiny_vit", "cross_attention", "text"]
)
def test_activation_matching_recovers_a_shuffled_copy(name):
    model, make_input, example = _build(name)
    graph = netgraph.from_module(model, example)
    shuffled = _shuffled(graph, 4)
    data = (make_input(),) if name != "text" else torch.randint(0, 30, (16, 7))
    perm = align(model, netgraph.to_module(shuffled, model), method="activations", data=data, example_inputs=example)
    back = netgraph.permute(shuffled, perm)
    assert torch.equal(back.edge_attr, graph.edge_attr) and torch.equal(back.x, graph.x)


def test_sinkhorn_rebasin_recovers_a_shuffled_copy():
    model = mlp([5, 8, 8, 3])
    graph = netgraph.from_module(model)
    shuffled = _shuffled(graph, 5)
    perm = align(graph, shuffled, method="sinkhorn", steps=200)
    assert torch.equal(netgraph.permute(shuffled, perm).edge_attr, graph.edge_attr)


@pytest.mark.parametrize("name", ["resnet20", "transformer_encoder", "grouped_cnn"])
@pytest.mark.parametrize("method", ["weights", "activations"])
def test_aligning_independent_networks_keeps_b_function_and_improves_the_matching(name, method):
    model_a, make_input, example = _build(name, seed=0)
    model_b, _, _ = _build(name, seed=1)
    x = make_input()
    data = (torch.cat([make_input() for _ in range(4)]),)
    aligned = rebasin(model_a, model_b, method, data=data, example_inputs=example)
    torch.testing.assert_close(aligned(x), model_b(x), atol=1e-5, rtol=1e-5)
    if method == "weights":  # what weight matching maximises: <A, P(B)>, i.e. minimises the distance

        def closeness(m):
            return -sum((p - q).pow(2).sum() for p, q in zip(model_a.parameters(), m.parameters()))
    else:  # what activation matching maximises: summed correlation of matched neurons
        spec = netgraph.spec_of(model_a, example)
        acts_a = record_activations(model_a, data, spec)

        def closeness(m):
            acts = record_activations(m, data, spec)
            return sum(_correlation(acts_a[i], acts[i]).sum() for i in acts_a)

    assert closeness(aligned) > closeness(model_b) + 1e-3


def _correlation(za, zb):
    za, zb = za - za.mean(0), zb - zb.mean(0)
    return (za * zb).sum(0) / (za.norm(dim=0) * zb.norm(dim=0)).clamp_min(1e-12)


def _one_hidden_layer(seed):
    torch.manual_seed(seed)
    return mlp([3, 5, 2])


def test_weight_matching_finds_the_brute_force_optimum_of_a_one_hidden_layer_mlp():
    a, b = _one_hidden_layer(0), _one_hidden_layer(1)

    # one symmetry group (5 hidden units): the objective sum_ij W1a W1b + b1a b1b + W2a W2b is linear in the
    # permutation, so coordinate descent must reach the exact optimum over all 5! = 120 permutations
    def objective(net, order):
        with torch.no_grad():
            return float(
                (a[0].weight * net[0].weight[order]).sum()
                + (a[0].bias * net[0].bias[order]).sum()
                + (a[2].weight * net[2].weight[:, order]).sum()
            )

    best = max(objective(b, list(p)) for p in itertools.permutations(range(5)))
    found = objective(rebasin(a, b), list(range(5)))
    assert found == pytest.approx(best, abs=1e-5)


def test_activation_matching_finds_the_brute_force_optimum_of_correlations():
    a, b = _one_hidden_layer(0), _one_hidden_layer(1)
    x = torch.randn(200, 3)
    with torch.no_grad():
        za, zb = a[0](x), b[0](x)
    za, zb = (za - za.mean(0)) / (za - za.mean(0)).norm(dim=0), (zb - zb.mean(0)) / (zb - zb.mean(0)).norm(dim=0)
    corr = za.T @ zb
    best = max(float(corr[torch.arange(5), list(p)].sum()) for p in itertools.permutations(range(5)))
    aligned = rebasin(a, b, "activations", data=x)
    with torch.no_grad():
        zc = aligned[0](x)
    zc = (zc - zc.mean(0)) / (zc - zc.mean(0)).norm(dim=0)
    assert float((za * zc).sum()) == pytest.approx(best, abs=1e-4)


def test_linear_assignment_matches_brute_force_and_scipy():
    scores = torch.randn(6, 5, 5, generator=torch.Generator().manual_seed(0))
    auction = linear_assignment(scores, method="auction")
    for s, cols in zip(scores, auction):
        best = max(float(s[torch.arange(5), list(p)].sum()) for p in itertools.permutations(range(5)))
        assert float(s[torch.arange(5), cols].sum()) == pytest.approx(best, abs=1e-5)
        assert torch.equal(linear_assignment(s), linear_assignment(s, method="scipy"))
        assert float(s[torch.arange(5), linear_assignment(s)].sum()) == pytest.approx(best, abs=1e-5)
    big = torch.randn(3, 40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = linear_assignment(big, method="scipy")
    fast = linear_assignment(big, method="auction")
    rows = torch.arange(40)
    for s, e, f in zip(big, exact, fast):
        assert float(s[rows, f].sum()) == pytest.approx(float(s[rows, e].sum()), abs=1e-9)


def test_linear_assignment_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        linear_assignment(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="NaN"):
        linear_assignment(torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match="method"):
        linear_assignment(torch.zeros(2, 2), method="greedy")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hard_soft_permutation_equals_permute(name):
    """The differentiable permuter of Sinkhorn re-basin, fed hard permutations, moves every weight
    exactly as netgraph.permute does (both levels, heads, ties, grouped convs)."""
    model, _, example = _build(name)
    graph = netgraph.from_module(model, example)
    spec = graph.spec
    groups, width = spec.num_groups, int(spec.group_units.max())
    keys = torch.rand(1, groups, width, generator=torch.Generator().manual_seed(2))
    unit_maps = keys.masked_fill(torch.arange(width) >= spec.group_units.unsqueeze(1), 2.0).argsort(-1).argsort(-1)
    moved = netgraph.permute(graph, _node_map(spec, unit_maps)[0])
    hard = torch.zeros(groups, width, width)
    hard[torch.arange(groups).view(-1, 1), unit_maps[0], torch.arange(width)] = 1.0
    blocks, feats = SoftPermuter(spec).apply(hard, graph.x, graph.edge_attr)
    for block, piece in zip(blocks, spec.edge_pieces):
        torch.testing.assert_close(block, dense_block(spec, moved.edge_attr.unsqueeze(0), piece)[0])
    torch.testing.assert_close(feats, moved.x[:, :3])


def test_sinkhorn_gives_doubly_stochastic_matrices():
    p = sinkhorn(torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(0)), iters=50)
    torch.testing.assert_close(p.sum(-1), torch.ones(3, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(p.sum(-2), torch.ones(3, 6), atol=1e-5, rtol=0)
    assert bool((p >= 0).all())


def test_sinkhorn_midpoint_objective_runs_on_data_and_returns_a_symmetry():
    a, b = _one_hidden_layer(0), _one_hidden_layer(1)
    x = torch.randn(64, 3)
    y = a(x).argmax(1)
    perm = align(a, b, method="sinkhorn", data=(x, y), steps=5, objective="midpoint")
    moved = netgraph.to_module(netgraph.permute(netgraph.from_module(b), perm), b)
    torch.testing.assert_close(moved(x), b(x), atol=1e-6, rtol=1e-6)


def test_record_activations_are_the_layer_outputs():
    model = CASES["mha"][0]().eval()
    x = torch.randn(3, 5, 6)
    spec = netgraph.trace(model)
    acts = record_activations(model, x, spec)
    h = model.inp(x)
    torch.testing.assert_close(acts[0], h.reshape(-1, 16))
    e = model.attn.embed_dim
    q = nn.functional.linear(h, model.attn.in_proj_weight[:e], model.attn.in_proj_bias[:e])
    v = nn.functional.linear(h, model.attn.in_proj_weight[2 * e :], model.attn.in_proj_bias[2 * e :])
    q_piece = next(i for i, p in enumerate(spec.edge_pieces) if p.rows == (0, e))
    v_piece = next(i for i, p in enumerate(spec.edge_pieces) if p.rows == (2 * e, 3 * e))
    # nn.MultiheadAttention(batch_first=True) works token-major inside: samples come as [tokens * batch]
    torch.testing.assert_close(acts[q_piece], q.transpose(0, 1).reshape(-1, e))
    torch.testing.assert_close(acts[v_piece], v.transpose(0, 1).reshape(-1, e))


def test_align_rejects_bad_input():
    a, b = mlp([3, 4, 2]), mlp([3, 5, 2])
    with pytest.raises(ValueError, match="share one architecture"):
        align(a, b)
    with pytest.raises(ValueError, match="method must be one of"):
        align(a, a, method="magic")
    with pytest.raises(ValueError, match="needs data"):
        align(a, a, method="activations")
    with pytest.raises(TypeError, match="pass the two nn.Module"):
        align(netgraph.from_module(a), netgraph.from_module(a), method="activations", data=torch.randn(2, 3))
    with pytest.raises(TypeError, match="only method='sinkhorn'"):
        align(a, a, steps=3)
    with pytest.raises(TypeError, match="nn.Module or a ParamGraph"):
        align(a, "model")
    batch = netgraph.from_state_dicts(a, [a.state_dict()] * 2)
    with pytest.raises(ValueError, match="batch of 2 graphs"):
        align(batch, a)
    with pytest.raises(ValueError, match="objective"):
        align(a, a, method="sinkhorn", objective="midpoint")


def test_weight_matching_on_a_wide_resnet_is_deterministic_given_the_seed():
    torch.manual_seed(0)
    a, b = cifar_resnet(20, 8), cifar_resnet(20, 8)
    assert torch.equal(align(a, b, seed=3), align(a, b, seed=3))


def test_align_batch_matches_aligning_each_pair_alone():
    torch.manual_seed(0)
    nets_a = [mlp([4, 10, 10, 2]) for _ in range(3)]
    nets_b = [mlp([4, 10, 10, 2]) for _ in range(3)]
    batch_a = netgraph.from_state_dicts(nets_a[0], [n.state_dict() for n in nets_a])
    batch_b = netgraph.from_state_dicts(nets_a[0], [n.state_dict() for n in nets_b])
    together = netgraph.permute(batch_b, netgraph.merge.align_batch(batch_a, batch_b)).edge_attr.view(3, -1)
    for i in range(3):
        alone = netgraph.from_module(rebasin(nets_a[i], nets_b[i])).edge_attr.view(-1)
        assert torch.equal(together[i], alone)
    with pytest.raises(ValueError, match="same number of graphs"):
        netgraph.merge.align_batch(batch_a, netgraph.from_state_dicts(nets_a[0], [nets_b[0].state_dict()]))
