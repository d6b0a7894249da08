"""Lower a module to a :class:`Program` with ``torch.export`` (given example inputs).

``torch.export`` sees through any Python code (Hugging Face models included) and records every
tensor's shape, so reshapes into attention heads can be followed exactly. Composite modules
(``nn.MultiheadAttention``) are collapsed back into one op using the module stack that export keeps
on each node.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from torch.export.graph_signature import InputKind, OutputKind

from ..errors import UnsupportedModuleError
from ..ops.registry import COMPOSITE_MODULES, FUNCTION_BINDINGS, MODULE_BINDINGS, Lowered
from .ir import Op, ParamRef, Program, Value, resolve_args as _resolve

__all__ = ["lower_export"]


def lower_export(model: nn.Module, args: tuple, kwargs: dict) -> Program:
    try:
        exported = torch.export.export(model, args, kwargs=kwargs, strict=False)
    except Exception as err:
        raise UnsupportedModuleError(
            f"{type(model).__name__}: torch.export could not trace the forward pass with the given "
            f"example_inputs ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}).") from err
    graph = exported.graph
    signature = exported.graph_signature
    state = {**dict(model.named_parameters(remove_duplicate=False)), **dict(model.named_buffers(remove_duplicate=False))}
    env: dict[fx.Node, Any] = {}
    inputs: list[Value] = []
    ops: list[Op] = []
    outputs: list[Value] = []
    specs = {spec.arg.name: spec for spec in signature.input_specs if hasattr(spec.arg, "name")}
    groups = _composite_groups(model, graph)
    emitted: set[str] = set()
    root = f"<root> ({type(model).__name__})"
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = _placeholder(node, specs.get(node.name), state)
            if isinstance(env[node], Value):
                inputs.append(env[node])
        elif node.op == "output":
            user = [s.arg.name for s in signature.output_specs if s.kind == OutputKind.USER_OUTPUT]
            by_name = {n.name: n for n in node.args[0] if isinstance(n, fx.Node)}
            outputs = [env[by_name[name]] for name in user if name in by_name and isinstance(env[by_name[name]], Value)]
        elif node.name in groups:
            path = groups[node.name]
            if path not in emitted:
                emitted.add(path)
                ops.extend(_composite_ops(model, graph, path, groups, env))
        else:
            args = _resolve(node.args, env)
            kwargs = _resolve(node.kwargs, env)
            lowered, target = _lower(node, args, kwargs)
            if lowered.kind == "identity" and isinstance(lowered.args[0], ParamRef):
                env[node] = lowered.args[0]  # a view / broadcast of a parameter is the parameter
                continue
            env[node] = _value(node)
            ops.append(Op(lowered.kind, tuple(lowered.args), env[node], lowered.attrs, _where(node, root), target))
    return Program(inputs, ops, outputs, "export")


def _placeholder(node: fx.Node, spec, state: dict[str, torch.Tensor]) -> Any:
    if spec is not None and spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
        tensor = state[spec.target]
        return ParamRef(spec.target, tuple(tensor.shape), spec.kind == InputKind.PARAMETER)
    return _value(node)


def _value(node: fx.Node) -> Value:
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor):
        return Value(node.name, tuple(int(s) for s in val.shape))
    return Value(node.name, None, is_tensor=False)


def _lower(node: fx.Node, args: tuple, kwargs: dict) -> tuple[Lowered, str]:
    target = node.target
    name = str(target)
    binding = FUNCTION_BINDINGS.get(target)
    if binding is None and hasattr(target, "overloadpacket"):
        binding = FUNCTION_BINDINGS.get(target.overloadpacket)
    if binding is None:
        return Lowered("unknown", tuple(args) + tuple(kwargs.values())), name
    return binding(args, kwargs), name


def _where(node: fx.Node, root: str) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return root
    path, kind = list(stack.values())[-1]
    kind_name = kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1]
    return f"module '{path}' ({kind_name})"


def _composite_groups(model: nn.Module, graph: fx.Graph) -> dict[str, str]:
    """Node name -> path of the outermost composite module (e.g. MultiheadAttention) it belongs to."""
    groups: dict[str, str] = {}
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        for path, _ in (node.meta.get("nn_module_stack") or {}).values():
            try:
                module = model.get_submodule(path)
            except AttributeError:
                continue
            if type(module) in COMPOSITE_MODULES:
                groups[node.name] = path
                break
    return groups


def _composite_ops(model: nn.Module, graph: fx.Graph, path: str, groups: dict[str, str],
                   env: dict[fx.Node, Any]) -> list[Op]:
    """One op for a composite module; its other outputs (e.g. attention weights) become data."""
    module = model.get_submodule(path)
    where = f"module '{path}' ({type(module).__name__})"
    members = [n for n in graph.nodes if groups.get(n.name) == path]
    member_set = set(members)
    sources = []
    for n in members:
        for a in n.all_input_nodes:
            if a not in member_set and a not in sources and isinstance(env.get(a), Value) and env[a].is_tensor:
                sources.append(a)
    first_linear = next((n for n in members if "linear" in str(n.target)), None)
    feeding = [s for s in sources if first_linear is not None and _is_ancestor(s, first_linear, member_set)]
    if len(feeding) != 1:
        raise UnsupportedModuleError(
            f"{where}: under torch.export netgraph supports self-attention (query is key is value); this call "
            "uses different query/key/value tensors. Trace without example_inputs (torch.fx) instead.")
    source = env[feeding[0]]
    exits = [n for n in members if any(u not in member_set for u in n.users)]
    out_linear = [n for n in members if "linear" in str(n.target)][-1]
    main = next((n for n in exits if n is out_linear or _is_ancestor(out_linear, n, member_set)), None)
    if main is None:
        raise UnsupportedModuleError(f"{where}: could not find the attention output in the exported graph")
    ops = []
    for n in members:
        env[n] = _value(n)
    lowered = MODULE_BINDINGS[type(module)](module, path, (source, source, source), {})
    ops.append(Op(lowered.kind, lowered.args, env[main], {**lowered.attrs, "direct_output": True}, where,
                  type(module).__name__))
    for n in exits:
        if n is not main:
            ops.append(Op("meta", (), env[n], {}, where, "attention weights"))
    return ops


def _is_ancestor(a: fx.Node, b: fx.Node, within: set[fx.Node]) -> bool:
    stack, seen = [b], set()
    while stack:
        n = stack.pop()
        if n is a:
            return True
        for p in n.all_input_nodes:
            if p not in seen and (p in within or p is a):
                seen.add(p)
                stack.append(p)
    return False



