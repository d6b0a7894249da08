"""LoRA metanets: the spectral net is GL- and permutation-invariant, the flat MLP is not (its must-fail twin)."""

import torch

from netgraph.lora import apply_gl, random_gl
from netgraph.metanets.lora import LoraFlatMLP, LoraSpectrumNet


def _adapter_and_transformed(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(6, 3, 4), (5, 3, 6)]  # (out, r, in); layer 2's input neurons are layer 1's outputs
    pairs = [(torch.randn(8, o, r, generator=g), torch.randn(8, r, i, generator=g)) for o, r, i in shapes]
    hidden_perm = torch.randperm(6, generator=g)
    moved = []
    for index, (B, A) in enumerate(pairs):
        B2, A2 = apply_gl(B, A, random_gl(B.shape[-1], batch=(8,), generator=g))
        if index == 0:
            B2 = B2[:, hidden_perm]  # the base model's hidden neurons permuted: rows of layer 1 ...
        else:
            A2 = A2[:, :, hidden_perm]  # ... and the columns of layer 2 move with them
        moved.append((B2, A2))
    return pairs, moved


def test_spectrum_net_is_invariant_to_gl_and_base_permutations():
    torch.manual_seed(0)
    pairs, moved = _adapter_and_transformed()
    net = LoraSpectrumNet(ranks=[3, 3], hidden=16, out_features=2)
    assert (net(pairs) - net(moved)).abs().max() < 1e-4


def test_flat_mlp_is_not_invariant():
    torch.manual_seed(0)
    pairs, moved = _adapter_and_transformed()
    net = LoraFlatMLP(factor_sizes=[6 * 3 + 3 * 4, 5 * 3 + 3 * 6], hidden=16, out_features=2)
    assert (net(pairs) - net(moved)).abs().max() > 1e-3


def test_lora_metanets_are_registered_with_their_presets():
    from netgraph.metanets import create_metanet, list_metanets

    assert {"lora_spectrum", "lora_flat"} <= set(list_metanets())
    net = create_metanet("lora_spectrum", ranks=[3, 3], out_features=2)
    assert isinstance(net, LoraSpectrumNet) and net.head[0].out_features == 64  # hidden from lora_spectrum.yaml
    pairs, moved = _adapter_and_transformed()
    assert (net(pairs) - net(moved)).abs().max() < 1e-4
    flat = create_metanet("lora_flat", factor_sizes=[30, 33], out_features=2)
    assert isinstance(flat, LoraFlatMLP) and flat(pairs).shape == (8, 2)
