"""Errors raised by netgraph."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "NetgraphError",
    "UnsupportedModuleError",
    "CorruptFileError",
    "ConfigError",
    "ConversionCheckError",
    "ProvenanceError",
    "did_you_mean",
]


class NetgraphError(Exception):
    """Base of every error netgraph raises on purpose: its message says what was wrong and what to do.

    The CLIs print these as a few lines (no traceback; ``HYDRA_FULL_ERROR=1`` or ``--debug`` shows it).

    Example:
        >>> issubclass(UnsupportedModuleError, NetgraphError) and issubclass(CorruptFileError, ValueError)
        True
    """


def did_you_mean(name: str, choices, what: str = "name") -> str:
    """``" Did you mean 'x'?"`` for the nearest of ``choices`` to ``name`` (or ``""``), plus the valid list.

    Example:
        >>> did_you_mean("iris-mlp-hypernett", ["iris-mlp-hypernet", "digits-cnn-ghn"], "generator")
        " Did you mean 'iris-mlp-hypernet'? Known generators: digits-cnn-ghn, iris-mlp-hypernet."
    """
    import difflib

    choices = sorted(str(c) for c in choices)
    near = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    return hint + (f" Known {what}s: {', '.join(choices)}." if choices else "")


class UnsupportedModuleError(NetgraphError, ValueError):
    """A module, operation or parameter that netgraph cannot turn into a parameter graph.

    The message names the module path and type (or the operation) and says what to do.
    Conversion never returns a silently wrong graph: anything it does not understand raises this.

    Example:
        >>> import torch.nn as nn, netgraph
        >>> try:
        ...     netgraph.from_module(nn.Bilinear(4, 4, 2))
        ... except netgraph.UnsupportedModuleError as err:
        ...     print("unsupported:", type(err).__name__)
        unsupported: UnsupportedModuleError
    """


class CorruptFileError(NetgraphError, ValueError):
    """A file's content does not match the checksum recorded when it was written, or it cannot be parsed.

    ``path`` is the file, ``reason`` what was found; the message ends with what to do (callers that
    know how the file is made, e.g. the zoo builder or the trainer, re-raise with their own remedy).

    Example:
        >>> print(CorruptFileError("zoo/shards/shard-00000.safetensors", "truncated").path.name)
        shard-00000.safetensors
    """

    def __init__(self, path: str | Path, reason: str, remedy: str | None = None):
        self.path, self.reason = Path(path), reason
        super().__init__(
            f"{path} is corrupt: {reason}. "
            + (
                remedy
                or "Write it again or restore it; loading can "
                "skip the check with verify=False, at the risk of silently wrong weights"
            )
        )


class ConfigError(NetgraphError, ValueError):
    """A config with out-of-range or inconsistent fields; ``problems`` holds one line per field.

    Example:
        >>> print(ConfigError("netgraph-zoo config", ["batch_size=-8: expected an integer >= 1"]))
        invalid netgraph-zoo config (1 problem):
          batch_size=-8: expected an integer >= 1
    """

    def __init__(self, what: str, problems: list[str]):
        self.problems = list(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        super().__init__(f"invalid {what} ({count}):\n" + "\n".join(f"  {p}" for p in self.problems))


class ConversionCheckError(UnsupportedModuleError):
    """A converted graph failed its self-check: a permutation of its symmetry groups changed the
    rebuilt module's outputs, so the graph (or its symmetry groups) is wrong for this module.

    The message names the symmetry groups (hence the operations) whose permutation changes the
    outputs. Raised by ``from_module(..., verify=True)`` and :func:`netgraph.check_conversion`.
    """


class ProvenanceError(NetgraphError, ValueError):
    """Stored content was made by another config or from other inputs than the ones asked for.

    ``field`` is the first differing field (dotted path), ``stored`` / ``asked`` its two values.
    Raised by :func:`netgraph.provenance.check_provenance`; nothing is loaded or overwritten.

    Example:
        >>> err = ProvenanceError("zoo/", "seed", 0, 1)
        >>> err.field, "seed" in str(err)
        ('seed', True)
    """

    def __init__(self, what: str | Path, field: str, stored, asked, remedy: str | None = None):
        self.what, self.field, self.stored, self.asked = str(what), field, stored, asked
        super().__init__(
            f"{what} was made with {field}={stored!r}, but {field}={asked!r} was asked for. "
            + (remedy or "Use another folder for the new config, or ask for the config it was made with.")
        )
