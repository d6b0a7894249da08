"""The shared registry shape and the architecture registry (names from files never reach getattr)."""

import pytest
import torch.nn as nn

from netgraph.architectures import create_architecture, list_architectures, register_architecture, resolve_factory
from netgraph.datasets.storage import build_architecture
from netgraph.registry import Registry


def test_registry_refuses_a_second_object_under_a_taken_name():
    reg = Registry("thing")
    reg.register("a")(int)
    reg.register("a")(int)  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(float)
    with pytest.raises(KeyError, match="no thing named 'b'"):
        reg.get("b")


def test_every_reference_architecture_is_registered():
    assert {"mlp", "SmallCNN", "Siren", "cifar_resnet", "resnet50", "vgg"} <= set(list_architectures())
    assert isinstance(create_architecture("vgg", widths=[4, "M"]), nn.Sequential)


def test_file_names_resolve_only_through_the_registry():
    # ACTIVATIONS and Sine are module attributes of netgraph.architectures but not factories of networks
    for name in ["ACTIVATIONS", "Sine", "torch", "os:system"]:
        with pytest.raises(ValueError, match="unknown architecture factory"):
            build_architecture({"factory": name, "kwargs": {}})


def test_user_factories_register_and_import_explicitly():
    @register_architecture("tiny_test_net")
    def tiny_test_net(width: int = 2) -> nn.Module:
        return nn.Linear(width, 1)

    assert build_architecture({"factory": "tiny_test_net", "kwargs": {"width": 3}}).in_features == 3
    assert resolve_factory("torch.nn:Linear") is nn.Linear
    with pytest.raises(ValueError, match="cannot import"):
        resolve_factory("torch.nn:NoSuchLayer")
