"""Task options for scale-invariant metanets and probe features: ``normalize="scale"`` keeps sign
flips exact symmetries of the standardised inputs (a centred standardisation does not), and
``probes=P`` adds what every neuron computes on P fixed inputs for graph metanets."""

import pytest
import torch
from torch_geometric.data import Batch

from netgraph.augment import SignFlip
from netgraph.metanets import create_metanet
from netgraph.tasks import build_metanet, create_task

from _task_helpers import tiny_zoos  # noqa: F401 (fixture)


def test_scale_normalisation_keeps_sign_flips_symmetries(tiny_zoos):  # noqa: F811
    outputs = {}
    for normalize in ("scale", True):
        task = create_task("inr_classification", zoo=tiny_zoos["inr"], normalize=normalize)
        data = task.setup(progress=False)
        batch = Batch.from_data_list([data["train"][i] for i in range(6)])
        batch.x, batch.edge_attr = batch.x.double(), batch.edge_attr.double()
        flipped = SignFlip(generator=torch.Generator().manual_seed(0))(batch)
        torch.manual_seed(0)
        model = create_metanet("scalegmn", dim=8, depth=1, edge_features=1, out_features=10).double().eval()
        outputs[normalize] = (model(task.inputs(batch)) - model(task.inputs(flipped))).abs().max().item()
        if normalize == "scale":
            assert all(mean == 0.0 for mean, _ in task.standardizer.stats.values())
    assert outputs["scale"] < 1e-9 and outputs[True] > 1e-7  # centring breaks the symmetry
    with pytest.raises(ValueError, match="normalize='std'"):
        create_task("inr_classification", normalize="std")


def test_probe_features_reach_graph_metanets(tiny_zoos):  # noqa: F811
    task = create_task("inr_classification", zoo=tiny_zoos["inr"], probes=5)
    data = task.setup(progress=False)
    batch = Batch.from_data_list([data["train"][i] for i in range(3)])
    seen = task.inputs(batch)
    assert seen.probe.shape == (batch.num_nodes, 5) and not hasattr(batch, "probe")
    hidden = seen.node_type == 1
    assert seen.probe[hidden].abs().min() > 0 and seen.probe[~hidden & (seen.node_type == 0)].abs().max() == 0
    for name in ("gmn", "scalegmn_b"):
        model = build_metanet(name, task, data["train"], dim=8, depth=1)
        assert model.embedding.probe_features == 5 and model(seen).shape == (3, 10)
    with pytest.raises(ValueError, match="cannot read them"):
        build_metanet("dwsnet", task, data["train"])
    assert task.config()["probes"] == 5
