"""The one place netgraph talks to the Hugging Face Hub: fetch a repo snapshot, upload files.

Every Hub error becomes a :class:`~.errors.HubRepoError` naming the repo and what to do (a
malformed id, a missing repo or revision, no network / ``HF_HUB_OFFLINE=1`` with an empty cache).

Example:
    >>> import os
    >>> os.environ.get("HF_HUB_OFFLINE") == "1" or True
    True
    >>> try:
    ...     snapshot("not a valid id!", "model")
    ... except HubRepoError as err:
    ...     print(str(err).split(":")[0])
    'not a valid id!' is neither a local folder nor a valid Hub repo id ('owner/name')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from huggingface_hub import CommitOperationAdd, HfApi, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .errors import HubRepoError

__all__ = ["snapshot", "upload_files", "check_repo_id"]


def snapshot(
    repo_id: str,
    repo_type: str,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
    allow_patterns: Iterable[str] | None = None,
    **kwargs: Any,
) -> Path:
    """The local folder of a Hub repo snapshot (``huggingface_hub.snapshot_download``; with
    ``HF_HUB_OFFLINE=1`` the local cache only). ``kwargs`` go to ``snapshot_download``."""
    text = str(repo_id)
    try:
        return Path(
            snapshot_download(
                text,
                repo_type=repo_type,
                revision=revision,
                cache_dir=cache_dir,
                token=token,
                allow_patterns=list(allow_patterns) if allow_patterns else None,
                **kwargs,
            )
        )
    except HFValidationError as exc:
        raise HubRepoError(f"{text!r} is neither a local folder nor a valid Hub repo id ('owner/name'): {exc}") from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise HubRepoError(
            f"Hub {repo_type} repo {text} is not in the local Hub cache and cannot be downloaded now "
            f"({type(exc).__name__}); unset HF_HUB_OFFLINE and connect, or pass a local folder"
        ) from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise HubRepoError(
            f"Hub {repo_type} repo {text} (revision {revision or 'main'}) was not found or is not "
            f"accessible: {type(exc).__name__}; check the id, the revision and your token"
        ) from exc


def upload_files(
    files: dict[str, Path | bytes],
    repo_id: str,
    repo_type: str,
    message: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload ``{path in repo: local file or bytes}`` to ``repo_id`` (created if needed) in one commit;
    returns the commit URL. ``api`` stands in for ``HfApi(token=token)`` (tests use a local one)."""
    api = api or HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=content if isinstance(content, bytes) else str(content))
        for name, content in files.items()
    ]
    info = api.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type, revision=revision)
    return str(getattr(info, "commit_url", info))


def check_repo_id(repo: str | Path, alternatives: str) -> None:
    """Refuse what is meant as a local path (it does not exist) before asking the Hub for it."""
    text = str(repo)
    if (
        isinstance(repo, Path)
        or text.startswith((".", "/", "~"))
        or text.count("/") > 1
        or os.sep in text.replace("/", "")
    ):
        raise HubRepoError(f"{text} is not a folder, {alternatives} or a Hub repo id ('owner/name'); check the path")
