"""The conversion self-check: every test architecture passes it, and it catches wrong graphs."""

import sys

import pytest
import torch
import torch.nn as nn

import netgraph
from _models import CASES, Seq2Seq, randomize_norm_stats
from netgraph.symmetry.detect import SymmetryDetector

export_frontend = sys.modules["netgraph.trace.export_frontend"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_test_architecture_passes_the_check(name):
    make, make_input, export = CASES[name]
    model = make().eval()
    randomize_norm_stats(model)
    x = make_input()
    graph = netgraph.from_module(model, example_inputs=(x,) if export else None, verify=False)
    change = netgraph.check_conversion(model, graph.spec, (x,), generator=torch.Generator().manual_seed(2))
    assert change < 1e-4


def _seq2seq():
    return Seq2Seq().eval(), ((torch.randn(2, 6, 3), torch.randn(2, 4, 5)),)


def test_cross_attention_wired_to_the_query_source_is_caught(monkeypatch):
    """Re-introduce the old bug (keys/values read from the query's source): the check names the module."""
    real = export_frontend._attention_sources
    monkeypatch.setattr(export_frontend, "_attention_sources", lambda *a: (real(*a)[0],) * 3)
    model, x = _seq2seq()
    with pytest.raises(
        netgraph.ConversionCheckError,
        match=r"'transformer\.decoder\.layers\.0\.multihead_attn' "
        r"\(MultiheadAttention\)",
    ):
        netgraph.from_module(model, x, verify=True)
    assert netgraph.from_module(model, x, verify=False).num_nodes > 0  # verify=False skips it


def test_cross_attention_under_export_keeps_the_function():
    model, x = _seq2seq()
    graph = netgraph.from_module(model, x)
    attn = [s for s in graph.spec.spaces if "multihead_attn" in s.name]
    assert {s.name.rsplit(" ", 1)[1] for s in attn} == {"q", "k", "v", "out"}
    permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
    torch.testing.assert_close(permuted(*x), model(*x), atol=1e-5, rtol=1e-5)


def test_a_false_symmetry_is_caught(monkeypatch):
    """Dropping the residual coupling claims that both sides of a sum permute independently."""
    monkeypatch.setattr(SymmetryDetector, "couple", lambda self, a, b: None)
    model = netgraph.architectures.cifar_resnet(8, 4).eval()
    with pytest.raises(netgraph.ConversionCheckError, match="first module whose outputs change"):
        netgraph.from_module(model, verify=True)


def test_verify_true_without_inputs_says_what_to_pass():
    model = CASES["cross_attention"][0]()  # takes a tuple: nothing to synthesise
    with pytest.raises(ValueError, match=r"example_inputs=\(x,\) with x: features \[batch, \.\.\., 4\]"):
        netgraph.from_module(model, verify=True)


def test_default_checks_once_per_architecture(monkeypatch):
    convert = sys.modules["netgraph.convert"]
    calls = []
    real = convert.check_conversion
    monkeypatch.setattr(convert, "check_conversion", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    for _ in range(3):
        netgraph.from_module(model)
    assert len(calls) == 1
    model[0] = nn.Linear(3, 9)
    model[2] = nn.Linear(9, 2)
    netgraph.from_module(model)  # a new architecture: checked again
    assert len(calls) == 2


def test_default_skips_graphs_too_large_to_check_cheaply(monkeypatch):
    convert = sys.modules["netgraph.convert"]
    calls = []
    real = convert.check_conversion
    monkeypatch.setattr(convert, "check_conversion", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))  # 40 edge values (weights)
    monkeypatch.setattr(convert, "DEFAULT_CHECK_MAX_VALUES", 39)
    netgraph.from_module(model)
    assert calls == []  # over the cap: the default skips the check
    netgraph.from_module(model, verify=True)
    assert calls == [1]  # verify=True checks whatever the size
    monkeypatch.setattr(convert, "DEFAULT_CHECK_MAX_VALUES", 40)
    netgraph.from_module(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)))
    assert calls == [1, 1]  # at the cap: checked
