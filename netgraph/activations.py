"""Activation capture: what the layers of a network compute on data.

Two views, one module:

* :func:`record_activations`: per-neuron pre-activations keyed by the weight layers (edge pieces)
  of a spec. Every weight layer's output is recorded while the model runs (a ``TorchDispatchMode``
  sees each ``mm`` / ``addmm`` / ``convolution`` / ``embedding`` call and matches its weight to a
  parameter by storage, so functional code, packed attention projections and
  ``nn.MultiheadAttention`` internals are covered). The result is, per edge piece, its output
  neurons' values (bias included, before any normalisation or nonlinearity) over every sample and
  position: ``[samples, n_out]``.
* :func:`capture_outputs`: the outputs of named submodules (forward hooks), a context manager that
  also works inside ``vmap`` (as :class:`~netgraph.population.Population` uses it).

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> from netgraph.activations import capture_outputs, record_activations
    >>> model = mlp([3, 5, 2])
    >>> acts = record_activations(model, torch.randn(7, 3))
    >>> {i: tuple(a.shape) for i, a in acts.items()}      # edge piece -> [samples, n_out]
    {0: (7, 5), 1: (7, 2)}
    >>> with capture_outputs(model, ["0"]) as captured:
    ...     _ = model(torch.randn(7, 3))
    >>> tuple(captured["0"].shape)                       # module path -> its output
    (7, 5)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from .convert import spec_of
from .inputs import run_model
from .spec import GraphSpec

__all__ = ["record_activations", "capture_outputs"]

_aten = torch.ops.aten


def record_activations(
    model: nn.Module,
    inputs: Any,
    spec: GraphSpec | None = None,
    *,
    max_samples: int | None = 8192,
    example_inputs: Any = None,
) -> dict[int, torch.Tensor]:
    """Outputs of every weight layer of ``model`` on ``inputs``: ``{edge piece index: [samples, n_out]}``.

    Samples are the batch times every spatial position / token; at most ``max_samples`` evenly
    spaced ones are kept per layer (None keeps all). The model runs in eval mode with autograd on
    (so ``nn.MultiheadAttention`` takes its decomposed path); nothing is trained.
    """
    spec = spec or spec_of(model, example_inputs)
    by_storage: dict[int, list[tuple[str, torch.Tensor]]] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        if torch.is_floating_point(tensor):
            by_storage.setdefault(tensor.untyped_storage().data_ptr(), []).append((key, tensor))
    pieces: dict[str, list[int]] = {}
    for i, piece in enumerate(spec.edge_pieces):
        pieces.setdefault(spec.aliases.get(piece.param, piece.param), []).append(i)
    recorder = _Recorder(by_storage)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.enable_grad(), recorder:
            run_model(model, inputs)
    finally:
        for module, mode in modes.items():
            module.training = mode
    out: dict[int, torch.Tensor] = {}
    for key, start, values, bias_added in recorder.records:
        for i in pieces.get(key, []):
            piece = spec.edge_pieces[i]
            lo, hi = piece.rows if piece.rows is not None else (0, piece.n_out)
            if start <= lo and hi <= start + values.shape[1]:
                block = values[:, lo - start : hi - start]
                if not bias_added:
                    block = block + _bias(spec, model, i)
                out[i] = _subsample(block, max_samples)
    return out


class _Recorder(TorchDispatchMode):
    """Records ``(param key, first row, [samples, rows] output, bias included)`` per weight use."""

    def __init__(self, by_storage: dict[int, list[tuple[str, torch.Tensor]]]):
        super().__init__()
        self.by_storage = by_storage
        self.records: list[tuple[str, int, torch.Tensor, bool]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = getattr(func, "overloadpacket", None)
        if packet is _aten.mm:
            self._add(args[1], out, transposed=True, channel_dim=-1, bias=False)
        elif packet is _aten.addmm:
            self._add(args[2], out, transposed=True, channel_dim=-1, bias=True)
        elif packet is _aten.convolution:
            self._add(args[1], out, transposed=False, channel_dim=1, bias=args[2] is not None)  # [N, C, ...]
        elif packet is _aten.embedding:
            self._add(args[0], out, transposed=None, channel_dim=-1, bias=True)
        return out

    def _add(
        self, weight: torch.Tensor, out: torch.Tensor, transposed: bool | None, channel_dim: int, bias: bool
    ) -> None:
        owners = self.by_storage.get(weight.untyped_storage().data_ptr())
        if not owners:
            return
        key, param = owners[0]
        if transposed is None:  # embedding: the whole table, its columns are the output channels
            start = 0
        else:
            rows_dim = 1 if transposed else 0
            if param.dim() < 2 or weight.stride(rows_dim) != param.stride(0):
                return
            start = (weight.storage_offset() - param.storage_offset()) // param.stride(0)
        values = out.detach().movedim(channel_dim, -1)
        self.records.append((key, start, values.reshape(-1, values.shape[-1]), bias))


def _bias(spec: GraphSpec, model: nn.Module, piece_index: int) -> torch.Tensor:
    """The bias of a layer whose recorded product did not include it (zeros if it has none)."""
    piece = spec.edge_pieces[piece_index]
    layer = next((layer for layer in spec.layers if layer.weight is piece), None)
    state = model.state_dict()
    if layer is None or layer.bias is None:
        return torch.zeros(piece.n_out, device=next(iter(state.values())).device)
    bias = state[layer.bias.param].reshape(-1)
    return bias[layer.bias.rows[0] : layer.bias.rows[1]] if layer.bias.rows else bias


def _subsample(values: torch.Tensor, max_samples: int | None) -> torch.Tensor:
    if max_samples is None or values.shape[0] <= max_samples:
        return values
    index = torch.linspace(0, values.shape[0] - 1, max_samples, device=values.device).long()
    return values[index]


@contextmanager
def capture_outputs(model: nn.Module, paths: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Within the block, record the output of each submodule ``paths[i]`` (its module path in
    ``model``) into the yielded dict ``{path: output}`` (the last call wins). Hooks are removed on exit.

    Raises:
        KeyError: a path that names no submodule of ``model``.
    """
    modules = dict(model.named_modules())
    missing = [p for p in paths if p not in modules]
    if missing:
        raise KeyError(
            f"no submodule(s) {missing} in {type(model).__name__}; expected module paths such as {list(modules)[1:4]}"
        )
    captured: dict[str, Any] = {}
    hooks = [
        modules[path].register_forward_hook(lambda _m, _i, y, path=path: captured.__setitem__(path, y))
        for path in paths
    ]
    try:
        yield captured
    finally:
        for hook in hooks:
            hook.remove()
