"""Vectorised training blocks: stacked forward, init, optimiser, dropout, metrics, INR fitting."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from netgraph.architectures import Siren, SmallCNN, mlp
from netgraph.datasets import (
    ClassificationData,
    StackedModel,
    StackedOptimizer,
    evaluate_classifiers,
    fit_inrs,
    inr_grid,
    psnr,
    render_inr,
    sample_hparams,
    sine_waves,
    stacked_init,
    train_classifiers,
)
from netgraph.datasets.stacked import OPTIMIZERS, RateDropout


def test_stacked_forward_equals_each_module():
    model = SmallCNN(1, channels=4, num_classes=3)
    params = stacked_init(
        model, 3, ["he_normal", "glorot_uniform", "normal"], [0.1] * 3, torch.Generator().manual_seed(1)
    )
    x = torch.randn(3, 5, 1, 8, 8)
    out = StackedModel(model)(params, x)
    shared = StackedModel(model)(params, x[0], shared_inputs=True)
    for i in range(3):
        single = SmallCNN(1, channels=4, num_classes=3)
        single.load_state_dict({k: v[i] for k, v in params.items()})
        assert torch.allclose(out[i], single(x[i]), atol=1e-5)
        assert torch.allclose(shared[i], single(x[0]), atol=1e-5)


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_stacked_optimizer_matches_torch_optim(kind):
    torch.manual_seed(0)
    lrs, wds = [0.05, 0.01, 0.002], [0.0, 1e-3, 1e-2]
    nets = [mlp([3, 5, 2]) for _ in lrs]
    params = {
        k: torch.stack([dict(n.named_parameters())[k].detach() for n in nets]).clone().requires_grad_()
        for k, _ in nets[0].named_parameters()
    }
    make = {
        "sgd": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd),
        "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd),
        "rmsprop": lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr, weight_decay=wd),
    }[kind]
    references = [make(n.parameters(), lr, wd) for n, lr, wd in zip(nets, lrs, wds)]
    opt = StackedOptimizer(params, torch.tensor(lrs), torch.tensor(wds), torch.full((3,), OPTIMIZERS.index(kind)))
    stacked = StackedModel(nets[0])
    x, y = torch.randn(3, 8, 3), torch.randint(0, 2, (3, 8))
    for _ in range(5):
        loss = F.cross_entropy(stacked(params, x).transpose(1, 2), y, reduction="none").mean(1).sum()
        opt.step(dict(zip(params, torch.autograd.grad(loss, list(params.values())))))
        for i, (net, ref) in enumerate(zip(nets, references)):
            ref.zero_grad()
            F.cross_entropy(net(x[i]), y[i]).backward()
            ref.step()
    for i, net in enumerate(nets):
        for k, v in net.named_parameters():
            assert torch.allclose(params[k][i], v, atol=1e-6), (kind, i, k)


def test_mixed_optimizers_in_one_population_and_frozen_nets():
    params = {"w": torch.ones(3, 2)}
    opt = StackedOptimizer(params, torch.tensor([0.1, 0.1, 0.1]), torch.zeros(3), torch.tensor([0, 1, 2]))
    opt.step({"w": torch.full((3, 2), 2.0)}, active=torch.tensor([True, True, False]))
    # sgd: 1 - 0.1 * 2; adam's first step is lr * sign(g); the frozen rmsprop net does not move
    assert torch.allclose(params["w"], torch.tensor([[0.8, 0.8], [0.9, 0.9], [1.0, 1.0]]), atol=1e-6)


def test_rate_dropout_per_net_rates_and_eval_identity():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    net = StackedModel(model)
    params = {k: v.detach().unsqueeze(0).repeat(3, *[1] * v.dim()) for k, v in model.named_parameters()}
    x = torch.ones(3, 2000, 4)
    out = net(params, x, dropout=torch.tensor([0.0, 0.5, 0.9]), train=True)
    ref = net(params, x)  # eval: no dropout
    zeros = (out == 0).float().mean((1, 2))
    assert torch.equal(out[0], ref[0]) and abs(zeros[1] - 0.5) < 0.03 and abs(zeros[2] - 0.9) < 0.03
    kept = out[1] != 0
    assert torch.allclose(out[1][kept], (ref[1] * 2)[kept], atol=1e-6)  # inverted-dropout scaling 1 / (1 - p)
    assert isinstance(net.module[1], RateDropout) and "1.p" not in net.module.state_dict()


def test_stacked_init_scales():
    model = mlp([50, 40, 10])
    n = 400
    schemes = ["he_normal", "glorot_uniform", "normal", "siren"]
    params = stacked_init(
        model, n * 4, [s for s in schemes for _ in range(n)], [0.2] * (4 * n), torch.Generator().manual_seed(0), w0=30.0
    )
    w = params["0.weight"].view(4, n, -1)
    assert abs(w[0].std() - math.sqrt(2 / 50)) < 0.01  # He normal
    assert w[1].abs().max() <= math.sqrt(6 / 90) + 1e-6 and abs(w[1].std() - math.sqrt(2 / 90)) < 0.01
    assert abs(w[2].std() - 0.2) < 0.01  # normal(init_std)
    assert w[3].abs().max() <= 1 / 50 + 1e-7  # SIREN first layer
    assert params["2.weight"].view(4, n, -1)[3].abs().max() <= math.sqrt(6 / 40) / 30 + 1e-7
    b = params["0.bias"].view(4, n, -1)
    assert torch.equal(b[:3], torch.zeros_like(b[:3])) and 0 < b[3].abs().max() <= 1 / math.sqrt(50)
    with pytest.raises(ValueError, match="unknown init"):
        stacked_init(model, 1, ["kaiming"])


def test_evaluate_classifiers_against_hand_computed_values():
    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    params = {"0.weight": torch.stack([torch.eye(2), -torch.eye(2)])}  # net 1 flips every prediction
    x = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    y = torch.tensor([0, 1, 1, 1])
    data = ClassificationData(
        "hand", {s: x for s in ("train", "val", "test")}, {s: y for s in ("train", "val", "test")}, (2,), 2
    )
    mask = torch.tensor([[True, True, True, True], [True, False, False, False]])
    m = evaluate_classifiers(StackedModel(model), params, data, train_mask=mask)
    assert m["test_acc"].tolist() == [3 / 4, 1 / 4] and m["train_acc"].tolist() == [3 / 4, 0.0]
    softplus = lambda z: math.log1p(math.exp(z))  # noqa: E731
    # CE of logits (a, b) with label 0 is softplus(b - a)
    expected = (softplus(-2) + softplus(-1) + softplus(2) + softplus(-2)) / 4
    assert abs(m["test_loss"][0].item() - expected) < 1e-6
    assert abs(m["train_loss"][1].item() - softplus(2)) < 1e-6


def test_train_classifiers_learns_and_records_checkpoints():
    from netgraph.datasets import classification_data

    data = classification_data("iris")
    hp = {"learning_rate": [0.05, 1e-6], "optimizer": ["adam", "sgd"], "train_fraction": [1.0, 0.5]}
    result = train_classifiers(
        mlp([4, 16, 3]),
        data,
        hp,
        epochs=6,
        checkpoints=[0, 3, 6],
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
    )
    acc = result.metrics["test_acc"]
    assert acc.shape == (2, 3) and acc[0, -1] > 0.8 and acc[0, -1] > acc[0, 0]
    assert (result.weights["0.weight"][1, -1] - result.weights["0.weight"][1, 0]).abs().max() < 1e-3  # lr 1e-6
    with pytest.raises(ValueError, match="unknown training hyper-parameter"):
        train_classifiers(mlp([4, 3]), data, {"lr": [0.1]}, 1, [1])
    with pytest.raises(ValueError, match="checkpoints"):
        train_classifiers(mlp([4, 3]), data, {"learning_rate": [0.1]}, 1, [2])


def test_psnr_and_grid_hand_values():
    target = torch.tensor([[0.0, 1.0, 0.5, 0.25]])
    assert abs(psnr(target + 0.1, target).item() - 20.0) < 1e-4  # 10 log10(1 / 0.01)
    assert inr_grid((2, 1)).tolist() == [[-1.0, -1.0], [1.0, -1.0]]
    assert inr_grid((1, 2), indexing="xy").tolist() == [[-1.0, -1.0], [1.0, -1.0]]
    coords, values = sine_waves(torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([math.pi / 2]), points=5)
    assert torch.allclose(values.flatten(), torch.cos(math.pi * coords.flatten()), atol=1e-6)


def test_fit_inrs_reaches_psnr_stop_and_renders_back():
    images = torch.rand(4, 5, 6)
    fit = fit_inrs(
        Siren(),
        inr_grid((5, 6)),
        images.flatten(1).unsqueeze(-1),
        steps=300,
        checkpoints=[0, 300],
        lr=1e-3,
        psnr_stop=30.0,
        generator=torch.Generator().manual_seed(0),
    )
    final = fit.metrics["psnr"][:, -1]
    assert (final >= 30).all() and (fit.metrics["steps"][:, -1] < 300).all()
    for i in range(4):
        model = Siren()
        model.load_state_dict({k: v[i, -1] for k, v in fit.weights.items()})
        image = render_inr(model, (5, 6))
        assert image.shape == (1, 5, 6)
        assert abs(psnr(image, images[i : i + 1]).item() - final[i].item()) < 1e-3


def test_sample_hparams_is_seeded_and_per_name():
    space = {"a": {"uniform": [0, 1]}, "b": {"choice": ["x", "y"]}}
    first = sample_hparams(space, 5, seed=3)
    assert first == sample_hparams(space, 5, seed=3) and first != sample_hparams(space, 5, seed=4)
    assert sample_hparams({**space, "c": {"log_uniform": [1, 2]}}, 5, seed=3)["a"] == first["a"]
    with pytest.raises(ValueError, match="log_uniform needs low > 0"):
        sample_hparams({"a": {"log_uniform": [0, 1]}}, 2, 0)
    with pytest.raises(ValueError, match="expected a fixed value or one of"):
        sample_hparams({"a": {"gauss": [0, 1]}}, 2, 0)
