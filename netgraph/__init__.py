"""netgraph: weight-space learning on parameter graphs of PyTorch networks.

Example:
    >>> import torch, torch.nn as nn, netgraph
    >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    >>> g = netgraph.from_module(model)                     # ParamGraph (a torch_geometric Data)
    >>> g2 = netgraph.permute(g, netgraph.random_permutation(g))
    >>> x = torch.randn(2, 3, 16, 16)
    >>> torch.allclose(netgraph.to_module(g2, model)(x), model(x), atol=1e-5)
    True
"""

from .convert import from_module, from_state_dict, from_state_dicts, spec_of, to_module, to_state_dict, to_state_dicts
from .errors import (
    ConfigError,
    ConversionCheckError,
    CorruptFileError,
    NetgraphError,
    ProvenanceError,
    UnsupportedModuleError,
)
from .graph import ParamGraph, SpecGroup, make_batch, make_graph, split_by_spec
from .spec import GraphSpec, SymmetryGroup
from .symmetry import identity_permutation, permute, random_permutation
from . import trace
from .types import NODE_FEATURES, Activation, EdgeType, NodeFeature, NodeType, Norm
from .verify import check_conversion
from .weight_space import WeightSpace, weight_space
from .population import Population
from .merge import align  # noqa: E402  (needs the core above)

__version__ = "0.1.0"

_SUBPACKAGES = ("metanets", "datasets", "tasks", "hub")


def __getattr__(name: str):
    """``netgraph.hub``, ``netgraph.metanets``, ... without importing them first (imported on first use)."""
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "from_module",
    "from_state_dict",
    "from_state_dicts",
    "to_state_dict",
    "to_state_dicts",
    "to_module",
    "spec_of",
    "trace",
    "random_permutation",
    "permute",
    "identity_permutation",
    "weight_space",
    "WeightSpace",
    "ParamGraph",
    "GraphSpec",
    "SymmetryGroup",
    "UnsupportedModuleError",
    "CorruptFileError",
    "ConfigError",
    "ConversionCheckError",
    "NetgraphError",
    "ProvenanceError",
    "check_conversion",
    "make_graph",
    "make_batch",
    "split_by_spec",
    "SpecGroup",
    "NODE_FEATURES",
    "NodeType",
    "EdgeType",
    "Activation",
    "Norm",
    "NodeFeature",
    "align",
    "Population",
]
