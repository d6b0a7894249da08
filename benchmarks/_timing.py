"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import statistics
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def median_time(
    fn: Callable[[], T],
    repeats: int,
    *,
    warmup: bool = False,
    sync: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, T]:
    """Median time in seconds of ``repeats`` calls of ``fn`` on ``clock``, and the last result.

    ``warmup``: one untimed call first; ``sync`` runs after every call (e.g. ``torch.cuda.synchronize``).
    """
    if warmup:
        fn()
        sync()
    times, out = [], None
    for _ in range(repeats):
        start = clock()
        out = fn()
        sync()
        times.append(clock() - start)
    return statistics.median(times), out
