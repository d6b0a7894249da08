"""Tiny zoos shared by the netgraph.tasks tests (built once per session, about a second each)."""

import pytest

from netgraph.datasets import build_zoo, zoo_config

TINY_ZOOS = {
    # 24 Small CNNs of 4 channels (ReLU and tanh variants: two architectures), checkpoints 0 and 1
    "cnn": (
        "digits_cnn",
        dict(num_nets=24, epochs=1, checkpoints=[0, 1], arch_kwargs={"channels": 4}, nets_per_shard=24),
    ),
    # 40 digit SIRENs and 40 sine SIRENs, 60 fitting steps
    "inr": ("digits_inr", dict(num_nets=40, steps=60, checkpoints=[60], nets_per_shard=40)),
    "sine": ("sine_inr", dict(num_nets=40, steps=60, checkpoints=[60], nets_per_shard=40)),
}


@pytest.fixture(scope="session")
def tiny_zoos(tmp_path_factory):
    """``{"cnn" | "inr" | "sine": zoo source mapping}`` for ``Task(zoo=...)``; built on first use."""
    roots = {}
    for key, (preset, overrides) in TINY_ZOOS.items():
        root = tmp_path_factory.mktemp(f"zoo-{key}")
        build_zoo(zoo_config(preset, root=str(root), num_threads=1, **overrides), progress=False)
        roots[key] = {"preset": preset, "root": str(root), "num_threads": 1, **overrides}
    return roots
