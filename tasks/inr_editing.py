"""INR editing: an equivariant metanet maps an INR to the INR of an edited image.

For every INR of the zoo the target is its own rendering with an image edit applied
(``dilate``: 3x3 grey-value dilation, NFN's style task; ``erode``; ``contrast``: values pushed
away from the middle of the value range by ``factor``, clipped to it). The metanet's edit head
gives one value per parameter; the edited INR is ``w + scale * std_w * delta`` (the residual edit
of :meth:`~netgraph.metanets.Metanet.edit` in standardised weight units, mapped back), rendered
on the zoo's grid as one :class:`~netgraph.population.Population`, and compared to the target.

Loss and metric: mean squared error of the rendered images (``mse``). ``mse_no_edit`` is the error
of the unedited INRs, the floor any useful edit must beat. Needs an edit-capable metanet
(``dwsnet``, ``nfn_hnp``, ``nfn_np``, ``gmn``, ``ngt``).

Default zoo: ``digits_inr`` (8x8 digit SIRENs), split 70 / 10 / 20 per net.

Example:
    >>> import torch
    >>> image = torch.zeros(1, 1, 3, 3); image[0, 0, 1, 1] = 1.0
    >>> IMAGE_EDITS["dilate"](image, 2.0, (0.0, 1.0)).sum().item()       # one pixel grows to 3x3
    9.0
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.data import Batch

import netgraph
from netgraph.datasets import Zoo, ZooDataset, build_architecture, inr_grid
from netgraph.population import Population

from .base import Task
from .metrics import mean_squared_error
from .registry import register_task

__all__ = ["INREditing", "IMAGE_EDITS", "render_inrs"]


def _dilate(images: torch.Tensor, factor: float, value_range: Sequence[float]) -> torch.Tensor:
    return F.max_pool2d(images, 3, stride=1, padding=1)


def _erode(images: torch.Tensor, factor: float, value_range: Sequence[float]) -> torch.Tensor:
    return -F.max_pool2d(-images, 3, stride=1, padding=1)


def _contrast(images: torch.Tensor, factor: float, value_range: Sequence[float]) -> torch.Tensor:
    low, high = value_range
    middle = (low + high) / 2
    return (middle + factor * (images - middle)).clamp(low, high)


#: image edits ``(images [B, C, H, W], factor, value_range) -> images``
IMAGE_EDITS: dict[str, Callable[[torch.Tensor, float, Sequence[float]], torch.Tensor]] = {
    "dilate": _dilate,
    "erode": _erode,
    "contrast": _contrast,
}


def render_inrs(module: nn.Module, weights: Mapping[str, torch.Tensor], decode: Mapping[str, Any]) -> torch.Tensor:
    """Signals ``[B, out_features, *decode["shape"]]`` of ``B`` INRs given as stacked state dicts
    ``{name: [B, *shape]}`` of the architecture ``module`` (``vmap`` over networks)."""
    first = next(iter(weights.values()))
    coords = inr_grid(decode["shape"], decode.get("indexing", "ij"), device=first.device).to(first.dtype)
    values = Population(weights, module).run(coords)  # [B, P, out]
    values = values + float(decode.get("offset", 0.0))
    return values.transpose(1, 2).reshape(values.shape[0], values.shape[2], *decode["shape"])


@register_task("inr_editing")
class INREditing(Task):
    """Edit INRs so that they render the edited image; see the module docstring.

    Args:
        edit: a key of :data:`IMAGE_EDITS`.
        factor: strength of ``contrast``.
        **kwargs: see :class:`~netgraph.tasks.Task`.
    """

    monitor = "mse"
    mode = "min"

    def __init__(self, *args: Any, edit: str = "dilate", factor: float = 2.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if edit not in IMAGE_EDITS:
            raise ValueError(f"unknown image edit {edit!r}; expected one of {sorted(IMAGE_EDITS)}")
        self.edit, self.factor = edit, float(factor)
        self.architecture: dict[str, Any] | None = None
        self.decode: dict[str, Any] | None = None
        self._module: nn.Module | None = None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "edit": self.edit, "factor": self.factor}

    def fit(self, train: ZooDataset, zoo: Zoo) -> None:
        super().fit(train, zoo)
        decode = zoo.info.get("decode")
        if len(zoo.architectures) != 1 or decode is None or len(decode.get("shape", [])) != 2:
            raise ValueError(
                f"{self.name} edits INRs of 2-D images (one architecture and a 'decode' entry with a 2-D "
                f"shape in zoo.json); zoo {zoo.info.get('name')!r} has {len(zoo.architectures)} "
                f"architectures and decode={decode}. Use an image INR zoo such as the digits_inr preset"
            )
        self.architecture, self.decode = dict(zoo.architectures[0]), dict(decode)
        self._module = None

    def head(self) -> dict[str, Any]:
        return {"out_features": 0, "edit": True}

    @property
    def module(self) -> nn.Module:
        """The INR architecture (its own weights unused: rendering reads the batch's weights)."""
        if self.architecture is None:
            self._require_fitted("module")
        if self._module is None:
            self._module = build_architecture(self.architecture).eval()
        return self._module

    def render(self, batch: Batch) -> torch.Tensor:
        """Images ``[B, C, H, W]`` of the INRs of ``batch``."""
        return render_inrs(self.module, netgraph.to_state_dicts(batch, stacked=True), self.decode)

    def targets(self, batch: Batch) -> torch.Tensor:
        """The edited images ``[B, C, H, W]`` the edited INRs should render."""
        with torch.no_grad():
            return IMAGE_EDITS[self.edit](self.render(batch), self.factor, self.decode.get("value_range", (0.0, 1.0)))

    def predict(self, model: nn.Module, batch: Batch) -> Batch:
        """The edited INRs (same graphs, edited weights in the networks' own units)."""
        if self.standardizer is None:
            return model.edit(batch)
        return self.standardizer.inverse(model.edit(self.standardizer(batch)))

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return F.mse_loss(self.render(self.predict(model, batch)), self.targets(batch))

    def outputs(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        return {
            "rendered": self.render(self.predict(model, batch)),
            "unedited": self.render(batch),
            "target": self.targets(batch),
        }

    def metrics(self, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        return {
            "mse": mean_squared_error(outputs["rendered"], outputs["target"]),
            "mse_no_edit": mean_squared_error(outputs["unedited"], outputs["target"]),
        }

    def figure(self, outputs: dict[str, torch.Tensor], count: int = 8):
        """Renderings of the first ``count`` test INRs: original, edited by the metanet, target
        (:func:`netgraph.viz.plot_inrs`)."""
        from netgraph.viz import plot_inrs

        rows = {"original": outputs["unedited"], "edited": outputs["rendered"], "target": outputs["target"]}
        return plot_inrs(
            {k: v[:count] for k, v in rows.items()},
            value_range=self.decode.get("value_range"),
            title=f"{self.edit}: original / edited by the metanet / target",
        )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "architecture": self.architecture, "decode": self.decode}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.architecture, self.decode, self._module = state["architecture"], state["decode"], None
