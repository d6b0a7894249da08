"""Metrics against values computed by hand (and Kendall's tau against scipy on random data with ties)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau

from netgraph.tasks import (
    AccuracyPrediction,
    INRClassification,
    SineRegression,
    accuracy,
    kendall_tau,
    mean_squared_error,
    r2_score,
)


def test_kendall_tau_by_hand_with_ties():
    # pairs of (1, 2, 2, 3) vs (1, 3, 2, 2): concordant (0,1) (0,2) (0,3); discordant (1,3); (1,2) tied in x
    # only, (2,3) tied in y only -> (3 - 1) / sqrt((6 - 1) * (6 - 1)) = 0.4
    x, y = torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.tensor([1.0, 3.0, 2.0, 2.0])
    assert kendall_tau(x, y) == pytest.approx(0.4)
    assert kendall_tau(x, y) == pytest.approx(kendalltau(x.numpy(), y.numpy()).statistic)
    assert kendall_tau(x, x) == pytest.approx(1.0)
    assert kendall_tau(x, -x) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau(torch.ones(4), y))


@pytest.mark.parametrize("n, block", [(7, 3), (200, 64), (200, 4096)])
def test_kendall_tau_matches_scipy_in_blocks(n, block):
    generator = torch.Generator().manual_seed(n)
    x = torch.randint(0, 6, (n,), generator=generator).float()
    y = x + torch.randint(-3, 4, (n,), generator=generator).float()
    assert kendall_tau(x, y, block=block) == pytest.approx(kendalltau(x.numpy(), y.numpy()).statistic, abs=1e-12)


def test_r2_mse_accuracy_by_hand():
    target, prediction = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 2.0, 3.0])
    assert r2_score(prediction, target) == pytest.approx(1 - 1 / (14 / 3))  # SS_res 1, SS_tot 14/3
    assert mean_squared_error(prediction, target) == pytest.approx(1 / 3)
    two = torch.stack([target, 2 * target], 1)
    assert r2_score(two, two) == 1.0
    assert r2_score(torch.stack([prediction, 2 * target], 1), two) == pytest.approx((1 - 3 / 14 + 1) / 2)
    logits = torch.tensor([[2.0, 1.0], [0.0, 1.0], [3.0, -1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(logits, torch.tensor([[1.0, 0.0], [0.2, 0.8], [0.3, 0.7]])) == pytest.approx(2 / 3)


def test_task_metrics_on_known_outputs():
    outputs = {
        "prediction": torch.tensor([[0.1], [0.5], [0.4], [0.9]]),
        "target": torch.tensor([[0.2], [0.4], [0.6], [0.8]]),
    }
    got = AccuracyPrediction().metrics(outputs)
    # pairs: (0,1)+ (0,2)+ (0,3)+ (1,2)- (1,3)+ (2,3)+ -> (5 - 1) / 6
    assert got["kendall_tau"] == pytest.approx(4 / 6)
    assert got["mse"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.01) / 4)
    assert got["r2"] == pytest.approx(1 - 0.07 / 0.2)  # SS_tot of 0.2, 0.4, 0.6, 0.8 = 0.2
    sine = SineRegression()
    sine.target_names = ["amplitude", "frequency"]
    two = {
        "prediction": torch.tensor([[1.0, 0.0], [2.0, 2.0], [3.0, 4.0]]),
        "target": torch.tensor([[1.0, 0.0], [2.0, 2.0], [3.0, 5.0]]),
    }
    got = sine.metrics(two)
    assert got["r2_amplitude"] == 1.0 and got["mse_amplitude"] == 0.0
    assert got["mse_frequency"] == pytest.approx(1 / 3) and got["r2_frequency"] == pytest.approx(1 - 1 / (38 / 3))
    assert got["r2"] == pytest.approx((1 + 1 - 3 / 38) / 2)
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    got = INRClassification().metrics({"logits": logits, "target": torch.tensor([0, 1])})
    expected_loss = -(np.log(np.exp(3) / (np.exp(3) + 2)) + np.log(1 / (2 + np.e))) / 2
    assert got["accuracy"] == 0.5 and got["loss"] == pytest.approx(expected_loss)
    assert got["loss"] == pytest.approx(float(F.cross_entropy(logits, torch.tensor([0, 1]))), rel=1e-6)


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="3 rows but target has 2"):
        r2_score(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        kendall_tau(torch.zeros(0), torch.zeros(0))
    with pytest.raises(ValueError, match="differ in shape"):
        r2_score(torch.zeros(3, 2), torch.zeros(3, 3))
