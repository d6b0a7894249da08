"""Metanet predictions on held-out networks: ``plot_predictions`` (regression) and ``plot_confusion`` (classes)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import kendalltau

from ._figure import figure_axes

__all__ = ["plot_confusion", "plot_predictions"]


def plot_predictions(
    prediction: torch.Tensor,
    target: torch.Tensor,
    ax: Axes | Sequence[Axes] | None = None,
    names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Predicted vs true values (one point per network), the diagonal, Kendall's tau and R^2 in the title.

    Args:
        prediction, target: ``[n]`` or ``[n, k]`` (``k`` targets: one panel each).
        ax: one Axes per target (``None``: a new figure).
        names: the targets' names (default ``target 0`` ...).

    Returns:
        The ``Figure`` (per panel: one scatter of ``n`` points and the diagonal line).

    Example:
        >>> import torch
        >>> fig = plot_predictions(torch.tensor([0.1, 0.5, 0.4, 0.9]), torch.tensor([0.2, 0.4, 0.5, 0.8]))
        >>> fig.axes[0].collections[0].get_offsets().shape, fig.axes[0].get_title()[:9]
        ((4, 2), 'τ = 0.667')
    """
    prediction = torch.as_tensor(prediction).detach().cpu().double()
    target = torch.as_tensor(target).detach().cpu().double()
    prediction = prediction.reshape(len(prediction), -1)
    target = target.reshape(len(target), -1)
    if prediction.shape != target.shape or len(prediction) == 0:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have one shape "
            "[n] or [n, k] with n > 0"
        )
    k = prediction.shape[1]
    names = list(names) if names is not None else ([""] if k == 1 else [f"target {i}" for i in range(k)])
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} targets")
    fig, axes = figure_axes(ax, k, (3.8 * min(k, 3), 3.6 * ((k + 2) // 3)), "plot_predictions", ncols=min(k, 3))
    for i, a in enumerate(axes):  # a loop over targets
        p, t = prediction[:, i], target[:, i]
        a.scatter(t.numpy(), p.numpy(), s=12, alpha=0.7, edgecolors="none")
        low, high = float(torch.minimum(p.min(), t.min())), float(torch.maximum(p.max(), t.max()))
        pad = 0.03 * (high - low or 1.0)
        a.plot([low - pad, high + pad], [low - pad, high + pad], color="black", linewidth=0.8, linestyle="--")
        tau = kendalltau(t.numpy(), p.numpy()).statistic if len(t) > 1 else float("nan")
        r2 = 1 - float((p - t).pow(2).sum() / (t - t.mean()).pow(2).sum().clamp_min(1e-12))
        a.set_title(f"τ = {tau:.3f}, R² = {r2:.3f}, n = {len(t)}" + (f"\n{names[i]}" if names[i] else ""), fontsize=9)
        a.set_xlabel(f"true {names[i]}".strip())
        a.set_ylabel(f"predicted {names[i]}".strip())
        a.set_aspect("equal", adjustable="datalim")
        a.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_confusion(
    prediction: torch.Tensor,
    target: torch.Tensor,
    classes: Sequence | None = None,
    ax: Axes | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Figure:
    """A confusion matrix: rows are true classes, columns predicted ones.

    Args:
        prediction: logits ``[n, classes]`` or class indices ``[n]``.
        target: class indices ``[n]``.
        classes: the class names (default ``0 .. C-1``).
        normalize: show each row as shares of the true class (counts are written in the cells).

    Returns:
        The ``Figure`` (one image of ``[C, C]``).

    Example:
        >>> import torch
        >>> fig = plot_confusion(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
        >>> fig.axes[0].images[0].get_array().shape
        (3, 3)
    """
    prediction = torch.as_tensor(prediction).detach().cpu()
    target = torch.as_tensor(target).detach().cpu().long().reshape(-1)
    if prediction.dim() == 2:
        prediction = prediction.argmax(1)
    prediction = prediction.long().reshape(-1)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction has {prediction.numel()} labels, target {target.numel()}; give one per network")
    num = len(classes) if classes is not None else int(max(prediction.max(), target.max())) + 1
    counts = torch.bincount(target * num + prediction, minlength=num * num).reshape(num, num)
    shown = counts / counts.sum(1, keepdim=True).clamp_min(1) if normalize else counts.double()
    fig, (a,) = figure_axes(ax, 1, (1.2 + 0.45 * num, 1.0 + 0.45 * num), "plot_confusion")
    image = a.imshow(shown.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    if num <= 15:
        rows, cols = torch.nonzero(counts, as_tuple=True)
        for r, c in zip(rows.tolist(), cols.tolist()):  # a loop over the non-empty cells
            a.text(
                c,
                r,
                str(int(counts[r, c])),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[r, c] > 0.6 * float(shown.max()) else "black",
            )
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(num)]
    a.set_xticks(range(num), names, fontsize=7, rotation=90 if max(map(len, names)) > 3 else 0)
    a.set_yticks(range(num), names, fontsize=7)
    a.set_xlabel("predicted class")
    a.set_ylabel("true class")
    accuracy = float(counts.diag().sum() / counts.sum().clamp_min(1))
    a.set_title(
        title if title is not None else f"accuracy {100 * accuracy:.1f} % (n = {int(counts.sum())})", fontsize=9
    )
    fig.colorbar(image, ax=a, shrink=0.8, label="share of the true class" if normalize else "networks")
    return fig
