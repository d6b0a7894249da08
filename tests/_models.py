"""Small architectures exercising every supported construct (shared by the core tests)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from netgraph.architectures import SmallCNN, Siren, cifar_resnet, mlp


class FlattenCNN(nn.Module):
    """Conv -> flatten -> Linear (the linear reads spatial positions)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 5, padding=2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = torch.tanh(self.conv2(h))
        return self.fc(torch.flatten(h, 1))


class GroupedCNN(nn.Module):
    """Grouped conv, depthwise conv, GroupNorm, concatenation of channels."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.grouped = nn.Conv2d(8, 12, 3, padding=1, groups=4)
        self.gn = nn.GroupNorm(3, 12)
        self.depthwise = nn.Conv2d(12, 24, 3, padding=1, groups=12)
        self.side = nn.Conv2d(8, 4, 1)
        self.head = nn.Linear(28, 3)

    def forward(self, x):
        s = F.gelu(self.stem(x))
        h = torch.relu(self.gn(self.grouped(s)))
        h = self.depthwise(h)
        h = torch.cat([h, self.side(s)], dim=1)
        return self.head(h.mean(dim=(2, 3)))


def grouped_blocks():
    """A grouped conv whose channel groups may be permuted as blocks (no conflicting GroupNorm)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.ReLU(),
        nn.Conv2d(8, 12, 3, groups=4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(12, 2),
    )


class Conv1d3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 4, 3)
        self.bn = nn.BatchNorm1d(4)
        self.c3 = nn.Conv3d(4, 5, (1, 3, 3), padding=(0, 1, 1))
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        h = torch.relu(self.bn(self.c1(x)))  # [B, 4, L]
        h = h.unsqueeze(2).unsqueeze(2).expand(-1, -1, 2, 3, -1)  # [B, 4, 2, 3, L]
        h = self.c3(h.contiguous())
        return self.out(h.mean(dim=(2, 3, 4)))


class TextClassifier(nn.Module):
    """Embedding -> LayerNorm -> mean over tokens -> MLP with dropout."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 12)
        self.norm = nn.LayerNorm(12)
        self.mlp = nn.Sequential(nn.Linear(12, 16), nn.SiLU(), nn.Dropout(0.1), nn.Linear(16, 4))

    def forward(self, ids):
        return self.mlp(self.norm(self.emb(ids)).mean(dim=-2))


class MHASelfAttention(nn.Module):
    """nn.MultiheadAttention with a residual and LayerNorm."""

    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.inp = nn.Linear(6, dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 3)

    def forward(self, x):
        h = self.inp(x)
        a, _ = self.attn(h, h, h)
        h = self.norm(h + a)
        return self.out(h.mean(-2))


class CrossAttention(nn.Module):
    """Queries from one sequence, keys/values from another (nn.MultiheadAttention, kdim != embed)."""

    def __init__(self):
        super().__init__()
        self.q_in, self.kv_in = nn.Linear(4, 8), nn.Linear(3, 6)
        self.attn = nn.MultiheadAttention(8, 2, kdim=6, vdim=6, batch_first=True)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        q = self.q_in(x[0])
        kv = torch.relu(self.kv_in(x[1]))
        a, _ = self.attn(q, kv, kv, need_weights=False)
        return self.out(a)


class HandAttention(nn.Module):
    """Hand-written multi-head attention (view into heads, q @ k^T, softmax, @ v) + SwiGLU MLP."""

    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.heads = heads
        self.inp = nn.Linear(5, dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.gate, self.up, self.down = nn.Linear(dim, 24), nn.Linear(dim, 24), nn.Linear(24, dim)
        self.out = nn.Linear(dim, 2)

    def split(self, t):
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x):
        h = self.inp(x)
        q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
        scores = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)
        a = torch.softmax(scores, dim=-1) @ v
        a = a.transpose(1, 2).reshape(h.shape)
        h = h + self.o(a)
        h = h + self.down(F.silu(self.gate(h)) * self.up(h))
        return self.out(h[:, 0])


class GroupedQueryAttention(nn.Module):
    """Hand-written grouped-query attention without rotary embeddings (each key/value head expanded to
    its group of query heads as Hugging Face's ``repeat_kv`` does, then scaled-dot-product attention);
    ``kv_heads=1`` is multi-query attention."""

    def __init__(self, dim=16, heads=4, kv_heads=2):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.inp = nn.Linear(5, dim)
        self.q, self.o = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.k, self.v = nn.Linear(dim, kv_heads * self.head_dim), nn.Linear(dim, kv_heads * self.head_dim)
        self.out = nn.Linear(dim, 2)

    def expand(self, t):
        b, _, n, d = t.shape
        repeats = self.heads // self.kv_heads
        return t[:, :, None].expand(b, self.kv_heads, repeats, n, d).reshape(b, self.heads, n, d)

    def forward(self, x):
        h = self.inp(x)
        b, n, _ = h.shape
        q = self.q(h).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, self.expand(k), self.expand(v))
        h = h + self.o(a.transpose(1, 2).reshape(b, n, -1))
        return self.out(torch.relu(h[:, 0]))


class DenseBlock(nn.Module):
    """DenseNet-style: channels of two layers concatenated, then BatchNorm over the concatenation."""

    def __init__(self):
        super().__init__()
        self.stem, self.grow = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3, padding=1)
        self.norm, self.head, self.fc = nn.BatchNorm2d(9), nn.Conv2d(9, 6, 1), nn.Linear(6, 2)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        h = torch.relu(self.norm(torch.cat([s, torch.relu(self.grow(s))], 1)))
        return self.fc(self.head(h).mean((2, 3)))


class SelfConcat(nn.Module):
    """A layer reading one hidden space twice (``cat([h, h])``): each hidden node feeds two columns."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(3, 6), nn.Linear(12, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = torch.tanh(self.a(x))
        return self.out(torch.relu(self.b(torch.cat([h, h * 0.5], -1))))


class LastTokenClassifier(nn.Module):
    """Reads each sequence's last real token by advanced indexing (``h[arange(B), lengths - 1]``, as
    CLIP's text pooling and GPT-2's sequence classifier do) and computes a value it never uses (BART's
    ``inputs_embeds[:, :, -1]``, read for its shape only)."""

    def __init__(self):
        super().__init__()
        self.emb, self.mix, self.head = nn.Embedding(30, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, ids):
        h = torch.tanh(self.mix(self.emb(ids)))
        unused = h[:, :, -1]  # noqa: F841 (dead: its op must not be converted)
        lengths = (ids > 0).sum(-1)
        return self.head(h[torch.arange(ids.shape[0]), lengths - 1])


class PerHeadFusedAttention(nn.Module):
    """GPT-NeoX-style attention: one fused projection whose rows are laid out [heads, (q, k, v), dims],
    chunked per head; the tokens are also split in two halves and joined again (a split of a non-neuron
    dim) before the projection."""

    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.heads = heads
        self.inp, self.qkv, self.o, self.out = (
            nn.Linear(5, dim),
            nn.Linear(dim, 3 * dim),
            nn.Linear(dim, dim),
            nn.Linear(dim, 2),
        )

    def forward(self, x):
        h = self.inp(x)
        first, second = h.chunk(2, dim=1)
        h = torch.cat([first, second], dim=1)
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, self.heads, 3 * d // self.heads).transpose(1, 2).chunk(3, dim=-1)
        a = F.scaled_dot_product_attention(q, k, v)
        h = h + self.o(a.transpose(1, 2).reshape(b, n, d))
        return self.out(torch.relu(h[:, 0]))


class CosineTowers(nn.Module):
    """Two towers whose L2-normalised embeddings are compared by cosine similarity (CLIP-style): the
    embedding dims of both projections may be permuted together, and only together."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(8, 6), nn.Linear(5, 6)

    def forward(self, pair):
        x, y = pair
        u = F.normalize(self.b(torch.relu(self.a(x))), dim=-1)
        v = self.c(y)
        return 10.0 * u @ (v / v.norm(dim=-1, keepdim=True)).t()


class TinyViT(nn.Module):
    """Patch conv, class token (cat of a parameter), learned positional embedding (add of a
    parameter), a TransformerEncoderLayer, LayerScale-like per-feature scale."""

    def __init__(self, dim=16):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 5, dim))
        self.block = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.scale = nn.Parameter(torch.rand(dim) + 0.5)
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)  # [B, 4, dim]
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        t = self.block(t) * self.scale
        return self.head(t[:, 0])


class HandCrossAttention(nn.Module):
    """Hand-written multi-head cross-attention: queries from the decoder stream, keys/values from the
    encoder stream (different widths before the projections)."""

    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.heads = heads
        self.dec_in, self.enc_in = nn.Linear(5, dim), nn.Linear(3, 12)
        self.q, self.k, self.v, self.o = (
            nn.Linear(dim, dim),
            nn.Linear(12, dim),
            nn.Linear(12, dim),
            nn.Linear(dim, dim),
        )
        self.out = nn.Linear(dim, 2)

    def split(self, t):
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x):
        tgt, src = x
        h, m = self.dec_in(tgt), torch.tanh(self.enc_in(src))
        q, k, v = self.split(self.q(h)), self.split(self.k(m)), self.split(self.v(m))
        a = torch.softmax(q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5), dim=-1) @ v
        h = h + self.o(a.transpose(1, 2).reshape(h.shape))
        return self.out(h)


class MHAEncoderDecoder(nn.Module):
    """A custom encoder-decoder from nn.MultiheadAttention (fx-traceable): encoder self-attention, decoder
    self-attention, then cross-attention whose keys/values are the encoder's output."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.src_in, self.tgt_in = nn.Linear(3, dim), nn.Linear(5, dim)
        self.enc = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dec = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 2)

    def forward(self, x):
        tgt, src = x
        m = self.src_in(src)
        m = m + self.enc(m, m, m, need_weights=False)[0]
        h = self.tgt_in(tgt)
        h = h + self.dec(h, h, h, need_weights=False)[0]
        h = self.norm(h + self.cross(h, m, m, need_weights=False)[0])
        return self.out(h)


class Seq2Seq(nn.Module):
    """nn.Transformer (encoder-decoder) with learned input projections for source and target."""

    def __init__(self, dim=16):
        super().__init__()
        self.src_in, self.tgt_in = nn.Linear(3, dim), nn.Linear(5, dim)
        self.transformer = nn.Transformer(dim, 2, 2, 2, 32, dropout=0.0, batch_first=True)
        self.out = nn.Linear(dim, 4)

    def forward(self, x):
        src, tgt = x
        return self.out(self.transformer(self.src_in(src), self.tgt_in(tgt)))


class PadConv(nn.Module):
    """F.pad with zeros and with reflection before convolutions."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 3)

    def forward(self, x):
        return self.c2(F.pad(torch.relu(self.c1(F.pad(x, (1, 1, 1, 1)))), (1, 1, 1, 1), mode="reflect"))


def conv_transpose(dims: int, groups: int = 1) -> nn.Module:
    """Strided conv down, transposed conv up (ConvTranspose1d/2d/3d), 1x1 conv."""
    conv, up = (
        (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1],
        (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dims - 1],
    )
    return nn.Sequential(
        conv(2, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        up(6, 4, 4, stride=2, padding=1, groups=groups),
        nn.ReLU(),
        conv(4, 3, 1),
    )


class UpsampleNet(nn.Module):
    """nn.Upsample (nearest) and F.interpolate (bilinear) between convolutions."""

    def __init__(self):
        super().__init__()
        self.c1, self.up, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Upsample(scale_factor=2), nn.Conv2d(8, 2, 1)

    def forward(self, x):
        h = self.up(torch.relu(self.c1(x)))
        return self.c2(F.interpolate(h, scale_factor=0.5, mode="bilinear", align_corners=False))


class UNet(nn.Module):
    """Two-level U-Net: conv blocks, max-pool down, transposed-conv up, concatenated skips."""

    def __init__(self, c=8):
        super().__init__()
        self.d1 = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.d2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.u1 = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        return self.out(self.u1(torch.cat([a, self.up(b)], dim=1)))


class SharedLayer(nn.Module):
    """One hidden layer applied twice."""

    def __init__(self):
        super().__init__()
        self.inp, self.shared, self.out = nn.Linear(3, 8), nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.shared(torch.relu(self.shared(torch.relu(self.inp(x)))))))


def transformer_encoder():
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)
    return nn.Sequential(
        nn.Linear(7, 16), nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Linear(16, 3)
    )


# name -> (factory, input factory, trace with example_inputs?)
CASES = {
    "mlp": (lambda: mlp([5, 32, 32, 3], "tanh", dropout=0.1), lambda: torch.randn(4, 5), False),
    "siren": (lambda: Siren(), lambda: torch.rand(7, 2) * 2 - 1, False),
    "small_cnn": (lambda: SmallCNN(3), lambda: torch.randn(2, 3, 16, 16), False),
    "flatten_cnn": (FlattenCNN, lambda: torch.randn(2, 3, 8, 8), False),
    "flatten_cnn_export": (FlattenCNN, lambda: torch.randn(2, 3, 8, 8), True),
    "resnet20": (lambda: cifar_resnet(20, 8), lambda: torch.randn(2, 3, 16, 16), False),
    "resnet20_export": (lambda: cifar_resnet(20, 8), lambda: torch.randn(2, 3, 16, 16), True),
    "grouped_cnn": (GroupedCNN, lambda: torch.randn(2, 3, 8, 8), False),
    "grouped_blocks": (grouped_blocks, lambda: torch.randn(2, 3, 8, 8), False),
    "conv1d3d": (Conv1d3d, lambda: torch.randn(2, 2, 9), False),
    "text": (TextClassifier, lambda: torch.randint(0, 30, (3, 7)), False),
    "mha": (MHASelfAttention, lambda: torch.randn(2, 5, 6), False),
    "cross_attention": (CrossAttention, lambda: (torch.randn(2, 5, 4), torch.randn(2, 3, 3)), False),
    "mha_export": (MHASelfAttention, lambda: torch.randn(2, 5, 6), True),
    "hand_attention": (HandAttention, lambda: torch.randn(2, 6, 5), True),
    "tiny_vit": (TinyViT, lambda: torch.randn(2, 3, 8, 8), True),
    "dense_block": (DenseBlock, lambda: torch.randn(2, 3, 8, 8), False),
    "last_token": (LastTokenClassifier, lambda: torch.randint(1, 30, (3, 6)), True),
    "per_head_fused_attention": (PerHeadFusedAttention, lambda: torch.randn(2, 6, 5), True),
    "cosine_towers": (CosineTowers, lambda: (torch.randn(3, 4), torch.randn(2, 5)), True),
    "self_concat": (SelfConcat, lambda: torch.randn(4, 3), False),
    "grouped_query_attention": (GroupedQueryAttention, lambda: torch.randn(2, 6, 5), True),
    "multi_query_attention": (lambda: GroupedQueryAttention(kv_heads=1), lambda: torch.randn(2, 6, 5), True),
    "transformer_encoder": (transformer_encoder, lambda: torch.randn(2, 6, 7), True),
    "cross_attention_export": (CrossAttention, lambda: (torch.randn(2, 5, 4), torch.randn(2, 3, 3)), True),
    "hand_cross_attention_export": (HandCrossAttention, lambda: (torch.randn(2, 4, 5), torch.randn(2, 6, 3)), True),
    "mha_encoder_decoder": (MHAEncoderDecoder, lambda: (torch.randn(2, 4, 5), torch.randn(2, 6, 3)), False),
    "mha_encoder_decoder_export": (MHAEncoderDecoder, lambda: (torch.randn(2, 4, 5), torch.randn(2, 6, 3)), True),
    "pad_conv": (PadConv, lambda: torch.randn(2, 3, 8, 8), False),
    "pad_conv_export": (PadConv, lambda: torch.randn(2, 3, 8, 8), True),
    "conv_transpose1d": (lambda: conv_transpose(1), lambda: torch.randn(2, 2, 8), False),
    "conv_transpose2d_grouped": (lambda: conv_transpose(2, groups=2), lambda: torch.randn(2, 2, 8, 8), False),
    "conv_transpose3d_export": (lambda: conv_transpose(3), lambda: torch.randn(2, 2, 4, 4, 4), True),
    "upsample": (UpsampleNet, lambda: torch.randn(2, 3, 8, 8), False),
    "upsample_export": (UpsampleNet, lambda: torch.randn(2, 3, 8, 8), True),
    "unet": (UNet, lambda: torch.randn(2, 3, 8, 8), False),
    "unet_export": (UNet, lambda: torch.randn(2, 3, 8, 8), True),
    "shared_layer": (SharedLayer, lambda: torch.randn(4, 3), False),
    "seq2seq_transformer": (Seq2Seq, lambda: (torch.randn(2, 6, 3), torch.randn(2, 4, 5)), True),
}


def randomize_norm_stats(model: nn.Module, seed: int = 0) -> None:
    """Give BatchNorm layers non-trivial statistics and affine parameters (fresh ones are 0/1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)):
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
