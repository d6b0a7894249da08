"""The graph layout: weights stored once and unpadded, topology shared per architecture, edge views on demand."""

import math

import pytest
import torch
from torch_geometric.data import Batch

import netgraph
from _models import CASES
from netgraph.architectures import SmallCNN, mlp, resnet50
from netgraph.spec import EdgePiece


def _graph(name):
    make, make_input, export = CASES[name]
    torch.manual_seed(0)
    model = make().eval()
    return model, netgraph.from_module(model, example_inputs=(make_input(),) if export else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_edges_carry_their_weight_centred_in_the_padded_features(name):
    """Edge ``offset + o * n_in + i`` joins ``in_nodes[i]`` (of o's group) -> ``out_nodes[o]`` and carries
    ``param[rows].reshape(view).permute(perm)[o, i]`` centred in ``kernel_shape`` (the EdgePiece contract),
    checked against the module's own state dict, not against our gathering code."""
    model, graph = _graph(name)
    spec, state = graph.spec, model.state_dict()
    attr = graph.edge_attr.view(spec.num_edges, *spec.kernel_shape)
    src, dst = graph.edge_index
    covered = torch.zeros(spec.num_edges, dtype=torch.bool)
    for piece in spec.edge_pieces:
        weight = state[piece.param]
        if piece.rows is not None:
            weight = weight[piece.rows[0] : piece.rows[1]]
        expected = weight.reshape(piece.view).permute(piece.perm).reshape(piece.n_out, piece.n_in, *piece.kernel)
        edges = slice(piece.offset, piece.offset + piece.num_edges)
        kernel = (1,) * (len(spec.kernel_shape) - len(piece.kernel)) + tuple(piece.kernel)
        window = tuple(slice((c - k) // 2, (c - k) // 2 + k) for c, k in zip(spec.kernel_shape, kernel))
        block = attr[edges]
        assert torch.equal(block[(slice(None),) + window].reshape(expected.shape), expected.to(block.dtype)), (
            piece.param
        )
        padding = block.clone()
        padding[(slice(None),) + window] = 0
        assert not padding.any(), "padding must be zero"
        per_group = piece.n_out // piece.groups
        group_of = torch.arange(piece.n_out) // per_group
        in_ids = piece.in_nodes.view(piece.groups, piece.n_in)[group_of]  # [n_out, n_in]
        assert torch.equal(src[edges].view(piece.n_out, piece.n_in), in_ids)
        assert torch.equal(dst[edges].view(piece.n_out, piece.n_in), piece.out_nodes.view(-1, 1).expand_as(in_ids))
        covered[edges] = True
    for const in spec.const_edges:
        edges = slice(const.offset, const.offset + const.count)
        centre = tuple(c // 2 for c in spec.kernel_shape)
        assert (attr[edges][(slice(None),) + centre] == const.value).all()
        assert torch.equal(src[edges], const.src) and torch.equal(dst[edges], const.dst)
        covered[edges] = True
    assert covered.all()


@pytest.mark.parametrize("name", ["resnet20", "text", "mha", "grouped_cnn", "conv1d3d"])
def test_edge_attr_assignment_is_stored_back_into_the_weights(name):
    model, graph = _graph(name)
    doubled = graph.edge_attr * 2
    graph.edge_attr = doubled
    assert torch.equal(graph.edge_attr, doubled)  # padding and fixed edges included (both scaled)
    state = netgraph.to_state_dict(graph)
    for piece in graph.spec.edge_pieces:
        assert torch.equal(state[piece.param], model.state_dict()[piece.param] * 2), piece.param
    with pytest.raises(ValueError, match="do not fit this graph"):
        graph.edge_attr = doubled[:, :1] if doubled.shape[1] > 1 else doubled[1:]


def test_graphs_store_the_weights_once_and_share_the_topology():
    model = resnet50(10, "imagenet")  # one 7x7 stem conv: padded features would be 49 floats per edge
    spec = netgraph.spec_of(model)
    a, b = netgraph.from_module(model, spec=spec), netgraph.from_module(model, spec=spec)
    stored = set(a.keys())
    assert not stored & {"edge_index", "edge_attr", "edge_type"}
    weights = sum(v.numel() for k, v in model.state_dict().items() if v.dim() > 1)
    assert a.edge_values.numel() == weights + sum(c.count for c in spec.const_edges)
    assert a.edge_index.data_ptr() == b.edge_index.data_ptr() == spec.edge_index.data_ptr()
    assert spec.with_kernel_shape((9, 9)).edge_index.data_ptr() == spec.edge_index.data_ptr()
    assert a.num_edges == spec.num_edges == a.edge_index.shape[1]


def test_batches_of_mixed_architectures_pad_to_a_common_kernel():
    models = [mlp([3, 8, 2]), SmallCNN(1), mlp([3, 4, 4, 2]), SmallCNN(1)]
    graphs = [netgraph.from_module(m) for m in models]
    padded = [netgraph.from_module(m, kernel_shape=(3, 3)) for m in models]
    batch = Batch.from_data_list(graphs)
    assert torch.equal(batch.edge_attr, torch.cat([g.edge_attr for g in padded]))
    assert torch.equal(batch.edge_type, torch.cat([g.edge_type for g in graphs]))
    offsets = torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0)
    assert torch.equal(batch.edge_index, torch.cat([g.edge_index + o for g, o in zip(graphs, offsets)], dim=1))
    edited = batch.edge_attr * torch.arange(batch.num_edges).unsqueeze(1)  # different per graph and per edge
    batch.edge_attr = edited
    assert torch.equal(batch.edge_attr, edited)
    for graph, back in zip(batch.to_data_list(), netgraph.to_state_dicts(batch)):
        assert all(torch.equal(v, netgraph.to_state_dict(graph)[k]) for k, v in back.items())


def test_values_and_padded_features_are_inverse_and_differentiable():
    spec = netgraph.spec_of(SmallCNN(1), kernel_shape=(5, 5))
    values = torch.randn(3, spec.num_values, requires_grad=True)
    padded = spec.edge_attr_of(values)
    assert padded.shape == (3, spec.num_edges, 25)
    assert torch.equal(spec.values_of(padded), values)
    (padded * 2).sum().backward()
    assert torch.equal(values.grad, torch.full_like(values, 2.0))
    assert math.prod(spec.kernel_shape) * spec.num_edges > spec.num_values
    pieces = [b for b in spec._value_blocks if isinstance(b.source, EdgePiece)]
    assert pieces and all(b.num_values == b.source.num_edges * math.prod(b.source.kernel) for b in pieces)
