"""Layers against their definitions: the equivariant weight-space layers against a brute-force
construction of all equivariant linear maps and the reference ``nfn`` package; init scale;
PNA aggregation and sparse relational attention against hand / dense computations."""

import math

import pytest
import torch

import netgraph
from netgraph.architectures import SmallCNN
from netgraph.metanets import (
    ChainLayout,
    DWSLayer,
    EquivariantLinear,
    PNAAggregation,
    RelationalAttention,
    create_metanet,
    invariant_pool,
    layer_shapes_of,
)

SIZES = [2, 3, 3, 2]  # a tiny MLP 2-3-3-2: 29 parameters
L = len(SIZES) - 1


# ------------------------------------------------------------- brute force
def _positions():
    """Every parameter of the tiny MLP as (kind, layer, row, col), in the flat order used below."""
    pos = [("w", l, i, j) for l in range(1, L + 1) for i in range(SIZES[l]) for j in range(SIZES[l - 1])]
    return pos + [("b", l, i, None) for l in range(1, L + 1) for i in range(SIZES[l])]


POS = _positions()
D = len(POS)


def _orbit_ids(permuted_layers):
    """Orbit of every index pair (p, q) of a D x D matrix under the neuron permutations of
    ``permuted_layers`` (union-find over the generators: a transposition and a cycle per layer).
    Equivariant linear maps are exactly the matrices constant on these orbits."""
    index = {p: k for k, p in enumerate(POS)}
    parent = list(range(D * D))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for layer in permuted_layers:
        n = SIZES[layer]
        for sigma in ([1, 0] + list(range(2, n)), list(range(1, n)) + [0]):
            moves = {l: list(range(SIZES[l])) for l in range(L + 1)}
            moves[layer] = sigma
            g = [index[(k, l, moves[l][i], None if j is None else moves[l - 1][j])] for k, l, i, j in POS]
            for p in range(D):
                for q in range(D):
                    a, b = find(p * D + q), find(g[p] * D + g[q])
                    if a != b:
                        parent[a] = b
    return torch.unique(torch.tensor([find(a) for a in range(D * D)]), return_inverse=True)[1]


def _split(v):
    ws, bs, k = [], [], 0
    for l in range(1, L + 1):
        n = SIZES[l] * SIZES[l - 1]
        ws.append(v[:, k : k + n].reshape(-1, SIZES[l], SIZES[l - 1]))
        k += n
    for l in range(1, L + 1):
        bs.append(v[:, k : k + SIZES[l]])
        k += SIZES[l]
    return ws, bs


def _join(ws, bs):
    return torch.cat([w.reshape(w.shape[0], -1) for w in ws] + list(bs), dim=1)


def _ours(symmetry, kind):
    layout = ChainLayout([[SIZES[l], SIZES[l - 1]] for l in range(1, L + 1)], symmetry)
    layer = DWSLayer(layout, 1, 1) if kind == "dws" else EquivariantLinear(layout.slots(1), layout.slots(1))

    def apply(v):
        ws, bs = _split(v)
        out_w, out_b = layout.decode(layer(layout.encode([w[..., None, None] for w in ws], [b[..., None] for b in bs])))
        return _join([w[..., 0, 0] for w in out_w], [b[..., 0] for b in out_b])

    return layer.double(), apply


def _nfn(kind):
    from nfn.common import WeightSpaceFeatures, network_spec_from_wsfeat
    from nfn.layers import HNPLinear, NPLinear

    def features(v):
        ws, bs = _split(v)
        return WeightSpaceFeatures([w[:, None] for w in ws], [b[:, None] for b in bs])

    spec = network_spec_from_wsfeat(features(torch.zeros(1, D)))
    layer = (HNPLinear(spec, 1, 1) if kind == "hnp" else NPLinear(spec, 1, 1, io_embed=False)).double()

    def apply(v):
        out = layer(features(v))
        return _join([w[:, 0] for w in out.weights], [b[:, 0] for b in out.biases])

    return layer, apply


def _matrices(layer, apply, draws):
    """``[draws, D * D]``: the linear part of the layer for random parameter draws (float64)."""
    basis = torch.cat([torch.zeros(1, D), torch.eye(D)]).double()
    rows = []
    with torch.no_grad():
        for _ in range(draws):
            for p in layer.parameters():
                p.normal_()
            out = apply(basis)
            rows.append((out[1:] - out[:1]).T.reshape(-1))
    return torch.stack(rows)


def _orbit_deviation(mats, orbit):
    count = torch.zeros(int(orbit.max()) + 1, dtype=mats.dtype).index_add_(
        0, orbit, torch.ones(D * D, dtype=mats.dtype)
    )
    means = torch.zeros(mats.shape[0], count.shape[0], dtype=mats.dtype).index_add_(1, orbit, mats) / count
    return (mats - means[:, orbit]).abs().max().item()


GROUPS = {"hnp": range(1, L), "np": range(0, L + 1)}


@pytest.mark.parametrize("symmetry, kind", [("hnp", "full"), ("hnp", "dws"), ("np", "full")])
def test_layers_span_exactly_the_equivariant_linear_maps(symmetry, kind):
    """Each map is constant on the orbits (equivariant) and the maps span every orbit (complete)."""
    orbit = _orbit_ids(GROUPS[symmetry])
    layer, apply = _ours(symmetry, kind)
    mats = _matrices(layer, apply, sum(p.numel() for p in layer.parameters()) + 16)
    assert _orbit_deviation(mats, orbit) < 1e-12
    assert torch.linalg.matrix_rank(mats).item() == int(orbit.max()) + 1


def test_the_check_detects_a_non_equivariant_map():
    """A generic linear map is not constant on the orbits: the deviation check can fail."""
    orbit = _orbit_ids(GROUPS["hnp"])
    layer = torch.nn.Linear(D, D, bias=False).double()
    mats = _matrices(layer, lambda v: layer(v), 3)
    assert _orbit_deviation(mats, orbit) > 0.1


@pytest.mark.parametrize("symmetry", ["hnp", "np"])
def test_reference_nfn_layers_lie_in_our_span(symmetry):
    """The reference ``nfn`` NP / HNP layers are equivariant and every map they give is one of ours
    (same weights in, same outputs out for some parameters of our layer). nfn 0.1.2's NPLinear
    spans the whole space; its HNPLinear misses the term mapping ``b_{L-1}[j]`` to ``W_L[:, j]``
    (2 of 114 dimensions on this MLP), which ours and DWSNet's blocks include."""
    orbit = _orbit_ids(GROUPS[symmetry])
    ref_layer, ref_apply = _nfn(symmetry)
    ref = _matrices(ref_layer, ref_apply, sum(p.numel() for p in ref_layer.parameters()) + 16)
    ours_layer, ours_apply = _ours(symmetry, "full")
    ours = _matrices(ours_layer, ours_apply, sum(p.numel() for p in ours_layer.parameters()) + 16)
    assert _orbit_deviation(ref, orbit) < 1e-12
    rank = torch.linalg.matrix_rank(ours).item()
    assert torch.linalg.matrix_rank(torch.cat([ours, ref])).item() == rank
    assert torch.linalg.matrix_rank(ref).item() == (rank if symmetry == "np" else rank - SIZES[-1])


# ------------------------------------------------------------- layout
@pytest.mark.parametrize("symmetry", ["hnp", "np"])
def test_layout_round_trip_is_exact(symmetry):
    shapes = [[6, 1, 3, 3], [6, 6, 3, 3], [10, 6, 1]]
    layout = ChainLayout(shapes, symmetry)
    weights = [torch.randn(2, s[0], s[1], math.prod(s[2:]), 3) for s in shapes]
    biases = [torch.randn(2, s[0], 3) for s in shapes]
    feats = layout.encode(weights, biases)
    assert [t.shape[-1] for t in feats] == [s.channels for s in layout.slots(3)]
    back_w, back_b = layout.decode(feats)
    assert all(torch.equal(a, b) for a, b in zip(back_w, weights)) and all(
        torch.equal(a, b) for a, b in zip(back_b, biases)
    )


def test_layout_rejects_shapes_that_are_not_a_chain():
    with pytest.raises(ValueError, match="reads 5 neurons but layer 0 gives 4"):
        ChainLayout([[4, 2], [3, 5]], "hnp")


def test_equivariant_linear_names_axes_no_input_carries():
    """Biases -> weights under "np": the input axis 0 of W_1 is carried by no bias."""
    slots = ChainLayout([[4, 2], [3, 4]], "np").slots(1)
    layer = EquivariantLinear(slots[2:], slots[:2])
    with pytest.raises(ValueError, match=r"output axes \[0\] appear in no input"):
        layer([torch.randn(1, 4, 1), torch.randn(1, 3, 1)])


def test_invariant_pool_by_hand():
    feats = [torch.tensor([[[1.0, 2.0], [3.0, 6.0]]]), torch.tensor([[5.0]])]  # [1, 2, 2] and [1, 1]
    assert invariant_pool(feats, "mean").tolist() == [[2.0, 4.0, 5.0]]
    assert invariant_pool(feats, "max").tolist() == [[3.0, 6.0, 5.0]]


# ------------------------------------------------------------- init scale
@pytest.mark.parametrize("name", ["nfn_hnp", "nfn_np", "dwsnet"])
def test_init_keeps_activations_at_scale_through_six_layers(name):
    nets = [SmallCNN(1) for _ in range(16)]
    batch = netgraph.from_state_dicts(nets[0], [m.state_dict() for m in nets])
    model = create_metanet(name, layer_shapes=layer_shapes_of(batch), hidden=32, depth=6).eval()
    scales = []
    for layer in model.layers:
        layer.register_forward_hook(
            lambda mod, args, out: scales.append(
                torch.cat([torch.relu(t).reshape(-1) for t in out]).pow(2).mean().sqrt().item()
            )
        )
    with torch.no_grad():
        model(batch)
    assert len(scales) == 6
    assert all(0.5 < s / scales[0] < 2.0 for s in scales), scales


# ------------------------------------------------------------- graph layers
def test_pna_aggregation_by_hand():
    """Node 0 receives messages 1, 2, 3 (degree 3); node 1 receives none."""
    aggr = PNAAggregation(avg_log_degree=2.0)
    out = aggr(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([0, 0, 0]), dim_size=2)
    amp = math.log(4.0) / 2.0
    base = [2.0, 1.0, 3.0, math.sqrt(2.0 / 3.0)]  # mean, min, max, std
    assert torch.allclose(out[0], torch.tensor(base + [b * amp for b in base]), atol=1e-3)
    assert torch.equal(out[1], torch.zeros(8))


def test_relational_attention_matches_dense_masked_attention():
    torch.manual_seed(0)
    n, dim, heads = 5, 8, 2
    index = torch.tensor([[0, 1, 2, 3, 4, 0, 1], [1, 2, 2, 4, 3, 3, 0]])  # (source, receiver), unique pairs
    h, r = torch.randn(n, dim), torch.randn(index.shape[1], dim)
    attn = RelationalAttention(dim, heads).eval()
    got = attn(h, index, r)
    # dense reference: relation features on an N x N grid, attention masked to the relations
    dense_r = torch.zeros(n, n, dim)
    dense_r[index[1], index[0]] = r  # [receiver, source]
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[index[1], index[0]] = True
    split = lambda t: t.reshape(*t.shape[:-1], heads, dim // heads)  # noqa: E731
    q = split(attn.query(h))  # [n, H, d]
    k = split(attn.key(h)).unsqueeze(0) + split(attn.relation_key(dense_r))  # [recv, src, H, d]
    v = split(attn.value(h)).unsqueeze(0) + split(attn.relation_value(dense_r))
    scores = (q.unsqueeze(1) * k).sum(-1) / math.sqrt(dim // heads)  # [recv, src, H]
    weights = torch.softmax(scores.masked_fill(~mask.unsqueeze(-1), float("-inf")), dim=1).nan_to_num(0.0)
    expected = attn.out((weights.unsqueeze(-1) * v).sum(1).reshape(n, dim))
    assert torch.allclose(got, expected, atol=1e-6)


def test_relational_attention_reads_only_the_sources_of_each_receiver():
    torch.manual_seed(0)
    index = torch.tensor([[0, 3, 1], [1, 1, 2]])  # node 1 attends to 0 and 3, node 2 to 1; node 4 is isolated
    attn = RelationalAttention(8, 2).eval()
    h, r = torch.randn(5, 8), torch.randn(3, 8)
    base = attn(h, index, r)
    moved = h.clone()
    moved[3] += 10.0  # a source of node 1 only
    out = attn(moved, index, r)
    assert not torch.allclose(out[1], base[1])
    assert torch.equal(out[[0, 2, 4]], base[[0, 2, 4]])
    assert torch.equal(base[4], attn.out(torch.zeros(8)))  # no relations, no message
