"""One registry shape for every kind of named thing: ``register / create / get / names``.

Each subsystem keeps one :class:`Registry` instance and exposes the timm-style trio
``register_x`` / ``create_x`` / ``list_x`` over it (architectures, metanets, tasks, augmentations,
pruning families). Names read from files (``zoo.json``, generator configs) are resolved here and
never with ``getattr`` on a module.

Example:
    >>> from netgraph.registry import Registry
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... def square(side: int = 1) -> int:
    ...     return side * side
    >>> shapes.create("square", side=3), shapes.names()
    (9, ['square'])
    >>> shapes.get("circle")
    Traceback (most recent call last):
    ...
    KeyError: "no shape named 'circle'; expected one of ['square']"
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T", bound=Callable[..., Any])


class Registry(Generic[T]):
    """Named factories (classes or functions) of one kind, e.g. ``Registry("architecture")``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator adding a factory under ``name`` (default: its ``__name__``); re-registering the
        same object is a no-op, another object under a taken name is refused."""

        def add(factory: T) -> T:
            key = name or factory.__name__
            if key in self._entries and self._entries[key] is not factory:
                raise ValueError(
                    f"a {self.kind} named {key!r} is already registered "
                    f"({getattr(self._entries[key], '__name__', self._entries[key])!r}); pick another name"
                )
            self._entries[key] = factory
            return factory

        return add

    def get(self, name: str) -> T:
        """The factory registered as ``name``; ``KeyError`` listing the known names otherwise."""
        if name not in self._entries:
            raise KeyError(f"no {self.kind} named {name!r}; expected one of {self.names()}")
        return self._entries[name]

    def create(self, name: str, /, **kwargs: Any) -> Any:
        """``get(name)(**kwargs)``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
