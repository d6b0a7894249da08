"""Build every architecture family, convert it with both tracers and check it; write docs/support.md.

Run: python benchmarks/support_table.py [--out docs/support.md] [--only NAME ...]

For each family (small random configs, no downloads) and each tracer (torch.fx without example
inputs, torch.export with them) the script checks that
  * conversion succeeds (else the table shows the UnsupportedModuleError, cut to its first sentence),
  * the state-dict round trip is exact,
  * two random permutations of the graph keep the rebuilt module's outputs (max |dy| reported),
and lists the symmetry groups as ``level:units x count``. The table is generated, so it cannot drift
from the code. Single-threaded; takes a minute or two on a laptop core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

import netgraph
from netgraph.architectures import SmallCNN, cifar_resnet, mlp
from netgraph.trace.synthesize import call_kwargs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _models import (
    CASES,
    MHAEncoderDecoder,
    PadConv,
    Seq2Seq,
    SharedLayer,
    UNet,  # noqa: E402
    UpsampleNet,
    conv_transpose,
)  # (the test suite's architectures)

Family = tuple[Callable[[], nn.Module], Callable[[], object], str]  # factory, input factory, notes


# ---------------------------------------------------------------- torch layers
class Recurrent(nn.Module):
    def __init__(self, kind, hidden_size=8, **options):
        super().__init__()
        width = (2 if options.get("bidirectional") else 1) * options.get("proj_size", hidden_size)
        self.rnn, self.out = kind(4, hidden_size, batch_first=True, **options), nn.Linear(width, 2)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


def _torch_families() -> dict[str, Family]:
    def encoder():
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    families: dict[str, Family] = {
        "MLP": (lambda: mlp([5, 32, 32, 3]), lambda: torch.randn(4, 5), ""),
        "Small CNN": (lambda: SmallCNN(3), lambda: torch.randn(2, 3, 16, 16), ""),
        "ResNet-20 (BatchNorm, residuals)": (lambda: cifar_resnet(20, 8), lambda: torch.randn(2, 3, 16, 16), ""),
        "grouped / depthwise conv, GroupNorm": (CASES["grouped_cnn"][0], lambda: torch.randn(2, 3, 8, 8), ""),
        "ViT-style (class token, pos. embedding)": (CASES["tiny_vit"][0], lambda: torch.randn(2, 3, 8, 8), ""),
        "nn.TransformerEncoder": (
            encoder,
            lambda: torch.randn(2, 6, 32),
            "without example_inputs: inputs synthesised, traced with torch.export",
        ),
        "nn.Transformer (encoder-decoder)": (
            Seq2Seq,
            lambda: ((torch.randn(2, 6, 3), torch.randn(2, 4, 5)),),
            "cross-attention keys/values wired to the encoder output; this model "
            "takes a (src, tgt) tuple, so no input can be synthesised for fx",
        ),
        "cross-attention (nn.MultiheadAttention)": (
            MHAEncoderDecoder,
            lambda: ((torch.randn(2, 4, 5), torch.randn(2, 6, 3)),),
            "",
        ),
        "hand-written attention + SwiGLU": (CASES["hand_attention"][0], lambda: torch.randn(2, 6, 5), ""),
        "grouped-query attention (no rotary)": (
            CASES["grouped_query_attention"][0],
            lambda: torch.randn(2, 6, 5),
            "kv heads carry their query heads; inside a group the query heads swap, key dims move with "
            "the query heads' dims, value dims with the per-query-head outputs' dims",
        ),
        "multi-query attention (no rotary)": (
            CASES["multi_query_attention"][0],
            lambda: torch.randn(2, 6, 5),
            "one kv head: the query heads swap; key / value dims as in GQA",
        ),
        "F.pad (zero, reflect)": (PadConv, lambda: torch.randn(2, 3, 8, 8), ""),
        "ConvTranspose1d": (lambda: conv_transpose(1), lambda: torch.randn(2, 2, 8), ""),
        "ConvTranspose2d": (lambda: conv_transpose(2), lambda: torch.randn(2, 2, 8, 8), ""),
        "ConvTranspose3d": (lambda: conv_transpose(3), lambda: torch.randn(2, 2, 4, 4, 4), ""),
        "Upsample / interpolate": (UpsampleNet, lambda: torch.randn(2, 3, 8, 8), ""),
        "U-Net (concat skips)": (UNet, lambda: torch.randn(2, 3, 8, 8), ""),
        "one layer applied twice": (SharedLayer, lambda: torch.randn(4, 3), "one parameter, two edge blocks"),
        "nn.LSTM": (
            lambda: Recurrent(nn.LSTM),
            lambda: torch.randn(2, 5, 4),
            "gates i/f/g/o are node spaces; weight_hh edges loop back from the hidden-state nodes",
        ),
        "nn.GRU": (
            lambda: Recurrent(nn.GRU),
            lambda: torch.randn(2, 5, 4),
            "gates r/z/n are node spaces; weight_hh edges loop back from the hidden-state nodes",
        ),
        "nn.RNN (tanh, ReLU)": (
            lambda: Recurrent(nn.RNN, nonlinearity="relu"),
            lambda: torch.randn(2, 5, 4),
            "one gate h (tanh or ReLU); weight_hh edges loop back from the hidden-state nodes",
        ),
        "nn.LSTM with proj_size": (
            lambda: Recurrent(nn.LSTM, proj_size=8, hidden_size=12),
            lambda: torch.randn(2, 5, 4),
            "projected-state nodes fed by weight_hr edges; the recurrence reads them; a group each for cells, projection",
        ),
        "bidirectional nn.LSTM, 2 layers": (
            lambda: Recurrent(nn.LSTM, bidirectional=True, num_layers=2),
            lambda: torch.randn(2, 5, 4),
            "forward and reverse spaces per layer, one group each; the next layer reads both states",
        ),
    }
    return families


# ------------------------------------------------------------- Hugging Face
def _hf_families() -> dict[str, Family]:
    try:
        import transformers as tf
    except ImportError:
        return {}
    ids = lambda: {"input_ids": torch.randint(3, 100, (2, 7))}  # noqa: E731
    masked = lambda: {"input_ids": torch.randint(3, 100, (2, 7)), "attention_mask": torch.ones(2, 7, dtype=torch.long)}  # noqa: E731
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    families: dict[str, Family] = {
        "BERT": (
            lambda: tf.BertModel(tf.BertConfig(vocab_size=100, max_position_embeddings=32, **small)),
            masked,
            "input_ids + attention_mask; token-type / position ids are data",
        ),
        "RoBERTa": (
            lambda: tf.RobertaModel(tf.RobertaConfig(vocab_size=100, max_position_embeddings=40, **small)),
            masked,
            "",
        ),
        "GPT-2": (
            lambda: tf.GPT2LMHeadModel(
                tf.GPT2Config(
                    vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=32, bos_token_id=0, eos_token_id=0
                )
            ),
            ids,
            "Conv1D, fused qkv split, tied LM head; use_cache=False set for the trace",
        ),
        "Llama": (
            lambda: tf.LlamaForCausalLM(
                tf.LlamaConfig(vocab_size=100, num_key_value_heads=2, max_position_embeddings=32, **small)
            ),
            ids,
            "RMSNorm, rotary (q/k dims pinned), GQA (kv heads carry their query heads, which swap inside "
            "the group), gated SiLU MLP",
        ),
        "Mistral": (
            lambda: tf.MistralForCausalLM(
                tf.MistralConfig(
                    vocab_size=100, num_key_value_heads=2, max_position_embeddings=32, sliding_window=4, **small
                )
            ),
            ids,
            "as Llama; sliding window",
        ),
        "T5 encoder": (
            lambda: tf.T5EncoderModel(
                tf.T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
            ),
            masked,
            "RMS layer norm; the relative position bias ties the heads of all layers (one head group)",
        ),
        "CLIP vision": (
            lambda: tf.CLIPVisionModel(tf.CLIPVisionConfig(image_size=32, patch_size=8, **small)),
            lambda: {"pixel_values": torch.randn(2, 3, 32, 32)},
            "",
        ),
        "Wav2Vec2": (
            lambda: tf.Wav2Vec2Model(
                tf.Wav2Vec2Config(
                    conv_dim=(16, 16),
                    conv_stride=(5, 2),
                    conv_kernel=(10, 3),
                    num_conv_pos_embeddings=16,
                    num_conv_pos_embedding_groups=4,
                    **small,
                )
            ),
            lambda: {"input_values": torch.randn(2, 400)},
            "weight-norm positional conv: v as edges, the gain (over all channels) in aux",
        ),
        "ALBERT": (
            lambda: tf.AlbertModel(
                tf.AlbertConfig(vocab_size=100, embedding_size=16, max_position_embeddings=32, **small)
            ),
            masked,
            "one encoder layer applied num_hidden_layers times: one edge block per call, tied groups",
        ),
        "Qwen3": (
            lambda: tf.Qwen3ForCausalLM(
                tf.Qwen3Config(vocab_size=100, num_key_value_heads=2, head_dim=8, max_position_embeddings=32, **small)
            ),
            ids,
            "as Llama + query / key RMSNorm over each head's dims (one weight on every head's nodes)",
        ),
        "GPT-NeoX (Pythia)": (
            lambda: tf.GPTNeoXForCausalLM(
                tf.GPTNeoXConfig(vocab_size=100, max_position_embeddings=32, rotary_pct=0.25, **small)
            ),
            ids,
            "fused q/k/v laid out head by head: renumbered part-major and cut per part; rotary on a quarter of "
            "each head (q/k dims pinned, heads move); parallel residual",
        ),
        "Phi": (
            lambda: tf.PhiForCausalLM(tf.PhiConfig(vocab_size=100, max_position_embeddings=32, **small)),
            ids,
            "partial rotary (a slice of each head rotated, concatenated with the rest): heads move",
        ),
        "BART (encoder-decoder)": (
            lambda: tf.BartModel(
                tf.BartConfig(
                    vocab_size=100,
                    d_model=32,
                    encoder_layers=1,
                    decoder_layers=1,
                    encoder_attention_heads=4,
                    decoder_attention_heads=4,
                    encoder_ffn_dim=64,
                    decoder_ffn_dim=64,
                    max_position_embeddings=32,
                )
            ),
            lambda: {"input_ids": torch.randint(3, 100, (2, 7)), "decoder_input_ids": torch.randint(3, 100, (2, 5))},
            "cross-attention; ops whose results are never used (inputs_embeds[:, :, -1], read for its shape) are skipped",
        ),
        "CLIP text": (
            lambda: tf.CLIPTextModel(tf.CLIPTextConfig(vocab_size=100, max_position_embeddings=16, **small)),
            ids,
            "pools the end-of-text token by advanced indexing of positions (the neurons keep their nodes)",
        ),
        "Falcon (multi-query)": (
            lambda: tf.FalconForCausalLM(
                tf.FalconConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
            ),
            ids,
            "FalconLinear (x @ W.T); fused q/k/v [heads + 2, dims] split on the head axis; the query heads swap",
        ),
        "Falcon (multi-head)": (
            lambda: tf.FalconForCausalLM(
                tf.FalconConfig(
                    vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, multi_query=False
                )
            ),
            ids,
            "fused q/k/v [heads, 3, dims] unbound on the middle axis: renumbered part-major and cut",
        ),
        "Swin": (
            lambda: tf.SwinModel(
                tf.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4)
            ),
            lambda: {"pixel_values": torch.randn(2, 3, 32, 32)},
            "window attention + relative position table; patch merging: the four concatenated copies of the "
            "stream move alike (its LayerNorm copy is cut into four pieces)",
        ),
        "MobileNetV2 (TF padding)": (
            lambda: tf.MobileNetV2Model(tf.MobileNetV2Config(image_size=32, depth_multiplier=0.35, tf_padding=True)),
            lambda: {"pixel_values": torch.randn(2, 3, 32, 32)},
            "the HF init gives outputs ~1e-30 here, so dy is tiny; tests/test_hf_families.py re-initialises to O(1)",
        ),
    }
    return families


# ------------------------------------------------------------------- checks
def _leaves(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out] if torch.is_floating_point(out) else []
    if hasattr(out, "to_tuple"):
        out = out.to_tuple()
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _leaves(o)]
    return []


def _run(model: nn.Module, inputs) -> list[torch.Tensor]:
    with torch.no_grad():
        if isinstance(inputs, dict):
            return _leaves(model(**call_kwargs(model, dict(inputs))))
        return _leaves(model(*inputs) if isinstance(inputs, tuple) else model(inputs))


def _groups(spec) -> str:
    counts = Counter((g.level, g.units) for g in spec.groups)
    return ", ".join(
        f"{lvl}:{units}x{n}" for (lvl, units), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[0][1]))
    )


def check(make: Callable[[], nn.Module], make_input: Callable[[], object], tracer: str) -> tuple[str, str]:
    """(status, groups) of one family under one tracer."""
    torch.manual_seed(0)
    model, inputs = make().eval(), make_input()
    example = None if tracer == "fx" else inputs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = netgraph.from_module(model, example_inputs=example, verify=False)
    except netgraph.UnsupportedModuleError as err:
        text = str(err).replace("|", "/").replace("\n", " ")
        return f"no: {text.split('. ')[0][:160]}", ""
    if tracer == "fx" and graph.spec.trace_mode != "fx":
        tracer_note = " (fx failed; synthesised inputs + export)"
    else:
        tracer_note = ""
    state = netgraph.to_state_dict(graph)
    exact = list(state) == list(model.state_dict()) and all(
        torch.equal(state[k], v) for k, v in model.state_dict().items()
    )
    reference = _run(model, inputs)
    worst = 0.0
    for seed in range(2):
        perm = netgraph.random_permutation(graph, generator=torch.Generator().manual_seed(seed))
        out = _run(netgraph.to_module(netgraph.permute(graph, perm), model), inputs)
        worst = max([worst] + [float((a - b).abs().max()) for a, b in zip(out, reference) if a.numel()])
    scale = max([1.0] + [float(t.abs().max()) for t in reference if t.numel()])
    ok = exact and worst <= 1e-4 * scale
    status = f"{'yes' if ok else 'WRONG'}{tracer_note}; round trip {'exact' if exact else 'NOT exact'}, max abs dy {worst:.1e}"
    return status, _groups(graph.spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "support.md"))
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    families = {**_torch_families(), **_hf_families()}
    rows = []
    for name, (make, make_input, notes) in families.items():
        if args.only and name not in args.only:
            continue
        hf = isinstance(make_input(), dict)
        results = {
            t: (("n/a (HF models need example_inputs)", "") if hf and t == "fx" else check(make, make_input, t))
            for t in ("fx", "export")
        }
        groups = results["export"][1] or results["fx"][1]
        rows.append(f"| {name} | {results['fx'][0]} | {results['export'][0]} | {groups} | {notes} |")
        print(rows[-1], flush=True)
    if args.only:
        return
    text = "\n".join(
        [
            "# Supported architectures",
            "",
            "Generated by `python benchmarks/support_table.py` (do not edit by hand). Each family is built from a small",
            "random config and converted with both tracers: `torch.fx` (`from_module(model)`, no example inputs) and",
            "`torch.export` (`from_module(model, example_inputs)`). *yes* means the state-dict round trip is exact and",
            "two random permutations of the graph keep the rebuilt module's outputs (max |dy| within 1e-4 of the",
            "output scale). Symmetry groups are `level:units x count` (level 0: whole neurons / heads / channel",
            "groups; level 1: positions inside a head or group). What is not supported raises",
            "`UnsupportedModuleError` naming the module, the operation and what to do (first sentence shown).",
            "",
            "| family | torch.fx | torch.export | symmetry groups | notes |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
