"""Every metanet is invariant (heads) / equivariant (edits) under the symmetries of its input
networks, and each check is shown able to fail on perturbations that are not symmetries."""

import pytest
import torch
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, Siren, cifar_resnet, mlp
from netgraph.metanets import create_metanet
from netgraph.metanets.testing import break_coupling, permute_fixed_nodes
from _models import FlattenCNN, MHASelfAttention, randomize_norm_stats

ATOL = 1e-5  # float32 symmetry checks
# "must change" checks run in float64, where a symmetry holds to ~1e-15: anything above CHANGED is a
# real change, and the same check on a true symmetry stays below EXACT (both asserted side by side)
EXACT, CHANGED = 1e-11, 1e-8

DENSE = {
    "dwsnet": dict(hidden=4, depth=2, head_hidden=16),
    "nfn_hnp": dict(hidden=4, depth=2, head_hidden=16),
    "nfn_np": dict(hidden=4, depth=2, head_hidden=16),
}
BASELINES = {"mlp": dict(hidden=16), "statnn": dict(hidden=16)}
GRAPH = {
    "gmn": dict(dim=16, depth=2, head_hidden=16),
    "gmn_mlp_sum": dict(dim=16, depth=2, head_hidden=16, message="mlp", aggr="sum"),
    "ngt": dict(dim=16, depth=2, heads=2, head_hidden=16),
}


def zoo(factory, n=3, **kw):
    nets = [factory() for _ in range(n)]
    return netgraph.from_state_dicts(nets[0], [m.state_dict() for m in nets], **kw)


DENSE_ARCHS = {
    "cnn": lambda: SmallCNN(1, channels=6),
    "mlp": lambda: mlp([3, 8, 8, 2]),
    "siren": lambda: Siren(hidden=8),
    "flatten_cnn": FlattenCNN,
}  # 3x3 and 5x5 kernels, then a linear layer reading 4x4 maps


def mixed_batch():
    """Two graphs each of four architectures (CNN, MLP, ResNet with BatchNorm, attention)."""
    nets = [SmallCNN(1, channels=6), mlp([3, 8, 8, 2]), cifar_resnet(8, 4), MHASelfAttention(8, 2)] * 2
    for i, net in enumerate(nets):
        randomize_norm_stats(net, seed=i)
    return Batch.from_data_list([netgraph.from_module(net, kernel_shape=(3, 3)) for net in nets])


def double(batch):
    """A copy of ``batch`` in float64 (models are converted with ``.double()``)."""
    out = batch.clone()
    out.x, out.edge_attr = batch.x.double(), batch.edge_attr.double()
    return out


def build(name, batch, **extra):
    config = {**DENSE, **BASELINES, **GRAPH}[name]
    registered = "gmn" if name.startswith("gmn") else name
    if name in DENSE or name in BASELINES:
        config = {**config, "layer_shapes": netgraph.metanets.layer_shapes_of(batch)}
    return create_metanet(registered, **config, **extra).eval()


def max_diff(a, b):
    return (a - b).abs().max().item()


# ------------------------------------------------------------------ invariant heads
@pytest.mark.parametrize("arch", sorted(DENSE_ARCHS))
@pytest.mark.parametrize("name", sorted(DENSE) + ["statnn"])
def test_dense_models_invariant_to_hidden_permutations(name, arch):
    batch = zoo(DENSE_ARCHS[arch])
    model = build(name, batch)
    y = model(batch)
    for seed in range(2):
        perm = netgraph.random_permutation(batch, torch.Generator().manual_seed(seed))
        assert max_diff(model(netgraph.permute(batch, perm)), y) < ATOL


@pytest.mark.parametrize("name", sorted(DENSE))
def test_dense_models_see_broken_couplings(name):
    batch = double(zoo(DENSE_ARCHS["cnn"]))
    model = build(name, batch).double()
    y = model(batch)
    assert max_diff(model(netgraph.permute(batch, netgraph.random_permutation(batch))), y) < EXACT
    assert max_diff(model(break_coupling(batch, layer=1)), y) > CHANGED


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_graph_models_invariant_on_mixed_architectures(name):
    batch = mixed_batch()
    model = build(name, batch)
    y = model(batch)
    assert y.shape == (8, 1)
    for seed in range(2):
        perm = netgraph.random_permutation(batch, torch.Generator().manual_seed(seed))
        assert max_diff(model(netgraph.permute(batch, perm)), y) < ATOL


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_graph_models_see_broken_couplings(name):
    batch = double(zoo(lambda: SmallCNN(1, channels=6)))
    model = build(name, batch).double()
    y = model(batch)
    assert max_diff(model(netgraph.permute(batch, netgraph.random_permutation(batch))), y) < EXACT
    broken = model(break_coupling(batch, layer=1))
    assert (broken - y).abs().amax(dim=1).min().item() > CHANGED  # every graph of the batch changed


@pytest.mark.parametrize("name", ["dwsnet", "nfn_hnp", "nfn_np", "gmn", "ngt"])
def test_models_tell_input_neurons_apart(name):
    """Inputs are never permuted: positional embeddings / io-embeddings / fixed axes must see a
    relabelling of the input neurons, although it is a graph isomorphism."""
    batch = double(zoo(lambda: mlp([3, 8, 8, 2])))
    model = build(name, batch, **({"edge_features": 1} if name in GRAPH else {})).double()
    assert max_diff(model(permute_fixed_nodes(batch)), model(batch)) > CHANGED


def test_nfn_np_without_io_embedding_is_invariant_to_input_permutations():
    """NP layers treat input neurons as exchangeable: without io-embeddings the model cannot tell a
    relabelling of the inputs (the larger NP group), with them it can (previous test)."""
    batch = double(zoo(lambda: mlp([3, 8, 8, 2])))
    model = build("nfn_np", batch, io_embed=False).double()
    assert max_diff(model(permute_fixed_nodes(batch)), model(batch)) < EXACT
    assert max_diff(model(permute_fixed_nodes(batch, netgraph.NodeType.OUTPUT)), model(batch)) < EXACT


def test_statnn_invariant_within_layers_but_not_across():
    """Per-layer statistics ignore the order inside a layer (coupling-breaking reorders included,
    by construction), and change when values move between layers."""
    batch = double(zoo(DENSE_ARCHS["mlp"]))
    model = build("statnn", batch).double()
    y = model(batch)
    assert max_diff(model(break_coupling(batch, layer=1)), y) < EXACT
    ws = netgraph.weight_space(batch)
    first, second = ws.weights[0][:, 0, 0].clone(), ws.weights[1][:, 0, 0].clone()
    ws.weights[0][:, 0, 0], ws.weights[1][:, 0, 0] = second, first
    assert max_diff(model(ws.to_graph()), y) > CHANGED


def test_flat_mlp_baseline_is_not_invariant():
    """The flat MLP has no symmetry: it is the baseline the equivariant models are measured against."""
    batch = double(zoo(DENSE_ARCHS["mlp"]))
    model = build("mlp", batch).double()
    perm = netgraph.random_permutation(batch, torch.Generator().manual_seed(0))
    assert max_diff(model(netgraph.permute(batch, perm)), model(batch)) > CHANGED


def test_single_graph_is_a_batch_of_one():
    batch = mixed_batch()
    model = build("gmn", batch)
    single = netgraph.from_module(SmallCNN(1, channels=6), kernel_shape=(3, 3))
    both = Batch.from_data_list([single, batch.get_example(1)])
    assert max_diff(model(single), model(both)[:1]) < ATOL


# ------------------------------------------------------------------ equivariant edits
EDITABLE = ["dwsnet", "nfn_hnp", "nfn_np", "gmn", "ngt"]


def _edit_batch(name):
    return mixed_batch() if name in GRAPH else zoo(DENSE_ARCHS["cnn"])


@pytest.mark.parametrize("name", EDITABLE)
def test_edits_are_equivariant(name):
    batch = _edit_batch(name)
    model = build(name, batch, edit=True, edit_scale=1.0)
    edited = model.edit(batch)
    for seed in range(2):
        perm = netgraph.random_permutation(batch, torch.Generator().manual_seed(seed))
        expected = netgraph.permute(edited, perm)
        got = model.edit(netgraph.permute(batch, perm))
        assert max_diff(got.edge_attr, expected.edge_attr) < ATOL
        assert max_diff(got.x, expected.x) < ATOL


@pytest.mark.parametrize("name", EDITABLE)
def test_edits_see_broken_couplings(name):
    """Equivariance to a coupling-breaking reorder would mean the edit ignores how layers connect."""
    batch = double(zoo(DENSE_ARCHS["cnn"]))
    model = build(name, batch, edit=True, edit_scale=1.0).double()
    perm = netgraph.random_permutation(batch)
    exact = max_diff(
        model.edit(netgraph.permute(batch, perm)).edge_attr, netgraph.permute(model.edit(batch), perm).edge_attr
    )
    gap = max_diff(model.edit(break_coupling(batch, 1)).edge_attr, break_coupling(model.edit(batch), 1).edge_attr)
    assert exact < EXACT and gap > CHANGED


@pytest.mark.parametrize("name", EDITABLE)
def test_edit_touches_only_parameter_slots_and_is_differentiable(name):
    batch = _edit_batch(name)
    model = build(name, batch, out_features=0, edit=True)
    assert model.edit_scale().item() == pytest.approx(0.01)
    edited = model.edit(batch)
    node_mask, edge_mask = netgraph.metanets.parameter_masks(batch)
    assert torch.equal(edited.x[~node_mask], batch.x[~node_mask])  # running stats, absent features
    assert torch.equal(edited.edge_attr[~edge_mask], batch.edge_attr[~edge_mask])  # residual edges, padding
    assert (edited.edge_attr[edge_mask] != batch.edge_attr[edge_mask]).float().mean() > 0.99
    first = batch.get_example(0)
    one = model.edit(first)
    weights = netgraph.to_state_dicts(Batch.from_data_list([one]), stacked=True)
    sum(v.float().sum() for v in weights.values()).backward()
    assert model.edit_scale.scale.grad is not None and model.edit_scale.scale.grad.abs() > 0
