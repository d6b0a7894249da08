"""``ZooDataset``: a zoo as a PyTorch Geometric dataset of parameter graphs with targets.

Each item is one net at one checkpoint: a :class:`netgraph.ParamGraph` with

* ``y``: the target - a per-checkpoint metric (``test_acc``, ``psnr`` ...), a recorded value
  (``class``, ``amplitude``, ``learning_rate`` ...) or a list of them; categorical values
  (``class``, ``activation``, ``optimizer`` ...) become class indices (``dataset.classes[name]``),
* ``net_id`` and ``checkpoint`` (``[1]`` each), so predictions can be grouped per net.

Splits are drawn per *net* (a seeded permutation of net ids, or the split stored with a published
zoo), so all checkpoints of a net fall in the same split. ``splits="small_cnn_zoo"`` is the split of
the NFN / Neural Graphs / ScaleGMN code for the Small CNN Zoo (load it with ``steps=[86]``): nets in
their shuffled order (NFN's index file given to :func:`~netgraph.datasets.load_small_cnn_zoo` as
``order``, else a permutation drawn with ``split_seed``), the second half is ``test``, the first half
is shuffled by Python's ``random.Random(split_seed)`` and cut 80 / 20 into ``train`` / ``val``
(``split_seed=0`` is their seed). Graphs are built once for the whole
split with :func:`netgraph.from_state_dicts` (one call per architecture), not net by net; nets
whose weights are not finite (diverged training) are left out unless ``include_diverged``.

Example:
    >>> import tempfile
    >>> from netgraph.datasets import build_zoo, zoo_config
    >>> cfg = zoo_config("iris_mlp", num_nets=10, epochs=2, checkpoints=[0, 2], num_threads=1, root=tempfile.mkdtemp())
    >>> root = build_zoo(cfg, progress=False)
    >>> train = ZooDataset(root, split="train", target="test_acc", checkpoints="all")
    >>> len(train), train[0].y.dtype, train.weight_space().weights[0].shape     # 8 nets x 2 checkpoints
    (16, torch.float32, torch.Size([16, 16, 4]))
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch_geometric.data import Batch, Dataset

import netgraph
from netgraph.graph import ParamGraph, make_batch, make_graph
from netgraph.spec import GraphSpec

from .storage import Zoo, build_architecture, load_zoo

__all__ = ["ZooDataset", "SPLIT_NAMES", "NAMED_SPLITS", "small_cnn_zoo_split"]

SPLIT_NAMES = ("train", "val", "test")
NAMED_SPLITS = ("small_cnn_zoo",)


def small_cnn_zoo_split(zoo: Zoo, seed: int = 0) -> dict[str, list[int]]:
    """Net ids of ``train`` / ``val`` / ``test`` in the Small CNN Zoo protocol of NFN / Neural Graphs /
    ScaleGMN (module docstring): test = second half of the shuffled nets, train / val = the first half
    shuffled by ``random.Random(seed)`` and cut at ``int(0.8 * n)``.

    >>> from types import SimpleNamespace
    >>> zoo = SimpleNamespace(rows=[{"shuffled_position": p} for p in (3, 0, 2, 1, 5, 4)])
    >>> small_cnn_zoo_split(zoo)["test"]
    [0, 5, 4]
    """
    positions = [row.get("shuffled_position") for row in zoo.rows]
    if any(p is None for p in positions):
        drawn = torch.randperm(len(positions), generator=torch.Generator().manual_seed(seed)).tolist()
        positions = [drawn.index(i) for i in range(len(positions))]
    order = sorted(range(len(positions)), key=positions.__getitem__)  # nets in their shuffled order
    half = int(0.5 * len(order))
    trainval = list(range(half))
    random.Random(seed).shuffle(trainval)
    cut = int(0.8 * len(trainval))
    return {
        "train": [order[i] for i in trainval[:cut]],
        "val": [order[i] for i in trainval[cut:]],
        "test": order[half:],
    }


class ZooDataset(Dataset):
    """Parameter graphs of a zoo's nets with targets (see the module docstring).

    Args:
        root: a zoo folder (:func:`~netgraph.datasets.build_zoo`, :func:`~netgraph.datasets.merge_zoos`,
            :func:`netgraph.hub.load_zoo`) or a :class:`~netgraph.datasets.Zoo` (published loaders).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        target: a name or a list of names (metrics or metadata columns); ``None``: the zoo's
            ``default_target`` (``test_acc`` for classifier zoos, ``class`` for image INRs,
            ``[amplitude, frequency]`` for sine INRs).
        checkpoints: ``"last"``, ``"all"`` or a list of epochs / steps among ``zoo.checkpoints``.
        transform: a PyG-style transform applied to each item on access.
        splits: fractions of nets in train / val / test; ``None`` uses the split stored with the
            zoo when it has one (published zoos), else ``(0.8, 0.1, 0.1)``; ``"small_cnn_zoo"``: the
            published protocol's split (module docstring).
        split_seed: seed of the permutation of net ids.
        include_diverged: keep nets whose weights contain NaN / inf.
        kernel_shape: minimum edge-feature kernel shape (to batch with other architectures).
        device: where the graphs and targets live.
        verify: check the zoo folder on load (:func:`~netgraph.datasets.load_zoo`: checksums and
            provenance); ``False`` reads a zoo made before netgraph recorded them.
    """

    def __init__(
        self,
        root: str | Path | Zoo,
        split: str = "train",
        target: str | Sequence[str] | None = None,
        checkpoints: str | Sequence[int] = "last",
        transform: Callable | None = None,
        splits: Sequence[float] | str | None = None,
        split_seed: int = 0,
        include_diverged: bool = False,
        kernel_shape: tuple[int, ...] = (),
        device: torch.device | str = "cpu",
        verify: bool = True,
    ):
        self.zoo = root if isinstance(root, Zoo) else load_zoo(root, verify=verify)
        if split not in SPLIT_NAMES + ("all",):
            raise ValueError(f"split={split!r}; expected one of {list(SPLIT_NAMES) + ['all']}")
        self.split = split
        target = target if target is not None else self.zoo.info.get("default_target", "test_acc")
        self.targets = [target] if isinstance(target, str) else list(target)
        self.classes: dict[str, list] = {}
        super().__init__(None, transform)
        nets = self._split_nets(split, splits, split_seed)
        columns = self._columns(checkpoints)
        self._build(nets, columns, include_diverged, kernel_shape)
        self._tensors = [tuple(t.to(device) for t in group) for group in self._tensors]
        self.y, self.net_ids, self.checkpoint_of = (t.to(device) for t in (self.y, self.net_ids, self.checkpoint_of))

    # ----------------------------------------------------------------- PyG Dataset API
    def len(self) -> int:
        return len(self.net_ids)

    def get(self, idx: int) -> ParamGraph:
        arch, row = int(self._arch[idx]), int(self._row[idx])
        x, values, aux = self._tensors[arch]
        graph = make_graph(self.specs[arch], x[row], None, aux[row], edge_values=values[row])
        graph.y = self.y[idx : idx + 1]
        graph.net_id = self.net_ids[idx : idx + 1]
        graph.checkpoint = self.checkpoint_of[idx : idx + 1]
        return graph

    # ----------------------------------------------------------------- whole-split views
    @property
    def spec(self) -> GraphSpec:
        """The :class:`netgraph.GraphSpec` of the nets (one architecture; see ``specs`` otherwise)."""
        used = sorted(set(self._arch.tolist()))
        if len(used) != 1:
            raise ValueError(
                f"this split holds {len(used)} architectures; use dataset.specs[arch] or ZooDataset(..., "
                "kernel_shape=...) with a PyG DataLoader"
            )
        return self.specs[used[0]]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The metadata row of the net of every item (``[len(self)]``)."""
        return [self.zoo.rows[i] for i in self.net_ids.tolist()]

    def to_batch(self) -> Batch:
        """All items of the dataset (or of ``dataset[index]``) as one PyG ``Batch``, transforms not applied.

        One architecture: built by broadcasting (no per-graph collation); ``batch.y [len]``.
        """
        positions = torch.as_tensor(list(self.indices()), dtype=torch.long)
        archs = self._arch[positions]
        if not archs.numel() or bool((archs != archs[0]).any()):
            return Batch.from_data_list([self.get(int(i)) for i in positions])
        arch, rows = int(archs[0]), self._row[positions]
        x, values, aux = self._tensors[arch]
        batch = make_batch(self.specs[arch], x[rows], None, aux[rows], edge_values=values[rows])
        batch.y, batch.net_id, batch.checkpoint = (t[positions] for t in (self.y, self.net_ids, self.checkpoint_of))
        return batch

    def state_dicts(self) -> dict[str, torch.Tensor]:
        """Stacked state dicts ``{name: [len, *shape]}`` of the items, ready for ``vmap(functional_call)``.

        Nets of architectures with the same parameter shapes (e.g. ReLU and tanh variants) stack together.
        """
        positions = torch.as_tensor(list(self.indices()), dtype=torch.long)
        archs = self._arch[positions]
        groups = archs.unique().tolist()
        shapes = {a: {k: tuple(v.shape[2:]) for k, v in self.zoo.weights[a].items()} for a in groups}
        if any(s != shapes[groups[0]] for s in shapes.values()):
            raise ValueError(
                f"the architectures of this split have different parameters {shapes}; stacked state dicts "
                "need one layout: select one architecture"
            )
        first = self.zoo.weights[groups[0]] if groups else {}
        out = {k: torch.empty(len(positions), *v.shape[2:], dtype=v.dtype) for k, v in first.items()}
        for arch in groups:
            mask = archs == arch
            rows, cols = self.zoo.net_row[self.net_ids[positions[mask]].cpu()], self._col[positions[mask]]
            for k, v in self.zoo.weights[arch].items():
                out[k][mask] = v[rows, cols]
        return out

    def weight_space(self) -> netgraph.WeightSpace:
        """The dense DWSNet / NFN view (``weights[i] [len, n_out, n_in, *k]``, ``biases[i] [len, n_out]``).

        Nets of architectures with the same weight shapes (e.g. ReLU and tanh variants of one
        CNN) share the view, in item order; ``.to_graph()`` gives the batch back.
        """
        positions = torch.as_tensor(list(self.indices()), dtype=torch.long)
        archs = self._arch[positions]
        groups = archs.unique().tolist()
        if len(groups) <= 1:
            return netgraph.weight_space(self.to_batch())
        views = {}
        for arch in groups:
            x, values, aux = self._tensors[arch]
            rows = self._row[positions[archs == arch]]
            views[arch] = netgraph.weight_space(
                make_batch(self.specs[arch], x[rows], None, aux[rows], edge_values=values[rows])
            )
        first = views[groups[0]]
        shapes = {a: [tuple(w.shape[1:]) for w in v.weights] for a, v in views.items()}
        if any(s != shapes[groups[0]] for s in shapes.values()):
            raise ValueError(
                f"the architectures of this split have different weight shapes {shapes}; a dense view "
                "needs one layout: select one architecture, or use the graphs (to_batch)"
            )
        weights = [torch.empty(len(positions), *w.shape[1:], dtype=w.dtype, device=w.device) for w in first.weights]
        biases = [torch.empty(len(positions), *b.shape[1:], dtype=b.dtype, device=b.device) for b in first.biases]
        for arch, view in views.items():
            mask = archs == arch
            for out, w in zip(weights + biases, view.weights + view.biases):
                out[mask] = w
        return netgraph.WeightSpace(weights, biases, first.names, first.spec, self.to_batch())

    # ----------------------------------------------------------------- construction
    def _split_nets(self, split: str, splits: Sequence[float] | str | None, seed: int) -> torch.Tensor:
        num = len(self.zoo)
        if isinstance(splits, str):
            if splits not in NAMED_SPLITS:
                raise ValueError(f"splits={splits!r}; expected three fractions or one of {list(NAMED_SPLITS)}")
            if split == "all":
                return torch.arange(num)
            return torch.tensor(sorted(small_cnn_zoo_split(self.zoo, seed)[split]), dtype=torch.long)
        stored = [row.get("split") for row in self.zoo.rows]
        if splits is None and all(s in SPLIT_NAMES for s in stored):
            keep = [i for i, s in enumerate(stored) if split in ("all", s)]
            return torch.tensor(keep, dtype=torch.long)
        fractions = tuple(splits) if splits is not None else (0.8, 0.1, 0.1)
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
            raise ValueError(f"splits={fractions}: give three non-negative fractions (train, val, test) summing to 1")
        if split == "all":
            return torch.arange(num)
        order = torch.randperm(num, generator=torch.Generator().manual_seed(seed))
        bounds = [0, round(num * fractions[0]), round(num * (fractions[0] + fractions[1])), num]
        part = SPLIT_NAMES.index(split)
        return order[bounds[part] : bounds[part + 1]].sort().values

    def _columns(self, checkpoints: str | Sequence[int]) -> list[int]:
        stored = self.zoo.checkpoints
        if checkpoints == "last":
            return [len(stored) - 1]
        if checkpoints == "all":
            return list(range(len(stored)))
        if isinstance(checkpoints, str):
            raise ValueError(f"checkpoints={checkpoints!r}; expected 'last', 'all' or a list of {stored}")
        return [self.zoo.checkpoint_index(int(c)) for c in checkpoints]

    def _build(self, nets: torch.Tensor, columns: list[int], include_diverged: bool, kernel_shape: tuple) -> None:
        zoo = self.zoo
        self.specs = [netgraph.spec_of(build_architecture(ref), kernel_shape=kernel_shape) for ref in zoo.architectures]
        net_arch, net_row = zoo.net_arch, zoo.net_row
        cols = torch.tensor(columns, dtype=torch.long)
        item_net = nets.repeat_interleave(len(columns))  # [items]
        item_col = cols.repeat(len(nets))
        finite = torch.ones(len(item_net), dtype=torch.bool)
        self._tensors: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        local_row = torch.full((len(item_net),), -1, dtype=torch.long)
        for arch, weights in enumerate(zoo.weights):
            mine = (net_arch[item_net] == arch).nonzero().flatten()
            rows, cs = net_row[item_net[mine]], item_col[mine]
            stacked = {k: v[rows, cs] for k, v in weights.items()}
            if len(mine):
                ok = torch.stack([v.flatten(1).isfinite().all(1) for v in stacked.values()]).all(0)
                finite[mine] = ok
                batch = netgraph.from_state_dicts(self.specs[arch], stacked)
                spec = self.specs[arch]
                self._tensors.append(
                    (
                        batch.x.view(len(mine), spec.num_nodes, -1),
                        batch.edge_values.view(len(mine), -1),
                        batch.aux.view(len(mine), -1),
                    )
                )
            else:
                self._tensors.append((torch.empty(0), torch.empty(0), torch.empty(0)))
            local_row[mine] = torch.arange(len(mine))
        keep = finite | include_diverged
        self.net_ids = item_net[keep]
        self._col = item_col[keep]
        self.checkpoint_of = torch.tensor(zoo.checkpoints, dtype=torch.long)[self._col]
        self._arch, self._row = net_arch[self.net_ids], local_row[keep]
        self.y = self._target_values(self.net_ids, item_col[keep])

    def _target_values(self, nets: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        columns = [self._target_column(name, nets, cols) for name in self.targets]
        if len(columns) == 1:
            return columns[0]
        return torch.stack([c.float() for c in columns], dim=1)

    def _target_column(self, name: str, nets: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        zoo = self.zoo
        if name in zoo.metrics:
            return zoo.metrics[name][nets, cols].float()
        values = [zoo.rows[i].get(name) for i in nets.tolist()]
        if not values:
            return torch.empty(0)
        if any(v is None for v in values):
            known = sorted(set(zoo.metrics) | {k for r in zoo.rows for k in r})
            raise ValueError(f"target {name!r} is not recorded for every net of this zoo; available: {known}")
        categories = zoo.info.get("categories", {}).get(name)
        if name == "class" or categories is not None or any(isinstance(v, str) for v in values):
            labels = categories or sorted(set(values), key=str)
            if name == "class" and categories is None:
                labels = list(range(int(zoo.info.get("num_classes", max(values) + 1))))
            self.classes[name] = labels
            return torch.tensor([labels.index(v) for v in values], dtype=torch.long)
        return torch.tensor(values, dtype=torch.float32)
