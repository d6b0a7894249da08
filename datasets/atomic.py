"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

A reader (or a resumed build) never sees a half-written file: either the old file, no file, or
the complete new one. Temporary files are named ``.<name>.<random>.tmp`` and are removed when the
write fails; :func:`remove_stale_temporaries` clears those left by a killed process.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_text(folder / "a.txt", "hello")
    >>> (folder / "a.txt").read_text()
    'hello'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import torch
from safetensors.torch import save_file

__all__ = ["atomic_write", "write_text", "create_text", "save_safetensors", "remove_stale_temporaries"]

TMP_SUFFIX = ".tmp"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move the finished file onto ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def create_text(path: str | Path, text: str) -> bool:
    """Create ``path`` with ``text`` atomically unless it exists; ``False`` if another writer won.

    The complete file is linked into place (``os.link`` fails on an existing name), so two jobs
    racing to create the same file never both succeed and never leave a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, _default_mode())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_safetensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (tensors are made contiguous first)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _default_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask); mkstemp's is 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files a killed writer left in ``folder``; returns what was removed."""
    folder = Path(folder)
    stale = [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
