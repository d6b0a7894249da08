"""``Population``: ``B`` networks of one architecture, stored stacked and run together.

A population is the weights of ``B`` networks as one stacked state dict ``{name: [B, *shape]}``
(or their parameter graphs, a PyG ``Batch``), the architecture's :class:`~netgraph.spec.GraphSpec`
and, optionally, a template module of that architecture. It is the one place where netgraph runs
many networks at once: ``population(x)`` is one ``torch.func.vmap`` of ``functional_call`` over the
networks (no Python loop over them), differentiable with respect to the weights.

* ``population(*args, **kwargs)`` / :meth:`Population.run`: outputs ``[B, *output]``, inputs shared
  by every network or one batch per network, optionally with the outputs of named submodules;
* :meth:`~Population.state_dicts` (stacked), :meth:`~Population.state_dict`, :meth:`~Population.to_batch`
  (parameter graphs), :meth:`~Population.modules` / ``population[i]`` (``nn.Module`` copies);
* :meth:`~Population.to` moves it to a device.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.population import Population
    >>> nets = Population.from_modules([mlp([3, 4, 2]) for _ in range(5)])
    >>> x = torch.randn(7, 3)
    >>> nets(x).shape                                       # [networks, inputs, outputs]
    torch.Size([5, 7, 2])
    >>> torch.allclose(nets(x)[2], nets[2](x))              # the same as running network 2 alone
    True
    >>> nets.to_batch().num_graphs, tuple(nets.state_dicts()["0.weight"].shape)
    (5, (5, 4, 3))
"""

from __future__ import annotations

import copy
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, vmap
from torch_geometric.data import Batch, Data

from .activations import capture_outputs
from .convert import from_state_dicts, spec_of, to_state_dicts
from .graph import graph_specs
from .inputs import ExampleInputs, split_inputs
from .spec import GraphSpec

__all__ = ["Population"]


class Population:
    """``B`` networks of one architecture (see the module docstring).

    Args:
        weights: stacked state dict ``{name: [B, *shape]}``; it may hold only some entries (e.g. the
            parameters): the others are the template's own, shared by every network.
        template: a module of the architecture (its own weights are not used where ``weights`` has
            an entry); needed to run the networks or build modules.
        spec: the architecture's spec, when known (else traced from ``template`` on first use).
        graphs: instead of ``weights``, the networks' parameter graphs (a ``Batch`` of one
            architecture); prefer :meth:`from_graphs`.

    Raises:
        ValueError: no networks, weights with different leading sizes, or graphs of several architectures.
        TypeError: neither a template, a spec nor graphs to tell the architecture.
    """

    def __init__(
        self,
        weights: Mapping[str, torch.Tensor] | None = None,
        template: nn.Module | None = None,
        *,
        spec: GraphSpec | None = None,
        graphs: Data | None = None,
    ):
        if (weights is None) == (graphs is None):
            raise TypeError(
                "Population takes either stacked weights {name: [B, *shape]} or graphs, not "
                f"{'both' if weights is not None else 'neither'}"
            )
        if weights is not None:
            if not weights:
                raise ValueError("Population got an empty weights dict; expected {name: [B, *shape]} tensors")
            sizes = {name: tensor.shape[0] if tensor.dim() else None for name, tensor in weights.items()}
            if len(set(sizes.values())) != 1 or None in sizes.values():
                raise ValueError(
                    f"stacked weights need one leading network dimension B shared by every entry; got "
                    f"leading sizes {sizes}"
                )
            if template is None and spec is None:
                raise TypeError("Population(weights) needs the architecture: pass template=module or spec=GraphSpec")
        elif spec is None:  # a given spec vouches for graphs traced separately from one architecture
            specs = graph_specs(graphs)
            if any(s is not specs[0] for s in specs):
                raise ValueError(
                    f"a Population holds networks of one architecture; the batch mixes "
                    f"{len({id(s) for s in specs})} architectures: split it with netgraph.split_by_spec"
                )
            spec = specs[0]
        self._weights = dict(weights) if weights is not None else None
        self._graphs = graphs
        self._spec = spec
        self.template = template

    @classmethod
    def from_graphs(cls, graphs: Data | Sequence[Data], template: nn.Module | None = None) -> "Population":
        """The networks of a ``ParamGraph``, a ``Batch`` or a list of graphs of one architecture."""
        if isinstance(graphs, (list, tuple)):
            if not graphs:
                raise ValueError("Population.from_graphs got an empty list; pass at least one ParamGraph")
            graphs = Batch.from_data_list(list(graphs))
        return cls(template=template, graphs=graphs)

    @classmethod
    def from_modules(cls, modules: Sequence[nn.Module]) -> "Population":
        """The networks ``modules`` (one architecture); the first one is the template."""
        modules = list(modules)
        if not modules:
            raise ValueError("Population.from_modules got no modules; pass at least one")
        keys = list(modules[0].state_dict())
        for i, module in enumerate(modules):
            if list(module.state_dict()) != keys:
                raise ValueError(
                    f"module {i} ({type(module).__name__}) has other state-dict keys than module 0 "
                    f"({type(modules[0]).__name__}); a Population holds one architecture"
                )
        states = [module.state_dict() for module in modules]
        return cls({k: torch.stack([s[k] for s in states]) for k in keys}, modules[0])

    # ------------------------------------------------------------------------------------ contents
    @property
    def spec(self) -> GraphSpec:
        """The architecture's spec (traced from the template on first use if not given)."""
        if self._spec is None:
            self._spec = spec_of(self.template)
        return self._spec

    def __len__(self) -> int:
        if self._weights is not None:
            return next(iter(self._weights.values())).shape[0]
        return len(graph_specs(self._graphs))

    def __repr__(self) -> str:
        name = type(self.template).__name__ if self.template is not None else "GraphSpec"
        return f"{type(self).__name__}(n={len(self)}, architecture={name})"

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        if self._weights is not None:
            return next(iter(self._weights.values())).device
        return self._graphs.x.device

    def state_dicts(self) -> dict[str, torch.Tensor]:
        """Stacked weights ``{name: [B, *shape]}`` (the stored ones; computed once from the graphs)."""
        if self._weights is None:
            self._weights = to_state_dicts(self._graphs, stacked=True)
        return self._weights

    def state_dict(self, index: int) -> dict[str, torch.Tensor]:
        """The weights of network ``index`` (views into :meth:`state_dicts`)."""
        self._check_index(index)
        return {k: v[index] for k, v in self.state_dicts().items()}

    def to_batch(self, kernel_shape: tuple[int, ...] = ()) -> Batch:
        """The networks' parameter graphs, one ``Batch`` (the given graphs if built from graphs)."""
        if self._graphs is not None and not kernel_shape:
            return self._graphs
        return from_state_dicts(
            self.template if self.template is not None else self.spec, self._full_weights(), kernel_shape=kernel_shape
        )

    def to(self, device: torch.device | str) -> "Population":
        """A copy on ``device`` (weights, graphs and a copy of the template; this one is unchanged)."""
        out = copy.copy(self)
        if self._weights is not None:
            out._weights = {k: v.to(device) for k, v in self._weights.items()}
        if self._graphs is not None:
            out._graphs = self._graphs.to(device)
        if self.template is not None:
            out.template = copy.deepcopy(self.template).to(device)
        return out

    # ------------------------------------------------------------------------------------ modules
    def __getitem__(self, index: int) -> nn.Module:
        """Network ``index`` as a copy of the template carrying its weights (detached)."""
        self._check_index(index)
        module = copy.deepcopy(self._require_template("build modules"))
        state = module.state_dict()
        state.update({k: v[index].detach() for k, v in self.state_dicts().items()})
        module.load_state_dict(state)
        return module

    def __iter__(self) -> Iterator[nn.Module]:
        return (self[i] for i in range(len(self)))

    def modules(self) -> list[nn.Module]:
        """All networks as modules (copies of the template)."""
        return list(self)

    # ------------------------------------------------------------------------------------ running
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Every network on the same inputs: ``[B, *output]`` (the template in its current mode)."""
        return self._run(args, kwargs)

    def run(
        self, inputs: ExampleInputs, *, per_network: bool = False, capture: Sequence[str] = ()
    ) -> Any | tuple[Any, dict[str, Any]]:
        """Run every network on ``inputs`` in one ``vmap`` (randomness differs per network).

        Args:
            inputs: a tensor, a tuple of positional inputs or a dict of keyword inputs.
            per_network: inputs carry a leading ``[B]`` dimension (one batch per network) instead of
                being shared by every network.
            capture: module paths whose outputs are returned too (forward hooks inside the ``vmap``).

        Returns:
            the outputs ``[B, *output]``; with ``capture``, ``(outputs, {path: [B, *its output]})``.
            Buffers updated by the forward pass (BatchNorm in train mode) are updated in the stored weights.
        """
        args, kwargs = split_inputs(inputs)
        return self._run(args, kwargs, per_network, capture)

    def _run(self, args: tuple, kwargs: dict, per_network: bool = False, capture: Sequence[str] = ()) -> Any:
        template = self._require_template("run the networks")
        paths = list(capture)

        def one(state, args, kwargs):
            if not paths:
                return functional_call(template, state, args, kwargs)
            with capture_outputs(template, paths) as captured:
                out = functional_call(template, state, args, kwargs)
            return out, {path: captured[path] for path in paths}

        dims = 0 if per_network else None
        return vmap(one, in_dims=(0, dims, dims), randomness="different")(self._call_state(), args, kwargs)

    # ------------------------------------------------------------------------------------ helpers
    def _call_state(self) -> dict[str, torch.Tensor]:
        """The stacked state the networks run on (subclasses may detach some entries)."""
        return self.state_dicts()

    def _full_weights(self) -> dict[str, torch.Tensor]:
        """Every state-dict entry stacked: the template's own ones repeated where ``weights`` has none."""
        weights = self.state_dicts()
        if self.template is None:
            return weights
        n = len(self)
        return {
            k: weights[k] if k in weights else v.detach().unsqueeze(0).expand(n, *v.shape)
            for k, v in self.template.state_dict().items()
        }

    def _require_template(self, action: str) -> nn.Module:
        if self.template is None:
            raise TypeError(
                f"to {action} the population needs the target nn.Module (a template of the "
                "architecture), but it was given only a spec or graphs; pass template=module (or use .to_batch() / .state_dicts())"
            )
        return self.template

    def _check_index(self, index: int) -> None:
        if not -len(self) <= index < len(self):
            raise IndexError(f"network {index} out of range: the population has {len(self)} networks")
