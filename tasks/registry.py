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

from importlib import resources
from typing import Any, Callable, TypeVar

__all__ = ["register_task", "create_task", "list_tasks", "task_class", "task_preset", "task_preset_names"]

_TASKS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_task(name: str) -> Callable[[T], T]:
    """Class decorator adding a task class to the registry under ``name`` (also its ``name`` attribute)."""

    def add(cls: T) -> T:
        if name in _TASKS and _TASKS[name] is not cls:
            raise ValueError(f"a task named {name!r} is already registered ({_TASKS[name].__name__}); pick another "
                             "name")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return add


def task_class(name: str) -> type:
    """The class registered under ``name``."""
    if name not in _TASKS:
        raise KeyError(f"no task named {name!r}; expected one of {list_tasks()}")
    return _TASKS[name]


def list_tasks() -> list[str]:
    """Names accepted by :func:`create_task`, sorted."""
    return sorted(_TASKS)


def task_preset_names() -> list[str]:
    """Configs in ``netgraph/configs/task`` (a task's own protocol, and variants such as published data)."""
    folder = resources.files("netgraph.configs") / "task"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def task_preset(preset: str) -> dict[str, Any]:
    """The ``task`` node of ``netgraph/configs/task/<preset>.yaml`` (``name`` + the task's arguments)."""
    from omegaconf import OmegaConf

    if preset not in task_preset_names():
        raise ValueError(f"no task config {preset!r}; available: {task_preset_names()}")
    text = (resources.files("netgraph.configs") / "task" / f"{preset}.yaml").read_text()
    return OmegaConf.to_container(OmegaConf.create(text), resolve=True)["task"]


def create_task(name: str, **config: Any):
    """Task ``name`` with the protocol of its config file (when it has one), overridden by ``config``."""
    cls = task_class(name)
    base = task_preset(name) if name in task_preset_names() else {}
    base.pop("name", None)
    return cls(**{**base, **config})
