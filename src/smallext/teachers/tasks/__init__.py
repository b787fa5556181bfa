"""Tasks: what an LLM teacher asks for and how replies become labels (the seam is :mod:`.base`).

Each kind of output brings its own task (``kinds/<kind>/task.py``, named by the kind's ``task`` part: see
:mod:`smallext.kinds`); :func:`task_names` lists them and :func:`default_task` picks one for a schema.
"""

from __future__ import annotations

from smallext.kinds import KINDS
from smallext.teachers.tasks.base import Grounded, ParsedReply, Task, chunk_documents

__all__ = ["Grounded", "ParsedReply", "Task", "chunk_documents", "default_task", "task_class", "task_names"]


def task_names() -> list[str]:
    """The names of the registered kinds that have an LLM task, in registration order."""
    return [k.name for k in KINDS.values() if k.has("task")]


def default_task(schema) -> str:
    """The task for ``schema``: that of the last kind it declares (a kind after those it builds on, so the relation
    task, which asks for entities too, for a schema with relation types)."""
    declared = [k.name for k in KINDS.values() if k.has("task") and k.declared(schema)]
    return declared[-1] if declared else "entities"


def task_class(name: str) -> type[Task]:
    """The :class:`Task` class of the kind called ``name``.

    Raises:
        KeyError: no registered kind of that name has a task (the message lists those that do).
    """
    if name not in task_names():
        raise KeyError(f"no LLM task {name!r} (tasks: {', '.join(task_names())})")
    return KINDS[name].load("task")
