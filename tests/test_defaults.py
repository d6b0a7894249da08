"""Defaults live in one place: metanet settings in configs/metanet/*.yaml, training settings in TrainConfig."""

import dataclasses
import inspect

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from netgraph.configs import load_preset
from netgraph.metanets import DenseMetanet, create_metanet, metanet_class, metanet_preset, metanet_preset_names
from netgraph.tasks import TrainConfig
from netgraph.tasks.cli import register_configs


@pytest.mark.parametrize("name", metanet_preset_names())
def test_metanet_settings_come_from_the_yaml_only(name):
    preset = {k: v for k, v in metanet_preset(name).items() if k != "name"}
    parameters = inspect.signature(metanet_class(name).__init__).parameters
    second_home = [k for k in preset if k in parameters and parameters[k].default is not inspect.Parameter.empty]
    assert not second_home, f"{name}: {second_home} have a Python default besides configs/metanet/{name}.yaml"
    extra = {"layer_shapes": [[4, 2], [3, 4]]} if issubclass(metanet_class(name), DenseMetanet) else {}
    extra = {"lora_spectrum": {"ranks": [2]}, "lora_flat": {"factor_sizes": [8]}}.get(name, extra)  # adapter inputs
    built = create_metanet(name, **extra)._hub_mixin_config  # what save_pretrained writes
    assert {k: built[k] for k in preset} == preset


def test_training_defaults_come_from_train_config_only():
    node = load_preset(".", "train", resolve=False)["train"]
    literal = {k: v for k, v in node.items() if not (isinstance(v, str) and v.startswith("${"))}
    assert not literal, f"configs/train.yaml repeats TrainConfig defaults: {literal}"
    register_configs()
    with initialize_config_module(config_module="netgraph.configs", version_base="1.3"):
        composed = OmegaConf.to_container(compose(config_name="train").train, resolve=True)
    expected = {**dataclasses.asdict(TrainConfig()), **load_preset("task", "accuracy_prediction")["train"]}
    assert {k: composed[k] for k in expected if k not in node} == {k: v for k, v in expected.items() if k not in node}
