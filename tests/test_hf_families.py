"""Hugging Face families from small random configs (no downloads): exact round trips, the conversion
self-check, random permutations that keep the function, and symmetry groups as large as the true symmetry."""

import pytest
import torch

import netgraph
from netgraph.symmetry import _node_map

transformers = pytest.importorskip("transformers")

VOCAB, HIDDEN, FFN, HEADS, KV_HEADS, LAYERS = 100, 32, 64, 4, 2, 2
HEAD_DIM = HIDDEN // HEADS


def _gpt2():
    return transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=VOCAB,
            n_embd=HIDDEN,
            n_layer=LAYERS,
            n_head=HEADS,
            n_positions=32,
            n_inner=FFN,
            bos_token_id=0,
            eos_token_id=0,
        )
    )


def _family(family: str, model: str = "ForCausalLM", **options):
    """A factory of small random ``{family}{model}`` models (Llama, Mistral, Qwen3, GPTNeoX, Phi, Bert,
    Roberta) of the shared sizes."""

    def make():
        config = getattr(transformers, f"{family}Config")(
            **{
                "vocab_size": VOCAB,
                "hidden_size": HIDDEN,
                "intermediate_size": FFN,
                "num_hidden_layers": LAYERS,
                "num_attention_heads": HEADS,
                "max_position_embeddings": 32,
                **options,
            }
        )
        return getattr(transformers, f"{family}{model}")(config)

    return make


_bert = _family("Bert", "Model")
_roberta = _family("Roberta", "Model", max_position_embeddings=40)
_llama = _family("Llama", num_key_value_heads=KV_HEADS)
_mistral = _family("Mistral", num_key_value_heads=KV_HEADS, sliding_window=4)
# + query / key RMSNorm over each head's dims (one weight for all heads)
_qwen3 = _family("Qwen3", num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM)
# Pythia: fused q/k/v laid out head by head, rotary on a quarter of each head, parallel residual
_gpt_neox = _family("GPTNeoX", rotary_pct=0.25)
# partial rotary on separate q/k/v projections, parallel attention and MLP
_phi = _family("Phi")


FAMILIES = {
    "bert": _bert,
    "roberta": _roberta,
    "gpt2": _gpt2,
    "llama": _llama,
    "mistral": _mistral,
    "qwen3": _qwen3,
    "gpt_neox": _gpt_neox,
    "phi": _phi,
}


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
    if name in ("gpt_neox", "phi"):  # partial rotary pins the q/k dims (all of them: one slice per head)
        return {(0, HIDDEN): 1, (0, FFN): LAYERS, (0, HEADS): LAYERS, (1, HEAD_DIM): HEADS * LAYERS}
    # Llama / Mistral / Qwen3: stream (RMSNorm is per-neuron), gated MLP, key/value heads with their query-head
    # groups, the query heads inside each group, value dims in each kv head; rotary pins the query/key
    # dims inside a head.
    return {
        (0, HIDDEN): 1,
        (0, FFN): LAYERS,
        (0, KV_HEADS): LAYERS,
        (1, HEADS // KV_HEADS): KV_HEADS * LAYERS,
        (1, HEAD_DIM): KV_HEADS * LAYERS,
    }


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


def test_query_heads_of_one_kv_group_swap_as_the_true_symmetry():
    """Swapping two query heads of one key/value group (their q_proj rows and o_proj columns, nothing
    else) keeps a GQA model's function; netgraph exposes it as a level-1 group whose transposition
    gives exactly the hand-swapped weights."""
    import copy

    model = _llama().eval()
    inputs = _inputs("llama")
    graph = netgraph.from_module(model, example_inputs=inputs)
    spec = graph.spec
    group = next(g for g in spec.groups if "layers.0." in g.name and g.name.endswith("query heads of block 1"))
    assert group.units == HEADS // KV_HEADS
    units = torch.arange(int(spec.group_units.max())).repeat(1, spec.num_groups, 1)
    units[0, group.index, :2] = torch.tensor([1, 0])
    state = netgraph.to_state_dict(netgraph.permute(graph, _node_map(spec, units)[0]))

    first = HEADS // KV_HEADS  # query heads 2 and 3 share key/value head 1
    heads = torch.arange(HEADS)
    heads[[first, first + 1]] = torch.tensor([first + 1, first])
    rows = (heads.unsqueeze(1) * HEAD_DIM + torch.arange(HEAD_DIM)).reshape(-1)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    q, o = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.o_proj.weight"
    expected[q], expected[o] = expected[q][rows], expected[o][:, rows]
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    swapped = copy.deepcopy(model)
    swapped.load_state_dict(expected)
    torch.testing.assert_close(_outputs(swapped, inputs), _outputs(model, inputs), atol=1e-5, rtol=1e-4)
    assert not torch.equal(expected[q], model.state_dict()[q])


def test_rotary_pairs_are_not_a_symmetry_so_query_key_dims_stay_pinned():
    """Inside a rotary head, dims i and i + d/2 rotate together at frequency theta_i. Moving a whole pair
    (in q_proj and k_proj alike, every head) hands its content a different frequency, which changes the
    function: the true permutation symmetry inside a rotary query/key head is trivial, as netgraph pins it."""
    import copy

    model = _llama().eval()
    inputs = _inputs("llama")
    half = HEAD_DIM // 2
    dims = torch.arange(HEAD_DIM)
    dims[[0, 1, half, half + 1]] = torch.tensor([1, 0, half + 1, half])  # swap pairs (0, d/2) and (1, d/2 + 1)
    q_heads, kv = torch.arange(HEADS).unsqueeze(1) * HEAD_DIM, torch.arange(KV_HEADS).unsqueeze(1) * HEAD_DIM
    swapped = copy.deepcopy(model)
    attn = swapped.model.layers[0].self_attn
    with torch.no_grad():
        attn.q_proj.weight.copy_(attn.q_proj.weight[(q_heads + dims).reshape(-1)])
        attn.k_proj.weight.copy_(attn.k_proj.weight[(kv + dims).reshape(-1)])
    assert not torch.allclose(_outputs(swapped, inputs), _outputs(model, inputs), atol=1e-4)
    spec = netgraph.trace(model, inputs)
    q = next(s for s in spec.spaces if "layers.0.self_attn.q_proj" in s.name)
    inner = spec.sym_group[q.start : q.start + q.size, 1:]
    assert {spec.groups[g].units for g in inner[inner >= 0].unique().tolist()} == {HEADS // KV_HEADS}  # heads only


# --------------------- more families: T5, CLIP, BART, Falcon, ALBERT, Wav2Vec2, Swin, MobileNetV2
SMALL = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN)


def _more_families():
    tf = transformers
    ids = {
        "input_ids": torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(0)),
        "attention_mask": torch.ones(2, 7, dtype=torch.long),
    }
    pixels = {"pixel_values": torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))}
    return {
        "t5_encoder": (
            lambda: tf.T5EncoderModel(
                tf.T5Config(
                    vocab_size=VOCAB, d_model=HIDDEN, d_kv=HEAD_DIM, d_ff=FFN, num_layers=LAYERS, num_heads=HEADS
                )
            ),
            ids,
        ),
        "clip_vision": (lambda: tf.CLIPVisionModel(tf.CLIPVisionConfig(image_size=32, patch_size=8, **SMALL)), pixels),
        "clip_text": (  # pools the end-of-text token by advanced indexing
            lambda: tf.CLIPTextModel(tf.CLIPTextConfig(vocab_size=VOCAB, max_position_embeddings=16, **SMALL)),
            {"input_ids": ids["input_ids"]},
        ),
        "bart": (  # encoder-decoder with cross-attention; reads `inputs_embeds[:, :, -1]` for its shape only
            lambda: tf.BartModel(
                tf.BartConfig(
                    vocab_size=VOCAB,
                    d_model=HIDDEN,
                    encoder_layers=1,
                    decoder_layers=1,
                    encoder_attention_heads=HEADS,
                    decoder_attention_heads=HEADS,
                    encoder_ffn_dim=FFN,
                    decoder_ffn_dim=FFN,
                    max_position_embeddings=32,
                )
            ),
            {"input_ids": ids["input_ids"], "decoder_input_ids": ids["input_ids"][:, :5]},
        ),
        # Falcon: FalconLinear (x @ W.T); fused q/k/v as [heads + 2, dims] split on the head axis (multi-query)
        # or as [heads, 3, dims] unbound on the middle axis
        "falcon_mqa": (
            lambda: tf.FalconForCausalLM(
                tf.FalconConfig(
                    vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS
                )
            ),
            {"input_ids": ids["input_ids"]},
        ),
        "falcon": (
            lambda: tf.FalconForCausalLM(
                tf.FalconConfig(
                    vocab_size=VOCAB,
                    hidden_size=HIDDEN,
                    num_hidden_layers=LAYERS,
                    num_attention_heads=HEADS,
                    multi_query=False,
                )
            ),
            {"input_ids": ids["input_ids"]},
        ),
        # ALBERT: one encoder layer (and its class-name-bound GELU) applied LAYERS times, shared weights
        "albert": (lambda: tf.AlbertModel(tf.AlbertConfig(vocab_size=VOCAB, embedding_size=16, **SMALL)), ids),
        "wav2vec2": (
            lambda: tf.Wav2Vec2Model(
                tf.Wav2Vec2Config(
                    conv_dim=(16, 16),
                    conv_stride=(5, 2),
                    conv_kernel=(10, 3),
                    num_conv_pos_embeddings=16,
                    num_conv_pos_embedding_groups=4,
                    **SMALL,
                )
            ),
            {"input_values": torch.randn(2, 400, generator=torch.Generator().manual_seed(0))},
        ),
        "swin": (
            lambda: tf.SwinModel(
                tf.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4)
            ),
            pixels,
        ),
        "mobilenet_v2_tf_padding": (
            lambda: tf.MobileNetV2Model(tf.MobileNetV2Config(image_size=32, depth_multiplier=0.35, tf_padding=True)),
            pixels,
        ),
    }


def _first_output(model, inputs):
    with torch.no_grad():
        return model(**inputs).to_tuple()[0]


@pytest.mark.parametrize(
    "name",
    [
        "t5_encoder",
        "clip_vision",
        "clip_text",
        "bart",
        "falcon_mqa",
        "falcon",
        "albert",
        "wav2vec2",
        "swin",
        "mobilenet_v2_tf_padding",
    ],
)
def test_more_families_convert_exactly_and_keep_their_function(name):
    make, inputs = _more_families()[name]
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():  # O(1) activations (HF inits are small: deep nets would output ~0, a check of nothing)
        for m in model.modules():
            if (
                isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))
                and m.weight.dim() > 1
                and not torch.nn.utils.parametrize.is_parametrized(m)
            ):
                m.weight.normal_(0, m.weight[0].numel() ** -0.5)
    graph = netgraph.from_module(model, example_inputs=inputs, verify=True)
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert graph.spec.num_groups > 0
    reference = _first_output(model, inputs)
    assert reference.abs().max() > 1e-3
    perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(1))
    permuted = netgraph.to_module(netgraph.permute(graph, perm), model)
    torch.testing.assert_close(_first_output(permuted, inputs), reference, atol=1e-5, rtol=1e-4)
    assert any(not torch.equal(a, b) for a, b in zip(permuted.state_dict().values(), model.state_dict().values()))


def test_swin_patch_merging_keeps_the_merged_stream_permutable():
    """Patch merging concatenates four spatial neighbours of the stage-1 stream (16 channels) before a
    LayerNorm over 64: a stream permutation moves all four copies alike, so the stage-1 stream is a group
    (with the norm's four pieces in it) and shifting it alone keeps the function."""
    make, inputs = _more_families()["swin"]
    torch.manual_seed(0)
    model = make().eval()
    graph = netgraph.from_module(model, example_inputs=inputs)
    spec = graph.spec
    stream = next(g for g in spec.groups if g.level == 0 and g.units == 16)
    pieces = [s for s in spec.spaces if "downsample.norm" in s.name and s.size == 16]
    assert len(pieces) == 4
    assert all(bool(torch.isin(torch.arange(p.start, p.start + p.size), stream.nodes).all()) for p in pieces)
    units = torch.arange(int(spec.group_units.max())).repeat(1, spec.num_groups, 1)
    units[0, stream.index, :16] = torch.arange(16).roll(3)
    permuted = netgraph.to_module(netgraph.permute(graph, _node_map(spec, units)[0]), model)
    torch.testing.assert_close(_first_output(permuted, inputs), _first_output(model, inputs), atol=1e-5, rtol=1e-4)


def test_t5_position_bias_ties_the_heads_of_every_layer():
    """The relative position bias (computed once, added in every layer) moves with the heads: one head
    group for all layers, as large as the true symmetry (the heads of all layers move together)."""
    make, inputs = _more_families()["t5_encoder"]
    graph = netgraph.from_module(make().eval(), example_inputs=inputs)
    heads = [g for g in graph.spec.groups if g.level == 0 and g.units == HEADS]
    assert len(heads) == 1
    assert heads[0].nodes.shape[1] >= LAYERS * 3 * HEAD_DIM + 1  # q, k, v of both layers + the bias node


@pytest.mark.parametrize("config", [transformers.LlamaConfig, transformers.MistralConfig])
def test_multi_query_attention_converts(config):
    """One key/value head broadcast to every query head (MQA, or GQA pruned to one kv head): exact round
    trip, the self-check, random permutations keep the function; the query heads may be permuted among
    themselves (level 1) and the value dims of the one kv head move (level 1) with the dims of every
    query head's output, while the residual stream and MLP neurons move as in GQA."""
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(
        config(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            intermediate_size=FFN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            num_key_value_heads=1,
            max_position_embeddings=32,
        )
    ).eval()
    inputs = _inputs("llama")
    graph = netgraph.from_module(model, example_inputs=inputs, verify=True)
    state = netgraph.to_state_dict(graph)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    reference = _outputs(model, inputs)
    for seed in range(2):
        perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(seed))
        permuted = netgraph.to_module(netgraph.permute(graph, perm), model)
        torch.testing.assert_close(_outputs(permuted, inputs), reference, atol=1e-5, rtol=1e-4)
    value_groups = [g for g in graph.spec.groups if "v_proj" in g.name]
    assert len(value_groups) == LAYERS
    assert all(g.level == 1 and g.nodes.shape == (HEAD_DIM, 1 + HEADS) for g in value_groups)
    query_groups = [g for g in graph.spec.groups if "query heads" in g.name]
    assert [(g.level, g.units) for g in query_groups] == [(1, HEADS)] * LAYERS


def test_query_key_norm_weight_sits_on_every_head():
    """Qwen3's q_norm / k_norm (one weight over each head's dims) is placed on every head's nodes, read
    back once, and the heads still move (the per-head weight moves with nothing to change)."""
    torch.manual_seed(0)
    model = _qwen3().eval()
    graph = netgraph.from_module(model, example_inputs=_inputs("qwen3"))
    pieces = [p for p in graph.spec.node_pieces if p.param == "model.layers.0.self_attn.q_norm.weight"]
    assert len(pieces) == HEADS and all(p.nodes.numel() == HEAD_DIM for p in pieces)
    weight = model.model.layers[0].self_attn.q_norm.weight
    assert all(torch.equal(graph.x[p.nodes, p.column], weight) for p in pieces)
    assert any(g.level == 0 and g.units == KV_HEADS for g in graph.spec.groups)


def test_gpt_neox_fused_qkv_is_cut_per_head():
    """GPT-NeoX's query_key_value rows interleave q, k and v head by head ([heads, 3 x head dim]); the
    chunk into q / k / v renumbers the fused space part-major and cuts it in three spaces, so the weight
    rows of query head h, dim i land on node h * head_dim + i of the query part."""
    torch.manual_seed(0)
    model = _gpt_neox().eval()
    spec = netgraph.trace(model, _inputs("gpt_neox"))
    piece = next(p for p in spec.edge_pieces if p.param == "gpt_neox.layers.0.attention.query_key_value.weight")
    parts = [s for s in spec.spaces if "layers.0.attention.query_key_value" in s.name]
    assert [s.size for s in parts] == [HIDDEN] * 3 and [s.name[-6:] for s in parts] == ["part 0", "part 1", "part 2"]
    rows = torch.arange(3 * HIDDEN).view(HEADS, 3, HEAD_DIM)  # row order of the fused weight
    for k, space in enumerate(parts):
        expected = space.start + torch.arange(HIDDEN)
        assert torch.equal(piece.out_nodes[rows[:, k].reshape(-1)], expected)


def test_gpt_neox_rotating_every_dim_leaves_an_empty_rest():
    """rotary_pct=1.0: the pass-through slice of each head is empty; it converts and keeps its heads."""
    config = _gpt_neox().config
    config.rope_parameters["partial_rotary_factor"] = 1.0
    torch.manual_seed(0)
    model = transformers.GPTNeoXForCausalLM(config).eval()
    assert model.gpt_neox.rotary_emb.inv_freq.numel() == HEAD_DIM // 2  # every dim rotates
    graph = netgraph.from_module(model, example_inputs=_inputs("gpt_neox"), verify=True)
    assert sum(g.level == 0 and g.units == HEADS for g in graph.spec.groups) == LAYERS


def test_falcon_multi_query_lets_the_query_heads_swap():
    """Falcon-7B-style multi-query attention: the fused projection is split on its head axis into the
    query heads and one key / value head; the query heads move (a level-1 group of HEADS units) and the
    value dims with them."""
    make, inputs = _more_families()["falcon_mqa"]
    torch.manual_seed(0)
    spec = netgraph.trace(make().eval(), inputs)
    levels = [(g.level, g.units) for g in spec.groups]
    assert levels.count((1, HEADS)) == LAYERS and levels.count((1, HEAD_DIM)) == LAYERS
