"""Tasks: what an LLM teacher asks for and how replies become spans (see :mod:`.base`).

=============  ===========================================================================
``entities``   :class:`~smallext.teachers.tasks.entities.EntityTask`: named entities of the schema's types
=============  ===========================================================================
"""

from __future__ import annotations

from smallext.teachers.tasks.base import Grounded, ParsedReply, Task, chunk_documents
from smallext.teachers.tasks.entities import EntityTask

TASKS: dict[str, type[Task]] = {"entities": EntityTask}
"""Task name -> class: the one registration a new task needs."""

__all__ = ["TASKS", "EntityTask", "Grounded", "ParsedReply", "Task", "chunk_documents"]
