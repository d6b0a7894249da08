"""The surface every metanet shares: invariant ``forward``, per-parameter outputs and residual edits.

* ``model(batch) -> [num_graphs, out_features]``: invariant under the symmetries of the input networks.
* ``model.parameter_outputs(batch) -> (node_out [N, F], edge_out [E, K])``: one value per slot of
  ``x`` / ``edge_attr``, equivariant (models built with ``edit=True``).
* ``model.edit(batch) -> Batch``: the same graphs with ``w + scale * delta`` on parameter slots
  (``scale`` learnable, initialised small); ``netgraph.to_state_dicts(edited, stacked=True)`` gives
  the edited weights, differentiably.

``batch`` is a PyG ``Batch`` of ``ParamGraph`` objects; a single ``ParamGraph`` is a batch of one.

``model.save_pretrained(folder)`` writes netgraph's one model-folder format (:func:`netgraph.hub.save`:
``config.json`` with a ``"netgraph"`` entry, ``model.safetensors``, a model card, ``checksums.json``),
which ``from_pretrained``, :func:`netgraph.hub.load_metanet` and the trainer's checkpoints all read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch_geometric.data import Data

from .edit import EditScale, apply_edit

__all__ = ["Metanet"]


class Metanet(nn.Module):
    """Base class: subclasses implement ``forward`` and, when they can edit, ``_parameter_outputs``.

    ``out_features`` (``> 0``) builds the invariant head, ``edit=True`` the equivariant one with an
    :class:`EditScale` initialised at ``edit_scale``.
    """

    def __init__(self, out_features: int, edit: bool, edit_scale: float):
        super().__init__()
        if out_features < 0:
            raise ValueError(f"out_features must be >= 0 (0: no invariant head), got {out_features}")
        if not out_features and not edit:
            raise ValueError(
                "a metanet needs an invariant head (out_features > 0) or an edit head (edit=True); "
                "got out_features=0 and edit=False"
            )
        self.out_features = out_features
        self.can_edit = edit
        self.edit_scale = EditScale(edit_scale) if edit else None

    def _require(self, head: str) -> None:
        name = type(self).__name__
        if head == "invariant" and not self.out_features:
            raise RuntimeError(
                f"this {name} was built with out_features=0 (no invariant head); build it with "
                "out_features > 0 to call it on a batch"
            )
        if head == "edit" and not self.can_edit:
            raise RuntimeError(
                f"this {name} was built with edit=False (no equivariant head); build it with "
                "edit=True to call parameter_outputs / edit"
            )

    def save_pretrained(
        self, save_directory: str | Path, *, repo_id: str | None = None, push_to_hub: bool = False, **push_kwargs: Any
    ) -> str | None:
        """Write this metanet with :func:`netgraph.hub.save` (the folder ``load_metanet`` reads); with
        ``push_to_hub=True`` also upload it to ``repo_id`` (default: the folder name) and return the commit URL.

        Example:
            >>> import tempfile, pathlib
            >>> from netgraph.metanets import create_metanet
            >>> folder = pathlib.Path(tempfile.mkdtemp()) / "gmn"
            >>> create_metanet("gmn", dim=8, depth=1, edge_features=9, out_features=1).save_pretrained(folder)
            >>> sorted(p.name for p in folder.iterdir())
            ['README.md', 'checksums.json', 'config.json', 'model.safetensors']
        """
        from netgraph.hub import save

        folder = save(self, save_directory, repo_id=repo_id)
        return self.push_to_hub(repo_id or folder.name, **push_kwargs) if push_to_hub else None

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload this metanet with :func:`netgraph.hub.push` (``token``, ``private``, ``commit_message``,
        ``revision``, ``results``): the folder :meth:`save_pretrained` writes, in one commit."""
        from netgraph.hub import push

        return push(self, repo_id, **kwargs)

    def parameter_outputs(self, batch: Data) -> tuple[torch.Tensor, torch.Tensor]:
        """Equivariant per-slot outputs ``(node_out [N, F], edge_out [E, K])`` (shapes of ``x``, ``edge_attr``)."""
        self._require("edit")
        return self._parameter_outputs(batch)

    def _parameter_outputs(self, batch: Data) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no equivariant head")

    def edit(self, batch: Data) -> Data:
        """The graphs of ``batch`` with ``w + scale * delta`` on every parameter slot (see module docstring)."""
        node_delta, edge_delta = self.parameter_outputs(batch)
        return apply_edit(batch, node_delta, edge_delta, self.edit_scale())
