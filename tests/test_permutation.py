"""Permutation symmetries: random permutations preserve the function; breaking a coupling does not."""

import pytest
import torch

import netgraph
from _models import CASES, randomize_norm_stats


def _build(name):
    make, make_input, export = CASES[name]
    model = make().eval()
    randomize_norm_stats(model)
    return model, make_input(), ((make_input(),) if export else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_random_permutation_preserves_the_function(name):
    model, x, example = _build(name)
    graph = netgraph.from_module(model, example_inputs=example)
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(1))
    assert (perm != torch.arange(graph.num_nodes)).any(), "every test architecture has hidden symmetries"
    permuted = netgraph.to_module(netgraph.permute(graph, perm), model)
    before, after = model.state_dict(), permuted.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "the weights must actually move"
    torch.testing.assert_close(permuted(x), model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["resnet20", "transformer_encoder", "hand_attention", "tiny_vit"])
def test_breaking_a_coupling_changes_the_function(name):
    """Permuting one member of a coupled group alone (e.g. one side of a residual connection, or
    queries without keys) is not a symmetry: the check must be able to fail."""
    model, x, example = _build(name)
    graph = netgraph.from_module(model, example_inputs=example)
    group = max((g for g in graph.spec.groups if g.nodes.shape[1] > 1), key=lambda g: g.nodes.shape[1])
    member = group.nodes[:, 0]  # the nodes of one member space only
    perm = torch.arange(graph.num_nodes)
    perm[member] = member.roll(1)
    broken = netgraph.to_module(netgraph.permute(graph, perm, check=False), model)
    assert not torch.allclose(broken(x), model(x), atol=1e-4)


def test_grouped_conv_channels_move_only_with_their_group():
    model, x, _ = _build("grouped_blocks")
    spec = netgraph.trace(model)
    blocks = [g for g in spec.groups if g.level == 0 and g.units == 4]
    assert len(blocks) == 1 and blocks[0].nodes.shape[1] == 2 + 3  # 2 stem + 3 grouped channels per block
    graph = netgraph.from_module(model)
    stem = spec.spaces[1]
    perm = torch.arange(graph.num_nodes)
    perm[[stem.start, stem.start + 2]] = perm[[stem.start + 2, stem.start]]  # channels of two different groups
    with pytest.raises(ValueError):
        netgraph.permute(graph, perm)
    broken = netgraph.to_module(netgraph.permute(graph, perm, check=False), model)
    assert not torch.allclose(broken(x), model(x), atol=1e-4)


def test_batched_random_permutations_are_independent_and_preserve_each_network():
    model = CASES["small_cnn"][0]().eval()
    nets = []
    for seed in range(4):
        torch.manual_seed(seed)
        nets.append(type(model)(3).eval().state_dict())
    batch = netgraph.from_state_dicts(model, nets)
    perm = netgraph.random_permutation(batch)
    permuted = netgraph.permute(batch, perm)
    per_graph = perm.view(4, -1) - torch.arange(4).unsqueeze(1) * batch.spec[0].num_nodes
    assert not torch.equal(per_graph[0], per_graph[1])
    x = torch.randn(2, 3, 16, 16)
    for state, new_state in zip(nets, netgraph.to_state_dicts(permuted)):
        a, b = type(model)(3).eval(), type(model)(3).eval()
        a.load_state_dict(state)
        b.load_state_dict(new_state)
        torch.testing.assert_close(b(x), a(x), atol=1e-5, rtol=1e-5)


def test_permute_rejects_moving_fixed_nodes():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    graph = netgraph.from_module(model)
    perm = torch.arange(graph.num_nodes)
    perm[[0, 1]] = perm[[1, 0]]  # two input neurons
    with pytest.raises(ValueError, match="does not respect the symmetry groups"):
        netgraph.permute(graph, perm)


def test_identity_permutation_is_a_no_op():
    model, _, _ = _build("resnet20")
    graph = netgraph.from_module(model)
    same = netgraph.permute(graph, netgraph.identity_permutation(graph))
    assert torch.equal(same.edge_attr, graph.edge_attr) and torch.equal(same.x, graph.x)


def test_symmetry_groups_of_a_resnet_tie_residual_streams():
    model = netgraph.architectures.cifar_resnet(20, 8)
    spec = netgraph.trace(model)
    # 3 stages -> 3 residual streams (tied across their blocks) + 9 inner block widths
    widths = sorted(g.nodes.shape[1] for g in spec.groups)
    assert len(spec.groups) == 12
    assert widths[-1] >= 6  # a stage's stream ties conv outputs, BN copies and sums of 3 blocks


def test_attention_heads_are_blocks():
    model = CASES["mha_export"][0]().eval()
    spec = netgraph.trace(model, (CASES["mha_export"][1](),))
    levels = [(g.level, g.units) for g in spec.groups]
    assert (0, 4) in levels  # 4 heads move as blocks
    assert levels.count((1, 4)) == 8  # inside each of 4 heads: q/k dims and v dims (16 / 4 = 4 each)


@pytest.mark.parametrize("kv_heads", [2, 1])
def test_grouped_query_attention_groups_are_the_whole_true_symmetry(kv_heads):
    """Grouped-query / multi-query attention without rotary embeddings: key/value heads move with their
    query-head group; inside a group the query heads may swap, the key dims move with the dims of every
    query head of the group and the value dims with the dims of every query head's output. The groups
    are independent, so the order of the symmetry the spec exposes is the product of ``units!``; it
    must equal the true order (stream 16! times kv! (r! d! d!)^kv), and a random element of it keeps the
    function (test_random_permutation_preserves_the_function)."""
    from _models import GroupedQueryAttention

    heads, dim = 4, 16
    d, repeats = dim // heads, heads // kv_heads
    model = GroupedQueryAttention(dim, heads, kv_heads).eval()
    spec = netgraph.trace(model, (torch.randn(2, 6, 5),))
    order = sum(torch.lgamma(torch.tensor(g.units + 1.0)) for g in spec.groups)
    one_block = torch.lgamma(torch.tensor(repeats + 1.0)) + 2 * torch.lgamma(torch.tensor(d + 1.0))
    true = torch.lgamma(torch.tensor(dim + 1.0)) + torch.lgamma(torch.tensor(kv_heads + 1.0)) + kv_heads * one_block
    torch.testing.assert_close(order, true)
    dims = [g for g in spec.groups if g.level == 1 and g.units == d and "query heads" not in g.name]
    assert len(dims) == 2 * kv_heads and all(g.nodes.shape == (d, 1 + repeats) for g in dims)
    assert spec.sym_group.shape[1] == 3  # query / output nodes move in two level-1 groups at once


def test_a_norm_after_a_concatenation_keeps_each_part_permutable():
    """BatchNorm over concatenated channels (DenseNet): its copy space is cut into the concatenated parts,
    so each part's channels move with their own layer instead of pinning both layers."""
    model, x, example = _build("dense_block")
    spec = netgraph.trace(model, example)
    units = sorted(g.units for g in spec.groups if g.level == 0)
    assert units == [4, 5, 6]  # stem, grow, head
    norm_parts = [s for s in spec.spaces if s.name.startswith("module 'norm'")]
    assert [s.size for s in norm_parts] == [4, 5]


def test_cosine_similarity_ties_the_two_projections():
    """F.normalize / x / x.norm() are per-sample scales; the similarity u @ v.T contracts the two towers'
    embedding dims, so their projections form one group (6 units, one node of each tower per unit)."""
    model, x, example = _build("cosine_towers")
    spec = netgraph.trace(model, example)
    tied = [g for g in spec.groups if g.units == 6]
    assert len(tied) == 1 and tied[0].nodes.shape == (6, 2)
