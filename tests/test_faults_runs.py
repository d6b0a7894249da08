"""Experiments are identified by their config (issue 23): one run folder per config, summaries that
never average two configs, and a non-finite monitored metric that stops training."""

from __future__ import annotations

import math

import pytest
import torch
from hydra import compose, initialize_config_module

from netgraph.tasks import FunctionObjective, Trainer
from netgraph.tasks.cli import register_configs
from netgraph.tasks.summary import results_table


def _run_dir(*overrides: str) -> str:
    register_configs()
    with initialize_config_module("netgraph.configs", version_base="1.3"):
        return compose("train", overrides=list(overrides)).run_dir


def test_runs_of_another_config_get_another_folder_and_seeds_of_one_config_share_it():
    three, fifty = _run_dir("train.epochs=3"), _run_dir("train.epochs=50")
    assert three != fifty
    assert _run_dir("train.epochs=3", "seed=1").rsplit("/", 1)[0] == three.rsplit("/", 1)[0]
    assert _run_dir("train.epochs=3", "metanet.dim=8") != three  # a metanet setting is part of the config


def test_the_summary_never_averages_runs_of_different_configs():
    def result(seed, acc, hash_):
        return {"task": "t", "metanet": "gmn", "seed": seed, "test": {"acc": acc}, "config_hash": hash_}

    same = results_table([result(0, 0.5, "aaa"), result(1, 0.7, "aaa")])
    assert "| gmn | default | 2 |" in same
    mixed = results_table([result(0, 0.5, "aaa"), result(1, 0.9, "bbb")])
    assert "| gmn | default (aaa) | 1 |" in mixed and "| gmn | default (bbb) | 1 |" in mixed


def test_a_non_finite_monitored_metric_is_said_and_checkpoints_are_chosen_by_the_training_loss(tmp_path):
    scores = iter([0.5, math.nan, 0.9, 0.4])
    objective = FunctionObjective(
        loss=lambda model, batch: model(batch).pow(2).mean(),
        outputs=lambda model, batch: {"x": torch.zeros(1)},
        metrics=lambda outputs: {"score": next(scores)},
        monitor="score",
        mode="max",
    )
    torch.manual_seed(0)
    trainer = Trainer(torch.nn.Linear(2, 1), objective, {"epochs": 4, "progress": False, "lr": 1e-2}, tmp_path)
    with pytest.warns(RuntimeWarning, match="score=nan at epoch 2 is not finite"):
        result = trainer.fit([torch.randn(4, 2)], [torch.randn(4, 2)])
    assert result.selected_by == "train_loss"
    losses = [row["train_loss"] for row in result.history]
    assert result.best_epoch == 2 + losses[1:].index(min(losses[1:]))  # by the loss from epoch 2 on, not epoch 1


def _fit(run_dir, epochs=2):
    objective = FunctionObjective(loss=lambda model, batch: model(batch).pow(2).mean())
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    data = [torch.ones(4, 2)]
    return model, Trainer(model, objective, {"epochs": epochs, "progress": False}, run_dir).fit(data, data)


def test_a_zero_byte_checkpoint_index_is_rebuilt_from_the_intact_epoch_folders(tmp_path):
    model, first = _fit(tmp_path)
    (tmp_path / "checkpoints" / "index.json").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="rebuilt it from the intact checkpoint folders"):
        again, second = _fit(tmp_path)
    assert second.best_epoch == first.best_epoch and second.epochs_run == first.epochs_run
    assert torch.equal(again.weight, model.weight)


def test_a_full_disk_while_writing_a_checkpoint_names_the_checkpoint(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    import netgraph.tasks.checkpoint as checkpoint

    def full_disk(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    with pytest.raises(OSError, match=r"could not write checkpoint .*epoch-0001.*free disk space"):
        _fit(tmp_path)
