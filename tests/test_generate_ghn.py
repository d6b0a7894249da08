"""The operation-graph GHN (netgraph.metanets.OperationGraphHypernetwork): graph construction, the operation-dependent
normalisation, full rank, padding invariance, training, the architecture space, Hub round trips."""

import math

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.metanets import OperationGraphHypernetwork, ParameterGraphHypernetwork, operation_graph
from netgraph.tasks.generate import ClassificationProblem
from netgraph.tasks.generate.arch_space import SampledCNN, handwritten_cnns, sample_cnn_config, sample_cnns
from netgraph.tasks.generate.ghn import calibrate_batchnorm, layer_statistics, start_accuracy, train_ghn


class SkipNet(nn.Module):
    """c1 -> c2 (depthwise) -> (c2 + c1) -> cat with c1 -> c3 -> mean -> fc."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.c3 = nn.Conv2d(16, 12, 1)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = torch.cat([self.c2(h) + h, h], 1)
        return self.fc(self.c3(h).mean((2, 3)))


def test_operation_graph_follows_sums_and_concatenations():
    g = operation_graph(netgraph.spec_of(SkipNet()))
    assert g.weight_keys == ["c1.weight", "c2.weight", "c3.weight", "fc.weight"]
    # nodes: 0 input, 1 c1, 2 c2, 3 c3, 4 fc
    expected = torch.tensor(
        [[0, 1, 2, 2, 3], [-1, 0, 1, 1, 2], [-1, -1, 0, 1, 2], [-1, -1, -1, 0, 1], [-1, -1, -1, -1, 0]]
    )
    assert torch.equal(g.distance, expected)  # c1 -> c3 directly (the concatenation and the sum)
    kinds = g.features[:, :5].argmax(1).tolist()
    assert kinds == [0, 2, 3, 2, 1]  # input, conv, depthwise, conv, linear
    assert g.features[4, -5] == 1 and g.features[1:4, -5].sum() == 0  # only fc is last


def _predict_structured(ghn, net, n=1):
    """Prediction with the tiled part at its maximal share."""
    with torch.no_grad():
        ghn.decoder[-1].bias[-1] = 50.0  # mix logit -> rho = 1 - min_noise
    return ghn.predict([net], n, torch.Generator().manual_seed(0))[0]


def test_every_predicted_row_is_standardised_to_the_fan_in_scale():
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2, min_noise=0.0).eval()
    net = SkipNet()
    params = _predict_structured(ghn, net)
    g = ghn.graph_of(net)
    with torch.no_grad():
        decoded = ghn.decoder(ghn.embed([g])[0][1:])
    gains = decoded[:, -2].clamp(-4, 2).exp()
    for key, shape, gain in zip(g.weight_keys, g.shapes, gains):
        rows = params[key][0].reshape(shape[0], -1)
        fan_in = math.prod(shape[1:])
        torch.testing.assert_close(
            rows.pow(2).mean(1).sqrt(), torch.full((shape[0],), float(gain) / math.sqrt(fan_in)), rtol=1e-4, atol=1e-6
        )
        if fan_in > 1:
            torch.testing.assert_close(rows.mean(1), torch.zeros(shape[0]), atol=1e-5, rtol=0)


def test_the_noise_share_keeps_tiled_weights_full_rank():
    net = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 40), nn.ReLU(), nn.Linear(40, 10))
    torch.manual_seed(0)
    tiled_only = _predict_structured(
        OperationGraphHypernetwork(dim=16, layers=1, heads=2, block=8, min_noise=0.0).eval(), net
    )
    torch.manual_seed(0)
    noisy = _predict_structured(
        OperationGraphHypernetwork(dim=16, layers=1, heads=2, block=8, min_noise=0.2).eval(), net
    )
    assert int(torch.linalg.matrix_rank(tiled_only["2.weight"][0])) <= 8  # rows repeat every 8 channels
    assert int(torch.linalg.matrix_rank(noisy["2.weight"][0])) == 40


@pytest.mark.parametrize("encoder", ["transformer", "gnn"])
def test_embeddings_do_not_depend_on_what_else_is_in_the_batch(encoder):
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=2, heads=2, encoder=encoder).eval()
    small, big = ghn.graph_of(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))), ghn.graph_of(SkipNet())
    with torch.no_grad():
        alone = ghn.embed([small])[0]
        padded = ghn.embed([big, small])[1]
    assert big.num_ops > small.num_ops
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


def test_call_writes_the_prediction_into_the_model_and_generate_runs_n_networks():
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval()
    net = SkipNet()
    expected = ghn.predict([net], 1, torch.Generator().manual_seed(3))[0]
    assert ghn(net, torch.Generator().manual_seed(3)) is net
    for key, value in expected.items():
        torch.testing.assert_close(net.state_dict()[key], value[0].detach())
    nets = ghn.generate(net, n=3)
    assert tuple(nets(torch.randn(2, 1, 8, 8)).shape) == (3, 2, 10)
    assert not torch.equal(nets.state_dicts()["c1.weight"][0], nets.state_dicts()["c1.weight"][1])  # fresh noise each


def test_the_sampler_draws_distinct_convertible_networks_and_honours_exclude():
    rng = torch.Generator().manual_seed(0)
    pool = sample_cnns(12, rng)
    assert len({str(c) for c in pool}) == 12
    again = sample_cnns(12, torch.Generator().manual_seed(0))
    assert again == pool  # deterministic from the generator
    other = sample_cnns(12, torch.Generator().manual_seed(0), exclude=pool)
    assert not any(c in pool for c in other)
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval()
    nets = [SampledCNN(c) for c in pool[:6]] + [f() for f in handwritten_cnns().values()]
    for net, params in zip(nets, ghn.predict(nets)):
        own = dict(net.named_parameters())
        for key, value in params.items():
            assert value.shape[1:] == own[key].shape
        assert torch.isfinite(ghn(net)(torch.randn(2, 1, 8, 8))).all()
    kinds = {b["kind"] for c in sample_cnns(40, torch.Generator().manual_seed(1)) for b in c["blocks"]}
    assert kinds == {"plain", "residual", "concat", "separable"}
    assert {b["pool"] for c in sample_cnns(40, torch.Generator().manual_seed(1)) for b in c["blocks"]} == {
        None,
        "max",
        "avg",
    }
    assert sample_cnn_config(torch.Generator().manual_seed(5)) == sample_cnn_config(torch.Generator().manual_seed(5))


def test_training_lowers_the_loss_of_predicted_networks():
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)
    )
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=32, layers=1, heads=2, min_noise=0.0)
    history = train_ghn(ghn, ClassificationProblem("digits"), [net], steps=150, meta_batch=1, lr=1e-3, progress=False)
    first, last = (sum(r["loss"] for r in rows) / len(rows) for rows in (history[:10], history[-10:]))
    assert last < first - 0.2


def _resume_setup():
    pool = [SampledCNN(c) for c in sample_cnns(4, torch.Generator().manual_seed(0))]
    return pool, dict(meta_batch=2, batch_size=16, progress=False)


def _tiny_ghn(seed):
    torch.manual_seed(seed)
    return OperationGraphHypernetwork(dim=16, layers=1, heads=2)


def test_train_ghn_stopped_and_resumed_ends_exactly_where_one_run_does(tmp_path):
    pool, kw = _resume_setup()
    problems = [ClassificationProblem("digits"), ClassificationProblem("digits", split_seed=1)]  # in turn
    whole = train_ghn(_tiny_ghn(0), problems, pool, steps=5, **kw)
    first = train_ghn(_tiny_ghn(0), problems, pool, steps=3, run_dir=tmp_path, checkpoint_every=2, **kw)
    resumed_ghn = _tiny_ghn(7)  # another initialisation: the checkpoint must overwrite it
    resumed = train_ghn(resumed_ghn, problems, pool, steps=5, run_dir=tmp_path, checkpoint_every=2, **kw)
    assert [r["step"] for r in first] == [1, 2, 3] and [r["step"] for r in resumed] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in resumed] == [r["loss"] for r in whole]
    reference = _tiny_ghn(0)
    train_ghn(reference, problems, pool, steps=5, **kw)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed_ghn.state_dict()[key], value, rtol=0, atol=0)


def test_train_ghn_refuses_to_resume_a_run_of_other_settings(tmp_path):
    from netgraph.errors import ProvenanceError

    pool, kw = _resume_setup()
    train_ghn(_tiny_ghn(0), ClassificationProblem("digits"), pool, steps=2, run_dir=tmp_path, **kw)
    with pytest.raises(ProvenanceError, match="lr"):
        train_ghn(_tiny_ghn(0), ClassificationProblem("digits"), pool, steps=4, lr=0.01, run_dir=tmp_path, **kw)


def test_calibrate_batchnorm_sets_the_statistics_of_the_given_inputs():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    x = torch.randn(16, 1, 8, 8) * 3 + 1
    calibrate_batchnorm(net, x)
    with torch.no_grad():
        h = net[0](x)
    torch.testing.assert_close(net[1].running_mean, h.mean((0, 2, 3)), atol=1e-5, rtol=1e-5)
    assert net[1].momentum == 0.1


def _bn_net():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_ghn_with_data_calibrates_batchnorm_on_it_and_says_so():
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval()
    x = torch.randn(64, 1, 8, 8) * 2 + 3
    net = ghn(_bn_net(), torch.Generator().manual_seed(0), data=x)
    with torch.no_grad():
        h = net[0](x)
    torch.testing.assert_close(net[1].running_mean, h.mean((0, 2, 3)), atol=1e-4, rtol=1e-4)
    assert net.ghn_batchnorm.startswith("calibrate") and "64 given inputs" in net.ghn_batchnorm
    data = ClassificationProblem("digits").data  # a ClassificationData: its training inputs
    assert "calibrate" in ghn(_bn_net(), data=data).ghn_batchnorm


def test_ghn_without_data_normalises_with_batch_statistics_in_eval_mode():
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval()
    net = ghn(_bn_net()).eval()
    assert net.ghn_batchnorm.startswith("batch") and net[1].running_mean is None
    x = torch.randn(32, 1, 8, 8) * 2 + 3
    with torch.no_grad():
        h = net[0](x)
        normalised = net[1](h)
    torch.testing.assert_close(normalised.mean((0, 2, 3)), net[1].bias, atol=1e-4, rtol=0)  # batch statistics
    calibrate_batchnorm(net, x)  # brings running statistics back
    assert net[1].track_running_stats and net[1].running_mean is not None
    kept = ghn(_bn_net(), batchnorm="keep")
    assert kept[1].running_var.eq(1).all() and kept.ghn_batchnorm.startswith("keep")
    assert ghn(nn.Sequential(nn.Linear(4, 3))).ghn_batchnorm.startswith("none")
    with pytest.raises(ValueError, match="needs data="):
        ghn(_bn_net(), batchnorm="calibrate")
    with pytest.raises(ValueError, match="batchnorm must be one of"):
        ghn(_bn_net(), batchnorm="running")


def test_start_accuracy_and_layer_statistics_shapes():
    problem = ClassificationProblem("digits")
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval()
    scores = start_accuracy(handwritten_cnns()["depthwise_separable"], ghn, problem.data, seed=0, epochs=(1,))
    assert set(scores) == {"default", "ghn"}
    assert all(len(v) == 2 and 0 <= min(v) <= max(v) <= 1 for v in scores.values())
    rows = layer_statistics(nn.Linear(8, 4))
    assert rows[0]["max_rank"] == 4 and 1 <= rows[0]["effective_rank"] <= 4


def test_a_saved_ghn_loads_and_predicts_the_same(tmp_path):
    torch.manual_seed(0)
    ghn = OperationGraphHypernetwork(dim=16, layers=1, heads=2, encoder="gnn", trained_on={"data": "digits"}).eval()
    netgraph.hub.save(ghn, tmp_path / "ghn")
    loaded = netgraph.hub.load_generator(str(tmp_path / "ghn"))
    assert isinstance(loaded, OperationGraphHypernetwork) and loaded.trained_on == {"data": "digits"}
    a = ghn.predict([SkipNet()], 1, torch.Generator().manual_seed(0))[0]
    b = loaded.predict([SkipNet()], 1, torch.Generator().manual_seed(0))[0]
    for key in a:
        torch.testing.assert_close(a[key], b[key])


@pytest.mark.parametrize(
    "make, stored",
    [
        (lambda: OperationGraphHypernetwork(dim=16, layers=1, heads=2), "netgraph.metanets.ghn.GHN"),
        (lambda: ParameterGraphHypernetwork(dim=8, depth=1), "netgraph.metanets.graph_hypernet.GraphHypernetwork"),
    ],
)
def test_a_folder_saved_under_the_old_class_name_still_loads(tmp_path, make, stored):
    import json

    from netgraph.io import write_checksums

    torch.manual_seed(0)
    model = make().eval()
    folder = netgraph.hub.save(model, tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    config["netgraph"]["class"] = stored  # as written before the rename (issue 24)
    (folder / "config.json").write_text(json.dumps(config))
    write_checksums(folder, json.loads((folder / "checksums.json").read_text())["sha256"])
    loaded = netgraph.hub.load_generator(str(folder))
    assert type(loaded) is type(model)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def _saved_ghn(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "ghn"
    netgraph.hub.save(OperationGraphHypernetwork(dim=16, layers=1, heads=2).eval(), folder)
    return str(folder)


def test_netgraph_generate_init_writes_a_model_the_factory_loads(tmp_path):
    from safetensors.torch import load_file

    from netgraph.tasks.generate.cli import run

    repo = _saved_ghn(tmp_path)
    summary = run({"action": "init", "repo": repo, "target": "vgg", "out": str(tmp_path / "vgg-init"), "seed": 3})
    model = netgraph.architectures.create_architecture("vgg")
    model.load_state_dict(load_file(tmp_path / "vgg-init" / "model.safetensors"))
    expected = netgraph.hub.load_generator(repo)(
        netgraph.architectures.create_architecture("vgg"), torch.Generator().manual_seed(3)
    )
    for key, value in expected.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert summary["initialised_values"] == sum(p.numel() for p in model.parameters())
    with pytest.raises(TypeError, match="does not initialise a given model"):
        run({"action": "init", "repo": "iris-mlp-hypernet", "target": "mlp", "out": str(tmp_path / "x")})
    with pytest.raises(ValueError, match="action=init needs target"):
        run({"action": "init", "repo": repo, "out": str(tmp_path / "x")})


@pytest.mark.slow
def test_netgraph_generate_init_reads_and_writes_a_hugging_face_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    from netgraph.tasks.generate.cli import run

    config = transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        vocab_size=100,
        max_position_embeddings=16,
        architectures=["BertModel"],
    )
    transformers.BertModel(config).save_pretrained(tmp_path / "bert")
    run(
        {"action": "init", "repo": _saved_ghn(tmp_path), "target": str(tmp_path / "bert"), "out": str(tmp_path / "out")}
    )
    before = transformers.BertModel.from_pretrained(tmp_path / "bert")
    after = transformers.BertModel.from_pretrained(tmp_path / "out")
    query = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before.state_dict()[query], after.state_dict()[query])
    rms = after.state_dict()[query].pow(2).mean().sqrt() * math.sqrt(32)
    assert 0.01 < float(rms) < 10  # at the fan-in scale, not a copy


def test_the_bundled_ghn_initialises_a_users_cnn_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "digits-cnn-ghn" in netgraph.hub.bundled_generators()
    ghn = netgraph.hub.load_generator("digits-cnn-ghn")
    assert isinstance(ghn, OperationGraphHypernetwork) and not ghn.training

    class MyCNN(nn.Module):  # a network of the user's own, never sampled
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 12, 3, padding=1),
                nn.BatchNorm2d(12),
                nn.ReLU(),
                nn.Conv2d(12, 20, 3, stride=2, padding=1),
                nn.ReLU(),
            )
            self.classifier = nn.Linear(20, 10)

        def forward(self, x):
            return self.classifier(self.features(x).mean((2, 3)))

    model = ghn(MyCNN(), torch.Generator().manual_seed(0))
    assert torch.isfinite(model(torch.randn(4, 1, 8, 8))).all()
    for row in layer_statistics(model):
        assert 0.05 < row["rms_times_sqrt_fan_in"] < 10 and row["effective_rank"] > 0.5 * row["max_rank"]
    results = (netgraph.hub.bundled_path("digits-cnn-ghn") / "results.json").read_text()
    assert all(name in results for name in handwritten_cnns())
