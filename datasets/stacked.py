"""Many networks of one architecture as stacked parameters, run and trained with ``torch.func``.

Every parameter of ``B`` networks lives in one tensor ``[B, *shape]``. :class:`StackedModel` runs
them all at once (a :class:`netgraph.population.Population` with per-net dropout rates); :func:`stacked_init` draws ``B`` independent
initialisations (per-net scheme and scale, no loop over nets); :class:`StackedOptimizer` applies
SGD (momentum), Adam or RMSprop with per-net learning rate, weight decay and optimiser choice, as
``[B]`` tensors. Dropout layers become :class:`RateDropout`, whose rate is a per-net buffer.

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> net = StackedModel(mlp([3, 8, 2]))
    >>> params = stacked_init(net.module, 5, init=["he_normal"] * 5, generator=torch.Generator().manual_seed(0))
    >>> net(params, torch.randn(7, 3), shared_inputs=True).shape    # 5 nets, 7 inputs, 2 outputs
    torch.Size([5, 7, 2])
"""

from __future__ import annotations

import copy
import math
from typing import Mapping, Sequence

import torch
import torch.nn as nn

from netgraph.population import Population

__all__ = ["StackedModel", "RateDropout", "StackedOptimizer", "stacked_init", "INITS", "OPTIMIZERS"]

INITS = ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "normal", "siren")
OPTIMIZERS = ("sgd", "adam", "rmsprop")


class RateDropout(nn.Module):
    """Inverted dropout whose rate ``p`` is a (non-persistent) buffer, so it can differ per net."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.register_buffer("p", torch.tensor(float(p)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1.0 - self.p)


class StackedModel:
    """Runs ``B`` networks of ``module``'s architecture on their own stacked parameters.

    ``module`` is copied; its ``nn.Dropout`` layers are replaced by :class:`RateDropout` (this
    changes no state-dict key, so trained weights load into the original architecture).
    """

    def __init__(self, module: nn.Module):
        self.module = copy.deepcopy(module)
        self.dropout_names = []
        for name, child in list(self.module.named_modules()):
            if isinstance(child, nn.Dropout):
                parent, _, attr = name.rpartition(".")
                setattr(self.module.get_submodule(parent) if parent else self.module, attr, RateDropout())
                self.dropout_names.append(f"{name}.p")
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.module.modules()):
            raise ValueError(
                f"{type(module).__name__} has BatchNorm layers, whose running statistics cannot be "
                "trained per net under vmap; use an architecture without BatchNorm for zoos"
            )

    def __call__(
        self,
        params: Mapping[str, torch.Tensor],
        inputs: torch.Tensor,
        dropout: torch.Tensor | None = None,
        train: bool = False,
        shared_inputs: bool = False,
    ) -> torch.Tensor:
        """Outputs of every net: ``[B, n, *out]``.

        Args:
            params: stacked parameters ``{name: [B, *shape]}``.
            inputs: ``[B, n, *in]`` (one batch per net) or ``[n, *in]`` with ``shared_inputs=True``.
            dropout: ``[B]`` per-net dropout rates (used when ``train``).
            train: training mode (dropout active, a different mask per net).
        """
        b = next(iter(params.values())).shape[0]
        rates = dropout if dropout is not None else torch.zeros(b, device=inputs.device)
        self.module.train(train)
        weights = {**params, **{name: rates for name in self.dropout_names}}
        return Population(weights, self.module).run(inputs, per_network=not shared_inputs)


def stacked_init(
    module: nn.Module,
    num: int,
    init: Sequence[str],
    init_std: torch.Tensor | Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    w0: float = 30.0,
) -> dict[str, torch.Tensor]:
    """``num`` independent initialisations of ``module``'s parameters: ``{name: [num, *shape]}``.

    ``init[i]`` is net ``i``'s scheme (see :data:`INITS`): He / Glorot normal or uniform (zero
    biases, as Keras), ``normal`` with standard deviation ``init_std[i]`` (zero biases), or
    ``siren`` (Sitzmann et al.: first layer U(-1/fan_in, 1/fan_in), later layers
    U(-sqrt(6/fan_in)/w0, +), biases U(-1/sqrt(fan_in), +), as :class:`netgraph.architectures.Siren`).
    """
    unknown = sorted(set(init) - set(INITS))
    if unknown:
        raise ValueError(f"unknown init scheme(s) {unknown}; expected one of {list(INITS)}")
    if len(init) != num:
        raise ValueError(f"init lists {len(init)} schemes for {num} nets; give one per net")
    codes = torch.tensor([INITS.index(s) for s in init], device=device)
    std = torch.as_tensor(init_std if init_std is not None else [0.05] * num, dtype=torch.float32, device=device)
    uniform = (
        (codes == INITS.index("he_uniform"))
        | (codes == INITS.index("glorot_uniform"))
        | (codes == INITS.index("siren"))
    )
    siren = codes == INITS.index("siren")
    out: dict[str, torch.Tensor] = {}
    first_weight = True
    for name, p in module.named_parameters():
        shape = (num, *p.shape)
        normal = torch.randn(shape, generator=generator, device=device)
        unit_uniform = (torch.rand(shape, generator=generator, device=device) * 2 - 1) * math.sqrt(3.0)
        if p.dim() >= 2:
            receptive = math.prod(p.shape[2:])
            fan_in, fan_out = p.shape[1] * receptive, p.shape[0] * receptive
            siren_bound = 1 / fan_in if first_weight else math.sqrt(6 / fan_in) / w0
            scale = torch.stack(
                [
                    torch.full_like(std, math.sqrt(2 / fan_in)),
                    torch.full_like(std, math.sqrt(2 / fan_in)),
                    torch.full_like(std, math.sqrt(2 / (fan_in + fan_out))),
                    torch.full_like(std, math.sqrt(2 / (fan_in + fan_out))),
                    std,
                    torch.full_like(std, siren_bound / math.sqrt(3.0)),
                ]
            )[codes, torch.arange(num, device=device)]
            first_weight = False
        else:  # biases: zero, except SIREN's PyTorch-default uniform
            fan_in = _fan_in_of_bias(module, name)
            scale = torch.where(
                siren, torch.full_like(std, 1 / math.sqrt(fan_in) / math.sqrt(3.0)), torch.zeros_like(std)
            )
        view = (num,) + (1,) * p.dim()
        out[name] = torch.where(uniform.view(view), unit_uniform, normal) * scale.view(view)
    return out


def _fan_in_of_bias(module: nn.Module, bias_name: str) -> int:
    owner = module.get_submodule(bias_name.rpartition(".")[0]) if "." in bias_name else module
    weight = getattr(owner, "weight", None)
    return math.prod(weight.shape[1:]) if weight is not None else 1


class StackedOptimizer:
    """SGD with momentum / Adam / RMSprop for ``B`` nets at once, chosen per net.

    With per-net ``lr``, ``weight_decay`` (L2 added to the gradient, as ``torch.optim``) and
    ``kind`` (index into :data:`OPTIMIZERS`), one update is, element-wise::

        g = grad + wd * p
        m = beta1 * m + c1 * g               # sgd: (momentum, 1); adam: (0.9, 0.1); rmsprop: (0, 1), so m = g
        v = beta2 * v + (1 - beta2) * g**2   # sgd: beta2 = 1, so v stays 0; adam: 0.999; rmsprop: 0.99
        p -= lr / bc1 * m / (sqrt(a * v) + e)  # sgd: a = 0, e = 1; adam: a = 1 / bc2, e = eps; rmsprop: a = 1, e = eps

    (``bc1``, ``bc2``: Adam's bias corrections, 1 for the others), which matches
    ``torch.optim.SGD(momentum=0.9)``, ``Adam`` and ``RMSprop`` step for step (tested). Written
    with per-net coefficients instead of branches, so mixing optimisers in one population costs a
    dozen in-place element-wise ops per parameter. ``active [B]`` (optional, bool) freezes nets.
    """

    def __init__(
        self,
        params: Mapping[str, torch.Tensor],
        lr: torch.Tensor,
        weight_decay: torch.Tensor,
        kind: torch.Tensor,
        momentum: float = 0.9,
        betas: tuple[float, float] = (0.9, 0.999),
        alpha: float = 0.99,
        eps: float = 1e-8,
    ):
        device = next(iter(params.values())).device
        kind = torch.as_tensor(kind, device=device)
        self.is_sgd, self.is_adam = kind == OPTIMIZERS.index("sgd"), kind == OPTIMIZERS.index("adam")
        f = lambda t: torch.as_tensor(t, dtype=torch.float32, device=device)  # noqa: E731
        pick = lambda sgd, adam, rms: torch.where(self.is_sgd, f(sgd), torch.where(self.is_adam, f(adam), f(rms)))  # noqa: E731
        self.lr, self.wd = f(lr), f(weight_decay)
        self.beta1, self.c1 = pick(momentum, betas[0], 0.0), pick(1.0, 1 - betas[0], 1.0)
        self.beta2 = pick(1.0, betas[1], alpha)
        self.eps = pick(1.0, eps, eps)
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        self.steps = 0
        self.params = params

    @torch.no_grad()
    def step(self, grads: Mapping[str, torch.Tensor], active: torch.Tensor | None = None) -> None:
        """Update every parameter in place from ``grads`` (``{name: [B, *shape]}``)."""
        self.steps += 1
        one = torch.ones_like(self.lr)
        bc1 = torch.where(self.is_adam, 1 - self.beta1**self.steps, one)
        a = torch.where(
            self.is_sgd, torch.zeros_like(one), torch.where(self.is_adam, 1 / (1 - self.beta2**self.steps), one)
        )
        scale = self.lr / bc1 * (one if active is None else active.to(one.dtype))
        for name, p in self.params.items():
            view = (-1,) + (1,) * (p.dim() - 1)
            g = torch.addcmul(grads[name], self.wd.view(view), p)
            m = self.m[name].mul_(self.beta1.view(view)).addcmul_(self.c1.view(view), g)
            v = self.v[name].mul_(self.beta2.view(view)).addcmul_(g.mul_(g), (1 - self.beta2).view(view))
            denom = v.mul(a.view(view)).sqrt_().add_(self.eps.view(view))
            p.sub_(m.div(denom).mul_(scale.view(view)))
