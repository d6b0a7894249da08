"""Exact round trips: module -> graph -> state dict / module gives back the same tensors and outputs."""

import pytest
import torch

import netgraph
from _models import CASES, randomize_norm_stats


def _build(name):
    make, make_input, export = CASES[name]
    model = make().eval()
    randomize_norm_stats(model)
    x = make_input()
    return model, x, ((x,) if export else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip_is_exact(name):
    model, x, example = _build(name)
    graph = netgraph.from_module(model, example_inputs=example)
    state = netgraph.to_state_dict(graph)
    reference = model.state_dict()
    assert list(state) == list(reference)
    for key, value in reference.items():
        assert state[key].dtype == value.dtype, key
        assert torch.equal(state[key], value), key
    rebuilt = netgraph.to_module(graph, model)
    assert torch.equal(rebuilt(x), model(x))


def test_edges_carry_the_weight_between_their_neurons():
    """Edge (i -> o) of a linear layer holds W[o, i]; the bias of o is x[o, BIAS]; inputs come first."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    graph = netgraph.from_module(model)
    src, dst = graph.edge_index
    hidden, outputs = torch.arange(3, 7), torch.arange(7, 9)
    assert torch.equal(graph.node_type, torch.tensor([0] * 3 + [1] * 4 + [2] * 2))
    for s_, d_, w in zip(src.tolist(), dst.tolist(), graph.edge_attr[:, 0].tolist()):
        if d_ in hidden:
            assert w == model[0].weight[d_ - 3, s_].item()
        else:
            assert w == model[2].weight[d_ - 7, s_ - 3].item()
    assert torch.equal(graph.x[hidden, netgraph.NodeFeature.BIAS], model[0].bias.detach())
    assert torch.equal(graph.x[outputs, netgraph.NodeFeature.BIAS], model[2].bias.detach())
    assert torch.equal(graph.node_act[hidden], torch.full((4,), int(netgraph.Activation.RELU)))
    assert torch.equal(graph.node_pos, torch.tensor([0, 1, 2, -1, -1, -1, -1, 0, 1]))


def test_conv_kernels_are_centred():
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 5, padding=2), torch.nn.ReLU(), torch.nn.Conv2d(1, 1, 1))
    graph = netgraph.from_module(conv)
    assert graph.spec.kernel_shape == (5, 5)
    one_by_one = graph.edge_attr[graph.edge_type == netgraph.EdgeType.CONV][-1].view(5, 5)
    assert one_by_one[2, 2] == conv[2].weight.flatten()[0]
    assert one_by_one.abs().sum() == one_by_one[2, 2].abs()


def test_from_state_dict_matches_from_module():
    model, _, _ = _build("resnet20")
    spec = netgraph.trace(model)
    a = netgraph.from_module(model)
    b = netgraph.from_state_dict(spec, model.state_dict())
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_attr, b.edge_attr) and torch.equal(a.edge_index, b.edge_index)


def test_tied_weights_round_trip():
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 6)
            self.hidden = torch.nn.Linear(6, 6)
            self.decoder = torch.nn.Linear(6, 10, bias=False)

        def forward(self, ids):
            return self.hidden(self.emb(ids))

    model = Tied()
    model.decoder.weight = model.emb.weight  # tied; forward uses the embedding only
    graph = netgraph.from_module(model, example_inputs=(torch.randint(0, 10, (2, 3)),))
    state = netgraph.to_state_dict(graph)
    assert torch.equal(state["decoder.weight"], model.emb.weight)
    assert list(state) == list(model.state_dict())


def test_float64_and_half_models_keep_their_dtype():
    for dtype in (torch.float64, torch.bfloat16):
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).to(dtype)
        graph = netgraph.from_module(model)
        assert graph.edge_attr.dtype == dtype
        state = netgraph.to_state_dict(graph)
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_device_follows_the_weights(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model, x, example = _build("resnet20")
    model = model.to(device)
    graph = netgraph.from_module(model)
    assert graph.x.device.type == device and graph.edge_index.device.type == device
    graph2 = netgraph.permute(graph, netgraph.random_permutation(graph))
    out = netgraph.to_module(graph2, model)(x.to(device))
    torch.testing.assert_close(out, model(x.to(device)), atol=1e-5, rtol=1e-4)
