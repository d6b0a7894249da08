"""Metanetworks: permutation-equivariant models over weight spaces and parameter graphs
(imported as ``netgraph.metanets``).

Registry (timm-style): ``create_metanet(name, **config)``, ``list_metanets()``.

============== ============================================================ ========================
name           model                                                        input
============== ============================================================ ========================
``dwsnet``     DWSNets (Navon et al. 2023), four equivariant blocks         dense, MLP/CNN chain
``nfn_hnp``    NFN with HNP layers (Zhou et al. 2023)                       dense, MLP/CNN chain
``nfn_np``     NFN with NP layers and io-embeddings                         dense, MLP/CNN chain
``gmn``        GMN / NG-GNN message passing with edge updates (FiLM, PNA)   graphs, any architecture
``ngt``        NG-T relational transformer, attention on real edges only    graphs, any architecture
``scalegmn``   ScaleGMN (2024): GMN also invariant to sign flips / scales   graphs, any architecture
``scalegmn_b`` ScaleGMN-B: ScaleGMN with backward messages                  graphs, any architecture
``mlp``        MLP on flattened weights (not invariant; a baseline)         dense, MLP/CNN chain
``statnn``     per-layer weight statistics -> MLP (Unterthiner et al. 2020) dense, MLP/CNN chain
============== ============================================================ ========================

Every model: ``model(batch) -> [num_graphs, out_features]`` (invariant), and for ``edit=True``
models ``model.parameter_outputs(batch)`` / ``model.edit(batch)`` (equivariant, residual edit
``w + scale * delta``). Models save and load with ``save_pretrained`` / ``from_pretrained``.

Example:
    >>> import torch, netgraph
    >>> from netgraph.architectures import SmallCNN, mlp
    >>> from netgraph.metanets import create_metanet
    >>> from torch_geometric.data import Batch
    >>> nets = [SmallCNN(1), mlp([4, 8, 3])]                  # two architectures in one batch
    >>> batch = Batch.from_data_list([netgraph.from_module(m, kernel_shape=(3, 3)) for m in nets])
    >>> model = create_metanet("gmn", dim=16, depth=2, out_features=1, edit=True).eval()
    >>> model(batch).shape
    torch.Size([2, 1])
    >>> edited = model.edit(batch)                         # same graphs, w + scale * delta
    >>> sorted(netgraph.to_state_dicts(edited)[1])
    ['0.bias', '0.weight', '2.bias', '2.weight']
"""

from .base import Metanet
from .baselines import QUANTILES, FlatMLP, StatNN, layer_statistics
from .dense import DenseMetanet, EquivariantDenseMetanet
from .dense_layout import chain_problem, layer_shapes_of
from .dwsnet import DWSLayer, DWSNet
from netgraph.masks import (
    fill_parameter_slots,
    num_parameter_slots,
    parameter_masks,
    read_parameter_slots,
    spec_parameter_masks,
)

from .edit import EditScale, apply_edit
from .equivariant import ChainLayout, EquivariantLinear, IOEmbedding, Slot, invariant_pool
from .gmn import GMN, GMNConv, PNAAggregation
from .graph_inputs import GraphEmbedding
from .graph_model import GraphMetanet
from .heads import EquivariantHead, InvariantHead
from .generated import GeneratedNetworks
from .generators import DefaultInitGenerator, WeightGenerator
from .hypernetworks import ChunkedHypernetwork, mip_encoding
from .parameter_graph_hypernet import ParameterGraphHypernetwork, fan_in_scales
from .operation_graph_hypernet import ENCODERS, OperationGraphHypernetwork, OperationGraph, operation_graph
from .weight_diffusion import LatentDenoiser, WeightAutoencoder, WeightDiffusion
from .weight_tokens import TokenLayout
from .conditioning import ConditionEncoder
from .ngt import NGT, NGTLayer, RelationalAttention
from .scalegmn import ScaleEquivariant, ScaleGMN, ScaleGMNConv, ScaleInvariant
from .nfn import NFN
from .lora import LoraFlatMLP, LoraSpectrumNet
from .probes import ProbeFeatures, probe_features
from .registry import (
    create_metanet,
    list_metanets,
    metanet_class,
    metanet_preset,
    metanet_preset_names,
    register_metanet,
)
from .target_architecture import ArchitectureMismatchError, TargetArchitecture

__all__ = [
    "create_metanet",
    "list_metanets",
    "metanet_class",
    "register_metanet",
    "metanet_preset",
    "metanet_preset_names",
    "Metanet",
    "DenseMetanet",
    "EquivariantDenseMetanet",
    "GraphMetanet",
    "DWSNet",
    "DWSLayer",
    "NFN",
    "GMN",
    "GMNConv",
    "PNAAggregation",
    "NGT",
    "NGTLayer",
    "RelationalAttention",
    "ScaleGMN",
    "LoraSpectrumNet",
    "LoraFlatMLP",
    "ScaleGMNConv",
    "ScaleInvariant",
    "ScaleEquivariant",
    "FlatMLP",
    "StatNN",
    "layer_statistics",
    "QUANTILES",
    "ChainLayout",
    "EquivariantLinear",
    "IOEmbedding",
    "Slot",
    "invariant_pool",
    "GraphEmbedding",
    "InvariantHead",
    "EquivariantHead",
    "ProbeFeatures",
    "probe_features",
    "apply_edit",
    "parameter_masks",
    "spec_parameter_masks",
    "EditScale",
    "layer_shapes_of",
    "chain_problem",
    "WeightGenerator",
    "DefaultInitGenerator",
    "GeneratedNetworks",
    "TargetArchitecture",
    "ArchitectureMismatchError",
    "ChunkedHypernetwork",
    "mip_encoding",
    "ParameterGraphHypernetwork",
    "fan_in_scales",
    "OperationGraphHypernetwork",
    "OperationGraph",
    "operation_graph",
    "ENCODERS",
    "WeightDiffusion",
    "WeightAutoencoder",
    "LatentDenoiser",
    "TokenLayout",
    "ConditionEncoder",
    "fill_parameter_slots",
    "read_parameter_slots",
    "num_parameter_slots",
]
