"""No hidden global state: seeded scopes restore the global RNG and the determinism setting."""

import pytest
import torch

import netgraph
from netgraph.architectures import mlp
from netgraph.seeding import deterministic, scoped_rng, seeds_global_rng


def test_scoped_rng_is_reproducible_and_leaves_no_trace():
    before = torch.random.get_rng_state()
    with scoped_rng(5):
        a = torch.rand(3)
    with scoped_rng(torch.Generator().manual_seed(1)):
        b = torch.rand(3)
    with scoped_rng(torch.Generator().manual_seed(1)):
        c = torch.rand(3)
    assert torch.equal(torch.random.get_rng_state(), before)
    with scoped_rng(5):
        assert torch.equal(torch.rand(3), a)
    assert torch.equal(b, c) and not torch.equal(a, b)


def test_seeds_global_rng_reads_the_named_argument():
    class Recipe:
        seed = 7

    @seeds_global_rng("recipe.seed")
    def draw(recipe) -> torch.Tensor:
        return torch.rand(2)

    before = torch.random.get_rng_state()
    assert torch.equal(draw(Recipe()), draw(Recipe()))
    assert torch.equal(torch.random.get_rng_state(), before)
    with pytest.raises(TypeError, match="no argument 'seed'"):
        seeds_global_rng("seed")(lambda x: x)


def test_deterministic_restores_the_previous_setting():
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled()
    with deterministic(False):
        assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()


def test_trainer_fit_leaves_global_rng_and_determinism_as_it_found_them():
    from netgraph.metanets import create_metanet
    from netgraph.tasks import FunctionObjective, TrainConfig, Trainer

    nets = [mlp([2, 4, 1]) for _ in range(4)]
    batch = netgraph.from_state_dicts(nets[0], [n.state_dict() for n in nets])
    batch.y = torch.randn(4, 1)
    model = create_metanet("gmn", dim=8, depth=1, edge_features=1)
    objective = FunctionObjective(loss=lambda m, b: (m(b) - b.y).pow(2).mean())
    before = torch.random.get_rng_state()
    Trainer(model, objective, TrainConfig(epochs=1, progress=False, deterministic=True)).fit([batch])
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not torch.are_deterministic_algorithms_enabled()


def test_generate_weights_is_reproducible_and_leaves_the_global_rng_alone():
    from netgraph.tasks import generate_weights

    before = torch.random.get_rng_state()
    a = generate_weights("iris-mlp-hypernet", n=2, seed=1).state_dicts()
    b = generate_weights("iris-mlp-hypernet", n=2, seed=1).state_dicts()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(torch.random.get_rng_state(), before)
