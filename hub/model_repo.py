"""Generators and metanets as Hugging Face Hub model repos: ``config.json`` + ``model.safetensors`` +
``README.md`` (a model card) + ``checksums.json`` (SHA-256 of each file, checked when loading),
written by :func:`save` (which a metanet's ``save_pretrained`` calls: one save format, loaded by
``from_pretrained``, :func:`load_metanet` and the trainer alike), uploaded in one commit and fetched
through :mod:`~netgraph.hub.fetch`.

``config.json`` holds the model's constructor arguments (what ``PyTorchModelHubMixin`` writes; a
generator's target architecture is among them) plus a ``"netgraph"`` entry saying what the repo
holds (``kind``: ``generator`` / ``metanet``, ``class``, netgraph ``version``, ``provenance``: the
constructor config, its hash and the inputs' hashes), so loading can refuse a repo of the wrong kind
with a clear message.

A repo is named by a bundled name (:func:`~.bundled.bundled_generators`), a local folder in Hub
layout, or a Hub repo id (fetched into the Hub cache; with ``HF_HUB_OFFLINE=1`` only the cache is
read). The folder is written as a whole (:func:`netgraph.io.atomic_folder`: a temporary folder
renamed into place), so a reader never sees files of two saves.

Example:
    >>> import tempfile, torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import ChunkedHypernetwork
    >>> gen = ChunkedHypernetwork(mlp([4, 8, 3]), chunk_size=16, hidden=[8])
    >>> folder = save(gen, tempfile.mkdtemp() + "/iris-hypernet")
    >>> sorted(p.name for p in folder.iterdir())
    ['README.md', 'checksums.json', 'config.json', 'model.safetensors']
    >>> loaded = load_generator(folder)
    >>> all(torch.equal(a, b) for a, b in zip(gen.state_dict().values(), loaded.state_dict().values()))
    True
"""

from __future__ import annotations

import inspect
import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
from huggingface_hub import HfApi, PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_model

import netgraph
from netgraph.datasets.storage import ZOO_JSON
from netgraph.errors import CorruptFileError, did_you_mean
from netgraph.io import CHECKSUMS_JSON, atomic_folder, verify_checksums, write_checksums, write_text
from netgraph.provenance import provenance
from netgraph.metanets import ParameterGraphHypernetwork, WeightGenerator, list_metanets, metanet_class

from .bundled import bundled_generators, bundled_path
from .errors import HubRepoError
from .fetch import check_repo_id, snapshot, upload_files
from .model_card import model_card
from .zoo_repo import push_to_hub as push_zoo

__all__ = ["save", "push", "load_generator", "load_metanet", "resolve_repo", "MODEL_FILES", "REPO_FORMAT"]

CONFIG, WEIGHTS, CARD, RESULTS = "config.json", "model.safetensors", "README.md", "results.json"
MODEL_FILES = [CONFIG, WEIGHTS, CARD, RESULTS, CHECKSUMS_JSON]
REPO_FORMAT = "netgraph-model/1"
KINDS = ("generator", "metanet")


def kind_of(model: nn.Module) -> str:
    """``"generator"`` or ``"metanet"``; a clear error for anything else."""
    if isinstance(model, WeightGenerator):
        kind = "generator"
    elif type(model) in {metanet_class(name) for name in list_metanets()}:
        kind = "metanet"
    else:
        raise TypeError(
            f"netgraph.hub saves weight generators (netgraph.metanets.WeightGenerator) and metanets "
            f"(netgraph.metanets.create_metanet); got {type(model).__name__}. For a zoo folder use "
            "netgraph.hub.push(folder, repo_id)"
        )
    if not isinstance(model, PyTorchModelHubMixin):
        raise TypeError(
            f"{type(model).__name__} does not inherit huggingface_hub.PyTorchModelHubMixin, so its config "
            "cannot be saved; add the mixin to the class"
        )
    return kind


def save(
    model: nn.Module,
    folder: str | Path,
    repo_id: str | None = None,
    results: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> Path:
    """Write ``model`` to ``folder`` in Hub layout (``config.json``, ``model.safetensors``, ``README.md``,
    ``checksums.json``, and ``results.json`` when ``results`` are given); returns the folder.

    The one save format of netgraph's generators and metanets (a metanet's ``save_pretrained`` writes
    it too). The folder is written as a whole (:func:`netgraph.io.atomic_folder`): a failure leaves
    the previous one as it was. ``config.json``'s ``"netgraph"`` entry records the kind, the class and
    the provenance of the model (its constructor config and ``inputs``).

    Args:
        repo_id: the name used in the model card's usage example (default: the folder name).
        results: measured figures to keep with the model (shown in the card).
        inputs: what the model was made from, name -> hash (e.g. ``{"zoo": <zoo config hash>}``).
    """
    kind = kind_of(model)
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / CONFIG).is_file():
        present = sorted(p.name for p in folder.iterdir())[:5]
        raise HubRepoError(
            f"{folder} holds other files ({present}), not a saved model; save into a new or empty folder "
            "(or one a model was saved to before, which is replaced as a whole)"
        )
    with atomic_folder(folder, replace=True) as staging:
        PyTorchModelHubMixin.save_pretrained(model, staging)  # huggingface_hub's writer: constructor config + weights
        config = json.loads((staging / CONFIG).read_text())
        cls = type(model)
        config["netgraph"] = {
            "kind": kind,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "version": netgraph.__version__,
            "format": REPO_FORMAT,
            "provenance": provenance(config, inputs),
        }
        write_text(staging / CONFIG, json.dumps(config, indent=2, sort_keys=True))
        write_text(staging / CARD, model_card(model, repo_id or folder.name, config, results))
        names = [CONFIG, WEIGHTS, CARD]
        if results is not None:
            write_text(staging / RESULTS, json.dumps(results, indent=1))
            names.append(RESULTS)
        write_checksums(staging, names)  # verified by load_generator / load_metanet
    return folder


def push(
    obj: nn.Module | str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    revision: str | None = None,
    results: Mapping[str, Any] | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload a generator, a metanet, a folder saved by :func:`save`, or a zoo folder (a dataset repo)
    to the Hub in one commit; returns the commit URL.

    ``api`` stands in for ``HfApi(token=token)`` (tests use a local one).
    """
    if isinstance(obj, (str, Path)):
        folder = Path(obj)
        if (folder / ZOO_JSON).is_file():
            return push_zoo(
                folder, repo_id, token=token, private=private, commit_message=commit_message, revision=revision, api=api
            )
        read_config(folder, str(folder))  # refuse to upload anything but a complete model folder
        return _upload(folder, repo_id, token, private, commit_message or f"Upload {folder.name}", revision, api)
    kind_of(obj)
    with tempfile.TemporaryDirectory(prefix="netgraph-push-") as tmp:
        folder = save(obj, Path(tmp) / repo_id.rsplit("/", 1)[-1], repo_id=repo_id, results=results)
        return _upload(folder, repo_id, token, private, commit_message or f"Upload {type(obj).__name__}", revision, api)


def _upload(
    folder: Path, repo_id: str, token: str | None, private: bool, message: str, revision: str | None, api: HfApi | None
) -> str:
    files = {name: folder / name for name in sorted(MODEL_FILES) if (folder / name).is_file()}
    return upload_files(files, repo_id, "model", message, token=token, private=private, revision=revision, api=api)


def resolve_repo(
    repo: str | Path, revision: str | None = None, cache_dir: str | Path | None = None, token: str | None = None
) -> Path:
    """The local folder of ``repo``: a bundled generator, a local folder, or a Hub snapshot."""
    if isinstance(repo, str) and bundled_path(repo) is not None:
        return bundled_path(repo)
    local = Path(repo)
    if local.is_dir():
        return local
    check_repo_id(repo, "a bundled generator (netgraph.hub.bundled_generators())")
    if "/" not in str(repo):  # a bare name: meant as a bundled generator
        hint = did_you_mean(str(repo), bundled_generators(), "bundled generator")
        raise HubRepoError(
            f"{repo!r} is not a bundled generator, a local folder or a Hub repo id ('owner/name').{hint}"
        )
    return snapshot(str(repo), "model", revision, cache_dir, token, allow_patterns=MODEL_FILES)


def read_config(folder: Path, name: str) -> dict[str, Any]:
    """The ``config.json`` of a model folder, after checking that the folder is a complete model repo."""
    if (folder / ZOO_JSON).is_file():
        raise HubRepoError(f"{name} holds a model zoo (zoo.json), not a model; load it with netgraph.hub.load_zoo")
    missing = [f for f in (CONFIG, WEIGHTS) if not (folder / f).is_file()]
    if missing:
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise HubRepoError(
            f"{name} lacks {' and '.join(missing)} (it holds {present or 'nothing'}); a netgraph model "
            "repo has config.json + model.safetensors: save it with netgraph.hub.save / push"
        )
    try:
        return json.loads((folder / CONFIG).read_text())
    except json.JSONDecodeError as exc:
        raise HubRepoError(f"{name}/{CONFIG} is not valid JSON ({exc}); push the model again") from exc


def load_generator(
    repo: str | Path,
    target: nn.Module | None = None,
    cls: type[WeightGenerator] | None = None,
    device: torch.device | str = "cpu",
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
    verify: bool = True,
) -> WeightGenerator:
    """A weight generator from a bundled name, a local folder or a Hub repo id, in eval mode.

    Args:
        target: check now that this architecture is the generator's (an
            :class:`~netgraph.metanets.ArchitectureMismatchError` names what differs; graph
            hypernetworks take any architecture).
        cls: the generator class, for repos saved without a ``"netgraph"`` entry (plain
            ``save_pretrained``) or with a class defined outside netgraph.
        verify: check the files against the repo's ``checksums.json`` (written by :func:`save`).
    """
    model = _load(repo, "generator", cls, WeightGenerator, device, revision, cache_dir, token, verify)
    if target is not None and not isinstance(model, ParameterGraphHypernetwork):
        model.target_spec(target)
    return model


def load_metanet(
    repo: str | Path,
    cls: type[nn.Module] | None = None,
    device: torch.device | str = "cpu",
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
    verify: bool = True,
) -> nn.Module:
    """A metanet (``netgraph.metanets.create_metanet`` models) from a local folder or a Hub repo id, in eval mode.

    ``verify`` checks the files against the repo's ``checksums.json`` (written by :func:`save`).
    """
    return _load(repo, "metanet", cls, nn.Module, device, revision, cache_dir, token, verify)


def verify_repo(folder: Path, repo: str | Path) -> None:
    """Check a model folder's ``config.json`` and weights against its ``checksums.json``
    (:class:`HubRepoError` naming the file)."""
    try:
        verify_checksums(folder, [CONFIG, WEIGHTS])  # what builds the model (the card may be edited)
    except CorruptFileError as exc:
        if exc.path.name == CHECKSUMS_JSON and not exc.path.is_file():
            raise HubRepoError(
                f"{repo} has no {CHECKSUMS_JSON} (not saved by netgraph.hub.save, or the file was removed), so "
                "its files cannot be checked; save it again with netgraph.hub.save, or pass verify=False if you "
                "trust where it came from"
            ) from exc
        raise HubRepoError(
            f"{repo}: {exc.path.name} is corrupt ({exc.reason}); download it again (delete the cached "
            f"snapshot {folder}) or save / push the model again; verify=False skips this check"
        ) from exc


def _load(repo, kind: str, cls, base: type, device, revision, cache_dir, token, verify: bool = True) -> nn.Module:
    folder = resolve_repo(repo, revision, cache_dir, token)
    config = read_config(folder, str(repo))
    if verify:
        verify_repo(folder, repo)
    info = config.pop("netgraph", None)
    if info is not None and info.get("kind") != kind:
        verb = {"generator": "load_generator", "metanet": "load_metanet"}.get(info.get("kind"), "the matching loader")
        raise HubRepoError(
            f"{repo} holds a netgraph {info.get('kind')} ({info.get('class')}), not a {kind}; load it "
            f"with netgraph.hub.{verb}"
        )
    if cls is None:
        if info is None:
            raise HubRepoError(
                f"{repo} has no 'netgraph' entry in config.json, so its class is unknown (not saved with "
                f"netgraph.hub.save / push); pass cls=<the {kind} class>"
            )
        cls = _netgraph_class(info.get("class", ""), base, repo)
    model = _build(cls, config, repo)
    try:
        load_model(model, str(folder / WEIGHTS), strict=True)
    except SafetensorError as exc:
        raise HubRepoError(
            f"{repo}/{WEIGHTS} is truncated or damaged ({exc}); download it again (delete the cached "
            f"snapshot {folder}) or push the model again"
        ) from exc
    except RuntimeError as exc:
        raise HubRepoError(
            f"{repo}/{WEIGHTS} does not fit the model its config.json describes ({exc}); the files "
            "belong to different models: push the model again"
        ) from exc
    return model.to(device).eval()


def _netgraph_class(path: str, base: type, repo) -> type:
    """The class a repo names, looked up among netgraph's registered metanets and generators (never
    imported by name); a class moved to another module is found by its name, a renamed one by its ``former_names``."""
    if not path.startswith("netgraph."):
        raise HubRepoError(
            f"{repo} names the class {path!r}, which is not part of netgraph; pass cls=<that class> to "
            "load it (only netgraph's own metanets and generators are looked up by name)"
        )
    known = _known_classes()
    cls = known.get(path)
    if cls is None:
        name = path.rpartition(".")[2]  # moved to another module, or renamed (a class's former_names)
        same_name = [c for c in known.values() if name == c.__name__ or name in getattr(c, "former_names", ())]
        cls = same_name[0] if len(same_name) == 1 else None
    if cls is None:
        raise HubRepoError(
            f"{repo} was saved with class {path!r}, which this netgraph ({netgraph.__version__}) does "
            "not have; upgrade netgraph or pass cls="
        )
    if not issubclass(cls, base):
        raise HubRepoError(f"{repo} names {path!r}, which is not a {base.__name__}")
    return cls


def _known_classes() -> dict[str, type]:
    """``{"module.Class": class}`` of the registered metanets and every netgraph weight generator."""
    classes = [metanet_class(name) for name in list_metanets()]
    todo = [WeightGenerator]
    while todo:  # the generator class tree (loops over classes, not data)
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    return {f"{c.__module__}.{c.__qualname__}": c for c in classes if c.__module__.startswith("netgraph.")}


def _build(cls: type, config: Mapping[str, Any], repo) -> nn.Module:
    parameters = inspect.signature(cls.__init__).parameters
    accepted = {k: v for k, v in config.items() if k in parameters}
    try:
        return cls(**accepted)
    except (TypeError, ValueError) as exc:
        raise HubRepoError(f"{repo}/{CONFIG} does not build a {cls.__name__}: {exc}") from exc
