"""What every ``netgraph-*`` command shares: netgraph's own errors as a few lines, not a traceback.

Wrap a hydra task function with :func:`friendly_errors` (under ``@hydra.main``). A
:class:`~netgraph.errors.NetgraphError` (or a ``FileNotFoundError`` / ``FileExistsError`` /
``PermissionError`` naming a path) is printed as ``error: <message>`` on stderr and the command exits
with status 1. ``HYDRA_FULL_ERROR=1`` in the environment, or ``--debug`` on the command line (removed
before hydra sees it: call :func:`strip_debug_flag` in ``main``), shows the full traceback instead.

Example:
    >>> from netgraph.errors import ConfigError
    >>> @friendly_errors
    ... def job(cfg):
    ...     raise ConfigError("demo config", ["epochs=-1: expected an integer >= 1"])
    >>> try:
    ...     job(None)
    ... except SystemExit as stop:
    ...     print(stop.code)
    1
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, TypeVar

from .errors import NetgraphError

__all__ = ["friendly_errors", "strip_debug_flag", "short_error", "USER_ERRORS", "MAX_LINES"]

F = TypeVar("F", bound=Callable[..., Any])
USER_ERRORS = (NetgraphError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError)
MAX_LINES = 5  #: an error the user can act on fits in this many lines
DEBUG_FLAG = "--debug"


def _debugging() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("NETGRAPH_DEBUG") == "1"


def strip_debug_flag(argv: list[str] | None = None) -> bool:
    """Remove ``--debug`` from ``sys.argv`` (hydra would refuse it) and remember it; returns whether it was there."""
    argv = sys.argv if argv is None else argv
    if DEBUG_FLAG in argv:
        argv.remove(DEBUG_FLAG)
        os.environ["NETGRAPH_DEBUG"] = "1"
        return True
    return False


def short_error(exc: BaseException) -> str:
    """``error: <message>`` cut to :data:`MAX_LINES` lines, with a pointer to the full traceback."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    if len(lines) > MAX_LINES - 1:
        lines = lines[: MAX_LINES - 2] + [f"  ... ({len(lines) - MAX_LINES + 2} more lines)"]
    lines[0] = f"error: {lines[0]}"
    return "\n".join(lines + ["(run with --debug or HYDRA_FULL_ERROR=1 for the traceback)"])


def friendly_errors(fn: F) -> F:
    """Print netgraph's own errors in a few lines and exit 1 (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            if _debugging():
                raise
            print(short_error(exc), file=sys.stderr)
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]
