"""Tasks by name: ``register_task``, ``create_task(name, **config)``, ``list_tasks()``, and the
protocol settings of each task in ``netgraph/configs/task/<preset>.yaml`` (:func:`task_preset`).

Adding a task is one file with a :class:`~netgraph.tasks.Task` subclass decorated with
``@register_task("my_task")`` (imported in ``netgraph/tasks/__init__.py``) plus one config
``netgraph/configs/task/my_task.yaml`` whose ``task:`` node holds ``name: my_task`` and the
protocol (zoo, target, splits ...) and whose ``train:`` node the training settings it needs.

Example:
    >>> from netgraph.tasks import create_task, list_tasks, task_preset
    >>> "accuracy_prediction" in list_tasks()
    True
    >>> task_preset("accuracy_prediction_cifar10gs")["zoo"]["loader"]
    'small_cnn_zoo'
    >>> create_task("accuracy_prediction", zoo="zoos/digits-cnn").monitor
    'kendall_tau'
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from netgraph.configs import load_preset, preset_names
from netgraph.registry import Registry

__all__ = ["register_task", "create_task", "list_tasks", "task_class", "task_preset", "task_preset_names"]

_TASKS: Registry = Registry("task")
T = TypeVar("T", bound=type)


def register_task(name: str) -> Callable[[T], T]:
    """Class decorator adding a task class to the registry under ``name`` (also its ``name`` attribute)."""

    def add(cls: T) -> T:
        _TASKS.register(name)(cls)
        cls.name = name
        return cls

    return add


def task_class(name: str) -> type:
    """The class registered under ``name``."""
    return _TASKS.get(name)


def list_tasks() -> list[str]:
    """Names accepted by :func:`create_task`, sorted."""
    return _TASKS.names()


def task_preset_names() -> list[str]:
    """Configs in ``netgraph/configs/task`` (a task's own protocol, and variants such as published data)."""
    return preset_names("task")


def task_preset(preset: str) -> dict[str, Any]:
    """The ``task`` node of ``netgraph/configs/task/<preset>.yaml`` (``name`` + the task's arguments)."""
    return load_preset("task", preset)["task"]


def create_task(name: str, **config: Any):
    """Task ``name`` with the protocol of its config file (when it has one), overridden by ``config``."""
    cls = task_class(name)
    base = task_preset(name) if name in task_preset_names() else {}
    base.pop("name", None)
    return cls(**{**base, **config})
