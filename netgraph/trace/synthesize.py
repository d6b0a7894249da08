"""Inputs for a module when the caller gave none: synthesised from the layers that read them.

The first parametrised layers of a module (in registration order) say what its inputs look like:
an ``nn.Embedding`` reads token ids, an ``nn.Linear`` features on the last dim, an ``nn.ConvNd``
channels on dim 1 with ``N`` spatial dims, attention and recurrent layers token sequences. The
forward signature says how many inputs are required. A few candidate shapes are tried (e.g.
``[B, F]`` then ``[B, T, F]``; spatial sizes 8 to 64) and the first one the module accepts is used.

Example:
    >>> import torch.nn as nn
    >>> from netgraph.trace.synthesize import synthesize_inputs
    >>> [tuple(t.shape) for t in synthesize_inputs(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2)))]
    [(2, 6)]
    >>> [tuple(t.shape) for t in synthesize_inputs(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))]
    [(2, 3, 8, 8)]
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn as nn

__all__ = ["synthesize_inputs", "describe_inputs", "call_kwargs"]

_BATCH, _TOKENS = 2, 6
_SPATIAL = (8, 16, 32, 64)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_SEQUENCE = (nn.MultiheadAttention, nn.LSTM, nn.GRU, nn.RNN)


def _entry_layers(model: nn.Module) -> list[nn.Module]:
    """Parametrised modules that determine an input, in registration order."""
    found = []
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.Linear, *_CONVS, *_SEQUENCE)):
            found.append(module)
    return found


def _candidates(
    layer: nn.Module, generator: torch.Generator | None, dtype: torch.dtype, device: torch.device
) -> list[Callable[[], torch.Tensor]]:
    """Ways to build one input for ``layer``, most likely first."""

    def normal(*shape):
        return lambda: torch.randn(*shape, generator=generator).to(device=device, dtype=dtype)

    if isinstance(layer, nn.Embedding):
        vocab = layer.num_embeddings
        return [lambda: torch.randint(0, vocab, (_BATCH, _TOKENS), generator=generator).to(device)]
    if isinstance(layer, nn.Linear):
        return [normal(_BATCH, layer.in_features), normal(_BATCH, _TOKENS, layer.in_features)]
    if isinstance(layer, _CONVS):
        spatial = layer.weight.dim() - 2
        channels = layer.in_channels
        return [normal(_BATCH, channels, *(s,) * spatial) for s in _SPATIAL]
    if isinstance(layer, nn.MultiheadAttention):
        return [normal(_BATCH, _TOKENS, layer.embed_dim)]
    return [normal(_BATCH, _TOKENS, layer.input_size)]  # LSTM / GRU / RNN


def call_kwargs(model: nn.Module, kwargs: dict) -> dict:
    """Keyword inputs for tracing: a forward with a ``use_cache`` argument (Hugging Face decoder LMs)
    gets ``use_cache=False`` unless the caller set it, so no key/value cache object is built."""
    if "use_cache" in kwargs:
        return kwargs
    try:
        accepts = "use_cache" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        accepts = False
    return {**kwargs, "use_cache": False} if accepts else kwargs


def _required_inputs(model: nn.Module) -> int:
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    required = [
        p
        for p in params
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return max(1, len(required))


def synthesize_inputs(model: nn.Module, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...] | None:
    """Positional inputs that ``model`` accepts, built from its first layers, or None.

    Returns a tuple of tensors (``[2, 6]`` token ids, ``[2, F]`` or ``[2, 6, F]`` features,
    ``[2, C, S, ...]`` channels) for the module's required positional inputs; the module is called
    once per candidate (in eval mode, without gradients) until one works.
    """
    entries = _entry_layers(model)
    count = _required_inputs(model)
    if len(entries) < count:
        return None
    reference = next((p for p in model.parameters() if torch.is_floating_point(p)), None)
    dtype = reference.dtype if reference is not None else torch.float32
    device = reference.device if reference is not None else torch.device("cpu")
    options = [_candidates(layer, generator, dtype, device) for layer in entries[:count]]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        for attempt in range(max(len(o) for o in options)):
            inputs = tuple(o[min(attempt, len(o) - 1)]() for o in options)
            try:
                with torch.no_grad():
                    model(*inputs, **call_kwargs(model, {}))
            except Exception:  # noqa: BLE001  (any failure means: not this shape)
                continue
            return inputs
    finally:
        for module, mode in modes.items():
            module.training = mode
    return None


def describe_inputs(model: nn.Module) -> str:
    """One line saying what input ``model``'s first layer expects (for error messages)."""
    entries = _entry_layers(model)
    if not entries:
        return "pass example_inputs=(a tensor shaped like the model's input,)"
    layer = entries[0]
    if isinstance(layer, nn.Embedding):
        what = f"token ids [batch, tokens] (int64, < {layer.num_embeddings})"
    elif isinstance(layer, nn.Linear):
        what = f"features [batch, ..., {layer.in_features}]"
    elif isinstance(layer, _CONVS):
        what = f"[batch, {layer.in_channels}, {', '.join(['size'] * (layer.weight.dim() - 2))}]"
    elif isinstance(layer, nn.MultiheadAttention):
        what = f"a sequence [batch, tokens, {layer.embed_dim}]"
    else:
        what = f"a sequence [batch, tokens, {layer.input_size}]"
    return f"pass example_inputs=(x,) with x: {what}, as the first layer ({type(layer).__name__}) reads"
