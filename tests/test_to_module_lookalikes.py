"""to_module compares the whole architecture: modules with the graph's parameter shapes that compute
another function (another op order, stride, slope, eps, head count, constant...) are refused, naming the
difference; another instance of the same architecture (other weights) always loads. Both tracers."""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import netgraph
from netgraph.convert import ArchitectureMismatchError


class Ordered(nn.Module):
    """Two square layers, called ``a`` then ``b`` (or swapped)."""

    def __init__(self, swapped: bool = False):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.swapped = swapped

    def forward(self, x):
        first, second = (self.b, self.a) if self.swapped else (self.a, self.b)
        return self.head(torch.relu(second(torch.relu(first(x)))))


class Attention(nn.Module):
    def __init__(self, heads: int = 2, batch_first: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, heads, batch_first=batch_first)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.attn(x, x, x, need_weights=False)[0])


class Scaled(nn.Module):
    """A constant scale between two layers."""

    def __init__(self, scale: float = 2.0):
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 2)
        self.scale = scale

    def forward(self, x):
        return self.b(torch.relu(self.a(x)) * self.scale)


class Residual(nn.Module):
    def __init__(self, residual: bool = True):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.residual = residual

    def forward(self, x):
        h = torch.relu(self.a(x))
        g = torch.relu(self.b(h))
        return self.c(g + h if self.residual else g)


class NormOrder(nn.Module):
    def __init__(self, after_activation: bool = False):
        super().__init__()
        self.a, self.norm, self.b = nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 2)
        self.after_activation = after_activation

    def forward(self, x):
        h = self.a(x)
        return self.b(self.norm(torch.relu(h)) if self.after_activation else torch.relu(self.norm(h)))


def _mlp(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), act, nn.Linear(6, 2))


def _cnn(conv: nn.Module | None = None, pool: nn.Module | None = None) -> nn.Module:
    return nn.Sequential(
        conv or nn.Conv2d(1, 3, 3),
        nn.ReLU(),
        pool or nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


def _norm(eps: float) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6, eps=eps), nn.ReLU(), nn.Linear(6, 2))


_VECTOR, _SEQUENCE, _IMAGE = (2, 4), (2, 5, 8), (2, 1, 12, 12)

#: (name, the graph's module, a look-alike of the same parameter shapes, input shape, what the error names
#: (one text, or one per tracer: torch.export shows a leaf module's ATen call, its arguments by position))
LOOKALIKES = [
    ("swapped_order", lambda: Ordered(), lambda: Ordered(swapped=True), _VECTOR, "'a.weight' in the first"),
    (
        "attention_heads",
        lambda: Attention(2),
        lambda: Attention(4),
        _SEQUENCE,
        "head_dim=4 in the first, head_dim=2 in the second",
    ),
    ("attention_batch_first", lambda: Attention(2), lambda: Attention(2, False), _SEQUENCE, "batch_first="),
    (
        "leaky_relu_slope",
        lambda: _mlp(nn.LeakyReLU(0.01)),
        lambda: _mlp(nn.LeakyReLU(0.2)),
        _VECTOR,
        ("negative_slope=0.01 in the first", "negative_slope=0.2 only in the second"),
    ),
    (
        "elu_alpha",
        lambda: _mlp(nn.ELU(1.0)),
        lambda: _mlp(nn.ELU(0.5)),
        _VECTOR,
        ("alpha=1.0 in the first", "alpha=1.0 in the first, alpha=0.5 in the second"),
    ),
    ("gelu_approximation", lambda: _mlp(nn.GELU()), lambda: _mlp(nn.GELU("tanh")), _VECTOR, "approximate='tanh'"),
    ("constant_scale", lambda: Scaled(2.0), lambda: Scaled(3.0), _VECTOR, "=2.0 in the first"),
    (
        "conv_stride",
        lambda: _cnn(),
        lambda: _cnn(conv=nn.Conv2d(1, 3, 3, stride=2)),
        _IMAGE,
        ("stride=(1, 1) in the first", "stride=(2, 2) only in the second"),
    ),
    (
        "conv_padding",
        lambda: _cnn(),
        lambda: _cnn(conv=nn.Conv2d(1, 3, 3, padding=1)),
        _IMAGE,
        ("padding=(0, 0) in the first", "stride=(1, 1), padding=(1, 1) only in the second"),
    ),
    (
        "conv_dilation",
        lambda: _cnn(),
        lambda: _cnn(conv=nn.Conv2d(1, 3, 3, dilation=2)),
        _IMAGE,
        ("dilation=(1, 1) in the first", "dilation=(2, 2) only in the second"),
    ),
    (
        "conv_padding_mode",
        lambda: _cnn(conv=nn.Conv2d(1, 3, 3, padding=1)),
        lambda: _cnn(conv=nn.Conv2d(1, 3, 3, padding=1, padding_mode="reflect")),
        _IMAGE,
        ("padding_mode='zeros' in the first", "op=conv in the first, op=resize in the second"),
    ),
    (
        "average_vs_max_pool",
        lambda: _cnn(),
        lambda: _cnn(pool=nn.AvgPool2d(2)),
        _IMAGE,
        ("call=MaxPool2d in the first", "max_pool2d.default in the first"),
    ),
    (
        "layer_norm_eps",
        lambda: _norm(1e-5),
        lambda: _norm(1e-3),
        _VECTOR,
        ("eps=1e-05 in the first", "eps=1e-05 in the first, eps=0.001 in the second"),
    ),
]

#: pairs refused before the architecture fingerprint (by activations or wiring); still refused
ALREADY_REFUSED = [
    ("relu_vs_tanh", lambda: _mlp(nn.ReLU()), lambda: _mlp(nn.Tanh()), _VECTOR, "activations differ"),
    ("residual_vs_plain", lambda: Residual(), lambda: Residual(False), _VECTOR, "wired differently"),
    ("sigmoid_vs_identity", lambda: _mlp(nn.Sigmoid()), lambda: _mlp(nn.Identity()), _VECTOR, "activations"),
    (
        "norm_before_vs_after_activation",
        lambda: NormOrder(),
        lambda: NormOrder(after_activation=True),
        _VECTOR,
        "differ",
    ),
]

TRACERS = ["fx", "export"]


def _graph(model: nn.Module, shape: tuple[int, ...], tracer: str):
    inputs = (torch.randn(shape),) if tracer == "export" else None
    return netgraph.from_module(model, inputs)


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize(("name", "make", "lookalike", "shape", "named"), LOOKALIKES + ALREADY_REFUSED)
def test_a_lookalike_is_refused_naming_the_difference(name, make, lookalike, shape, named, tracer):
    torch.manual_seed(0)
    graph = _graph(make(), shape, tracer)
    with pytest.raises(ArchitectureMismatchError, match="another architecture") as caught:
        netgraph.to_module(graph, lookalike())
    assert (named if isinstance(named, str) else named[TRACERS.index(tracer)]) in str(caught.value)
    loaded = netgraph.to_module(graph, lookalike(), check=False)  # the explicit opt-out still loads
    assert set(loaded.state_dict()) == set(make().state_dict())


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize(("name", "make", "lookalike", "shape", "named"), LOOKALIKES + ALREADY_REFUSED)
def test_the_same_architecture_with_other_weights_loads(name, make, lookalike, shape, named, tracer):
    torch.manual_seed(0)
    model = make().eval()
    graph = _graph(model, shape, tracer)
    other = make()  # another instance: other weights, same architecture
    rebuilt = netgraph.to_module(graph, other).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_the_first_difference_is_named_readably():
    graph = netgraph.from_module(_mlp(nn.LeakyReLU(0.01)))
    with pytest.raises(ArchitectureMismatchError) as caught:
        netgraph.to_module(graph, _mlp(nn.LeakyReLU(0.2)))
    message = str(caught.value)
    assert "operation 2 of 3 (module '1' (LeakyReLU)): negative_slope=0.01 in the first, negative_slope=0.2" in message
    assert "check=False" in message


def test_a_graph_traced_with_inputs_is_compared_with_inputs_of_its_shapes():
    """The target is traced the way the graph's module was: export on inputs like the graph's (its image
    size decides the flattened kernel), so the same architecture matches and a look-alike does not."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    graph = netgraph.from_module(model, (torch.randn(1, 1, 8, 8),))
    assert graph.spec.input_signature is not None
    netgraph.to_module(graph, nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(72, 2)))
    strided = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(72, 2))
    with pytest.raises(ArchitectureMismatchError):
        netgraph.to_module(graph, strided)


def test_a_module_that_cannot_be_traced_that_way_is_refused():
    class Cumulative(nn.Sequential):
        def forward(self, x):
            return self[2](torch.cumsum(self[1](self[0](x)), dim=-1))  # no rule for cumsum on neurons

    graph = netgraph.from_module(_mlp(nn.ReLU()))
    with pytest.raises(ArchitectureMismatchError, match="cannot be traced the way the graph's architecture was"):
        netgraph.to_module(graph, Cumulative(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)))


def _support_table_families() -> dict:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "support_table.py"
    spec = importlib.util.spec_from_file_location("support_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {**module._torch_families(), **module._hf_families()}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_every_support_table_family_loads_into_another_instance():
    """No family that converts today is refused by the architecture check (another instance, other weights)."""
    refused, loaded = [], 0
    for name, (make, make_input, _) in _support_table_families().items():
        inputs = make_input()
        for tracer in ("fx", "export"):
            if tracer == "fx" and isinstance(inputs, dict):
                continue  # Hugging Face models need example_inputs
            torch.manual_seed(0)
            try:
                graph = netgraph.from_module(make().eval(), None if tracer == "fx" else inputs, verify=False)
            except netgraph.UnsupportedModuleError:
                continue  # not convertible with this tracer (the support table says so)
            torch.manual_seed(1)
            try:
                netgraph.to_module(graph, make().eval())
                loaded += 1
            except ArchitectureMismatchError as err:
                refused.append(f"{name} ({tracer}): {err}")
    assert not refused, refused
    assert loaded > 50
