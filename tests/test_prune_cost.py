"""netgraph's own FLOPs / parameter count (issue 26 item 1): exact on hand-counted layers, agrees with
Torch-Pruning's counter where both count the same ops, and the default pruning route runs with
Torch-Pruning hidden."""

import sys

import pytest
import torch
import torch.nn as nn

from netgraph.architectures import cifar_resnet, vgg
from netgraph.tasks import prune
from netgraph.tasks.pruning import get_family, measure


def test_conv_norm_pool_counts_match_a_hand_count():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, groups=2), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
    flops, params = measure(model, torch.randn(3, 2, 6, 6))
    conv = (2 // 2) * 9 * 4 * 36 + 4 * 36  # weight MACs per output position, plus the bias adds
    assert flops == conv + 2 * 4 * 36 + 4 * 36 + 4 * 36  # affine BatchNorm, ReLU, pooling reads its input
    assert params == sum(p.numel() for p in model.parameters())


def test_counts_per_example_and_leaves_the_model_as_it_was():
    model = cifar_resnet(8, width=4, num_classes=5, in_channels=2).train()
    stats = [m.running_mean.clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    one = measure(model, torch.randn(1, 2, 8, 8))
    assert measure(model, torch.randn(4, 2, 8, 8)) == one
    assert model.training and all(m.training for m in model.modules())
    after = [m.running_mean for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(stats, after))


def test_agrees_with_torch_pruning_on_bias_free_convolutions():
    tp = pytest.importorskip("torch_pruning")
    model = vgg([8, 8, "M", 16], in_channels=2, num_classes=5).eval()
    for m in model.modules():  # Torch-Pruning counts a Linear bias once, not per position; keep to convs
        if isinstance(m, nn.Conv2d):
            m.bias = None
    x = torch.randn(1, 2, 8, 8)
    ours = measure(model, x)
    theirs = tp.utils.count_ops_and_params(model, x)
    assert ours[1] == theirs[1] and abs(ours[0] - theirs[0]) / theirs[0] < 0.01


def test_default_route_runs_without_torch_pruning(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_pruning", None)  # import torch_pruning now raises ImportError
    with pytest.raises(ImportError):
        import torch_pruning  # noqa: F401
    torch.manual_seed(0)
    model = get_family("mlp").build((4,), 3, hidden=[32, 32])
    result = prune(model, speedup=2.0, data="iris", finetune_epochs=1)
    assert result.speedup >= 2.0 and result.after["flops"] < result.before["flops"]
    assert result.after["flops"] == measure(result.model, torch.randn(1, 4))[0]
    with pytest.raises(ImportError, match="netgraph\\[prune\\]"):
        prune(model, speedup=2.0, data="iris", finetune_epochs=0, method="torch_pruning")
