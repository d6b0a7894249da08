"""``LocalHub``: an offline stand-in for ``huggingface_hub.HfApi`` shared by the Hub tests."""

import shutil
from pathlib import Path

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


class LocalHub:
    """Stands in for ``HfApi``: uploads land in a cache folder in the Hub layout
    (``<type>s--<owner>--<name>/snapshots/<commit>`` + ``refs/main``), which ``snapshot_download``
    serves when ``HF_HUB_OFFLINE=1``.

    ``repos`` records ``(repo_id, repo_type, private, exist_ok)`` per ``create_repo`` call and
    ``uploads`` records ``(repo_id, repo_type, files, commit_message)`` per upload or commit."""

    def __init__(self, cache: Path):
        self.cache, self.repos, self.uploads = cache, [], []

    def create_repo(self, repo_id, repo_type=None, private=False, exist_ok=False):
        self.repos.append((repo_id, repo_type, private, exist_ok))

    def _snapshot(self, repo_id, repo_type):
        folder = self.cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / "main").write_text(COMMIT)
        return folder / "snapshots" / COMMIT

    def upload_folder(self, repo_id, folder_path, repo_type, commit_message, revision=None, allow_patterns=None):
        snapshot = self._snapshot(repo_id, repo_type)
        files = sorted(p.name for p in Path(folder_path).iterdir() if p.name in allow_patterns)
        snapshot.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(Path(folder_path) / name, snapshot / name)
        self.uploads.append((repo_id, repo_type, files, commit_message))
        return f"https://hub.example/{repo_id}/commit/{COMMIT}"

    def create_commit(self, repo_id, operations, commit_message, repo_type, revision):
        snapshot = self._snapshot(repo_id, repo_type)
        for op in operations:
            target = snapshot / op.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            source = op.path_or_fileobj
            target.write_bytes(source if isinstance(source, bytes) else Path(source).read_bytes())
        self.uploads.append((repo_id, repo_type, [op.path_in_repo for op in operations], commit_message))
        return f"https://hub.example/{repo_id}/commit/{COMMIT}"
