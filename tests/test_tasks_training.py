"""Every task trains on a tiny zoo and its loss goes down; INR rendering and editing are checked
against the datasets' own decoder; models without the head a task needs are refused clearly."""

import pytest
import torch

import netgraph
from netgraph.datasets import load_model, render_inr
from netgraph.tasks import IMAGE_EDITS, GraphLoader, Trainer, build_metanet, create_task, is_dense_metanet, render_inrs

from _task_helpers import tiny_zoos  # noqa: F401  (fixture)

SMALL = {
    "gmn": dict(dim=16, depth=2, head_hidden=32),
    "ngt": dict(dim=16, depth=2, heads=2, head_hidden=32),
    "nfn_hnp": dict(hidden=8, depth=2, head_hidden=32),
    "nfn_np": dict(hidden=8, depth=2, head_hidden=32),
    "dwsnet": dict(hidden=8, depth=2, head_hidden=32),
    "statnn": dict(hidden=32),
    "mlp": dict(hidden=32),
}

CASES = [
    ("accuracy_prediction", "cnn", "gmn", {"checkpoints": "all"}),
    ("accuracy_prediction", "cnn", "nfn_hnp", {"checkpoints": "all"}),
    ("inr_classification", "inr", "dwsnet", {}),
    ("inr_editing", "inr", "gmn", {}),
    ("inr_editing", "inr", "nfn_np", {}),
    ("sine_regression", "sine", "ngt", {}),
    ("sine_regression", "sine", "statnn", {}),
]


def train_loss(task, model, loader):
    with torch.no_grad():
        return sum(float(task.loss(model, b)) * b.num_graphs for b in loader) / sum(b.num_graphs for b in loader)


@pytest.mark.parametrize("task_name, zoo, metanet, extra", CASES)
def test_loss_goes_down(tiny_zoos, task_name, zoo, metanet, extra):
    task = create_task(task_name, zoo=tiny_zoos[zoo], **extra)
    data = task.setup(progress=False)
    torch.manual_seed(0)
    model = build_metanet(metanet, task, data["train"], **SMALL[metanet])
    loader = GraphLoader(data["train"], batch_size=8, shuffle=True, dense=is_dense_metanet(metanet))
    before = train_loss(task, model.eval(), loader)
    Trainer(model, task, {"epochs": 8, "lr": 1e-2, "progress": False}).fit(loader)
    after = train_loss(task, model.eval(), loader)
    assert after < 0.85 * before, (before, after)
    with torch.no_grad():
        outputs = [task.outputs(model, b) for b in loader]
    collected = {k: torch.cat([o[k] for o in outputs]) for k in outputs[0]}
    assert task.monitor in task.metrics(collected)
    _check_figure(task, collected)


def _check_figure(task, outputs):
    """The task's figure of its outputs: a point per network, a confusion matrix, or a row of renderings per kind."""
    pytest.importorskip("matplotlib")
    ax = task.figure(outputs).axes[0]
    n = len(next(iter(outputs.values())))
    if "prediction" in outputs:
        assert ax.collections[0].get_offsets().shape == (n, 2)
    elif "logits" in outputs:
        assert ax.images[0].get_array().shape == (task.num_classes, task.num_classes)
    else:
        h, w = outputs["rendered"].shape[-2:]
        assert ax.images[0].get_array().shape[:2] == (3 * (h + 1) - 1, min(n, 8) * (w + 1) - 1)


def test_render_inrs_matches_the_datasets_decoder(tiny_zoos):
    task = create_task("inr_editing", zoo=tiny_zoos["inr"])
    data = task.setup(progress=False)
    batch = data["test"].to_batch()
    images = task.render(batch)  # [B, 1, 8, 8], vmap over nets
    for i, net_id in enumerate(batch.net_id[:3].tolist()):
        assert torch.allclose(images[i], render_inr(load_model(tiny_zoos["inr"]["root"], net_id), (8, 8)), atol=1e-6)
    weights = netgraph.to_state_dicts(batch, stacked=True)
    assert torch.equal(render_inrs(task.module, weights, task.decode), images)


def test_edit_targets_and_zero_edit():
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 0, 0], image[0, 0, 2, 2] = 1.0, 0.5
    dilated = IMAGE_EDITS["dilate"](image, 2.0, (0.0, 1.0))[0, 0]
    assert dilated[:2, :2].eq(1.0).all() and dilated[1:, 1:].ge(0.5).all() and dilated[3, 0] == 0.0
    assert torch.equal(IMAGE_EDITS["erode"](dilated[None, None], 2.0, (0.0, 1.0))[0, 0, 3, 3], torch.tensor(0.5))
    contrast = IMAGE_EDITS["contrast"](torch.tensor([0.0, 0.4, 0.5, 0.8]), 2.0, (0.0, 1.0))
    assert torch.allclose(contrast, torch.tensor([0.0, 0.3, 0.5, 1.0]))


def test_zero_scale_edit_renders_the_original(tiny_zoos):
    task = create_task("inr_editing", zoo=tiny_zoos["inr"])
    data = task.setup(progress=False)
    model = build_metanet("gmn", task, data["train"], **SMALL["gmn"])
    with torch.no_grad():
        model.edit_scale.scale.zero_()
    batch = data["val"].to_batch()
    outputs = task.outputs(model, batch)
    assert torch.allclose(outputs["rendered"], outputs["unedited"], atol=1e-5)
    metrics = task.metrics(outputs)
    assert metrics["mse"] == pytest.approx(metrics["mse_no_edit"], rel=1e-4)


def test_tasks_refuse_what_they_cannot_do(tiny_zoos):
    task = create_task("inr_editing", zoo=tiny_zoos["inr"])
    data = task.setup(progress=False)
    with pytest.raises(ValueError, match="has no equivariant edit head"):
        build_metanet("statnn", task, data["train"])
    with pytest.raises(ValueError, match="edits INRs of 2-D images"):
        create_task("inr_editing", zoo=tiny_zoos["sine"]).setup(progress=False)
    with pytest.raises(ValueError, match="regresses numbers but target"):
        create_task("sine_regression", zoo=tiny_zoos["inr"], target="class").setup(progress=False)
    with pytest.raises(ValueError, match="one categorical target"):
        create_task("inr_classification", zoo=tiny_zoos["sine"], target="amplitude").setup(progress=False)
    with pytest.raises(RuntimeError, match="only known after task.setup"):
        create_task("inr_classification").head()
    with pytest.raises(ValueError, match="unknown image edit"):
        create_task("inr_editing", edit="blur")
    with pytest.raises(KeyError, match="no task named"):
        create_task("nope")
