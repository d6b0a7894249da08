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
from .ops.registry import COMPOSITE_MODULES, FUNCTION_BINDINGS, MODULE_BINDINGS, Lowered, module_binding
from .ir import Op, ParamRef, Program, Value, resolve_args as _resolve

__all__ = ["lower_export"]


def lower_export(model: nn.Module, args: tuple, kwargs: dict) -> Program:
    try:
        exported = torch.export.export(model, args, kwargs=kwargs, strict=False)
    except Exception as err:
        raise UnsupportedModuleError(
            f"{type(model).__name__}: torch.export could not trace the forward pass with the given "
            f"example_inputs ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})."
        ) from err
    graph = exported.graph
    signature = exported.graph_signature
    state = {
        **dict(model.named_parameters(remove_duplicate=False)),
        **dict(model.named_buffers(remove_duplicate=False)),
    }
    state_names = set(model.state_dict(keep_vars=True))
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
            env[node] = _placeholder(node, specs.get(node.name), state, state_names)
            if isinstance(env[node], Value):
                inputs.append(env[node])
        elif node.op == "output":
            user = [s.arg.name for s in signature.output_specs if s.kind == OutputKind.USER_OUTPUT]
            by_name = {n.name: n for n in node.args[0] if isinstance(n, fx.Node)}
            outputs = [env[by_name[name]] for name in user if name in by_name and isinstance(env[by_name[name]], Value)]
        elif node.name in groups:
            call = groups[node.name]
            if call not in emitted:
                emitted.add(call)
                ops.extend(_composite_ops(model, graph, call, groups, env))
        else:
            args = _resolve(node.args, env)
            kwargs = _resolve(node.kwargs, env)
            lowered, target = _lower(node, args, kwargs)
            if lowered.kind == "identity" and isinstance(lowered.args[0], ParamRef):
                env[node] = lowered.args[0]  # a view / broadcast of a parameter is the parameter
                continue
            env[node] = _value(node)
            ops.append(
                Op(
                    lowered.kind,
                    tuple(lowered.args),
                    env[node],
                    lowered.attrs,
                    _where(node, root),
                    target,
                    (args, kwargs),
                )
            )
    return Program(inputs, ops, outputs, "export")


def _placeholder(node: fx.Node, spec, state: dict[str, torch.Tensor], state_names: set[str]) -> Any:
    """Parameters and float state-dict buffers are ParamRefs; other buffers (token type / position
    ids used as indices, non-persistent constants such as rotary frequencies) are data."""
    if spec is not None and spec.kind == InputKind.PARAMETER:
        return ParamRef(spec.target, tuple(state[spec.target].shape), True)
    if spec is not None and spec.kind == InputKind.BUFFER:
        tensor = state[spec.target]
        if spec.target in state_names and torch.is_floating_point(tensor):
            return ParamRef(spec.target, tuple(tensor.shape), False)
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


def _composite_groups(model: nn.Module, graph: fx.Graph) -> dict[str, tuple[str, str]]:
    """Node name -> (call, path) of the outermost composite module (e.g. MultiheadAttention) it belongs to.
    ``call`` is export's module-stack key, which tells apart the calls of a module used several times
    (``encoder.layer`` then ``encoder.layer@1``: ALBERT's shared layer, a shared activation)."""
    groups: dict[str, tuple[str, str]] = {}
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        for call, (path, _) in (node.meta.get("nn_module_stack") or {}).items():
            try:
                module = model.get_submodule(path)
            except AttributeError:
                continue
            if type(module) in COMPOSITE_MODULES or (
                type(module) not in MODULE_BINDINGS and module_binding(module) is not None
            ):
                groups[node.name] = (call, path)
                break
    return groups


def _composite_ops(
    model: nn.Module, graph: fx.Graph, call: tuple[str, str], groups: dict[str, tuple[str, str]], env: dict
) -> list[Op]:
    """One op for one call of a composite module; its other outputs (e.g. attention weights) become data."""
    path = call[1]
    module = model.get_submodule(path)
    where = f"module '{path}' ({type(module).__name__})"
    members = [n for n in graph.nodes if groups.get(n.name) == call]
    member_set = set(members)
    sources = []
    for n in members:
        for a in n.all_input_nodes:
            if a not in member_set and a not in sources and isinstance(env.get(a), Value) and env[a].is_tensor:
                sources.append(a)
    if type(module) not in COMPOSITE_MODULES:
        return _named_composite_ops(module, path, where, members, member_set, sources, env)
    roles = _attention_sources(members, member_set, sources, module, where)
    q, k, v = (env[s] for s in roles)
    exits = [n for n in members if any(u not in member_set for u in n.users)]
    out_linear = [n for n in members if "linear" in str(n.target)][-1]
    main = next((n for n in exits if n is out_linear or _is_ancestor(out_linear, n, member_set)), None)
    if main is None:
        raise UnsupportedModuleError(f"{where}: could not find the attention output in the exported graph")
    ops = []
    for n in members:
        env[n] = _value(n)
    lowered = MODULE_BINDINGS[type(module)](module, path, (q, k, v), {})
    ops.append(
        Op(
            lowered.kind,
            lowered.args,
            env[main],
            {**lowered.attrs, "direct_output": True},
            where,
            type(module).__name__,
            module,
        )
    )
    for n in exits:
        if n is not main:
            ops.append(Op("meta", (), env[n], {}, where, "attention weights"))
    return ops


def _named_composite_ops(
    module: nn.Module,
    path: str,
    where: str,
    members: list[fx.Node],
    member_set: set[fx.Node],
    sources: list[fx.Node],
    env: dict[fx.Node, Any],
) -> list[Op]:
    """One op for a module bound by class name (an activation, an RMSNorm): one input, one output.
    Dtype casts of the input that export shares with code outside the module stand for the input."""
    passing: set[fx.Node] = set()
    for n in members:
        if (
            _aten_name(n) in _PASS_THROUGH
            and n.args
            and isinstance(n.args[0], fx.Node)
            and (n.args[0] in sources or n.args[0] in passing)
            and _same_shape(n, n.args[0])
        ):
            passing.add(n)
    source = next(iter(sources), None)
    for n in passing:
        env[n] = env[source]
    members = [n for n in members if n not in passing]
    exits = [n for n in members if any(u not in member_set for u in n.users)]
    if len(sources) != 1 or len(exits) != 1:
        raise UnsupportedModuleError(
            f"{where}: netgraph reads this module as one operation on one input tensor, but under torch.export it "
            f"has {len(sources)} input and {len(exits)} output tensors. Replace the module, or register a handler "
            "(netgraph.trace.ops.register_op + bind_module)."
        )
    for n in members:
        env[n] = _value(n)
    lowered = module_binding(module)(module, path, (env[sources[0]],), {})
    return [Op(lowered.kind, lowered.args, env[exits[0]], lowered.attrs, where, type(module).__name__, module)]


_PASS_THROUGH = {"to", "_to_copy", "alias", "clone", "contiguous", "detach", "type_as"}


def _aten_name(node: fx.Node) -> str:
    parts = str(node.target).split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "aten" else ""


def _same_shape(a: fx.Node, b: fx.Node) -> bool:
    va, vb = a.meta.get("val"), b.meta.get("val")
    return isinstance(va, torch.Tensor) and isinstance(vb, torch.Tensor) and va.shape == vb.shape


def _attention_sources(
    members: list[fx.Node], member_set: set[fx.Node], sources: list[fx.Node], module: nn.Module, where: str
) -> tuple[fx.Node, fx.Node, fx.Node]:
    """The outside tensors read as query, key and value by an exported ``nn.MultiheadAttention``.

    The input projections are the module's linear ops before the output projection, in the order
    query, key, value: one fused ``3E`` projection (self-attention), a query projection and a fused
    ``2E`` key/value projection (key is value), or three projections. Each projection's rows say
    which roles it serves, and the outside tensor feeding it is the source of those roles.
    """
    linears = [n for n in members if "linear" in str(n.target)]
    in_proj = linears[:-1]
    roles: list[fx.Node] = []
    for node in in_proj:
        feeding = [s for s in sources if _is_ancestor(s, node.args[0], member_set) or s is node.args[0]]
        weight = node.args[1].meta.get("val") if isinstance(node.args[1], fx.Node) else None
        rows = None if weight is None else int(weight.shape[0])
        if len(feeding) != 1 or rows is None or rows % module.embed_dim:
            roles = []
            break
        roles.extend([feeding[0]] * (rows // module.embed_dim))
    if len(roles) != 3:
        raise UnsupportedModuleError(
            f"{where}: could not tell which input tensors the exported attention reads as query, key and value "
            f"(found {len(in_proj)} input projections). Trace without example_inputs (torch.fx) instead, or "
            "report this architecture."
        )
    return roles[0], roles[1], roles[2]


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
