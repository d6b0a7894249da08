"""Meta-pruning: channel groups from the parameter graph, real smaller modules with measured FLOPs,
exactness when the removed channels are zero, clear errors, meta-training, and the CLI end to end."""

import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_module
from safetensors.torch import save_file

import netgraph
from netgraph.architectures import cifar_resnet, mlp
from netgraph.architectures import vgg
from netgraph.metanets import parameter_masks
from netgraph.tasks import prune
from netgraph.tasks.pruning import (
    build_pruning_zoo,
    get_family,
    group_importance,
    group_lasso,
    load_model_file,
    load_pruned,
    measure,
    prunable_groups,
    prune_to_speedup,
    save_pruned,
    torch_pruning_to_speedup,
    train_pruning_metanet,
)
from netgraph.tasks.pruning.cli import run

torch.set_num_threads(1)

MODELS = {
    "mlp": (lambda: mlp([12, 32, 24, 5]), (12,)),
    "vgg": (lambda: vgg([8, 8, "M", 16], in_channels=2, num_classes=5), (2, 8, 8)),
    "resnet": (lambda: cifar_resnet(8, width=4, num_classes=5, in_channels=2), (2, 8, 8)),
}


def _model(name):
    factory, shape = MODELS[name]
    torch.manual_seed(0)
    model = factory().eval()
    if name == "resnet":  # non-trivial BatchNorm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
    return model, shape


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("speedup", [1.5, 2.0, 3.0])
def test_pruned_model_is_smaller_runs_and_reaches_the_target(name, speedup):
    model, shape = _model(name)
    x = torch.randn(4, *shape)
    pruned = prune_to_speedup(model, x[:1], speedup)
    flops, params = measure(model, x[:1])
    flops2, params2 = measure(pruned, x[:1])
    assert flops / flops2 >= speedup and params2 < params
    assert pruned(x).shape == model(x).shape
    assert sum(p.numel() for p in pruned.parameters()) == params2
    # every group keeps the same share of units, and the parameter graph of the pruned net is consistent
    spec = netgraph.spec_of(pruned)
    widths = [g.units for g in prunable_groups(spec)]
    originals = [g.units for g in prunable_groups(netgraph.spec_of(model))]
    assert all(w < o for w, o in zip(widths, originals))
    assert netgraph.to_state_dict(netgraph.from_module(pruned)).keys() == pruned.state_dict().keys()


def test_pruned_mlp_equals_a_freshly_built_narrow_mlp():
    model, shape = _model("mlp")
    pruned = prune_to_speedup(model, torch.zeros(1, *shape), 2.0)
    hidden = [pruned[0].out_features, pruned[2].out_features]
    fresh = mlp([12, *hidden, 5])
    fresh.load_state_dict(pruned.state_dict())
    assert measure(fresh, torch.zeros(1, 12)) == measure(pruned, torch.zeros(1, 12))


def _zero_units(model, fraction=0.5):
    """Zero every parameter attached to the first units of every group (on the parameter graph)."""
    graph = netgraph.from_module(model)
    groups = prunable_groups(graph.spec)
    nodes = torch.cat([g.nodes[: int(g.units * fraction)].reshape(-1) for g in groups])
    node_mask, edge_mask = parameter_masks(graph)  # parameters, not fixed edges
    touched = torch.isin(graph.edge_index, nodes).any(0, keepdim=True).T
    graph.edge_attr = torch.where(touched & edge_mask, 0.0, graph.edge_attr)
    chosen = torch.zeros(graph.num_nodes, 1, dtype=torch.bool).index_fill(0, nodes, True)
    graph.x = torch.where(chosen & node_mask, 0.0, graph.x)
    return netgraph.to_module(graph, model)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pruning_zero_channels_leaves_outputs_unchanged(name):
    model, shape = _model(name)
    zeroed = _zero_units(model)
    x = torch.randn(16, *shape)
    pruned = prune_to_speedup(zeroed, x[:1], 1.01, step=0.5, max_steps=1)
    assert measure(pruned, x[:1])[0] < measure(zeroed, x[:1])[0] / 1.5
    assert torch.allclose(pruned(x), zeroed(x), atol=1e-5)
    assert not torch.allclose(zeroed(x), model(x), atol=1e-3)  # the zeroing did change the net


def test_importance_is_invariant_to_permutations_and_ranks_zero_units_last():
    model, shape = _model("resnet")
    graph = netgraph.from_module(model)
    groups = prunable_groups(graph.spec)
    assert len(groups) == 6 and groups[0].nodes.shape[1] == 3  # stem channels tied to 2 residuals
    perm = netgraph.random_permutation(graph, torch.Generator().manual_seed(1))
    a = group_importance(graph, groups)
    b = group_importance(netgraph.permute(graph, perm), groups)
    assert all(torch.allclose(x.sort().values, y.sort().values, atol=1e-5) for x, y in zip(a, b))
    scores = group_importance(netgraph.from_module(_zero_units(model)), groups)
    assert all(float(s[: g.units // 2].max()) == 0.0 < float(s[g.units // 2 :].min()) for s, g in zip(scores, groups))


def test_group_lasso_matches_a_direct_computation_and_has_gradients():
    model = mlp([3, 4, 2])
    graph = netgraph.from_module(model)
    graph.x.requires_grad_(True)
    value = group_lasso(graph, prunable_groups(graph.spec), eps=0.0)
    w1, b1, w2 = model[0].weight, model[0].bias, model[2].weight
    direct = (w1.pow(2).sum(1) + b1.pow(2) + w2.pow(2).sum(0)).sqrt().sum()
    assert torch.allclose(value, direct, atol=1e-5)
    value.backward()
    assert graph.x.grad.abs().sum() > 0


def test_torch_pruning_baseline_reaches_the_target():
    model, shape = _model("vgg")
    x = torch.zeros(1, *shape)
    pruned = torch_pruning_to_speedup(model, x, 2.0)
    assert measure(model, x)[0] / measure(pruned, x)[0] >= 2.0
    assert pruned(torch.randn(2, *shape)).shape == (2, 5)


@pytest.mark.parametrize("bad", [0.5, float("nan"), "2"])
def test_bad_speedup_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="speedup must be a number >= 1"):
        prune(mlp([4, 8, 3]), speedup=bad, data="iris", finetune_epochs=0)


def test_unreachable_speedup_unknown_arch_and_wrong_files(tmp_path):
    with pytest.raises(ValueError, match="cannot reach speedup=50"):
        prune_to_speedup(mlp([4, 8, 3]), torch.zeros(1, 4), 50)
    with pytest.raises(ValueError, match="unknown arch 'resnet18'"):
        get_family("resnet18")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model_file(tmp_path / "nope.safetensors", "mlp", (64,), 10)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot read model="):
        load_model_file(garbage, "mlp", (64,), 10)
    other = tmp_path / "vgg.safetensors"
    save_file(vgg().state_dict(), str(other))
    with pytest.raises(ValueError, match="is not an arch=mlp network"):
        load_model_file(other, "mlp", (64,), 10)
    with pytest.raises(FileNotFoundError, match="neither a bundled data set"):
        prune(mlp([4, 8, 3]), data=str(tmp_path / "cifar.pt"), finetune_epochs=0)
    with pytest.raises(ValueError, match="does not take inputs"):
        prune(mlp([5, 8, 3]), data="iris", finetune_epochs=0)
    with pytest.raises(FileNotFoundError, match="cannot load a gmn metanet"):
        prune(mlp([4, 8, 3]), metanet=str(tmp_path / "missing"), data="iris", finetune_epochs=0)


def test_prune_api_table_and_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = get_family("mlp").build((4,), 3, hidden=[32, 32])
    result = prune(model, speedup=2.0, data="iris", finetune_epochs=2, method="torch_pruning")
    assert [r["stage"] for r in result.rows] == ["original", "pruned", "fine-tuned"]
    assert result.speedup >= 2.0 and result.after["flops"] < result.before["flops"]
    assert len(result.history) == 2 and "| fine-tuned |" in result.table()
    save_pruned(tmp_path, result.model, "mlp", (4,), 3, {"hidden": [32, 32]})
    loaded = load_pruned(tmp_path)
    x = torch.randn(5, 4)
    assert torch.equal(loaded(x), result.model(x))
    assert load_model_file(tmp_path / "model.safetensors", "mlp", (4,), 3, {"hidden": [32, 32]})(x).equal(loaded(x))


def test_meta_training_runs_edits_and_feeds_the_metanet_route():
    zoo = build_pruning_zoo("mlp", "iris", num_nets=6, epochs=2, seed=0)
    run_ = train_pruning_metanet(
        zoo=zoo,
        metanet_config={"dim": 8, "depth": 1, "head_hidden": 8},
        sparsity=1e-2,
        train={"epochs": 2, "batch_size": 2, "lr": 1e-2},
        data_batch=32,
    )
    assert run_.fit.epochs_run == 2 and {"val_ce", "val_lasso"} <= set(run_.fit.history[-1])
    assert 1 <= run_.fit.best_epoch <= 2
    model = zoo.base
    model.load_state_dict({k: v[0] for k, v in zoo.weights.items()})
    result = prune(model, run_.metanet, speedup=1.5, data="iris", finetune_epochs=1)
    assert [r["stage"] for r in result.rows] == ["original", "edited", "pruned", "fine-tuned"]
    assert result.method == "metanet" and result.speedup >= 1.5


def test_resnet_families_need_no_zoo_and_refuse_meta_training():
    with pytest.raises(ValueError, match="BatchNorm"):
        build_pruning_zoo("resnet", "digits", num_nets=2, epochs=1)


def _compose(overrides):
    with initialize_config_module(config_module="netgraph.configs.prune", version_base="1.3"):
        return compose(config_name="prune", overrides=overrides)


@pytest.mark.parametrize("arch", ["mlp", "vgg", "resnet", "resnet56", "vit"])
def test_every_arch_config_composes_and_builds(arch):
    cfg = _compose([f"arch={arch}"])
    model = get_family(cfg.arch.name).build((3, 32, 32) if arch != "mlp" else (64,), 10, **cfg.arch.kwargs)
    assert model(torch.zeros(1, *((3, 32, 32) if arch != "mlp" else (64,)))).shape == (1, 10)


def test_cli_runs_end_to_end_with_a_trained_metanet(tmp_path):
    out = tmp_path / "out"
    cfg = _compose(
        [
            f"out={out}",
            "arch=vgg",
            "arch.kwargs.widths=[8,M,8]",
            "base.epochs=1",
            "finetune.epochs=1",
            "speedup=1.5",
            "metanet=none",
            "num_threads=1",
        ]
    )
    result, folder = run(cfg)
    assert folder == out and result.speedup >= 1.5
    assert (out / "table.md").read_text().startswith("| stage |")
    assert (out / "accuracy_vs_speedup.png").stat().st_size > 0  # the figure beside the table
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(load_pruned(out)(x), result.model(x))
    # the saved original, re-pruned with a metanet trained by the CLI itself
    out2 = tmp_path / "meta"
    cfg = _compose(
        [
            f"out={out2}",
            "arch=mlp",
            "data=iris",
            "base.epochs=1",
            "finetune.epochs=1",
            "metanet=train",
            "meta.num_nets=3",
            "meta.zoo_epochs=1",
            "meta.epochs=1",
            "meta.metanet.dim=8",
            "meta.metanet.depth=1",
        ]
    )
    result, _ = run(cfg)
    assert result.method == "metanet" and (out2 / "metanet" / "config.json").is_file()
    cfg = _compose(
        [
            f"out={tmp_path / 'again'}",
            "arch=mlp",
            "data=iris",
            f"model={out2 / 'original.safetensors'}",
            f"metanet={out2 / 'metanet'}",
            "finetune.epochs=0",
            "speedup=1.2",
        ]
    )
    result, _ = run(cfg)
    assert result.method == "metanet" and result.speedup >= 1.2


def test_cli_bad_target_and_unknown_arch(tmp_path):
    with pytest.raises(ValueError, match="speedup must be a number >= 1"):
        run(_compose([f"out={tmp_path}", "speedup=0.5"]))
    with pytest.raises(ValueError, match="unknown arch 'resnet18'"):
        run(_compose([f"out={tmp_path}", "arch.name=resnet18"]))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(_compose([f"out={tmp_path}", f"model={tmp_path / 'missing.safetensors'}"]))


@pytest.mark.slow
def test_console_script_help_and_bad_target():
    done = subprocess.run(
        [sys.executable, "-m", "netgraph.tasks.pruning.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "speedup" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "netgraph.tasks.pruning.cli", "speedup=0.5", "out=/tmp/never"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "speedup must be a number >= 1" in done.stderr
