"""Shared parameters: one parameter used by several operations is placed once per use, written back once,
and every permutation moves all its placements alike."""

import pytest
import torch
import torch.nn as nn

import netgraph


class TwiceApplied(nn.Module):
    """One hidden layer applied twice (a weight-tied recurrence)."""

    def __init__(self):
        super().__init__()
        self.inp, self.shared, self.out = nn.Linear(3, 8), nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = torch.relu(self.shared(h))
        return self.out(torch.tanh(self.shared(h)))


class TiedLM(nn.Module):
    """Embedding and LM head share one matrix (the head reads the embedding's transpose)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 20, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        h = self.emb(ids)
        return self.head(self.norm(h + self.mlp(h)))


CASES = {"twice": (TwiceApplied, lambda: torch.randn(4, 3)), "tied_lm": (TiedLM, lambda: torch.randint(0, 20, (2, 5)))}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("export", [False, True])
def test_shared_parameters_round_trip_and_permute(name, export):
    make, make_input = CASES[name]
    model, x = make().eval(), make_input()
    graph = netgraph.from_module(model, (x,) if export else None, verify=True)
    state = netgraph.to_state_dict(graph)
    assert list(state) == list(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    shared = [p for p in graph.spec.edge_pieces if p.param in ("shared.weight", "emb.weight")]
    assert len(shared) == 2  # one edge block per use
    assert graph.spec.num_params == sum(p.numel() for p in model.parameters())
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(3))
    permuted = netgraph.permute(graph, perm)
    blocks = [graph.spec.edge_block(permuted.edge_attr.unsqueeze(0), p) for p in shared]
    first = blocks[0].reshape(-1).sort().values
    torch.testing.assert_close(first, blocks[1].reshape(-1).sort().values)  # both uses carry the same values
    rebuilt = netgraph.to_module(permuted, model)
    torch.testing.assert_close(rebuilt(x), model(x), atol=1e-5, rtol=1e-5)


def test_tied_lm_head_keeps_the_stream_symmetry():
    model = TiedLM().eval()
    spec = netgraph.trace(model)
    stream = [g for g in spec.groups if g.units == 8]
    assert stream, "the residual stream (embedding width) stays permutable"
    assert any(g.units == 16 for g in spec.groups)  # the MLP hidden units


def test_breaking_a_tie_changes_the_function():
    """Permuting the nodes of one use of the shared layer without the other is not a symmetry."""
    model = TwiceApplied().eval()
    x = torch.randn(4, 3)
    graph = netgraph.from_module(model)
    piece = [p for p in graph.spec.edge_pieces if p.param == "shared.weight"][1]
    perm = torch.arange(graph.num_nodes)
    perm[piece.out_nodes] = piece.out_nodes.roll(1)
    broken = netgraph.to_module(netgraph.permute(graph, perm, check=False), model)
    assert not torch.allclose(broken(x), model(x), atol=1e-4)


class TinyRMSNorm(nn.Module):
    """Bound by class name (``*RMSNorm``), as Hugging Face's norms are: export shows it as its ops."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class SharedBlock(nn.Module):
    """One attention block (nn.MultiheadAttention + a class-name-bound norm) applied twice, as ALBERT does."""

    def __init__(self):
        super().__init__()
        self.inp, self.out = nn.Linear(3, 8), nn.Linear(8, 2)
        self.attn, self.norm = nn.MultiheadAttention(8, 2, batch_first=True), TinyRMSNorm(8)

    def forward(self, x):
        h = self.inp(x)
        for _ in range(2):
            h = self.norm(h + self.attn(h, h, h, need_weights=False)[0])
        return self.out(h)


@pytest.mark.parametrize("export", [False, True])
def test_a_composite_module_called_twice_is_two_operations(export):
    """Under torch.export the calls of one module are told apart (its module-stack key), so each call of
    the shared attention and norm is its own operation on its own input; the weights are placed per call
    and tied."""
    torch.manual_seed(0)
    model, x = SharedBlock().eval(), torch.randn(2, 5, 3)
    graph = netgraph.from_module(model, (x,) if export else None, verify=True)
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert sum(p.param == "attn.out_proj.weight" for p in graph.spec.edge_pieces) == 2
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(1))
    rebuilt = netgraph.to_module(netgraph.permute(graph, perm), model)
    assert not torch.equal(rebuilt.inp.weight, model.inp.weight)
    torch.testing.assert_close(rebuilt(x), model(x), atol=1e-5, rtol=1e-5)
