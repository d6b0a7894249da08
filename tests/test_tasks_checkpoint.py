"""Checkpoints: save / reload gives identical predictions, an interrupted run resumes to exactly the
weights of an uninterrupted one, best / last bookkeeping, early stopping, TensorBoard logs."""

import json

import pytest
import torch

from netgraph.metanets import GMN
from netgraph.tasks import (
    CheckpointStore,
    FunctionObjective,
    GraphLoader,
    Trainer,
    build_metanet,
    create_task,
    load_trained,
    push_trained,
    train_metanet,
)

from _task_helpers import tiny_zoos  # noqa: F401  (fixture)
from _hub import LocalHub

GMN_SMALL = dict(dim=16, depth=1, head_hidden=16, dropout=0.1)  # dropout: resuming must restore the RNG too


class Crash(Exception):
    pass


def setup(tiny_zoos, init_seed=0):
    task = create_task("sine_regression", zoo=tiny_zoos["sine"])
    data = task.setup(progress=False)
    torch.manual_seed(init_seed)
    model = build_metanet("gmn", task, data["train"], **GMN_SMALL)
    return task, model, GraphLoader(data["train"], 8, shuffle=True, seed=0), GraphLoader(data["val"], 8)


def test_resume_after_a_crash_continues_exactly(tiny_zoos, tmp_path):
    config = {"epochs": 4, "lr": 3e-3, "progress": False}
    task, model, train, val = setup(tiny_zoos)
    straight = Trainer(model, task, config, tmp_path / "straight").fit(train)  # no validation: keeps the last epoch

    def crash_after_two(trainer, row):
        if row["epoch"] == 2:
            raise Crash

    task, crashed, train, val = setup(tiny_zoos)
    with pytest.raises(Crash):
        Trainer(crashed, task, config, tmp_path / "resumed", callbacks=[crash_after_two]).fit(train)
    assert CheckpointStore(tmp_path / "resumed").index()["last"] == "epoch-0002"
    task, fresh, train, val = setup(tiny_zoos, init_seed=1)  # another init: resuming must overwrite it
    resumed = Trainer(fresh, task, config, tmp_path / "resumed").fit(train)
    assert resumed.epochs_run == 4 and resumed.best_epoch == 4
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert Trainer(model, task, config).evaluate(val) == Trainer(fresh, task, config).evaluate(val)
    keys = ["epoch", "step", "lr", "train_loss"]
    assert [[r[k] for k in keys] for r in straight.history] == [[r[k] for k in keys] for r in resumed.history]
    with pytest.raises(ValueError, match=r"another configuration \(train.lr: 0.003 -> 0.01\)"):
        Trainer(fresh, task, {**config, "lr": 1e-2}, tmp_path / "resumed").fit(train)


def test_saved_model_reloads_to_identical_predictions(tiny_zoos, tmp_path):
    run = tmp_path / "run"
    results = train_metanet(
        create_task("sine_regression", zoo=tiny_zoos["sine"]),
        "gmn",
        GMN_SMALL,
        {"epochs": 3, "progress": False, "tensorboard": True},
        run,
    )
    assert json.loads((run / "results.json").read_text())["test"] == results["test"]
    model, task = load_trained(run)  # the run's best checkpoint
    assert isinstance(model, GMN) and not model.training and task.target_names == ["amplitude", "frequency"]
    fresh = create_task("sine_regression", zoo=tiny_zoos["sine"])
    data = fresh.setup(progress=False)
    trained, _ = load_trained(CheckpointStore(run).path("best"))
    batch = data["test"].to_batch()
    with torch.no_grad():
        assert torch.equal(task.predict(model, batch), fresh.predict(trained, batch))
    reference = Trainer(trained, fresh, {"progress": False}).evaluate(GraphLoader(data["test"], 4))
    assert reference == pytest.approx(results["test"], rel=1e-6)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert EventAccumulator(str(run / "tensorboard")).Reload().Tags()["images"] == ["test/sine_regression"]
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,step,lr,train_loss,val_r2") and len(history) == 4
    again = train_metanet(
        create_task("sine_regression", zoo=tiny_zoos["sine"]),
        "gmn",
        GMN_SMALL,
        {"epochs": 3, "progress": False, "tensorboard": True},
        run,
    )
    assert again["test"] == results["test"] and again["epochs_run"] == 3  # a finished run is only re-tested


def test_push_then_pull_a_trained_metanet_offline(tiny_zoos, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train_metanet(
        create_task("sine_regression", zoo=tiny_zoos["sine"]), "gmn", GMN_SMALL, {"epochs": 2, "progress": False}, run
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = LocalHub(tmp_path / "cache")  # writes commits into a cache in Hub layout
    push_trained(run, "someone/gmn-sine", api=hub)
    assert hub.repos == [("someone/gmn-sine", "model", False, True)]
    assert sorted(hub.uploads[0][2]) == [
        "README.md",
        "checkpoint.json",
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
    pulled, task = load_trained("someone/gmn-sine", cache_dir=tmp_path / "cache")
    local, _ = load_trained(run)
    batch = task.setup(progress=False)["test"].to_batch()
    with torch.no_grad():
        assert torch.equal(task.predict(pulled, batch), task.predict(local, batch))


def test_best_and_last_checkpoints_and_early_stopping(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    objective = FunctionObjective(
        loss=lambda model, batch: model(batch).pow(2).mean(),
        outputs=lambda model, batch: {"x": torch.zeros(1)},
        metrics=lambda outputs: {"score": next(scores)},
        monitor="score",
        mode="max",
    )
    model = torch.nn.Linear(2, 1)
    result = Trainer(model, objective, {"epochs": 5, "patience": 2, "progress": False}, tmp_path).fit(
        [torch.randn(4, 2)], [torch.randn(4, 2)]
    )
    assert result.stopped_early and result.epochs_run == 4 and result.best_epoch == 2
    assert result.best_metrics == {"score": 0.7}
    store = CheckpointStore(tmp_path)
    assert store.index() == {"last": "epoch-0004", "best": "epoch-0002"}
    assert sorted(p.name for p in store.folder.iterdir()) == ["epoch-0002", "epoch-0004", "index.json"]
    assert (store.path("best") / "model.safetensors").is_file()  # a plain nn.Module: safetensors only
    with pytest.raises(FileNotFoundError, match="neither a checkpoint folder"):
        load_trained(tmp_path / "checkpoints")
    with pytest.raises(ValueError, match="not written by netgraph.tasks.train_metanet"):
        load_trained(store.path("best"))


def test_objective_and_loss_problems_are_explained():
    with pytest.raises(TypeError, match="objective must have monitor"):
        Trainer(torch.nn.Linear(2, 1), object())
    with pytest.raises(ValueError, match="mode must be one of"):
        FunctionObjective(loss=lambda m, b: m(b).sum(), mode="up")
    objective = FunctionObjective(loss=lambda model, batch: model(batch).sum() * float("nan"))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        Trainer(torch.nn.Linear(2, 1), objective, {"progress": False}).fit([torch.randn(3, 2)])
    with pytest.raises(ValueError, match="unknown training option"):
        Trainer(torch.nn.Linear(2, 1), objective, {"epoch": 3})
