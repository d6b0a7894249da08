"""Errors raised by netgraph."""

from __future__ import annotations

__all__ = ["UnsupportedModuleError"]


class UnsupportedModuleError(ValueError):
    """A module, operation or parameter that netgraph cannot turn into a parameter graph.

    The message names the module path and type (or the operation) and says what to do.
    Conversion never returns a silently wrong graph: anything it does not understand raises this.

    Example:
        >>> import torch.nn as nn, netgraph
        >>> try:
        ...     netgraph.from_module(nn.LSTM(4, 8))
        ... except netgraph.UnsupportedModuleError as err:
        ...     print("unsupported:", type(err).__name__)
        unsupported: UnsupportedModuleError
    """
