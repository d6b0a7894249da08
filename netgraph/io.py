"""Files written atomically and checked on load: the one file writer of netgraph.

* Atomic writes: a temporary file in the target's folder, then ``os.replace``. A reader (or a
  resumed build) never sees a half-written file: either the old file, no file, or the complete new
  one. Temporaries are named ``.<name>.<host>.<pid>.<random>.tmp`` and are removed when the write
  fails; :func:`remove_stale_temporaries` clears only those whose writer is gone (its process ended,
  or, written on another host, older than a day), so concurrent writers never delete each other's
  in-flight files.
* Checksums: :func:`save_safetensors` records the SHA-256 of the file's header and data in the
  header itself (``__metadata__["netgraph.sha256"]``), so a shard or weights file carries its own
  check wherever it is copied; :func:`write_checksums` records the SHA-256 of the files of a folder
  (checkpoints, saved model repos) in ``checksums.json``. :func:`verify_safetensors` and
  :func:`verify_checksums` raise :class:`~netgraph.errors.CorruptFileError` naming the file.
  Both fail closed: a file without its recorded SHA-256, a folder without ``checksums.json``, or a
  file asked for that the manifest does not list is an error too (loaders take ``verify=False`` to
  skip the check on purpose); names in a manifest must stay inside its folder.
* A full disk (``ENOSPC``) or another ``OSError`` while writing is re-raised naming the file.

Example:
    >>> import tempfile, pathlib, torch
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_text(folder / "a.txt", "hello")
    >>> (folder / "a.txt").read_text()
    'hello'
    >>> save_safetensors(folder / "w.safetensors", {"w": torch.ones(2)}, {"kind": "demo"})
    >>> verify_safetensors(folder / "w.safetensors")
    True
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import socket
import struct
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import torch
from safetensors.torch import save as safetensors_bytes

from .errors import CorruptFileError

__all__ = [
    "atomic_write",
    "atomic_folder",
    "write_text",
    "create_text",
    "write_bytes",
    "save_safetensors",
    "verify_safetensors",
    "remove_stale_temporaries",
    "file_sha256",
    "write_checksums",
    "verify_checksums",
    "CHECKSUMS_JSON",
    "SHA256_KEY",
    "STALE_SECONDS",
]

TMP_SUFFIX = ".tmp"
CHECKSUMS_JSON = "checksums.json"
SHA256_KEY = "netgraph.sha256"
STALE_SECONDS = 24 * 3600  #: age after which a temporary of another host's writer counts as abandoned


def _host() -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname()) or "host"


def temporary_path(path: Path) -> Path:
    """A fresh temporary name for ``path`` in its folder, owned by this process."""
    return path.parent / f".{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move the finished file onto ``path`` in one step.

    An ``OSError`` (a full disk, a read-only folder) is re-raised naming ``path`` and what to do.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _named(exc, path) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def atomic_folder(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Write a folder of several files as a whole: yield a temporary folder, rename it onto ``path`` at the end.

    A failure (or a kill) inside the block leaves ``path`` as it was: never a folder whose files come from
    two runs. ``replace=False`` refuses an existing non-empty ``path`` (``FileExistsError``);
    ``replace=True`` swaps it out only once the new folder is complete.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
        >>> with atomic_folder(out) as tmp:
        ...     write_text(tmp / "config.json", "{}")
        >>> sorted(p.name for p in out.iterdir())
        ['config.json']
    """
    path = Path(path)
    if path.exists() and not replace and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(
            errno.EEXIST, f"{path} exists and is not empty; pick another output folder or pass replace=True"
        )
    tmp = temporary_path(path)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        old = None
        if path.exists():
            old = temporary_path(path)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _named(exc, path) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with a message naming the file being written and the fix."""
    if exc.errno == errno.ENOSPC:
        hint = "the disk is full: free space (or write somewhere else) and run again; nothing partial was left"
    elif exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        hint = "the folder is not writable: pick a writable output folder"
    else:
        hint = "check the folder and run again; nothing partial was left"
    return type(exc)(exc.errno, f"could not write {path}: {exc.strerror or exc}; {hint}")


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def create_text(path: str | Path, text: str) -> bool:
    """Create ``path`` with ``text`` atomically unless it exists; ``False`` if another writer won.

    The complete file is linked into place (``os.link`` fails on an existing name), so two jobs
    racing to create the same file never both succeed and never leave a partial file.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, _default_mode())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise _named(exc, path) from exc
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------- safetensors with a checksum
def save_safetensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Write a safetensors file atomically, its SHA-256 recorded in its own header.

    Tensors are made contiguous and moved to the CPU first; ``metadata`` values must be strings.
    """
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    raw = safetensors_bytes(tensors, metadata={k: v for k, v in metadata.items() if k != SHA256_KEY})
    header, data = _split(raw, "<in memory>")
    header.setdefault("__metadata__", {})[SHA256_KEY] = _digest(header, data)
    write_bytes(path, _join(header, data))


def verify_safetensors(path: str | Path) -> bool:
    """Check a safetensors file against the SHA-256 in its header; ``True`` when it matches.

    Raises :class:`~netgraph.errors.CorruptFileError` naming the file when it does not match, cannot
    be parsed (truncated, flipped bytes in the header), or records no checksum at all (written by
    other software, or the entry was removed: a check that switched itself off would let a second
    fault through; loaders take ``verify=False`` to read such a file unchecked).
    """
    path = Path(path)
    header, data = _split(path.read_bytes(), str(path))
    recorded = header.get("__metadata__", {}).get(SHA256_KEY)
    if recorded is None:
        raise CorruptFileError(
            path,
            f"its header records no SHA-256 ({SHA256_KEY!r} is missing: written by other software, or the "
            "entry was removed), so its content cannot be checked",
            "Write it again with netgraph, or load it with verify=False if you trust where it came from",
        )
    if _digest(header, data) != recorded:
        raise CorruptFileError(
            path, "its content does not match the SHA-256 recorded when it was written (flipped or overwritten bytes)"
        )
    return True


def _split(raw: bytes, name: str) -> tuple[dict, bytes]:
    """``(header dict, data bytes)`` of a safetensors file's bytes."""
    try:
        (size,) = struct.unpack("<Q", raw[:8])
        if 8 + size > len(raw):
            raise ValueError(f"the header claims {size} bytes but the file has {len(raw)}")
        header = json.loads(raw[8 : 8 + size])
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        data = raw[8 + size :]
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        if end != len(data):
            raise ValueError(f"the tensors need {end} data bytes, the file holds {len(data)}")
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptFileError(
            Path(name), f"it is not a complete safetensors file ({exc}): truncated or damaged"
        ) from exc
    return header, data


def _digest(header: dict, data: bytes) -> str:
    """SHA-256 of the header without its checksum entry (canonical JSON) and of the data."""
    meta = {k: v for k, v in header.get("__metadata__", {}).items() if k != SHA256_KEY}
    canonical = {**{k: v for k, v in header.items() if k != "__metadata__"}, "__metadata__": meta}
    h = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    h.update(data)
    return h.hexdigest()


def _join(header: dict, data: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes
    return struct.pack("<Q", len(text)) + text + data


# ---------------------------------------------------------------------- checksums of a folder's files
def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder: str | Path, names: Iterable[str]) -> Path:
    """Record the SHA-256 of ``folder/<name>`` for every name in ``folder/checksums.json`` (atomic).

    ``checksums.json`` itself is never listed (a stale one in ``names`` is skipped); every name must be
    a path inside ``folder``.
    """
    folder = Path(folder)
    names = sorted(n for n in {_inside(folder, str(n), "checksums.json") for n in names} if n != CHECKSUMS_JSON)
    sums = {name: file_sha256(folder / name) for name in names}
    path = folder / CHECKSUMS_JSON
    write_text(path, json.dumps({"sha256": sums}, indent=1))
    return path


def verify_checksums(folder: str | Path, names: Iterable[str] | None = None) -> bool:
    """Check the files of ``folder`` against its ``checksums.json``; ``True`` when every one matches.

    ``names``: the files to check (default: every recorded one). Fails closed: raises
    :class:`~netgraph.errors.CorruptFileError` naming the file when ``checksums.json`` is missing or
    unreadable, when a name asked for is not recorded in it, when a recorded name points outside
    ``folder`` (``../``, an absolute path), or when a file is missing or does not match. Loaders
    take ``verify=False`` to skip the check on purpose.
    """
    folder = Path(folder)
    path = folder / CHECKSUMS_JSON
    if not path.is_file():
        raise CorruptFileError(
            path,
            "it is missing, so the folder's files cannot be checked (written by other software, or the "
            "manifest was removed)",
            "Write the folder again with netgraph, or load it with verify=False if you trust where it came from",
        )
    try:
        sums = json.loads(path.read_text())["sha256"]
        if not isinstance(sums, dict):
            raise TypeError("'sha256' is not a mapping of file names to hashes")
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(path, f"it is not a valid checksum list ({exc})") from exc
    for name in sums:
        _inside(folder, name, path)
    asked = list(sums) if names is None else list(names)
    unlisted = [n for n in asked if n not in sums]
    if unlisted:
        raise CorruptFileError(
            folder / unlisted[0],
            f"{path} records no checksum for it (it lists {sorted(sums)}), so it cannot be checked",
            "Write the folder again with netgraph, or load it with verify=False if you trust where it came from",
        )
    for name in asked:
        target = folder / name
        if not target.is_file():
            raise CorruptFileError(target, "it is missing, but its checksum is recorded in checksums.json")
        if file_sha256(target) != sums[name]:
            raise CorruptFileError(
                target,
                "its content does not match the SHA-256 recorded in checksums.json when it "
                "was written (flipped, truncated or overwritten bytes)",
            )
    return True


def _inside(folder: Path, name: str, manifest: str | Path) -> str:
    """``name`` when it is a relative path inside ``folder``; else a :class:`CorruptFileError` on ``manifest``."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or "\\" in name:
        raise CorruptFileError(
            manifest,
            f"it names {name!r}, a path outside {folder} (only files inside the folder may be listed)",
            "Restore the folder from its source; nothing outside it is read",
        )
    return name


# ---------------------------------------------------------------------- temporaries
def _default_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _abandoned(path: Path, now: float) -> bool:
    """Whether the writer of temporary ``path`` is gone (see the module docstring)."""
    parts = path.name[: -len(TMP_SUFFIX)].rsplit(".", 3)
    if len(parts) == 4 and parts[2].isdigit():
        host, pid = parts[1], int(parts[2])
        if host == _host():
            return not _alive(pid)
    try:
        return now - path.stat().st_mtime > STALE_SECONDS
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files that killed writers left in ``folder``; returns what was removed.

    Temporaries of live writers (this host) and recent ones of other hosts are kept.
    """
    folder = Path(folder)
    now = time.time()
    candidates = [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()] if folder.is_dir() else []
    stale = [p for p in candidates if _abandoned(p, now)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
