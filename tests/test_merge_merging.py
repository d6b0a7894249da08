"""Interpolation, barriers, BatchNorm statistics and weight arithmetic, against hand-computed values."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import netgraph
from netgraph.architectures import mlp
from netgraph.merge import (
    InterpolationPath,
    barrier,
    dare,
    evaluate_many,
    greedy_soup,
    interpolate,
    model_soup,
    recompute_batchnorm_stats,
    reset_batchnorm,
    task_arithmetic,
    task_vectors,
    ties_merging,
)


def _linear(weight, bias):
    layer = nn.Linear(len(weight), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weight]))
        layer.bias.copy_(torch.tensor([bias]))
    return layer


def _bn_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).eval()


def test_interpolate_end_points_are_exact_and_midpoint_is_the_average():
    a, b = _bn_net(0), _bn_net(1)
    with torch.no_grad():
        b[1].running_var.fill_(3.0)
    for t, expected in ((0.0, a), (1.0, b)):
        out = interpolate(a, b, t).state_dict()
        for key, value in expected.state_dict().items():
            assert torch.equal(out[key], value), key
    mid = interpolate(a, b, 0.25)
    torch.testing.assert_close(mid[0].weight, 0.75 * a[0].weight + 0.25 * b[0].weight)
    torch.testing.assert_close(mid[1].running_var, 0.75 * a[1].running_var + 0.25 * b[1].running_var)
    assert int(mid[1].num_batches_tracked) == int(a[1].num_batches_tracked)
    graph = interpolate(netgraph.from_module(a), netgraph.from_module(b), 0.5)
    assert isinstance(graph, netgraph.ParamGraph)
    torch.testing.assert_close(netgraph.to_state_dict(graph)["0.bias"], (a[0].bias + b[0].bias) / 2)


def test_barrier_end_points_match_running_each_model():
    a, b = mlp([4, 8, 3]), mlp([4, 8, 3])
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    path = barrier(a, b, [(x[:20], y[:20]), (x[20:], y[20:])], steps=5)
    for index, model in ((0, a), (-1, b)):
        with torch.no_grad():
            out = model(x)
        assert float(path.loss[index]) == pytest.approx(float(F.cross_entropy(out, y)), abs=1e-5)
        assert float(path.accuracy[index]) == pytest.approx(float((out.argmax(1) == y).float().mean()))
    with torch.no_grad():
        mid = interpolate(a, b, 0.5)(x)
    assert float(path.loss[2]) == pytest.approx(float(F.cross_entropy(mid, y)), abs=1e-5)


def test_barrier_values_follow_their_definition():
    path = InterpolationPath(
        torch.tensor([0.0, 0.5, 1.0]),
        torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64),
        torch.tensor([0.9, 0.5, 0.7], dtype=torch.float64),
    )
    assert float(path.loss_barrier) == pytest.approx(3.0 - 1.5)  # chord at 0.5 is 1.5
    assert float(path.accuracy_barrier) == pytest.approx(0.8 - 0.5)
    flat = barrier(mlp([2, 3, 2]), mlp([2, 3, 2]), (torch.randn(4, 2), torch.randn(4, 2)), steps=3, loss_fn=F.mse_loss)
    assert flat.accuracy is None and flat.accuracy_barrier is None  # regression targets: no accuracy


def test_reset_batchnorm_gives_the_average_of_batch_statistics():
    model = _bn_net(0)
    x1, x2 = torch.randn(16, 3) * 3 + 1, torch.randn(16, 3) - 2
    reset_batchnorm(model, [(x1, torch.zeros(16)), (x2, torch.zeros(16))])
    with torch.no_grad():
        h1, h2 = model[0](x1), model[0](x2)
    torch.testing.assert_close(model[1].running_mean, (h1.mean(0) + h2.mean(0)) / 2)
    torch.testing.assert_close(model[1].running_var, (h1.var(0) + h2.var(0)) / 2)
    assert not model[1].training


def test_recomputing_many_networks_at_once_equals_one_by_one():
    nets = [_bn_net(s) for s in range(3)]
    x = torch.randn(32, 3)
    stacked = {k: torch.stack([n.state_dict()[k] for n in nets]) for k in nets[0].state_dict()}
    together = recompute_batchnorm_stats(nets[0], stacked, x)
    for i, net in enumerate(nets):
        reset_batchnorm(net, x)
        torch.testing.assert_close(together["1.running_var"][i], net[1].running_var)
        torch.testing.assert_close(together["1.running_mean"][i], net[1].running_mean)


def test_barrier_resets_batchnorm_statistics_at_every_point():
    a, b = _bn_net(0), _bn_net(1)
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    path = barrier(a, b, (x, y), steps=3)
    mid = reset_batchnorm(interpolate(a, b, 0.5), x)
    with torch.no_grad():
        assert float(path.loss[1]) == pytest.approx(float(F.cross_entropy(mid(x), y)), abs=1e-5)
    raw = barrier(a, b, (x, y), steps=3, reset_bn=False)
    assert float(raw.loss[1]) != pytest.approx(float(path.loss[1]), abs=1e-4)


def test_task_arithmetic_ties_and_dare_on_hand_computed_vectors():
    base = _linear([0.0, 0.0, 0.0], 0.0)
    t1 = _linear([1.0, -2.0, 0.5], 0.1)
    t2 = _linear([3.0, 1.0, -0.5], -0.4)
    assert torch.allclose(task_vectors(base, [t1, t2]), torch.tensor([[0.1, 1.0, -2.0, 0.5], [-0.4, 3.0, 1.0, -0.5]]))
    summed = task_arithmetic(base, [t1, t2], scale=0.5)
    torch.testing.assert_close(summed.weight, torch.tensor([[2.0, -0.5, 0.0]]))
    torch.testing.assert_close(summed.bias, torch.tensor([-0.15]))
    # TIES, density 0.5 keeps 2 of 4 entries per task: t1 -> w0=1, w1=-2 ; t2 -> w0=3, w1=1
    # elected signs: w0 +, w1 - (-2 + 1 < 0), w2 0, bias 0 -> means of agreeing entries: w0 2, w1 -2
    ties = ties_merging(base, [t1, t2], density=0.5)
    torch.testing.assert_close(ties.weight, torch.tensor([[2.0, -2.0, 0.0]]))
    torch.testing.assert_close(ties.bias, torch.tensor([0.0]))
    no_drop = dare(base, [t1, t2], drop=0.0)
    torch.testing.assert_close(no_drop.weight, task_arithmetic(base, [t1, t2]).weight)


def test_dare_drops_and_rescales():
    torch.manual_seed(0)
    base = nn.Linear(200, 50)
    tuned = nn.Linear(200, 50)
    merged = dare(base, [tuned], drop=0.75, seed=1)
    delta = (merged.weight - base.weight).detach()
    tau = (tuned.weight - base.weight).detach()
    kept = delta != 0
    assert 0.2 < float(kept.float().mean()) < 0.3  # about 1 - drop survive
    torch.testing.assert_close(delta[kept], 4 * tau[kept])  # rescaled by 1 / (1 - drop)
    assert not torch.equal(dare(base, [tuned], drop=0.75, seed=2).weight, merged.weight)


def test_soups():
    nets = [_linear([float(i), 1.0], 0.0) for i in range(3)]
    torch.testing.assert_close(model_soup(nets).weight, torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(model_soup(nets, weights=[1, 0, 3]).weight, torch.tensor([[1.5, 1.0]]))
    torch.manual_seed(0)
    x = torch.randn(200, 2)
    y = (x[:, 0] > 0).long()
    good = nn.Linear(2, 2)
    with torch.no_grad():
        good.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        good.bias.zero_()
    near = nn.Linear(2, 2)
    near.load_state_dict({k: v + 0.01 for k, v in good.state_dict().items()})
    bad = nn.Linear(2, 2)
    with torch.no_grad():
        bad.weight.copy_(-10 * good.weight)
        bad.bias.zero_()
    soup, chosen = greedy_soup([bad, near, good], (x, y))
    assert sorted(chosen) == [1, 2]
    torch.testing.assert_close(soup.weight, (near.weight + good.weight) / 2)


def test_evaluate_many_matches_one_by_one():
    nets = [mlp([3, 5, 2]) for _ in range(3)]
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    states = {k: torch.stack([n.state_dict()[k] for n in nets]) for k in nets[0].state_dict()}
    loss, acc = evaluate_many(nets[0], states, (x, y))
    for i, n in enumerate(nets):
        with torch.no_grad():
            assert float(loss[i]) == pytest.approx(float(F.cross_entropy(n(x), y)), abs=1e-6)


def test_merging_rejects_bad_input():
    a = _linear([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="density"):
        ties_merging(a, [a], density=0.0)
    with pytest.raises(ValueError, match="drop"):
        dare(a, [a], drop=1.0)
    with pytest.raises(ValueError, match="merge must be"):
        dare(a, [a], merge="mean")
    with pytest.raises(ValueError, match="at least one fine-tuned"):
        task_arithmetic(a, [])
    with pytest.raises(ValueError, match="weights must be"):
        model_soup([a, a], weights=[1.0])
    with pytest.raises(TypeError, match="all nn.Module or all ParamGraph"):
        model_soup([a, netgraph.from_module(a)])
    with pytest.raises(ValueError, match="steps must be at least 2"):
        barrier(a, a, (torch.zeros(1, 2), torch.zeros(1, dtype=torch.long)), steps=1)
    with pytest.raises(TypeError, match="inputs, targets"):
        barrier(a, a, 3)
    with pytest.raises(ValueError, match="pass modules"):
        barrier(netgraph.from_module(a), netgraph.from_module(a), (torch.zeros(1, 2), torch.zeros(1)))


def test_repair_gives_hidden_neurons_the_interpolated_statistics():
    from netgraph.merge import record_activations, repair

    torch.manual_seed(0)
    a, b = mlp([4, 16, 16, 3]), mlp([4, 16, 16, 3])
    x = torch.randn(300, 4) * 2
    merged = interpolate(a, b, 0.3)
    fixed = repair(merged, a, b, x, t=0.3)
    spec = netgraph.spec_of(merged)
    acts = {
        name: record_activations(m, x, spec, max_samples=None)
        for name, m in (("a", a), ("b", b), ("m", merged), ("fixed", fixed))
    }
    for piece in (0, 1):  # the two hidden layers: corrected, the second after the first
        target_mean = 0.7 * acts["a"][piece].mean(0) + 0.3 * acts["b"][piece].mean(0)
        target_std = 0.7 * acts["a"][piece].std(0, unbiased=False) + 0.3 * acts["b"][piece].std(0, unbiased=False)
        torch.testing.assert_close(acts["fixed"][piece].mean(0), target_mean, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(acts["fixed"][piece].std(0, unbiased=False), target_std, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(acts["m"][piece].std(0), target_std, atol=1e-3)  # it needed correcting
    torch.testing.assert_close(fixed[4].weight, merged[4].weight)  # output layer left alone


def test_repair_leaves_normalised_neurons_to_batchnorm():
    from netgraph.merge import repair

    a, b = _bn_net(0), _bn_net(1)
    merged = interpolate(a, b, 0.5)
    fixed = repair(merged, a, b, torch.randn(64, 3))
    torch.testing.assert_close(fixed[0].weight, merged[0].weight)  # its outputs are BatchNorm-ed
    torch.testing.assert_close(fixed[3].weight, merged[3].weight)  # the output layer
