"""Curves of model merging and pruning: ``plot_barrier`` and ``plot_pruning``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._figure import figure_axes

__all__ = ["plot_barrier", "plot_pruning"]

_METRIC_LABELS = {"loss": "test loss", "accuracy": "test accuracy"}


def plot_barrier(
    paths: Mapping[str, Any],
    ax: Axes | Sequence[Axes] | None = None,
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
) -> Figure:
    """Loss and accuracy along the interpolation path ``(1 - t) A + t P(B)``, one line per alignment method.

    Args:
        paths: ``{method: path}`` where a path is a :class:`netgraph.merge.InterpolationPath` (or a
            mapping with ``t``, ``loss``, ``accuracy`` of shape ``[steps]``), or a list of them (several
            pairs of networks: the mean is drawn with a band from the lowest to the highest value).
        ax: one Axes per metric (``None``: a new figure with a panel per metric).
        metrics: which of ``loss`` / ``accuracy`` to draw (``accuracy`` is skipped when a path has none).

    Returns:
        The ``Figure`` (one line per method and metric, plus bands for lists of paths).

    Example:
        >>> import torch
        >>> t = torch.linspace(0, 1, 5)
        >>> fig = plot_barrier({"naive": {"t": t, "loss": 1 + t * (1 - t), "accuracy": 0.9 - t * (1 - t)},
        ...                     "weights": {"t": t, "loss": torch.ones(5), "accuracy": torch.full((5,), 0.9)}})
        >>> [len(ax.lines) for ax in fig.axes]
        [2, 2]
    """
    if not paths:
        raise ValueError("plot_barrier needs at least one path: {method: InterpolationPath or list of them}")
    series = {
        name: [_as_path(p) for p in (value if isinstance(value, (list, tuple)) else [value])]
        for name, value in paths.items()
    }
    metrics = [m for m in metrics if all(p.get(m) is not None for ps in series.values() for p in ps)]
    if not metrics:
        raise ValueError("the paths hold none of the requested metrics (loss / accuracy)")
    fig, axes = figure_axes(ax, len(metrics), (4.2 * len(metrics), 3.2), "plot_barrier")
    for a, metric in zip(axes, metrics):
        for name, ps in series.items():  # a loop over methods
            t = ps[0]["t"]
            values = torch.stack([p[metric] for p in ps])  # [pairs, steps]
            scale = 100.0 if metric == "accuracy" else 1.0
            (line,) = a.plot(t.numpy(), scale * values.mean(0).numpy(), marker="o", markersize=3, label=name)
            if len(ps) > 1:
                a.fill_between(
                    t.numpy(),
                    scale * values.min(0).values.numpy(),
                    scale * values.max(0).values.numpy(),
                    color=line.get_color(),
                    alpha=0.15,
                    linewidth=0,
                )
        a.set_xlabel("interpolation t   (A at 0, aligned B at 1)")
        a.set_ylabel(_METRIC_LABELS[metric] + (" (%)" if metric == "accuracy" else ""))
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _as_path(path: Any) -> dict[str, torch.Tensor | None]:
    get = path.get if isinstance(path, Mapping) else lambda k: getattr(path, k, None)
    if get("t") is None or get("loss") is None:
        raise ValueError(
            f"a barrier path needs t and loss (an InterpolationPath or a mapping); got {type(path).__name__}"
        )
    as_tensor = lambda v: None if v is None else torch.as_tensor(v, dtype=torch.float64).detach().cpu()
    return {"t": as_tensor(get("t")), "loss": as_tensor(get("loss")), "accuracy": as_tensor(get("accuracy"))}


def plot_pruning(
    results: Sequence[Any], ax: Axes | None = None, metric: str = "test_acc", title: str | None = None
) -> Figure:
    """Accuracy vs FLOPs speed-up per pruning method, right after pruning (dashed) and fine-tuned (solid).

    Args:
        results: :class:`netgraph.tasks.pruning.PruneResult` objects, or rows as ``benchmarks/bench_prune.py``
            writes them (``method``, ``speedup``, ``test_acc`` after fine-tuning, ``pruned_test_acc``,
            ``original_test_acc``, optionally ``target``). Rows of one method and target speed-up (several
            seeds) are averaged, with a band from the lowest to the highest fine-tuned accuracy.
        ax: the Axes (``None``: a new figure).
        metric: ``test_acc`` or ``val_acc`` (PruneResult stages carry both).

    Returns:
        The ``Figure``: per method a fine-tuned and a pruned-only line, plus the original's accuracy.

    Example:
        >>> rows = [{"method": "magnitude", "speedup": s, "test_acc": 0.9, "pruned_test_acc": 0.9 - s / 10,
        ...          "original_test_acc": 0.95} for s in (1.5, 2.0, 3.0)]
        >>> len(plot_pruning(rows).axes[0].lines)
        3
    """
    rows = [_prune_row(r, metric) for r in results]
    if not rows:
        raise ValueError("plot_pruning needs at least one result (PruneResult or a bench_prune row)")
    fig, (a,) = figure_axes(ax, 1, (5.0, 3.6), "plot_pruning")
    grouped: dict[str, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row["method"]][round(float(row.get("target") or row["speedup"]), 3)].append(row)
    for method, by_target in grouped.items():  # a loop over methods
        targets = sorted(by_target)
        speedup = torch.tensor(
            [sum(r["speedup"] for r in by_target[t]) / len(by_target[t]) for t in targets], dtype=torch.float64
        )
        tuned = [[100 * r["after"] for r in by_target[t]] for t in targets]
        tuned_mean = torch.tensor([sum(v) / len(v) for v in tuned], dtype=torch.float64)
        (line,) = a.plot(speedup.numpy(), tuned_mean.numpy(), marker="o", label=f"{method}, fine-tuned")
        pruned = torch.tensor(
            [sum(100 * r["pruned"] for r in by_target[t]) / len(by_target[t]) for t in targets], dtype=torch.float64
        )
        a.plot(
            speedup.numpy(),
            pruned.numpy(),
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{method}, pruned (no fine-tuning)",
        )
        if max(len(v) for v in tuned) > 1:
            a.fill_between(
                speedup.numpy(),
                [min(v) for v in tuned],
                [max(v) for v in tuned],
                color=line.get_color(),
                alpha=0.15,
                linewidth=0,
            )
    original = [100 * r["original"] for r in rows if r.get("original") is not None]
    if original:  # the unpruned network: a star at 1x and its level across the plot
        level = sum(original) / len(original)
        a.plot(
            [1.0, max(r["speedup"] for r in rows)],
            [level, level],
            color="black",
            linestyle=":",
            linewidth=1,
            marker="*",
            markersize=9,
            markevery=[0],
            label=f"original ({level:.1f} %)",
        )
    a.set_xlabel("FLOPs speed-up (original / pruned)")
    a.set_ylabel(f"{'test' if metric == 'test_acc' else 'validation'} accuracy (%)")
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    if title:
        a.set_title(title, fontsize=10)
    return fig


def _prune_row(result: Any, metric: str) -> dict[str, Any]:
    if hasattr(result, "rows") and hasattr(result, "method"):  # a PruneResult
        stages = {r["stage"]: r for r in result.rows}
        pruned = stages.get("pruned", result.rows[-1])
        return {
            "method": result.method,
            "speedup": float(result.speedup),
            "after": float(result.rows[-1][metric]),
            "pruned": float(pruned[metric]),
            "original": float(result.rows[0][metric]),
        }
    if not isinstance(result, Mapping):
        raise TypeError(f"plot_pruning takes PruneResult objects or row mappings; got {type(result).__name__}")
    missing = [k for k in ("method", "speedup", metric, f"pruned_{metric}") if k not in result]
    if missing:
        raise ValueError(
            f"a pruning row lacks {missing} (has {sorted(result)}); rows need method, speedup, {metric}, "
            f"pruned_{metric} as benchmarks/bench_prune.py writes them"
        )
    return {
        "method": result["method"],
        "speedup": float(result["speedup"]),
        "target": result.get("target"),
        "after": float(result[metric]),
        "pruned": float(result[f"pruned_{metric}"]),
        "original": None if result.get(f"original_{metric}") is None else float(result[f"original_{metric}"]),
    }
