"""nn.LSTM / nn.GRU / nn.RNN, one or two directions: gates are node spaces, recurrent weights loop back from
the hidden-state nodes, and the hidden-unit permutation (one group per layer and direction tying each hidden
unit to its row of every gate) is the symmetry."""

import pytest
import torch
import torch.nn as nn

import netgraph


CELLS = {
    "lstm": (nn.LSTM, {}, 4),
    "gru": (nn.GRU, {}, 3),
    "rnn_tanh": (nn.RNN, {}, 1),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}, 1),
}  # module, options, gates


class TokenRNN(nn.Module):
    """Embedding -> LSTM / GRU / RNN -> Linear head on the sequence output and on the final hidden state."""

    def __init__(self, cell: str, batch_first: bool, num_layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.batch_first = batch_first
        self.emb = nn.Embedding(11, 5)
        rnn, options, _ = CELLS[cell]
        self.rnn = rnn(5, 6, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional, **options)
        self.head = nn.Linear(12 if bidirectional else 6, 3)
        self.final = nn.Linear(6, 2)

    def forward(self, ids):
        if isinstance(self.rnn, nn.LSTM):  # unpacked explicitly: torch.fx sees the state as one proxy
            out, (h, _) = self.rnn(self.emb(ids))
        else:
            out, h = self.rnn(self.emb(ids))
        one_state = self.rnn.num_layers == 1 and not self.rnn.bidirectional
        return self.head(out), self.final(h[-1]) if one_state else out.sum(dim=-1)


def _ids(batch_first: bool) -> torch.Tensor:
    ids = torch.randint(0, 11, (2, 7), generator=torch.Generator().manual_seed(0))
    return ids if batch_first else ids.T.contiguous()


def _assert_same(a, b):
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)


def _check_round_trip_and_permutation(cell, batch_first, export, num_layers, bidirectional):
    torch.manual_seed(0)
    model = TokenRNN(cell, batch_first, num_layers, bidirectional).eval()
    ids = _ids(batch_first)
    graph = netgraph.from_module(model, (ids,) if export else None, verify=True)
    state = netgraph.to_state_dict(graph)
    assert list(state) == list(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    gates = CELLS[cell][2]
    hidden_groups = [g for g in graph.spec.groups if g.units == 6]
    assert len(hidden_groups) == num_layers * (2 if bidirectional else 1)  # one per layer and direction
    for g in hidden_groups:  # each unit moves its hidden-state node and its row of every gate
        assert g.nodes.shape == (6, gates + 1)
    for seed in range(3):
        perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(seed))
        assert not torch.equal(perm, torch.arange(graph.num_nodes))
        rebuilt = netgraph.to_module(netgraph.permute(graph, perm), model)
        _assert_same(rebuilt(ids), model(ids))


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("export", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_round_trip_and_permutation(cell, batch_first, export, num_layers):
    _check_round_trip_and_permutation(cell, batch_first, export, num_layers, bidirectional=False)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("export", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_bidirectional_round_trip_and_permutation(cell, export, num_layers):
    """The next layer and the output read forward then reverse hidden states; each direction's hidden
    units are their own group."""
    _check_round_trip_and_permutation(cell, True, export, num_layers, bidirectional=True)


class StateHeads(nn.Module):
    """Heads on the sequence output and on every final state (LSTM: h_n and c_n)."""

    def __init__(self, cell: str):
        super().__init__()
        self.cell = cell
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(4, 5)
        self.heads = nn.ModuleList(nn.Linear(5, 2) for _ in range(3 if cell == "lstm" else 2))

    def forward(self, x):
        if self.cell == "lstm":  # unpacked explicitly: torch.fx sees the state as one proxy
            out, (h, c) = self.rnn(x)
            finals = (h, c)
        else:
            out, h = self.rnn(x)
            finals = (h,)
        return tuple(head(t) for head, t in zip(self.heads, (out, *finals)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("export", [False, True])
def test_sequence_output_and_final_states_keep_their_function(cell, export):
    torch.manual_seed(1)
    model = StateHeads(cell).eval()
    x = torch.randn(6, 2, 4)
    graph = netgraph.from_module(model, (x,) if export else None, verify=True)
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(0))
    rebuilt = netgraph.to_module(netgraph.permute(graph, perm), model)
    assert not torch.equal(rebuilt.rnn.weight_hh_l0, model.rnn.weight_hh_l0)
    _assert_same(rebuilt(x), model(x))


def test_bare_module_outputs_are_pinned():
    """The layer's own outputs are the network's outputs: no permutation of them is a symmetry."""
    model = nn.LSTM(4, 5).eval()
    graph = netgraph.from_module(model, (torch.randn(6, 2, 4),), verify=True)
    assert graph.spec.groups == [] or all(g.units != 5 for g in graph.spec.groups)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_permuting_one_gate_alone_changes_the_function(cell):
    """The group is not too large: rows of one gate moved without the hidden units are not a symmetry."""
    torch.manual_seed(2)
    model = TokenRNN(cell, True).eval()
    ids = _ids(True)
    graph = netgraph.from_module(model)
    group = next(g for g in graph.spec.groups if g.units == 6)
    for column in range(group.nodes.shape[1] - 1):
        gate = group.nodes[:, column]
        perm = torch.arange(graph.num_nodes)
        perm[gate] = gate.roll(1)
        broken = netgraph.to_module(netgraph.permute(graph, perm, check=False), model)
        assert not torch.allclose(broken(ids)[0], model(ids)[0], atol=1e-4)


class Projected(nn.Module):
    """A 2-layer LSTM with proj_size (h = weight_hr (o * tanh(c))): a head on the sequence, and h_n / c_n
    (stacked over layers and directions) summed."""

    def __init__(self, bidirectional: bool):
        super().__init__()
        width = 2 if bidirectional else 1
        self.rnn = nn.LSTM(4, 6, num_layers=2, proj_size=3, batch_first=True, bidirectional=bidirectional)
        self.seq = nn.Linear(3 * width, 2)

    def forward(self, x):
        out, (h, c) = self.rnn(x)
        return self.seq(out), h.sum((0, 2)), c.sum((0, 2))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("export", [False, True])
def test_projected_lstm_has_cell_and_projection_groups(bidirectional, export):
    """Each layer and direction: a group of the 6 cell units (4 gates + the state node per unit) and one of
    the 3 projected units (weight_hr rows, weight_hh columns, the next layer's inputs)."""
    torch.manual_seed(0)
    model, x = Projected(bidirectional).eval(), torch.randn(2, 5, 4)
    graph = netgraph.from_module(model, (x,) if export else None, verify=not export)
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    chunks = 2 * (2 if bidirectional else 1)
    shapes = sorted(tuple(g.nodes.shape) for g in graph.spec.groups)
    assert shapes == sorted([(6, 5)] * chunks + [(3, 1)] * chunks)
    for seed in range(2):
        perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(seed))
        rebuilt = netgraph.to_module(netgraph.permute(graph, perm), model)
        _assert_same(rebuilt(x), model(x))


def test_a_given_initial_state_pins_the_hidden_units():
    """h0 is data laid out on the hidden units, which no permutation of the graph can move: the layer
    converts with its hidden units pinned, and the layers around it keep their symmetry."""

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.rnn, self.out = nn.Linear(3, 4), nn.GRU(4, 5), nn.Linear(5, 2)

        def forward(self, x, h0):
            return self.out(self.rnn(torch.tanh(self.inp(x)), h0)[0])

    torch.manual_seed(0)
    model, inputs = WithState().eval(), (torch.randn(3, 2, 3), torch.randn(1, 2, 5))
    graph = netgraph.from_module(model, inputs, verify=True)
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [g.units for g in graph.spec.groups] == [4]  # the input layer's neurons only
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(0))
    rebuilt = netgraph.to_module(netgraph.permute(graph, perm), model)
    assert torch.equal(rebuilt.rnn.weight_hh_l0, model.rnn.weight_hh_l0)
    torch.testing.assert_close(rebuilt(*inputs), model(*inputs), atol=1e-5, rtol=1e-5)
