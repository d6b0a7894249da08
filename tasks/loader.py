"""``GraphLoader``: mini-batches of a :class:`~netgraph.datasets.ZooDataset` as PyG ``Batch`` es.

Batches are built on the dataset's device from its stacked tensors
(``ZooDataset.to_batch``: broadcast, no per-graph collation for one architecture). Shuffling is a
permutation drawn from ``(seed, epoch)``, so an epoch's order does not depend on what ran before
(resuming mid-run gives the same batches).

* ``transform``: called on every collated batch (weight-space augmentations of
  :mod:`netgraph.augment` act on whole batches on the device). A dataset built with its own
  per-item ``transform=`` is honoured too (PyG semantics): its batches are then collated item by
  item with ``Batch.from_data_list``, which is slower.
* ``dense=True``: for the dense metanets, which read one weight layout. Zoos whose architectures
  differ only in their activation (ReLU / tanh variants of one CNN) are served with one shared
  spec (the first architecture's), i.e. as weights only, as in the published CIFAR10-GS
  benchmark where every model sees weights but not the activation; graph metanets get the real
  specs, so they also see each network's activation as a node feature.
* Distributed: when ``torch.distributed`` is initialised, every global batch of ``batch_size``
  networks is split into equal contiguous slices, one per rank, so ``world_size`` processes with
  DistributedDataParallel take exactly the steps one process would (``batch_size`` is global).
  Training loaders (``even_shards=True``) repeat the first networks of the epoch to make the epoch
  a multiple of the world size, as ``DistributedSampler`` does; evaluation loaders
  (``even_shards=False``) give every network to exactly one rank.

Example:
    >>> import tempfile
    >>> from netgraph.datasets import ZooDataset, build_zoo, zoo_config
    >>> root = build_zoo(zoo_config("iris_mlp", num_nets=10, epochs=1, checkpoints=[1], num_threads=1,
    ...                             root=tempfile.mkdtemp()), progress=False)
    >>> loader = GraphLoader(ZooDataset(root, split="train"), batch_size=3, shuffle=True, seed=0)
    >>> [batch.num_graphs for batch in loader], next(iter(loader)).y.shape
    ([3, 3, 2], torch.Size([3]))
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch_geometric.data import Batch

from netgraph.datasets import ZooDataset
from netgraph.graph import make_batch
from netgraph.metanets import layer_shapes_of
from netgraph.spec import GraphSpec

__all__ = ["GraphLoader", "dense_layout_spec", "distributed_rank"]


def distributed_rank() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` without ``torch.distributed``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def dense_layout_spec(dataset: ZooDataset) -> GraphSpec:
    """The one spec under which every network of ``dataset`` can be read as dense weights.

    Raises ``ValueError`` (naming what differs) when the zoo's architectures do not share their
    weight layout, e.g. MLPs of different widths.
    """
    specs = dataset.specs
    first = specs[0]
    for other in specs[1:]:
        same = (
            other.num_nodes == first.num_nodes
            and other.num_edges == first.num_edges
            and other.kernel_shape == first.kernel_shape
            and other.shapes == first.shapes
            and torch.equal(other.edge_index, first.edge_index)
            and layer_shapes_of(other) == layer_shapes_of(first)
        )
        if not same:
            raise ValueError(
                f"the dense metanets read one weight layout, but this zoo's architectures differ "
                f"({first!r} vs {other!r}); train a graph metanet ('gmn', 'ngt') or select one "
                "architecture"
            )
    return first


class GraphLoader:
    """Batches of ``dataset`` (see the module docstring).

    Args:
        dataset: a :class:`~netgraph.datasets.ZooDataset` (or a subset ``dataset[index]``).
        batch_size: networks per (global) batch.
        shuffle: a new order every epoch (:meth:`set_epoch`), drawn from ``(seed, epoch)``.
        seed: seed of the shuffling.
        transform: ``Batch -> Batch`` applied to every batch (e.g. augmentations).
        dense: serve every architecture of the zoo under one spec (see :func:`dense_layout_spec`).
        drop_last: drop the last global batch when it is smaller than ``batch_size``.
        even_shards: under ``torch.distributed``, pad the epoch so every rank gets as many networks.
    """

    def __init__(
        self,
        dataset: ZooDataset,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        transform: Callable[[Batch], Batch] | None = None,
        dense: bool = False,
        drop_last: bool = False,
        even_shards: bool = True,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError("GraphLoader got an empty dataset; check the split fractions and the zoo size")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.transform, self.drop_last, self.even_shards = transform, drop_last, even_shards
        self.epoch = 0
        self.arch = dataset.zoo.net_arch[dataset.net_ids.cpu()]  # [len] architecture of each item
        self.shared_spec = dense_layout_spec(dataset) if dense and len(self.arch.unique()) > 1 else None

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` for the next iteration (a no-op without shuffling)."""
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch))

    def _batches(self) -> list[torch.Tensor]:
        """Item indices of this rank's batches for the current epoch."""
        rank, world = distributed_rank()
        order = self._order()
        if world > 1 and self.batch_size % world:
            raise ValueError(
                f"batch_size={self.batch_size} is the global batch and must be divisible by the world size {world}"
            )
        if world > 1 and self.even_shards and len(order) % world:
            order = torch.cat([order, order[: world - len(order) % world]])
        chunks = list(order.split(self.batch_size))
        if self.drop_last and len(chunks) > 1 and len(chunks[-1]) < self.batch_size:
            chunks = chunks[:-1]
        if world == 1:
            return chunks
        return [part for chunk in chunks if len(part := chunk.tensor_split(world)[rank])]

    def __len__(self) -> int:
        return len(self._batches())

    def __iter__(self) -> Iterator[Batch]:
        for index in self._batches():
            yield self.batch(index, self.transform)

    def batch(self, index: torch.Tensor, transform: Callable[[Batch], Batch] | None = None) -> Batch:
        """The items ``index`` as one ``Batch`` (with ``y``, ``net_id``, ``checkpoint``), ``transform``
        applied (the loader's own is not, unless passed); the dataset's per-item one is. Under
        ``dense=True`` with several architectures, ``transform`` sees each architecture's part with
        its real spec (activations decide which symmetries apply) before the parts are merged."""
        if self.dataset.transform is not None:
            if self.shared_spec is not None:
                raise ValueError(
                    "dense=True serves several architectures under one spec and cannot apply the "
                    "dataset's per-item transform; pass the transform to GraphLoader(transform=...)"
                )
            batch = Batch.from_data_list([self.dataset[int(i)] for i in index])
            return transform(batch) if transform is not None else batch
        if self.shared_spec is None:
            batch = self.dataset[index].to_batch()
            return transform(batch) if transform is not None else batch
        parts = [self.dataset[index[self.arch[index] == a]].to_batch() for a in self.arch[index].unique().tolist()]
        if transform is not None:
            parts = [transform(part) for part in parts]
        spec = self.shared_spec
        b = sum(p.num_graphs for p in parts)
        batch = make_batch(
            spec,
            torch.cat([p.x for p in parts]).view(b, spec.num_nodes, -1),
            None,
            torch.cat([p.aux for p in parts]).view(b, -1),
            edge_values=torch.cat([p.edge_values for p in parts]).view(b, -1),
        )
        for key in ("y", "net_id", "checkpoint"):
            batch[key] = torch.cat([p[key] for p in parts])
        return batch
