"""The registry sweep's fast subset (issue 25 item 4): a few transformers model types, in the main environment."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from support_registry import sweep_one  # noqa: E402


@pytest.mark.parametrize("model_type", ["bert", "gpt2"])
def test_model_type_converts_exactly_and_keeps_function_under_permutation(model_type):
    result = sweep_one(model_type, timeout=120)
    assert result["status"].startswith("yes"), result
    assert "round trip exact" in result["status"]
    assert result["groups"], "a converted model with hidden units must have symmetry groups"


def test_a_model_that_needs_other_inputs_is_a_recorded_skip():
    result = sweep_one("align", timeout=120)
    assert result["status"].startswith("skip: ") and "pixel_values" in result["status"]
