"""Tasks: what an LLM teacher asks for and how replies become spans (see :mod:`.base`).

=============  ===========================================================================
``entities``   :class:`~smallext.teachers.tasks.entities.EntityTask`: named entities of the schema's types
``relations``  :class:`~smallext.teachers.tasks.relations.RelationTask`: entities and relations in one call
=============  ===========================================================================
"""

from __future__ import annotations

from smallext.teachers.tasks.base import Grounded, ParsedReply, Task, chunk_documents
from smallext.teachers.tasks.entities import EntityTask
from smallext.teachers.tasks.relations import RelationTask

TASKS: dict[str, type[Task]] = {"entities": EntityTask, "relations": RelationTask}
"""Task name -> class: the one registration a new task needs."""

__all__ = ["TASKS", "EntityTask", "RelationTask", "Grounded", "ParsedReply", "Task", "chunk_documents"]
