"""The relations kind's options of the student (fields of :class:`smallext.students.options.StudentOptions`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RelationStudentOptions"]


class RelationStudentOptions(BaseModel):
    """How a relation student's relation classifier decides and trains."""

    model_config = ConfigDict(extra="forbid")
    relation_threshold: float = Field(0.5, gt=0, lt=1, description="relation students: probability at or above "
                                                                   "which a relation is predicted")
    relation_negatives: int = Field(100, ge=0, description="relation students: at most this many entity pairs "
                                                           "without a relation per window and epoch")
