"""Randomness and determinism without hidden global state.

Library code draws random numbers from ``torch.Generator`` objects it is given. Where PyTorch itself
reads the global RNG (module initialisation, dropout, ``vmap(randomness="different")``), the global
RNG is seeded only inside a scope that restores it on exit, so a library call leaves no trace:

* :func:`scoped_rng`: a context manager; inside, the global RNGs (CPU and the given device) are
  seeded from an ``int`` or from a number drawn from a ``torch.Generator``;
* :func:`seeds_global_rng`: the same as a decorator, seeded from one of the function's arguments;
* :func:`deterministic`: ``torch.use_deterministic_algorithms`` inside a block, the previous setting
  restored after.

Example:
    >>> import torch
    >>> from netgraph.seeding import scoped_rng
    >>> before = torch.random.get_rng_state()
    >>> with scoped_rng(0):
    ...     a = torch.nn.Linear(2, 2).weight
    >>> with scoped_rng(0):
    ...     b = torch.nn.Linear(2, 2).weight
    >>> torch.equal(a, b), torch.equal(torch.random.get_rng_state(), before)
    (True, True)
"""

from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import torch

__all__ = ["scoped_rng", "seeds_global_rng", "deterministic"]

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def scoped_rng(seed: int | torch.Generator | None = None) -> Iterator[None]:
    """Inside the block the global RNGs are seeded from ``seed`` (an int; a ``torch.Generator`` to draw
    one from; ``None``: left as they are); on exit the CPU RNG and every CUDA RNG are restored."""
    if isinstance(seed, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=seed, device=seed.device))
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def seeds_global_rng(argument: str) -> Callable[[F], F]:
    """Decorator: the function runs inside :func:`scoped_rng` seeded from its argument ``argument``
    (a dotted path such as ``"recipe.seed"`` reads an attribute of an argument).

    >>> @seeds_global_rng("seed")
    ... def draw(seed: int) -> float:
    ...     return torch.rand(()).item()
    >>> draw(3) == draw(3)
    True
    """
    name, *attributes = argument.split(".")

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        if name not in signature.parameters:
            raise TypeError(f"{function.__qualname__} has no argument {name!r} to seed the global RNG from")

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            value = bound.arguments[name]
            for attribute in attributes:
                value = getattr(value, attribute)
            with scoped_rng(value):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


@contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Deterministic algorithms on inside the block (``enabled=False``: the current setting is kept);
    the previous setting is restored after.

    >>> with deterministic():
    ...     torch.are_deterministic_algorithms_enabled()
    True
    >>> torch.are_deterministic_algorithms_enabled()
    False
    """
    previous, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    if enabled:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)
