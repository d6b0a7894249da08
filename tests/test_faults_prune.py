"""Pruned folders never run code named in a file (issue 23): a stored factory resolves only
through the architecture registry, or through the factory the caller passes."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from netgraph.architectures import mlp
from netgraph.tasks.pruning import load_pruned
from netgraph.tasks.pruning.models import CONFIG_JSON, save_pruned_factory


def _folder(tmp_path, factory: str):
    model = mlp([4, 6, 3])
    folder = tmp_path / "pruned"
    save_pruned_factory(folder, model, model, "netgraph.architectures:mlp", {"sizes": [4, 6, 3]})
    config = json.loads((folder / CONFIG_JSON).read_text())
    config["factory"] = factory
    (folder / CONFIG_JSON).write_text(json.dumps(config))
    return folder, model


def test_a_factory_named_in_the_folder_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "planted_factory.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\ndef build(**kw):\n    raise SystemExit\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for planted in ("planted_factory:build", "subprocess:run"):
        folder, _ = _folder(tmp_path, planted)
        with pytest.raises(ValueError, match="refusing to import"):
            load_pruned(folder)
        assert not marker.exists() and "planted_factory" not in sys.modules


def test_the_callers_own_factory_rebuilds_an_unregistered_one(tmp_path):
    folder, model = _folder(tmp_path, "my_package.models:my_mlp")
    reloaded = load_pruned(folder, factory=mlp)
    x = torch.randn(2, 4)
    assert torch.equal(reloaded(x), model.eval()(x))


def test_a_registered_factory_is_stored_by_its_registered_name(tmp_path):
    model = mlp([4, 6, 3])
    save_pruned_factory(tmp_path, model, model, "netgraph.architectures:mlp", {"sizes": [4, 6, 3]})
    assert json.loads((tmp_path / CONFIG_JSON).read_text())["factory"] == "mlp"
    x = torch.randn(2, 4)
    assert torch.equal(load_pruned(tmp_path)(x), model.eval()(x))
