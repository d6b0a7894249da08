"""``netgraph.align``: the permutation of B's symmetry groups that best matches A.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> a = mlp([3, 16, 2])
    >>> b = netgraph.to_module(netgraph.permute(netgraph.from_module(a),
    ...     netgraph.random_permutation(netgraph.from_module(a))), a)   # a shuffled copy of a
    >>> perm = netgraph.align(a, b)                                    # node permutation of b's graph
    >>> back = netgraph.permute(netgraph.from_module(b), perm)
    >>> torch.equal(back.edge_attr, netgraph.from_module(a).edge_attr)
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch_geometric.data import Batch, Data

from ..convert import from_module, to_module
from ..graph import graph_specs
from ..spec import GraphSpec
from ..symmetry import _node_map
from .matching import WeightFeatures, coordinate_descent

__all__ = ["align", "align_batch", "rebasin", "METHODS"]

METHODS = ("weights", "activations", "sinkhorn")


def align(
    model_a: nn.Module | Data,
    model_b: nn.Module | Data,
    method: str = "weights",
    data: Any = None,
    *,
    example_inputs: Any = None,
    max_iter: int = 100,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    **options: Any,
) -> torch.Tensor:
    """The node permutation of B's parameter graph that brings B closest to A.

    ``netgraph.permute(from_module(model_b), perm)`` applies it (it respects the symmetry groups, so
    the permuted network computes the same function as B).

    Args:
        model_a, model_b: two modules of one architecture, or two ``ParamGraph`` of one spec.
        method: ``"weights"`` (Git Re-Basin weight matching: coordinate descent over the groups,
            each step a linear assignment), ``"activations"`` (match neurons by the correlation of
            their activations on ``data``; needs modules) or ``"sinkhorn"`` (Sinkhorn re-basin, Pena
            et al. 2023: soft permutations trained by gradient, hardened at the end; see
            :func:`netgraph.merge.sinkhorn_rebasin` for its ``options``).
        data: a batch of inputs (a tensor, a tuple of positional inputs, or ``(inputs, targets)``
            for the data objectives of Sinkhorn re-basin).
        example_inputs: passed to tracing for models ``torch.fx`` cannot trace.
        max_iter: maximum sweeps over the groups (weights, activations).
        seed: seeds the random order in which groups are visited (and Sinkhorn's noise).
        device: where to compute (default: where B's weights are).
        progress: show a progress bar over the sweeps / optimisation steps.

    Returns:
        ``perm [num_nodes]``: B's node ``n`` moves to ``perm[n]``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    graph_a, graph_b = _graph(model_a, example_inputs, "model_a"), _graph(model_b, example_inputs, "model_b")
    spec = _common_spec(graph_a, graph_b)
    device = torch.device(device) if device is not None else graph_b.x.device
    generator = torch.Generator().manual_seed(seed)
    if method == "weights":
        _no_options(options, method)
        features = WeightFeatures(spec, *_stacked(graph_a, spec, device), *_stacked(graph_b, spec, device))
        unit_maps = coordinate_descent(
            spec, features, 1, max_iter=max_iter, generator=generator, device=device, progress=progress
        )
    elif method == "activations":
        from .activation_matching import activation_features

        _no_options(options, method)
        if not (isinstance(model_a, nn.Module) and isinstance(model_b, nn.Module)):
            raise TypeError(
                "method='activations' runs the networks: pass the two nn.Module, not graphs "
                f"(got {type(model_a).__name__} and {type(model_b).__name__})"
            )
        if data is None:
            raise ValueError("method='activations' needs data=a batch of inputs to record activations on")
        features = activation_features(spec, model_a, model_b, data, device)
        unit_maps = coordinate_descent(
            spec, features, 1, max_iter=max_iter, generator=generator, device=device, progress=progress
        )
    else:
        from .sinkhorn import sinkhorn_rebasin

        model = model_a if isinstance(model_a, nn.Module) else model_b if isinstance(model_b, nn.Module) else None
        unit_maps = sinkhorn_rebasin(
            spec,
            graph_a,
            graph_b,
            data=data,
            model=model,
            generator=generator,
            device=device,
            progress=progress,
            **options,
        ).unsqueeze(0)
    return _node_map(spec, unit_maps)[0].to(graph_b.x.device)


def align_batch(
    batch_a: Batch, batch_b: Batch, *, max_iter: int = 100, seed: int = 0, progress: bool = False
) -> torch.Tensor:
    """Weight matching of many pairs at once: graph ``i`` of ``batch_b`` to graph ``i`` of ``batch_a``.

    Both batches hold ``P`` graphs of one architecture. The scores of every group step are computed
    for all pairs in one batched op (each linear assignment is one scipy call). Returns the node
    permutation ``[P * N]`` of ``batch_b`` (global ids) for :func:`netgraph.permute`.

    >>> import torch, netgraph
    >>> from netgraph.architectures import mlp
    >>> zoo = netgraph.from_state_dicts(mlp([3, 8, 2]), [mlp([3, 8, 2]).state_dict() for _ in range(4)])
    >>> shuffled = netgraph.permute(zoo, netgraph.random_permutation(zoo))
    >>> back = netgraph.permute(shuffled, align_batch(zoo, shuffled))
    >>> torch.equal(back.edge_attr, zoo.edge_attr)
    True
    """
    specs_a, specs_b = graph_specs(batch_a), graph_specs(batch_b)
    spec = specs_b[0]
    if (
        len(specs_a) != len(specs_b)
        or any(s is not spec for s in specs_b)
        or any(s.keys != spec.keys or s.num_nodes != spec.num_nodes for s in {id(s): s for s in specs_a}.values())
    ):
        raise ValueError(
            f"align_batch needs two batches of the same number of graphs of one architecture; got "
            f"{len(specs_a)} and {len(specs_b)} graphs"
        )
    pairs, device = len(specs_b), batch_b.x.device
    features = WeightFeatures(
        spec,
        batch_a.x.to(device).view(pairs, spec.num_nodes, -1),
        batch_a.edge_attr.to(device).view(pairs, spec.num_edges, -1),
        batch_b.x.view(pairs, spec.num_nodes, -1),
        batch_b.edge_attr.view(pairs, spec.num_edges, -1),
    )
    unit_maps = coordinate_descent(
        spec,
        features,
        pairs,
        max_iter=max_iter,
        generator=torch.Generator().manual_seed(seed),
        device=device,
        progress=progress,
    )
    starts = torch.arange(pairs, device=device).unsqueeze(1) * spec.num_nodes
    return (_node_map(spec, unit_maps) + starts).reshape(-1)


def rebasin(
    model_a: nn.Module, model_b: nn.Module, method: str = "weights", data: Any = None, **kwargs: Any
) -> nn.Module:
    """A copy of ``model_b`` permuted into ``model_a``'s basin: same function as B, weights aligned to A.

    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.merge import rebasin
    >>> a, b = mlp([3, 8, 2]), mlp([3, 8, 2])
    >>> x = torch.randn(4, 3)
    >>> torch.allclose(rebasin(a, b)(x), b(x), atol=1e-6)
    True
    """
    from ..symmetry import permute

    example_inputs = kwargs.get("example_inputs")
    graph_b = from_module(model_b, example_inputs)
    perm = align(model_a, model_b, method, data, **kwargs)
    return to_module(permute(graph_b, perm), model_b)


# ---------------------------------------------------------------------------------------- helpers
def _graph(model: nn.Module | Data, example_inputs: Any, name: str) -> Data:
    if isinstance(model, nn.Module):
        return from_module(model, example_inputs)
    if isinstance(model, Data):
        if len(graph_specs(model)) != 1:
            raise ValueError(
                f"{name} is a batch of {len(graph_specs(model))} graphs; align takes one network "
                "each (index the batch, e.g. batch[0])"
            )
        return model
    raise TypeError(f"{name} must be an nn.Module or a ParamGraph, got {type(model).__name__}")


def _common_spec(graph_a: Data, graph_b: Data) -> GraphSpec:
    spec_a, spec_b = graph_specs(graph_a)[0], graph_specs(graph_b)[0]
    if spec_a is spec_b:
        return spec_a
    same = (
        spec_a.keys == spec_b.keys
        and spec_a.shapes == spec_b.shapes
        and spec_a.num_nodes == spec_b.num_nodes
        and torch.equal(spec_a.edge_index, spec_b.edge_index)
    )
    if not same:
        raise ValueError(f"model_a and model_b must share one architecture to be aligned; got {spec_a} and {spec_b}")
    return spec_b


def _stacked(graph: Data, spec: GraphSpec, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [1, N, F]`` and ``edge_attr [1, E, K]`` on ``device``."""
    return graph.x.to(device).unsqueeze(0), graph.edge_attr.to(device).unsqueeze(0)


def _no_options(options: dict, method: str) -> None:
    if options:
        raise TypeError(
            f"unexpected options {sorted(options)} for method={method!r}; only method='sinkhorn' takes extra options"
        )
