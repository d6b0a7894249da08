"""netgraph.viz: every plot runs headless on tiny inputs and draws the expected artists (no pixel comparisons)."""

import os

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet, mlp
from netgraph.types import EdgeType
from netgraph.viz import (
    new_figure,
    plot_barrier,
    plot_confusion,
    plot_graph,
    plot_inrs,
    plot_predictions,
    plot_pruning,
    plot_weight_stats,
    save_figure,
)
from netgraph.viz.images import montage

pytest.importorskip("matplotlib")
from matplotlib.collections import LineCollection, PatchCollection, PathCollection


def _collections(fig, kind):
    return [c for c in fig.axes[0].collections if type(c) is kind]


def _learned_and_fixed(graph):
    fixed = torch.isin(graph.edge_type, torch.tensor([int(EdgeType.RESIDUAL), int(EdgeType.PRODUCT)]))
    return int((~fixed).sum()), int(fixed.sum())


def test_plot_graph_full_draws_every_edge_coloured_by_its_weight():
    g = netgraph.from_module(mlp([3, 4, 2]))
    fig = plot_graph(g, mode="full")
    lines = _collections(fig, LineCollection)
    assert len(lines) == 1 and len(lines[0].get_segments()) == g.num_edges == 20
    weights = g.edge_attr.reshape(-1).double()
    assert torch.allclose(torch.as_tensor(lines[0].get_array()).sort().values, weights.sort().values)
    nodes = _collections(fig, PathCollection)
    assert sum(len(c.get_offsets()) for c in nodes) == g.num_nodes
    assert len(nodes) == 3  # input, hidden, output markers
    offsets = torch.cat([torch.as_tensor(c.get_offsets()) for c in nodes])
    assert len(set(offsets[:, 0].tolist())) == 3  # one column per layer


def test_plot_graph_columns_follow_layers_and_conv_kernels_keep_their_sign():
    g = netgraph.from_module(SmallCNN(channels=4))
    fig = plot_graph(g)
    lines = _collections(fig, LineCollection)[0]
    start_x = torch.tensor([seg[0][0] for seg in lines.get_segments()])
    end_x = torch.tensor([seg[-1][0] for seg in lines.get_segments()])
    assert bool((end_x > start_x).all())  # every edge runs left to right, inputs to outputs
    signed = g.edge_attr.gather(1, g.edge_attr.abs().argmax(1, keepdim=True)).squeeze(1).double()
    assert torch.allclose(torch.as_tensor(lines.get_array()).sort().values, signed.sort().values)


def test_plot_graph_colours_per_layer_when_layer_scales_differ():
    model = mlp([2, 8, 8, 1])
    with torch.no_grad():
        model[0].weight.mul_(100.0)  # a SIREN-like first layer
    g = netgraph.from_module(model)
    lines = _collections(plot_graph(g), LineCollection)[0]
    shown = torch.as_tensor(lines.get_array())
    layer_of = g.layer[g.edge_index[1]]
    weights = g.edge_attr.reshape(-1).double()
    expected = weights / torch.stack([weights[layer_of == i].abs().max() for i in range(1, 4)])[layer_of - 1]
    assert torch.allclose(shown.sort().values, expected.sort().values)
    raw = _collections(plot_graph(g, per_layer=False), LineCollection)[0]
    assert torch.allclose(torch.as_tensor(raw.get_array()).sort().values, weights.sort().values)


@pytest.mark.parametrize("build", ["resnet_block", "transformer_block"])
def test_plot_graph_draws_residual_edges_dashed_and_attention_nodes(build):
    if build == "resnet_block":
        g = netgraph.from_module(cifar_resnet(8, 4))
    else:
        layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)
        g = netgraph.from_module(layer, example_inputs=(torch.randn(1, 3, 8),))
    learned, fixed = _learned_and_fixed(g)
    fig = plot_graph(g, mode="full")
    lines = _collections(fig, LineCollection)
    assert fixed > 0 and [len(c.get_segments()) for c in lines[:2]] == [learned, fixed]
    assert sum(len(c.get_offsets()) for c in _collections(fig, PathCollection)) == g.num_nodes
    kinds = len(set(g.node_type.tolist()))
    assert len(_collections(fig, PathCollection)) == kinds
    if build == "transformer_block":
        assert kinds >= 5  # input, query, key, value, hidden, sum
        assert len(lines) == 3 and len(lines[2].get_segments()) == 2 * 3  # a bar per head in q, k, v


def test_plot_graph_summary_draws_one_block_per_space_and_one_line_per_connected_pair():
    g = netgraph.from_module(cifar_resnet(8, 4))
    fig = plot_graph(g, mode="summary")
    spec = g.spec
    assert len(_collections(fig, PatchCollection)[0].get_paths()) == len(spec.spaces)
    starts = torch.tensor([s.start for s in spec.spaces])
    space = torch.bucketize(spec.edge_index, starts, right=True) - 1
    fixed = torch.isin(spec.edge_type, torch.tensor([int(EdgeType.RESIDUAL), int(EdgeType.PRODUCT)]))
    pairs = {(a, b, f) for a, b, f in zip(space[0].tolist(), space[1].tolist(), fixed.tolist())}
    lines = _collections(fig, LineCollection)
    assert sum(len(c.get_segments()) for c in lines) == len(pairs)
    assert plot_graph(g, max_edges=100).axes[0].get_title().endswith("(per-layer summary)")  # auto switches


def test_plot_graph_rejects_batches_and_unknown_modes():
    g = netgraph.from_module(mlp([2, 3, 1]))
    with pytest.raises(ValueError, match="one network"):
        plot_graph(Batch.from_data_list([g, g]))
    with pytest.raises(ValueError, match="mode"):
        plot_graph(g, mode="edges")
    assert plot_graph(mlp([2, 3, 1])).axes[0].get_title() == "6 nodes, 9 edges, 1 symmetry group"  # a module


def test_plot_barrier_draws_a_line_per_method_and_metric_with_bands_for_several_pairs():
    t = torch.linspace(0, 1, 5)
    bump = t * (1 - t)
    paths = {
        "naive": [
            {"t": t, "loss": 1 + bump, "accuracy": 0.9 - bump},
            {"t": t, "loss": 1 + 3 * bump, "accuracy": 0.9 - 3 * bump},
        ],
        "weights": {"t": t, "loss": torch.ones(5), "accuracy": torch.full((5,), 0.9)},
    }
    fig = plot_barrier(paths)
    assert [len(a.lines) for a in fig.axes] == [2, 2]
    assert torch.allclose(torch.as_tensor(fig.axes[0].lines[0].get_ydata()), (1 + 2 * bump).double())
    assert torch.allclose(torch.as_tensor(fig.axes[1].lines[0].get_ydata()), 100 * (0.9 - 2 * bump).double())
    assert [len(a.collections) for a in fig.axes] == [1, 1]  # the min-max band of the two naive pairs
    only_loss = plot_barrier({"naive": {"t": t, "loss": 1 + bump, "accuracy": None}})
    assert len(only_loss.axes) == 1


def test_plot_barrier_takes_interpolation_paths_and_given_axes():
    a, b = mlp([4, 6, 3]), mlp([4, 6, 3])
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    path = netgraph.merge.barrier(a, b, (x, y), steps=4)
    fig, axes = new_figure((6, 3), 1, 2)
    assert plot_barrier({"naive": path}, ax=axes) is fig
    assert [len(ax.lines) for ax in axes] == [1, 1]
    with pytest.raises(ValueError, match="2 Axes"):
        plot_barrier({"naive": path}, ax=axes[0])


def test_plot_pruning_averages_seeds_and_draws_pruned_and_fine_tuned_lines():
    rows = [
        {
            "method": m,
            "target": s,
            "speedup": s + 0.01 * seed,
            "test_acc": 0.9 - 0.01 * s + 0.01 * seed,
            "pruned_test_acc": 0.8 - 0.1 * s,
            "original_test_acc": 0.95,
        }
        for m in ("magnitude", "metanet")
        for s in (1.5, 2.0)
        for seed in (0, 1)
    ]
    fig = plot_pruning(rows)
    lines = fig.axes[0].lines
    assert len(lines) == 2 * 2 + 1  # per method fine-tuned and pruned, plus the original
    assert torch.allclose(torch.as_tensor(lines[0].get_xdata()), torch.tensor([1.505, 2.005], dtype=torch.float64))
    assert torch.allclose(torch.as_tensor(lines[0].get_ydata()), torch.tensor([89.0, 88.5], dtype=torch.float64))
    assert len(fig.axes[0].collections) == 2  # seed bands
    with pytest.raises(ValueError, match="lacks"):
        plot_pruning([{"method": "magnitude", "speedup": 2.0}])


def test_plot_predictions_reports_kendall_tau_and_draws_every_network():
    from scipy.stats import kendalltau

    pred, true = torch.rand(30), torch.rand(30)
    fig = plot_predictions(pred, true)
    assert fig.axes[0].collections[0].get_offsets().shape == (30, 2)
    assert f"τ = {kendalltau(true, pred).statistic:.3f}" in fig.axes[0].get_title()
    two = plot_predictions(torch.rand(10, 2), torch.rand(10, 2), names=["amplitude", "phase"])
    assert len(two.axes) == 2
    with pytest.raises(ValueError, match="one shape"):
        plot_predictions(torch.rand(5), torch.rand(6))


def test_plot_confusion_counts_each_pair_of_classes():
    logits = torch.tensor([[2.0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]])
    fig = plot_confusion(logits, torch.tensor([0, 1, 2, 2]), classes=["a", "b", "c"], normalize=False)
    matrix = torch.as_tensor(fig.axes[0].images[0].get_array())
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert len(fig.axes[0].texts) == 4  # one count per non-empty cell


def test_plot_inrs_tiles_every_row_and_image_into_one_montage():
    original, edited = torch.rand(3, 1, 4, 5), torch.rand(3, 1, 4, 5)
    fig = plot_inrs({"original": original, "edited": edited, "target": edited})
    image = torch.as_tensor(fig.axes[0].images[0].get_array().filled(float("nan")))
    assert image.shape == (3 * 5 - 1, 3 * 6 - 1)
    assert torch.equal(image[5:9, 12:17], edited[2, 0].double())  # row 1, column 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["original", "edited", "target"]
    assert montage(torch.rand(2, 4, 3, 2, 2)).shape == (5, 11, 3)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        plot_inrs({"a": torch.rand(2, 2, 4, 4)})


def test_plot_weight_stats_draws_a_violin_per_layer_and_source():
    sd = {k: torch.randn(5, *v.shape) for k, v in mlp([3, 4, 2]).state_dict().items()}
    fig = plot_weight_stats({"generated": sd, "trained": {k: 3 * v for k, v in sd.items()}})
    assert len(fig.axes[0].collections) == len(sd) * 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(sd)
    with pytest.raises(ValueError, match="share no"):
        plot_weight_stats({"a": {"x": torch.zeros(2)}, "b": {"y": torch.zeros(2)}})


def test_save_figure_writes_atomically(tmp_path):
    fig = plot_predictions(torch.rand(4), torch.rand(4))
    path = save_figure(fig, tmp_path / "sub" / "scatter.png")
    assert path.stat().st_size > 0 and os.listdir(path.parent) == ["scatter.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it


def _script(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_scripts_draw_their_tables(tmp_path):
    t = torch.linspace(0, 1, 3)
    path = {"t": t, "loss": 1 + t * (1 - t), "accuracy": 0.9 - t * (1 - t)}
    curves = {("mlp", 16): {"naive": [path, path], "weights": [path, path]}, ("resnet20", 4): {"naive": [path]}}
    _script("bench_merge_barriers").draw_curves(curves, str(tmp_path / "barriers.png"))
    rows = [
        {
            "family": f,
            "target": 2.0,
            "speedup": 2.0,
            "method": m,
            "test_acc": 0.9,
            "pruned_test_acc": 0.8,
            "original_test_acc": 0.95,
        }
        for f in ("mlp", "vgg")
        for m in ("magnitude", "metanet")
    ]
    _script("bench_prune").draw(rows, str(tmp_path / "prune.png"))
    assert (tmp_path / "barriers.png").stat().st_size > 0 and (tmp_path / "prune.png").stat().st_size > 0
