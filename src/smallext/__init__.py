"""smallext: knowledge extraction with small, efficient models.

Public API (heavy parts are imported lazily, so ``import smallext`` stays light and torch-free)::

    from smallext import Document, Span, load_schema, evaluate, datasets
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from smallext.doc import Document, Span
from smallext.errors import SmallextError
from smallext.kinds import KINDS  # registers every kind's schema section and document field
from smallext.kinds.relations import Relation

__version__ = "0.1.0"

_LAZY = {
    "load_schema": ("smallext.schema", "load_schema"),
    "Schema": ("smallext.schema", "Schema"),
    "evaluate": ("smallext.evaluate", "evaluate"),
    "datasets": ("smallext.datasets", None),
    "Extractor": ("smallext.students.extractor", "Extractor"),
    "fit": ("smallext.students.train", "fit"),
    "train_student": ("smallext.students.train", "train_student"),
    "train": ("smallext.students.train", "train"),  # deprecated alias of fit, for one release
    "load_teacher": ("smallext.teachers", "load_teacher"),
    "annotate": ("smallext.teachers.annotate", "annotate"),
    "distill": ("smallext.pipeline", "distill"),
    "extract_dataset": ("smallext.scale", "extract_dataset"),
    "StudentOptions": ("smallext.students.options", "StudentOptions"),
}

__all__ = ["Document", "KINDS", "Relation", "Span", "SmallextError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'smallext' has no attribute {name!r}")
