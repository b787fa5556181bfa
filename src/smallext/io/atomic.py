"""Crash-safe file output: write to a temporary file in the target's folder, then rename over it.

A reader never sees a half-written file: until the ``with`` block finishes, the target is either absent
or still holds its previous content; on an exception the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on success fsync it and rename it to ``path``.

    Args:
        path: the final file. Its parent folders are created.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding (ignored for binary mode).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
