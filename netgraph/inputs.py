"""The inputs convention of netgraph: a tensor, a tuple of positional inputs or a dict of keyword inputs.

Tracing (``example_inputs``), activation recording and running populations of networks all accept
inputs in this one form; :func:`split_inputs` turns it into ``(args, kwargs)``.

Example:
    >>> import torch
    >>> from netgraph.inputs import split_inputs
    >>> x = torch.zeros(2, 3)
    >>> [len(part) for part in split_inputs(x)], split_inputs({"input_ids": x})[1].keys()
    ([1, 0], dict_keys(['input_ids']))
"""

from __future__ import annotations

from typing import Any, Mapping

import torch.nn as nn

__all__ = ["ExampleInputs", "split_inputs", "run_model"]

ExampleInputs = Any  #: a tensor, a tuple of positional inputs, or a dict of keyword inputs


def split_inputs(inputs: ExampleInputs) -> tuple[tuple, dict]:
    """Inputs as ``(args, kwargs)``: a tensor, a tuple / list of positional inputs or a dict of keyword inputs."""
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    return (inputs,), {}


def run_model(model: nn.Module, inputs: ExampleInputs) -> Any:
    """``model(*args, **kwargs)`` for inputs in the :data:`ExampleInputs` convention."""
    args, kwargs = split_inputs(inputs)
    return model(*args, **kwargs)
