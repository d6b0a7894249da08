"""Fault injection helpers for the reliability tests: damaged files, leftovers of killed writers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netgraph.io import temporary_path


def dead_pid() -> int:
    """The id of a process that has ended (a killed writer)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def dead_writers_temporary(path: Path) -> Path:
    """The temporary name a writer of ``path`` that has since died would have left (this host)."""
    host, _pid, rand = temporary_path(path).name[: -len(".tmp")].rsplit(".", 3)[1:]
    return path.parent / f".{path.name}.{host}.{dead_pid()}.{rand}.tmp"


def flip_byte(path: Path, position: float = 0.75) -> None:
    """Flip every bit of one byte at ``position`` (a fraction of the file size) of ``path``."""
    data = bytearray(path.read_bytes())
    i = min(len(data) - 1, int(len(data) * position))
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Keep only the first ``fraction`` of ``path``'s bytes."""
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
