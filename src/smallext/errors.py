"""Errors raised by smallext. Every user-facing failure is a :class:`SmallextError`.

The CLI prints the message of a :class:`SmallextError` and exits with status 1, so messages must say
what is wrong and where (file, line, field, document id) without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SmallextError(Exception):
    """Base class of every error smallext raises on bad input or configuration."""


class DocumentError(SmallextError, ValueError):
    """A :class:`~smallext.doc.Document` or one of its spans is invalid (names the document id)."""


class FormatError(SmallextError, ValueError):
    """Malformed input file. The message names the file and, where known, the 1-based line number.

    Args:
        path: the file being read.
        line: 1-based line number of the offending line, or ``None`` when the problem is not on one line.
        message: what is wrong.
    """

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(SmallextError, ValueError):
    """Invalid schema, config or option. The message names the file and the field."""


class DatasetError(SmallextError, LookupError):
    """Unknown dataset or split, or the data root is missing (the message says where it looked)."""


def field_problems(error: Any, prefix: str = "") -> str:
    """A pydantic ``ValidationError`` as one line naming each field: ``field student.epochs: Input should be
    greater than or equal to 1; field ...``. ``prefix`` goes before each field path (``teacher_options``)."""
    parts = []
    for err in error.errors():
        path = ".".join(str(p) for p in ([prefix] if prefix else []) + list(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"field {path}: {msg}" if path else msg)  # a model check names its own fields
    return "; ".join(parts)
