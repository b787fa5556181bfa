"""Crash-safe file output: write to a temporary file in the target's folder, then rename over it.

A reader never sees a half-written file: until the ``with`` block finishes, the target is either absent
or still holds its previous content; on an exception the temporary file is removed.

Temporary files and folders are created private (mode 0600/0700, as :mod:`tempfile` makes them); before one
is renamed into place it gets the usual permissions, those a plain ``open()`` or ``mkdir`` would give under
the process's umask (0644/0755 under the common umask 022), so that a service running as another user can
read what the project writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_directory", "atomic_write", "usual_permissions"]


def _umask() -> int:
    try:  # Linux 4.7+: read it without changing it (os.umask would change it for every thread for a moment)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def usual_permissions(path: str | Path) -> None:
    """Give ``path`` (a file, or a folder and everything under it) the permissions a plain ``open()``/``mkdir``
    would have: 0666 for files and 0777 for folders, less the umask."""
    mask = _umask()
    path = Path(path)
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in items:
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on success fsync it, give it the usual permissions
    and rename it to ``path``.

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
        usual_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Build a folder in a temporary folder beside ``path`` (yielded); on success give it the usual permissions
    and rename it to ``path``, replacing a folder that was there. On an exception the temporary folder is
    removed and ``path`` is left as it was, so a reader never sees a half-written folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        usual_permissions(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
