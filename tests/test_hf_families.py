"""Hugging Face families from small random configs (no downloads): exact round trips, the conversion
self-check, random permutations that keep the function, and symmetry groups as large as the true symmetry."""

import pytest
import torch

import netgraph
from netgraph.symmetry import _node_map

transformers = pytest.importorskip("transformers")

VOCAB, HIDDEN, FFN, HEADS, KV_HEADS, LAYERS = 100, 32, 64, 4, 2, 2
HEAD_DIM = HIDDEN // HEADS


def _bert():
    return transformers.BertModel(transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=FFN, max_position_embeddings=32))


def _roberta():
    return transformers.RobertaModel(transformers.RobertaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=FFN, max_position_embeddings=40))


def _gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=32, n_inner=FFN,
        bos_token_id=0, eos_token_id=0))


def _llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=32))


def _mistral():
    return transformers.MistralForCausalLM(transformers.MistralConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=32, sliding_window=4))


FAMILIES = {"bert": _bert, "roberta": _roberta, "gpt2": _gpt2, "llama": _llama, "mistral": _mistral}


def _inputs(name):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, VOCAB, (2, 7), generator=g)
    if name in ("bert", "roberta"):
        mask = torch.ones(2, 7, dtype=torch.long)
        mask[1, 5:] = 0
        return {"input_ids": ids, "attention_mask": mask}
    return {"input_ids": ids}  # decoder LMs: just the ids (use_cache is handled)


def _outputs(model, inputs):
    with torch.no_grad():
        out = model(**inputs, **({"use_cache": False} if "use_cache" in model.forward.__code__.co_varnames else {}))
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def converted(request):
    torch.manual_seed(0)
    model = FAMILIES[request.param]().eval()
    inputs = _inputs(request.param)
    graph = netgraph.from_module(model, example_inputs=inputs, verify=True)
    return request.param, model, inputs, graph


def test_round_trip_is_exact(converted):
    _, model, _, graph = converted
    state = netgraph.to_state_dict(graph)
    reference = model.state_dict()
    assert list(state) == list(reference)
    assert all(torch.equal(state[k], v) for k, v in reference.items())


def test_random_permutations_keep_the_function(converted):
    _, model, inputs, graph = converted
    reference = _outputs(model, inputs)
    for seed in range(2):
        perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(seed))
        permuted = netgraph.to_module(netgraph.permute(graph, perm), model)
        torch.testing.assert_close(_outputs(permuted, inputs), reference, atol=1e-5, rtol=1e-4)


def test_every_group_alone_keeps_the_function(converted):
    """Each group's generator (a cyclic shift of its units, the others still) is a symmetry."""
    _, model, inputs, graph = converted
    spec = graph.spec
    reference = _outputs(model, inputs)
    width = int(spec.group_units.max())
    for index, group in enumerate(spec.groups):
        units = torch.arange(width).repeat(1, spec.num_groups, 1)
        units[0, index, : group.units] = torch.arange(group.units).roll(1)
        perm = _node_map(spec, units)[0]
        permuted = netgraph.to_module(netgraph.permute(graph, perm), model)
        torch.testing.assert_close(_outputs(permuted, inputs), reference, atol=1e-5, rtol=1e-4, msg=group.name)


def _expected_groups(name):
    """(level, units) -> count of the symmetry every conversion must expose (its true symmetry)."""
    if name in ("bert", "roberta"):  # stream x1 (embeddings LayerNorm ties it), FFN, heads, q/k and v dims
        return {(0, FFN): LAYERS, (0, HEADS): LAYERS, (1, HEAD_DIM): 2 * HEADS * LAYERS}
    if name == "gpt2":  # + the residual stream, tied to the LM head
        return {(0, HIDDEN): 1, (0, FFN): LAYERS, (0, HEADS): LAYERS, (1, HEAD_DIM): 2 * HEADS * LAYERS}
    # Llama / Mistral: stream (RMSNorm is per-neuron), gated MLP, key/value heads with their query-head
    # groups, value dims in each kv head; rotary pins the query/key dims inside a head.
    return {(0, HIDDEN): 1, (0, FFN): LAYERS, (0, KV_HEADS): LAYERS, (1, HEAD_DIM): KV_HEADS * LAYERS}


def test_groups_are_as_large_as_the_true_symmetry(converted):
    name, _, _, graph = converted
    levels = [(g.level, g.units) for g in graph.spec.groups]
    for key, count in _expected_groups(name).items():
        assert levels.count(key) >= count, (key, levels)


def test_gated_mlp_and_gqa_tie_the_right_spaces():
    model = _llama().eval()
    graph = netgraph.from_module(model, example_inputs=_inputs("llama"))
    heads = [g for g in graph.spec.groups if g.level == 0 and g.units == KV_HEADS]
    # a kv-head unit carries its 2 query heads (2 x 8 dims), its key head (8) and its value head (8) + out
    assert all(g.nodes.shape[1] >= (HEADS // KV_HEADS) * HEAD_DIM + 2 * HEAD_DIM for g in heads)
    mlp = [g for g in graph.spec.groups if g.units == FFN]
    assert all(g.nodes.shape[1] == 3 for g in mlp)  # gate, up, their product
