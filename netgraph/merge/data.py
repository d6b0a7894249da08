"""The data arguments of merging: one batch or an iterable of batches, inputs with or without targets.

``inputs`` follow the ``example_inputs`` convention (a tensor, a tuple of positional inputs, a dict
of keyword inputs). ``data`` for evaluation is ``(inputs, targets)`` or an iterable of such batches
(a ``DataLoader``).

Example:
    >>> import torch
    >>> from netgraph.merge.data import labelled_batches
    >>> [tuple(x.shape) for x, y in labelled_batches((torch.zeros(4, 3), torch.zeros(4)))]
    [(4, 3)]
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

__all__ = ["labelled_batches", "input_batches"]


def labelled_batches(data: Any) -> Iterator[tuple[Any, torch.Tensor]]:
    """``(inputs, targets)`` pairs from one pair or an iterable of pairs."""
    if _is_pair(data):
        yield data[0], data[1]
        return
    try:
        iterator = iter(data)
    except TypeError:
        raise TypeError(
            f"data must be (inputs, targets) or an iterable of such batches, got {type(data).__name__}"
        ) from None
    for i, batch in enumerate(iterator):
        if not _is_pair(batch):
            raise TypeError(f"batch {i} of data is a {type(batch).__name__}; expected (inputs, targets)")
        yield batch[0], batch[1]


def input_batches(data: Any) -> Iterator[Any]:
    """Inputs only: a tensor / dict is one batch, ``(inputs, targets)`` gives its inputs, an iterable
    (other than a tuple) gives one batch per item."""
    if isinstance(data, (torch.Tensor, dict)):
        yield data
    elif _is_pair(data):
        yield data[0]
    elif isinstance(data, tuple):
        yield data
    else:
        for batch in data:
            yield batch[0] if _is_pair(batch) else batch


def _is_pair(obj: Any) -> bool:
    return (
        isinstance(obj, (tuple, list))
        and len(obj) == 2
        and isinstance(obj[1], torch.Tensor)
        and not isinstance(obj[0], (int, float))
    )
