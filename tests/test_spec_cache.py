"""The spec cache keys on everything that can change the trace: a second call must never get the first
call's spec when its inputs take another branch of ``forward``, or a module's configuration changed."""

import pytest
import torch
import torch.nn as nn

import netgraph

pytestmark = pytest.mark.filterwarnings("ignore:'side.:UserWarning")  # the side layer unused without its input


class OptionalBranch(nn.Module):
    """``extra`` (an optional second input) goes through its own layer when given."""

    def __init__(self):
        super().__init__()
        self.main, self.side, self.head = nn.Linear(4, 6), nn.Linear(3, 6), nn.Linear(6, 2)

    def forward(self, x, extra=None):
        h = self.main(x)
        if extra is not None:
            h = h + self.side(extra)
        return self.head(torch.relu(h))


def _weight_spaces(spec) -> set[str]:
    return {space.name for space in spec.spaces}


@pytest.mark.parametrize(
    "second",
    [
        {"x": torch.randn(2, 4), "extra": torch.randn(2, 3)},  # another dict key
        (torch.randn(2, 4), torch.randn(2, 3)),  # another tuple length
    ],
    ids=["dict_key", "tuple_length"],
)
def test_inputs_taking_another_branch_get_their_own_spec(second):
    model = OptionalBranch()
    first = netgraph.spec_of(model, {"x": torch.randn(2, 4)})
    assert not any("side" in name for name in _weight_spaces(first))  # the branch was not taken
    again = netgraph.spec_of(model, second)
    assert again is not first
    assert any("side" in name for name in _weight_spaces(again))  # the side layer is in the graph
    assert torch.equal(again.edge_index, netgraph.trace(model, second).edge_index)


def test_none_for_an_optional_input_is_part_of_the_key():
    model = OptionalBranch()
    with_side = netgraph.spec_of(model, {"x": torch.randn(2, 4), "extra": torch.randn(2, 3)})
    without = netgraph.spec_of(model, {"x": torch.randn(2, 4), "extra": None})
    assert without is not with_side and without.num_edges < with_side.num_edges


def test_input_shapes_and_dtypes_are_part_of_the_key():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 36, 2))
    square = netgraph.spec_of(model, torch.randn(1, 1, 8, 8))
    assert square.kernel_shape == (6, 6)
    assert netgraph.spec_of(model, torch.randn(1, 1, 8, 8)) is square  # same structure: the cached spec
    wide = netgraph.spec_of(model, torch.randn(1, 1, 6, 11))  # the same 36 positions, as 4 x 9
    assert wide is not square and wide.kernel_shape == (4, 9)
    double = netgraph.spec_of(model.double(), torch.randn(1, 1, 8, 8, dtype=torch.float64))
    assert double is not square and double.dtype == torch.float64


def test_same_inputs_hit_the_cache():
    model = OptionalBranch()
    inputs = {"x": torch.randn(2, 4), "extra": torch.randn(2, 3)}
    assert netgraph.spec_of(model, inputs) is netgraph.spec_of(model, {k: v + 1 for k, v in inputs.items()})


def test_an_edited_module_configuration_re_traces():
    model = nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.01), nn.Linear(6, 2))
    before = netgraph.spec_of(model)
    model[1].negative_slope = 0.3  # same modules, same parameters, another function
    after = netgraph.spec_of(model)
    assert after is not before
    assert after.fingerprint == netgraph.trace(model).fingerprint != before.fingerprint
