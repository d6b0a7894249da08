"""Hugging Face Hub integration for weight generators, metanets and zoos (imported as ``netgraph.hub``).

All Hub I/O of netgraph lives here (:mod:`~.fetch`: snapshots and uploads), and every Hub problem
raises one error type, :class:`HubRepoError`, naming the repo and what to do. One set of verbs for
every kind of repo:

* :func:`push` - a generator, a metanet (model repos) or a zoo folder (a dataset repo) to the Hub;
* :func:`load_generator` / :func:`load_metanet` / :func:`load_zoo` - from a Hub repo id (cached
  snapshot; ``HF_HUB_OFFLINE=1`` reads only the cache), a local folder in Hub layout, or (for
  generators) a name in :func:`bundled_generators`, which ships with netgraph and needs no network;
* :func:`save` - a model into a local folder in Hub layout (``config.json``, ``model.safetensors``,
  ``README.md`` model card).

Example:
    >>> import torch
    >>> import netgraph
    >>> gen = netgraph.hub.load_generator("iris-mlp-hypernet")        # bundled: no network needed
    >>> nets = gen.generate(n=8)                                       # 8 MLPs for iris, ready to run
    >>> tuple(nets(torch.randn(5, 4)).shape)
    (8, 5, 3)
"""

from .bundled import bundled_generators, bundled_path
from .errors import HubRepoError
from .fetch import snapshot, upload_files
from .model_card import model_card
from .model_repo import load_generator, load_metanet, push, resolve_repo, save
from .zoo_repo import dataset_card, load_from_hub, push_to_hub

load_zoo = load_from_hub

__all__ = [
    "push",
    "save",
    "load_generator",
    "load_metanet",
    "load_zoo",
    "bundled_generators",
    "bundled_path",
    "model_card",
    "resolve_repo",
    "HubRepoError",
    "push_to_hub",
    "load_from_hub",
    "dataset_card",
    "snapshot",
    "upload_files",
]
