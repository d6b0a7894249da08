"""Pruned folders never run code named in a file (issue 23): a stored factory resolves only
through the architecture registry, or through the factory the caller passes."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from netgraph.architectures import mlp
from netgraph.tasks.pruning import load_pruned
from netgraph.tasks.pruning.models import CONFIG_JSON, MODEL_FILE, save_pruned_factory, seal_pruned_folder


def _folder(tmp_path, factory: str):
    model = mlp([4, 6, 3])
    folder = tmp_path / "pruned"
    save_pruned_factory(folder, model, model, "netgraph.architectures:mlp", {"sizes": [4, 6, 3]})
    config = json.loads((folder / CONFIG_JSON).read_text())
    config["factory"] = factory
    (folder / CONFIG_JSON).write_text(json.dumps(config))
    seal_pruned_folder(folder)  # whoever plants the file can write its checksums too
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


def test_an_interrupted_save_leaves_a_folder_that_is_refused_not_one_of_two_runs(tmp_path, monkeypatch):
    import netgraph.tasks.pruning.models as models
    from netgraph.errors import CorruptFileError

    first, second = mlp([4, 6, 3]), mlp([4, 5, 3])
    save_pruned_factory(tmp_path, first, first, "mlp", {"sizes": [4, 6, 3]})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "write_text", killed)  # killed after the new weights, before the new config
    with pytest.raises(KeyboardInterrupt):
        save_pruned_factory(tmp_path, second, second, "mlp", {"sizes": [4, 5, 3]})
    assert (tmp_path / MODEL_FILE).is_file() and (tmp_path / CONFIG_JSON).is_file()  # parts of two runs
    with pytest.raises(CorruptFileError, match="interrupted"):
        load_pruned(tmp_path)


def test_a_tampered_weights_file_is_refused(tmp_path):
    from netgraph.errors import CorruptFileError

    model = mlp([4, 6, 3])
    save_pruned_factory(tmp_path, model, model, "mlp", {"sizes": [4, 6, 3]})
    data = bytearray((tmp_path / MODEL_FILE).read_bytes())
    data[-1] ^= 1
    (tmp_path / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="model.safetensors"):
        load_pruned(tmp_path)


def test_a_factory_without_weights_warns_that_it_prunes_untrained_weights():
    from netgraph.tasks.pruning.models import load_factory

    with pytest.warns(UserWarning, match="untrained"):
        load_factory("mlp", {"sizes": [4, 6, 3]})


def test_a_folder_that_is_not_a_model_is_named_as_such(tmp_path):
    from netgraph.tasks.pruning.api import load_model_file

    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(FileNotFoundError, match="is a folder but not a model folder"):
        load_model_file(tmp_path, "mlp", (64,), 10)


def test_output_folders_are_named_after_the_model_and_a_normalised_speedup():
    from netgraph.tasks.pruning.cli import output_name

    assert output_name(None, "mlp", 2, 0) == output_name(None, "mlp", "2.0", 0) == "mlp-2x-seed0"
    assert output_name("zoo/all-MiniLM-L6-v2", "mlp", 2.0, 0) != output_name("zoo/bert-tiny", "mlp", 2.0, 0)


def test_a_run_again_into_the_same_folder_still_loads_after_its_reports_are_rewritten(tmp_path):
    from netgraph.tasks.pruning.models import TABLE_MD

    model = mlp([4, 6, 3])
    for run in ("first", "second"):  # the command run twice with the same out=: reports rewritten after the seal
        save_pruned_factory(tmp_path, model, model, "mlp", {"sizes": [4, 6, 3]})
        (tmp_path / TABLE_MD).write_text(f"| stage | {run} |")
    x = torch.randn(2, 4)
    assert torch.equal(load_pruned(tmp_path)(x), model.eval()(x))
