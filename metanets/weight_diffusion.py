"""Latent diffusion over network weights (p-diff, Wang et al. 2024; D2NWG, Soro et al. 2025).

Two parts, trained one after the other on a zoo of trained networks of one architecture
(``netgraph.tasks.train_weight_diffusion``):

1. :class:`WeightAutoencoder`: per-neuron tokens of the weights (:mod:`~.weight_tokens`,
   ``[T, W]``, standardised per layer and kind of value) -> a transformer -> a small latent per
   token ``[T, latent_dim]`` -> a transformer -> tokens. As in p-diff, noise is added to the
   input tokens and to the latents while it trains, so that decoding is robust to the errors of
   sampled latents.
2. :class:`LatentDenoiser`: a transformer over the latent tokens predicting the noise of a
   DDPM forward process (cosine schedule, Nichol & Dhariwal 2021), given the step and, for a
   conditioned model, an embedding of the condition (a data-set embedding, D2NWG-style:
   :class:`~.conditioning.ConditionEncoder`, e.g. a set of labelled examples or signal samples).

Sampling runs DDIM (Song et al. 2021) over ``sampling_steps`` of the ``timesteps`` (``eta=0``:
deterministic given the starting noise; ``eta=1``: ancestral DDPM sampling), decodes the latents
and writes the tokens back into parameter graphs: :meth:`WeightDiffusion.generate` returns
networks ready to run, :meth:`WeightDiffusion.generate_state_dicts` their state dicts.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> model = WeightDiffusion(mlp([4, 8, 3]), dim=16, latent_dim=2, depth=1, denoiser_dim=16, denoiser_depth=1,
    ...                         sampling_steps=4).eval()
    >>> nets = model.generate(mlp([4, 8, 3]), n=3)             # untrained here: random networks
    >>> tuple(nets(torch.randn(5, 4)).shape)
    (3, 5, 3)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from torch_geometric.data import Batch, Data

from netgraph.spec import GraphSpec

from .conditioning import condition_encoder, require_condition
from .generators import WeightGenerator, check_count
from .target_architecture import TARGET_CODERS, TargetArchitecture, as_target_architecture
from .weight_tokens import TokenLayout, token_shape

__all__ = ["WeightDiffusion", "WeightAutoencoder", "LatentDenoiser", "cosine_alpha_bars", "timestep_embedding"]


def cosine_alpha_bars(timesteps: int, offset: float = 0.008) -> torch.Tensor:
    """``alpha_bar[t]`` ``[timesteps]`` of the cosine schedule (betas clipped at 0.999).

    >>> a = cosine_alpha_bars(1000)
    >>> bool(a[0] > 0.999), bool(a[-1] < 1e-4), bool((a[1:] < a[:-1]).all())
    (True, True, True)
    """
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[B, dim]`` of (integer or real) steps ``t [B]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float().unsqueeze(1) * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles), angles.new_zeros(t.shape[0], dim % 2)], dim=1)


def _transformer(dim: int, depth: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        dim, heads, dim_feedforward=2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False)


class WeightAutoencoder(nn.Module):
    """``tokens [B, T, W] -> latents [B, T, latent_dim] -> tokens [B, T, W]`` (learned token positions)."""

    def __init__(self, tokens: int, width: int, dim: int = 64, latent_dim: int = 8, depth: int = 2, heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(width, dim)
        self.encoder_positions = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.encoder = _transformer(dim, depth, heads)
        self.to_latent = nn.Linear(dim, latent_dim)
        self.from_latent = nn.Linear(latent_dim, dim)
        self.decoder_positions = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.decoder = _transformer(dim, depth, heads)
        self.to_tokens = nn.Linear(dim, width)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.encoder(self.embed(tokens) + self.encoder_positions))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.to_tokens(self.decoder(self.from_latent(latents) + self.decoder_positions))


class LatentDenoiser(nn.Module):
    """``(z_t [B, T, latent_dim], t [B], condition embedding [B, c] | None) -> predicted noise [B, T, latent_dim]``."""

    def __init__(
        self, tokens: int, latent_dim: int, dim: int = 128, depth: int = 3, heads: int = 4, condition_dim: int = 0
    ):
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(latent_dim, dim)
        self.positions = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.condition = nn.Linear(condition_dim, dim) if condition_dim else None
        self.body = _transformer(dim, depth, heads)
        self.out = nn.Linear(dim, latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, t: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        context = self.time(timestep_embedding(t, self.dim))
        if self.condition is not None:
            context = context + self.condition(condition)
        return self.out(self.body(self.embed(z) + self.positions + context.unsqueeze(1)))


class WeightDiffusion(
    WeightGenerator,
    PyTorchModelHubMixin,
    library_name="netgraph",
    tags=["netgraph", "weight-generator", "weight-diffusion"],
    coders=TARGET_CODERS,
):
    """A latent weight-diffusion model for one target architecture (see the module docstring).

    Args:
        target: the architecture (a module, or its :class:`TargetArchitecture` record).
        dim, latent_dim, depth, heads: the autoencoder's width, latent size per token, layers, heads.
        denoiser_dim, denoiser_depth: the denoiser's width and layers.
        timesteps: steps of the diffusion process; sampling_steps: DDIM steps when sampling.
        eta: DDIM noise (0: deterministic given the starting noise, 1: DDPM-like).
        clip: bound on each sampling step's predicted clean latent (latents are scaled to unit std;
            ``None``: no bound). Without it the first DDIM steps, where ``alpha_bar`` is ~1e-9 on the
            cosine schedule, multiply the denoiser's error by ``sqrt(alpha_bar_prev / alpha_bar)``
            (~650x at 50 of 1,000 steps) and the samples blow up.
        condition: ``{"kind": "vector" | "set", "features": ..., "dim": ...}`` for a conditioned model.
        trained_on: provenance written to the model card (zoo, data, recipe), JSON.
    """

    def __init__(
        self,
        target: nn.Module | TargetArchitecture | Mapping[str, Any],
        dim: int = 64,
        latent_dim: int = 8,
        depth: int = 2,
        heads: int = 4,
        denoiser_dim: int = 128,
        denoiser_depth: int = 3,
        timesteps: int = 1000,
        sampling_steps: int = 50,
        eta: float = 0.0,
        clip: float | None = 5.0,
        condition: Mapping[str, Any] | None = None,
        trained_on: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if not 1 <= sampling_steps <= timesteps:
            raise ValueError(f"sampling_steps must lie in [1, timesteps={timesteps}], got {sampling_steps}")
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be positive or None (no bound), got {clip}")
        self.target_architecture = as_target_architecture(target)
        self.timesteps, self.sampling_steps, self.eta, self.clip = timesteps, sampling_steps, eta, clip
        self.trained_on = dict(trained_on or {})
        tokens, width = token_shape(self.target_architecture)
        self.autoencoder = WeightAutoencoder(tokens, width, dim, latent_dim, depth, heads)
        self.condition = condition_encoder(condition)
        self.denoiser = LatentDenoiser(
            tokens,
            latent_dim,
            denoiser_dim,
            denoiser_depth,
            heads,
            self.condition.dim if self.condition is not None else 0,
        )
        self.register_buffer("alpha_bars", cosine_alpha_bars(timesteps))
        self.register_buffer("token_mean", torch.zeros(tokens, width))
        self.register_buffer("token_std", torch.ones(tokens, width))
        self.register_buffer("latent_std", torch.ones(()))
        self._layouts: dict[int, TokenLayout] = {}

    # ------------------------------------------------------------------ tokens
    def layout(self, target: nn.Module | GraphSpec) -> TokenLayout:
        """The token layout of ``target`` (checked against the recorded architecture; cached)."""
        spec = self.target_spec(target)
        if id(spec) not in self._layouts:
            self._layouts[id(spec)] = TokenLayout.of(spec)
        return self._layouts[id(spec)]

    def fit_normalization(self, graphs: Data) -> None:
        """Set the per-(layer, kind) mean and std of the tokens from training graphs (a batch)."""
        layout = self.layout(graphs.spec[0] if isinstance(graphs.spec, list) else graphs.spec)
        tokens = layout.tokens(graphs).to(self.token_mean.device)  # [B, T, W]
        group = layout.group.to(tokens.device)
        valid = group >= 0
        ids = group[valid]
        values = tokens[:, valid]  # [B, V]
        count = torch.zeros(int(ids.max()) + 1, device=tokens.device).index_add_(
            0, ids, torch.ones_like(ids, dtype=torch.float32)
        )
        count = count * tokens.shape[0]
        mean = torch.zeros_like(count).index_add_(0, ids, values.sum(0)) / count
        var = torch.zeros_like(count).index_add_(0, ids, (values - mean[ids]).pow(2).sum(0)) / count
        std = var.sqrt()
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        self.token_mean.zero_()
        self.token_std.fill_(1.0)
        self.token_mean[valid] = mean[ids]
        self.token_std[valid] = std[ids]

    def normalized_tokens(self, graphs: Data) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens [B, T, W] standardised, valid [T, W])`` of training graphs."""
        layout = self.layout(graphs.spec[0] if isinstance(graphs.spec, list) else graphs.spec)
        tokens = layout.tokens(graphs).to(self.token_mean.device)
        valid = (layout.group >= 0).to(tokens.device)
        return torch.where(valid, (tokens - self.token_mean) / self.token_std, 0.0), valid

    # ------------------------------------------------------------------ training objectives
    def autoencoder_loss(
        self, tokens: torch.Tensor, valid: torch.Tensor, input_noise: float = 0.001, latent_noise: float = 0.1
    ) -> torch.Tensor:
        """Reconstruction MSE of standardised ``tokens [B, T, W]`` over the ``valid [T, W]`` positions,
        with p-diff's noise augmentation of the input and the latents."""
        latents = self.autoencoder.encode(tokens + input_noise * torch.randn_like(tokens))
        decoded = self.autoencoder.decode(latents + latent_noise * torch.randn_like(latents))
        return (decoded - tokens).pow(2)[:, valid].mean()

    def latents(self, tokens: torch.Tensor) -> torch.Tensor:
        """Latents of standardised tokens, divided by :attr:`latent_std` (unit scale for diffusion)."""
        return self.autoencoder.encode(tokens) / self.latent_std

    def denoising_loss(self, latents: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """DDPM noise-prediction MSE on clean ``latents [B, T, latent_dim]`` at random steps."""
        b = latents.shape[0]
        t = torch.randint(0, self.timesteps, (b,), device=latents.device)
        a = self.alpha_bars[t].view(b, 1, 1)
        noise = torch.randn_like(latents)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        embedding = require_condition(self.condition, condition, b, type(self).__name__)
        return (self.denoiser(noisy, t, embedding) - noise).pow(2).mean()

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_latents(self, n: int, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` latents ``[n, T, latent_dim]`` by DDIM over ``sampling_steps`` steps (no gradients)."""
        check_count(n)
        embedding = require_condition(self.condition, condition, n, type(self).__name__)
        device = self.alpha_bars.device
        tokens, latent_dim = self.denoiser.positions.shape[0], self.denoiser.out.out_features
        z = torch.randn(n, tokens, latent_dim, device=device)
        steps = torch.linspace(self.timesteps - 1, 0, self.sampling_steps, device=device).round().long()
        for i, t in enumerate(steps.tolist()):  # a loop over diffusion steps
            a = self.alpha_bars[t]
            a_prev = self.alpha_bars[int(steps[i + 1])] if i + 1 < len(steps) else torch.ones((), device=device)
            eps = self.denoiser(z, torch.full((n,), t, device=device), embedding)
            x0 = (z - (1 - a).sqrt() * eps) / a.sqrt()
            if self.clip is not None:  # bound the clean estimate, and use the noise consistent with it
                x0 = x0.clamp(-self.clip, self.clip)
                eps = (z - a.sqrt() * x0) / (1 - a).sqrt()
            sigma = self.eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp(min=0).sqrt()
            z = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps + sigma * torch.randn_like(z)
        return z

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, target: nn.Module | GraphSpec) -> Batch:
        """Graphs of ``target`` from latents ``[n, T, latent_dim]`` (as given by :meth:`latents`)."""
        layout = self.layout(target)
        tokens = self.autoencoder.decode(latents * self.latent_std) * self.token_std + self.token_mean
        return layout.graphs(tokens)

    def generate_graphs(
        self, target: nn.Module | GraphSpec, condition: torch.Tensor | None = None, n: int = 1
    ) -> Batch:
        self.layout(target)  # check the architecture before sampling
        return self.decode(self.sample_latents(n, condition), target)
