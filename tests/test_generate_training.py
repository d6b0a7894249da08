"""Training and evaluating generators: training on the loss of a problem learns, weight diffusion fits a zoo,
fine-tuning starts from the given weights, summaries pick the best network on validation."""

import pytest
import torch

import netgraph
from netgraph.architectures import mlp
from netgraph.datasets import classification_data, train_classifiers
from netgraph.metanets import ChunkedHypernetwork, DefaultInitGenerator, ParameterGraphHypernetwork, WeightDiffusion
from netgraph.tasks import (
    ClassificationProblem,
    SineProblem,
    checkpoints_of_one_run,
    evaluate_signal_generator,
    fine_tune,
    nearest_checkpoint,
    run_recipe,
    summarize,
    train_on_problem,
    train_weight_diffusion,
)


def test_a_hypernetwork_learns_iris_from_the_loss_on_the_problem():
    target = mlp([4, 16, 3])
    problem = ClassificationProblem("iris")
    hyper = ChunkedHypernetwork(target, chunk_size=32, hidden=[32], mip=True)
    before = problem.evaluate(hyper.generate(target, n=16))["val_acc"].mean()
    history = train_on_problem(
        hyper, problem, [target], steps=150, lr=3e-3, batch_size=32, eval_every=150, progress=False
    )
    after = problem.evaluate(hyper.generate(target, n=16))
    assert history[-1]["val_acc"] > 0.85 and after["val_acc"].mean() > 0.85 and after["val_acc"].mean() > before + 0.2
    assert history[-1]["loss"] < history[0]["loss"]


def test_a_graph_hypernetwork_trains_on_several_architectures_at_once():
    problem = ClassificationProblem("iris")
    ghn = ParameterGraphHypernetwork(dim=8, depth=1, edit_scale=0.5)
    targets = [mlp([4, 8, 3]), mlp([4, 6, 6, 3])]
    torch.manual_seed(0)
    history = train_on_problem(ghn, problem, targets, steps=40, lr=3e-3, nets_per_step=4, batch_size=32, progress=False)
    first, last = (sum(r["loss"] for r in rows) / len(rows) for rows in (history[:5], history[-5:]))
    assert last < first
    nets = ghn.generate(mlp([4, 12, 3]), n=4)  # a width it never saw
    assert problem.evaluate(nets)["val_acc"].shape == (4,)


def test_train_on_problem_refuses_nothing_to_do():
    with pytest.raises(ValueError, match="steps >= 1 and at least one target"):
        train_on_problem(ParameterGraphHypernetwork(dim=8, depth=1), ClassificationProblem("iris"), [], steps=3)


def test_weight_diffusion_fits_a_small_zoo():
    target = mlp([4, 8, 3])
    zoo = DefaultInitGenerator().generate_graphs(target, n=32)
    model = WeightDiffusion(
        target,
        dim=16,
        latent_dim=4,
        depth=1,
        heads=2,
        denoiser_dim=16,
        denoiser_depth=1,
        timesteps=100,
        sampling_steps=10,
    )
    history = train_weight_diffusion(
        model,
        zoo,
        autoencoder_steps=150,
        steps=60,
        batch_size=32,
        lr=3e-3,
        input_noise=0.0,
        latent_noise=0.0,
        progress=False,
    )
    ae = [r["loss"] for r in history if r["stage"] == "autoencoder"]
    diffusion = [r["loss"] for r in history if r["stage"] == "diffusion"]
    assert len(ae) == 150 and len(diffusion) == 60 and ae[-1] < 0.5 * ae[0]
    assert sum(diffusion[-10:]) < sum(diffusion[:10])
    assert float(model.latent_std) > 0
    nets = model.generate(target, n=5)
    assert torch.isfinite(nets(torch.randn(3, 4))).all()
    with pytest.raises(ValueError, match="a conditioned WeightDiffusion needs condition"):
        train_weight_diffusion(
            model, zoo, 1, 1, condition=lambda index, rng: torch.zeros(len(index), 3, 2), progress=False
        )


def test_fine_tuning_starts_from_the_given_weights():
    target = mlp([4, 8, 3])
    data = classification_data("iris")
    start = DefaultInitGenerator().generate(target, n=3).state_dicts()
    result = train_classifiers(
        target,
        data,
        {"learning_rate": [0.01] * 3},
        epochs=1,
        checkpoints=[0, 1],
        initial=start,
        generator=torch.Generator().manual_seed(0),
    )
    assert all(torch.equal(result.weights[k][:, 0], start[k]) for k in start)
    assert not torch.equal(result.weights["0.weight"][:, 1], start["0.weight"])
    tuned = fine_tune(target, data, start, epochs=1, lr=0.01)
    assert tuned["test_acc"].shape == (3,)
    with pytest.raises(ValueError, match=r"wrong or missing: \{'2.bias': None\}"):
        train_classifiers(
            target,
            data,
            {"learning_rate": [0.01] * 3},
            epochs=1,
            checkpoints=[1],
            initial={k: v for k, v in start.items() if k != "2.bias"},
        )


def test_summaries_pick_the_best_network_on_validation():
    metrics = {"test_acc": torch.tensor([0.2, 0.9, 0.5]), "val_acc": torch.tensor([0.1, 0.3, 0.8])}
    assert summarize(metrics) == {"n": 3, "mean": 0.5333, "std": 0.3512, "best_by_val": 0.5, "max": 0.9}


def test_signal_evaluation_compares_right_and_wrong_conditions():
    problem = SineProblem(set_size=8)
    target = netgraph.architectures.Siren(1, 16, 3, 1)
    gen = ChunkedHypernetwork(
        target, noise_dim=0, chunk_size=64, hidden=[32], condition={"kind": "set", "features": 2, "dim": 8}
    )
    waves = {
        "amplitude": torch.tensor([0.5, 1.0, 0.8]),
        "frequency": torch.tensor([1.0, 2.0, 0.7]),
        "phase": torch.tensor([0.0, 1.0, 2.0]),
    }
    rows = evaluate_signal_generator(gen, target, problem, waves, zoo_psnr=torch.tensor([41.0, 45.0, 40.5]))
    assert set(rows) == {"conditioned on its wave", "conditioned on another wave", "zero function", "zoo (fitted INRs)"}
    assert rows["zoo (fitted INRs)"]["psnr_mean"] == 42.17 and rows["zero function"]["n"] == 3


def test_a_recipe_runs_end_to_end_from_python(tmp_path):
    generator, results = run_recipe(
        {
            "name": "t",
            "train": {"steps": 5},
            "evaluate": {"n": 3, "finetune_epochs": 0},
            "generator": {"kind": "hypernetwork", "chunk_size": 64, "hidden": [8]},
            "out_dir": str(tmp_path / "t"),
            "progress": False,
        }
    )
    assert (tmp_path / "t" / "model.safetensors").is_file() and generator.trained_on["problem"]["data"] == "iris"
    with pytest.raises(ValueError, match="unknown recipe key"):
        run_recipe({"nme": "typo"})
    with pytest.raises(ValueError, match="recipe key 'task' was renamed 'problem'"):
        run_recipe({"task": {"kind": "classification", "data": "iris"}})
    with pytest.raises(ValueError, match="generator kind must be one of"):
        run_recipe({"generator": {"kind": "gan"}, "progress": False})


def _flat(weights):
    return torch.cat([v.flatten(1) for v in weights.values()], 1)


def test_checkpoints_of_one_run_are_close_accurate_checkpoints_of_one_network():
    target, data = mlp([4, 8, 3]), classification_data("iris")
    run = checkpoints_of_one_run(target, data, epochs=20, keep=6, lr=0.05, keep_lr=1e-3, seed=0)
    assert {k: tuple(v.shape) for k, v in run.weights.items()} == {
        k: (6, *p.shape) for k, p in target.named_parameters()
    }
    assert run.metrics["test_acc"].shape == (6,) and bool((run.metrics["test_acc"] > 0.6).all())  # chance: 1/3
    own = _flat(run.weights)
    steps = (own[1:] - own[:-1]).norm(dim=1)
    assert bool((steps > 0).all())  # it kept training: not six copies
    other = _flat(checkpoints_of_one_run(target, data, epochs=20, keep=6, lr=0.05, keep_lr=1e-3, seed=1).weights)
    # one run: its checkpoints lie far closer to each other than to another run's (another basin)
    assert float(torch.cdist(own, own).max()) < 0.2 * float(torch.cdist(own, other).min())
    again = checkpoints_of_one_run(target, data, epochs=20, keep=6, lr=0.05, keep_lr=1e-3, seed=0)
    assert all(torch.equal(again.weights[k], v) for k, v in run.weights.items())
    near = nearest_checkpoint(target, {k: v[2:4] for k, v in run.weights.items()}, run.weights, data)
    assert near["generated_to_nearest_max"] == 0 and near["generated_same_predictions_as_nearest"] == 1
    with pytest.raises(ValueError, match="keep >= 1"):
        checkpoints_of_one_run(target, data, epochs=1, keep=0)


def test_a_pdiff_recipe_trains_weight_diffusion_on_checkpoints_of_one_run():
    generator, results = run_recipe(
        {
            "name": "p",
            "problem": {"kind": "classification", "data": "iris"},
            "generator": {
                "kind": "weight_diffusion",
                "dim": 16,
                "latent_dim": 4,
                "depth": 1,
                "heads": 2,
                "denoiser_dim": 16,
                "denoiser_depth": 1,
                "timesteps": 50,
                "sampling_steps": 5,
            },
            "run_checkpoints": {"epochs": 5, "keep": 8, "lr": 0.05, "keep_lr": 1e-3},
            "train": {"autoencoder_steps": 3, "steps": 3, "batch_size": 8},
            "evaluate": {"n": 3, "finetune_epochs": 0},
            "progress": False,
        }
    )
    assert results["training checkpoints"]["n"] == 8 and generator.trained_on["run_checkpoints"]["keep"] == 8
    near = results["nearest checkpoint"]["mlp([4, 16, 16, 3])"]
    assert near["checkpoint_to_nearest_other_mean"] > 0 and 1 <= near["distinct_nearest_checkpoints"] <= 3
