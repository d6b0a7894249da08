"""Categorical vocabularies of the parameter graph: node, edge, activation and norm kinds.

They are the integer codes stored in ``ParamGraph.node_type``, ``edge_type``, ``node_act`` and
``node_norm``, and the meaning of each column of ``ParamGraph.x``.

Example:
    >>> from netgraph.types import NodeType, NODE_FEATURES
    >>> int(NodeType.HIDDEN), NODE_FEATURES[0]
    (1, 'bias')
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["NodeType", "EdgeType", "Activation", "Norm", "NODE_FEATURES", "NodeFeature"]


class NodeType(IntEnum):
    """What a node stands for."""

    INPUT = 0  #: an input feature, token of a vocabulary or position (never permuted)
    HIDDEN = 1  #: a neuron / channel produced by a weight layer
    OUTPUT = 2  #: an output neuron of the network (never permuted)
    QUERY = 3  #: a query dimension of an attention layer
    KEY = 4  #: a key dimension of an attention layer
    VALUE = 5  #: a value dimension of an attention layer
    SUM = 6  #: the result of a residual addition / concatenation of token sequences
    PRODUCT = 7  #: the result of an elementwise product of two feature maps (gating)


class EdgeType(IntEnum):
    """What an edge stands for."""

    LINEAR = 0  #: a weight of a fully connected layer (feature: scalar at the kernel centre)
    CONV = 1  #: a convolution kernel between two channels (feature: the padded kernel)
    EMBEDDING = 2  #: an embedding row entry (token node -> feature node)
    RESIDUAL = 3  #: a fixed identity connection of an addition (+1) or subtraction (-1)
    PRODUCT = 4  #: a fixed connection into an elementwise product node
    SCALE = 5  #: a learned per-feature scale (diagonal weight)
    FLATTEN = 6  #: a linear weight reading a flattened feature map (feature: the spatial weights)


class Activation(IntEnum):
    """Elementwise nonlinearity applied at a node (after bias and normalisation)."""

    NONE = 0
    RELU = 1
    GELU = 2
    TANH = 3
    SIGMOID = 4
    SILU = 5
    SIN = 6
    SOFTMAX = 7
    LEAKY_RELU = 8
    ELU = 9
    SOFTPLUS = 10
    HARDTANH = 11
    RELU6 = 12
    HARDSWISH = 13
    MISH = 14
    SELU = 15
    LOG_SOFTMAX = 16
    COS = 17


class Norm(IntEnum):
    """Normalisation applied at a node (after bias, before the activation)."""

    NONE = 0
    BATCH = 1
    LAYER = 2
    GROUP = 3


class NodeFeature(IntEnum):
    """Columns of ``ParamGraph.x`` (absent parameters are 0)."""

    BIAS = 0
    NORM_WEIGHT = 1
    NORM_BIAS = 2  #: also the recurrent bias ``bias_hh`` of LSTM / GRU gate nodes (gates have no norm)
    RUNNING_MEAN = 3
    RUNNING_VAR = 4


NODE_FEATURES: tuple[str, ...] = tuple(f.name.lower() for f in NodeFeature)
