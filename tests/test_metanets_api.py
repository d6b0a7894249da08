"""Registry, Hub save/load, parameter masks, errors, and the hypernetwork interface."""

import json

import pytest
import torch
import torch.nn as nn
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet, mlp
from netgraph.metanets import (
    DefaultInitGenerator,
    WeightGenerator,
    apply_edit,
    create_metanet,
    layer_shapes_of,
    list_metanets,
    metanet_class,
    parameter_masks,
    spec_parameter_masks,
)


def cnn_zoo(n=2):
    nets = [SmallCNN(1, channels=4) for _ in range(n)]
    return netgraph.from_state_dicts(nets[0], [m.state_dict() for m in nets])


SMALL = {
    "dwsnet": dict(hidden=2, depth=1, head_hidden=8),
    "nfn_hnp": dict(hidden=2, depth=1, head_hidden=8),
    "nfn_np": dict(hidden=2, depth=1, head_hidden=8),
    "mlp": dict(hidden=8),
    "statnn": dict(hidden=8),
    "gmn": dict(dim=8, depth=1, head_hidden=8),
    "ngt": dict(dim=8, depth=1, heads=2, head_hidden=8),
    "scalegmn_b": dict(dim=8, depth=1, head_hidden=8),
}


def small(name, batch, **extra):
    config = dict(SMALL[name], **extra)
    if name not in ("gmn", "ngt", "scalegmn_b"):
        config["layer_shapes"] = layer_shapes_of(batch)
    return create_metanet(name, **config).eval()


# ------------------------------------------------------------------ registry and Hub
def test_registry_lists_every_model():
    assert list_metanets() == [
        "dwsnet",
        "gmn",
        "lora_flat",
        "lora_spectrum",
        "mlp",
        "nfn_hnp",
        "nfn_np",
        "ngt",
        "scalegmn",
        "scalegmn_b",
        "statnn",
    ]
    assert metanet_class("nfn_np") is metanet_class("nfn_hnp")
    assert metanet_class("scalegmn") is metanet_class("scalegmn_b")


def test_registry_errors_name_the_choices():
    with pytest.raises(KeyError, match="no metanet named 'gnn'.*'gmn'"):
        create_metanet("gnn")
    with pytest.raises(ValueError, match="fixes {'symmetry': 'np'}; got {'symmetry': 'hnp'}"):
        create_metanet("nfn_np", layer_shapes=[[2, 2]], symmetry="hnp")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_save_and_load_with_the_hub_mixin(name, tmp_path):
    batch = cnn_zoo()
    editable = name not in ("mlp", "statnn")
    model = small(name, batch, **({"edit": True, "edit_scale": 0.5} if editable else {}))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # not the init: loading must restore these values
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md",
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((tmp_path / "config.json").read_text())
    if name == "nfn_np":
        assert config["symmetry"] == "np"
    if name == "scalegmn_b":
        assert config["bidirectional"] is True
    loaded = metanet_class(name).from_pretrained(tmp_path).eval()
    assert torch.equal(loaded(batch), model(batch))
    if editable:
        assert loaded.edit_scale().item() == model.edit_scale().item()
        assert torch.equal(loaded.edit(batch).edge_attr, model.edit(batch).edge_attr)


# ------------------------------------------------------------------ masks
def test_parameter_masks_by_hand():
    """Conv(1->2, 3x3, bias) + BatchNorm + Linear(2->1): 18 conv kernel values + 2 linear weights;
    2 conv biases, 2 + 2 BN affine values, 1 linear bias. Running statistics are buffers: not slots."""
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 1)
    )
    node_mask, edge_mask = parameter_masks(netgraph.from_module(model))
    assert int(edge_mask.sum()) == 20 and int(node_mask.sum()) == 7
    assert not node_mask[:, netgraph.NodeFeature.RUNNING_MEAN].any()
    assert not node_mask[:, netgraph.NodeFeature.RUNNING_VAR].any()
    linear = netgraph.from_module(model).edge_type == netgraph.EdgeType.FLATTEN
    assert edge_mask[linear].sum(1).tolist() == [1, 1]  # a linear weight fills one of the 9 padded slots


def test_parameter_masks_skip_residual_edges_and_match_per_graph_masks():
    nets = [cifar_resnet(8, 2), mlp([2, 4, 1]), cifar_resnet(8, 2)]
    graphs = [netgraph.from_module(m, kernel_shape=(3, 3)) for m in nets]
    batch = Batch.from_data_list(graphs)
    node_mask, edge_mask = parameter_masks(batch)
    assert not edge_mask[batch.edge_type == netgraph.EdgeType.RESIDUAL].any()
    per_graph = [spec_parameter_masks(g.spec) for g in graphs]
    assert torch.equal(node_mask, torch.cat([m[0] for m in per_graph]))
    assert torch.equal(edge_mask, torch.cat([m[1] for m in per_graph]))


# ------------------------------------------------------------------ errors
def test_dense_models_reject_architectures_they_cannot_handle():
    with pytest.raises(ValueError, match="residual.*create_metanet\\('gmn'\\)"):
        layer_shapes_of(cifar_resnet(8, 2))
    bn = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="normalisation parameters, e.g. '1.weight'"):
        layer_shapes_of(bn)


def test_dense_models_reject_other_architectures_and_mixed_batches():
    batch = cnn_zoo()
    model = small("nfn_hnp", batch)
    other = netgraph.from_module(mlp([3, 4, 2]))
    with pytest.raises(ValueError, match=r"built for layer shapes .* but the batch has \[\[4, 3\], \[2, 4\]\]"):
        model(other)
    mixed = Batch.from_data_list(
        [netgraph.from_module(m, kernel_shape=(3, 3)) for m in (SmallCNN(1, channels=4), mlp([3, 4, 2]))]
    )
    with pytest.raises(ValueError, match="mixes architectures"):
        model(mixed)


def test_graph_models_name_edge_feature_and_table_size_problems():
    graph = netgraph.from_module(mlp([3, 4, 2]))  # edge_attr [E, 1]
    with pytest.raises(ValueError, match="have 1 edge features but the model was built for edge_features=9"):
        create_metanet("gmn", dim=8, depth=1)(graph)
    with pytest.raises(ValueError, match="layer index 2 but the model has max_layers=2"):
        create_metanet("ngt", dim=8, depth=1, heads=2, edge_features=1, max_layers=2)(graph)


def test_heads_must_exist_to_be_used():
    batch = cnn_zoo()
    with pytest.raises(RuntimeError, match="edit=False"):
        small("gmn", batch).edit(batch)
    with pytest.raises(RuntimeError, match="out_features=0"):
        small("gmn", batch, out_features=0, edit=True)(batch)
    with pytest.raises(ValueError, match="out_features=0 and edit=False"):
        small("dwsnet", batch, out_features=0)
    with pytest.raises(ValueError, match=r"node_delta has shape \(3, 5\), expected"):
        apply_edit(batch, torch.zeros(3, 5), torch.zeros_like(batch.edge_attr), 1.0)


# ------------------------------------------------------------------ hypernetworks
def test_weight_generator_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        WeightGenerator()


def test_default_init_generator_samples_pytorch_default_bounds():
    target = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    generator = DefaultInitGenerator()
    batch = generator.generate_graphs(target, n=64)
    assert batch.num_graphs == 64
    state = netgraph.to_state_dicts(batch, stacked=True)
    assert state["0.weight"].shape == (64, 4, 1, 3, 3)
    bound = 1 / 3.0  # 1 / sqrt(1 * 3 * 3)
    assert state["0.weight"].abs().max() <= bound and state["0.weight"].abs().max() > 0.9 * bound
    assert state["5.weight"].abs().max() <= 0.5 and state["5.bias"].abs().max() > 0.4  # 1 / sqrt(4)
    assert torch.equal(state["1.weight"], torch.ones(64, 4)) and torch.equal(state["1.running_var"], torch.ones(64, 4))
    assert not torch.equal(state["0.weight"][0], state["0.weight"][1])


def test_generate_modules_gives_working_copies():
    target = mlp([3, 8, 2])
    nets = DefaultInitGenerator().generate_modules(target, n=3)
    x = torch.randn(5, 3)
    outs = [net(x) for net in nets]
    assert all(o.shape == (5, 2) for o in outs) and not torch.allclose(outs[0], outs[1])
    assert all(net is not target for net in nets)
    with pytest.raises(TypeError, match="needs the target nn.Module"):
        DefaultInitGenerator().generate_modules(netgraph.trace(target))


def test_a_learned_generator_plugs_into_the_interface():
    """A toy generator (random init edited by a metanet, conditioned on nothing) trains through
    ``generate_state_dicts`` + ``netgraph.Population``: the interface issue 8 builds on."""

    class EditedInit(WeightGenerator):
        def __init__(self):
            super().__init__()
            self.editor = create_metanet("gmn", dim=8, depth=1, edge_features=1, out_features=0, edit=True)

        def generate_graphs(self, target, condition=None, n=1):
            return self.editor.edit(DefaultInitGenerator().generate_graphs(target, n=n))

    target = mlp([3, 8, 2])
    generator = EditedInit()
    weights = generator.generate_state_dicts(target, n=4)
    x = torch.randn(6, 3)
    out = netgraph.Population(weights, target)(x)
    assert out.shape == (4, 6, 2)
    out.pow(2).mean().backward()
    assert generator.editor.edit_scale.scale.grad is not None
