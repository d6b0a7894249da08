"""Faults on the conversion side: each gives one clear error naming what is wrong (never blaming the
converter for the weights), or converts exactly."""

import traceback

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.errors import ConversionCheckError, NetgraphError, UnsupportedModuleError
from netgraph.verify import NonFiniteWeightsError


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_convert_exactly_and_are_never_blamed_on_the_converter(bad):
    model = _mlp()
    with torch.no_grad():
        model[0].weight[1, 2] = bad
    graph = netgraph.from_module(model)  # the default check cannot compare outputs: it waits for finite weights
    restored = netgraph.to_state_dict(graph)  # an exact copy, the bad value included
    torch.testing.assert_close(restored, model.state_dict(), rtol=0, atol=0, equal_nan=True)
    with pytest.raises(NonFiniteWeightsError, match=r"'0\.weight' has") as caught:
        netgraph.from_module(model, verify=True)
    assert not isinstance(caught.value, ConversionCheckError) and "converted wrongly" not in str(caught.value)
    with pytest.raises(NonFiniteWeightsError, match=r"'0\.weight' has"):
        netgraph.check_conversion(model, netgraph.spec_of(model))


def test_the_default_check_still_runs_once_the_weights_are_finite():
    model = _mlp()
    with torch.no_grad():
        model[2].bias[0] = float("nan")
    netgraph.from_module(model)
    assert netgraph.convert._CHECKED.get(model) is None  # not checked (and not marked as checked)
    with torch.no_grad():
        model[2].bias[0] = 0.0
    netgraph.from_module(model)
    assert netgraph.convert._CHECKED.get(model) is netgraph.spec_of(model)


def test_a_model_on_the_meta_device_is_one_clear_line():
    model = _mlp().to("meta")
    with pytest.raises(UnsupportedModuleError, match=r"meta device \('0\.weight' has a shape but no values\)"):
        netgraph.from_module(model)


def test_the_supported_list_comes_from_the_op_registry():
    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return torch.cumsum(self.a(x), dim=-1)

    with pytest.raises(UnsupportedModuleError, match="no rule for it. Supported:") as caught:
        netgraph.trace(Cumulative())
    message = str(caught.value)
    for name in ("RMSNorm", "ConvTranspose1d/2d/3d", "Hugging Face Conv1D", "MultiheadAttention", "LSTM"):
        assert name in message


@pytest.mark.parametrize(
    ("inputs", "given"),
    [
        (torch.randn(2, 5), "given a tensor [2, 5] (float32)"),
        ({"foo": torch.randn(2, 4)}, "given a dict {'foo': a tensor [2, 4] (float32)}"),
        ((torch.randn(2, 4), torch.randn(2, 4)), "given a tuple of 2"),
    ],
    ids=["wrong_width", "wrong_keyword", "too_many"],
)
def test_wrong_example_inputs_are_one_error_saying_what_was_given_and_expected(inputs, given, capfd):
    with pytest.raises(UnsupportedModuleError) as caught:
        netgraph.from_module(_mlp(), inputs)
    message = str(caught.value)
    assert given in message and "Expected: pass example_inputs=(x,) with x: features [batch, ..., 4]" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained torch traceback
    assert len(traceback.format_exception(caught.value)) < 30
    assert "Traceback" not in capfd.readouterr().err  # torch's fake-tensor logger printed nothing


def test_errors_of_the_conversion_are_netgraph_errors():
    assert issubclass(NonFiniteWeightsError, NetgraphError) and issubclass(NonFiniteWeightsError, ValueError)
    assert issubclass(netgraph.convert.ArchitectureMismatchError, NetgraphError)
