"""Stages and the runner that skips finished ones.

A :class:`Stage` declares what it reads and writes: **artifacts** by name (``labels``, ``model``,
``metrics``...), each a file or folder under the run's output folder, plus a key of its own settings
(:meth:`Stage.key`). The :class:`Runner` runs the stages in order; a stage is skipped when

- its key (its settings and the content of the artifacts it reads) equals the recorded one,
- the artifacts it writes exist with the content recorded when it finished, and
- it is not forced (``--force STAGE`` redoes that stage and every stage after it).

What a stage records (its key, the SHA-256 of its outputs, the facts it returns) goes to
``OUTPUT/stages.json``, rewritten atomically after each stage, so a crash loses no finished stage. A later
stage reads an artifact wherever the last stage that wrote it put it (``Context.artifacts``), so a stage that
refines an artifact (a quality stage rewriting the labels) slots in between without the others changing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from smallext.errors import ConfigError
from smallext.io.atomic import atomic_write

__all__ = ["Context", "Runner", "Stage", "path_digest"]


def path_digest(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's files (names and contents, in order); None when it is missing."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Context:
    """What the stages of one run share.

    Attributes:
        out: the output folder.
        artifacts: artifact name -> path, set as stages finish or are reused.
        info: stage name -> the facts it returned (this run's, or recorded by the run that made it).
        progress: show progress bars; console: where stages print.
        started: ``time.perf_counter()`` when the run began.
        values: anything else stages compute once and share (a stage's own keys by convention).
    """

    def __init__(self, out: Path, *, progress: bool = True, console=None, **values: Any) -> None:
        from rich.console import Console

        self.out = out
        self.artifacts: dict[str, Path] = {}
        self.info: dict[str, dict[str, Any]] = {}
        self.progress = progress
        self.console = console or Console(stderr=True)
        self.started = time.perf_counter()
        self.values: dict[str, Any] = dict(values)

    def log(self, stage: str, message: str) -> None:
        """Print ``[stage] message`` to the console (no markup: brackets are printed as they are)."""
        self.console.print(f"[{stage}] {message}", markup=False, highlight=False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


class Stage:
    """One step of a run. Subclasses set :attr:`name`, :attr:`reads`, :attr:`writes` and implement :meth:`run`.

    Attributes:
        name: the stage's name (for ``--force`` and ``stages.json``).
        reads: artifact names it reads (their content enters its key).
        writes: artifact name -> file or folder name under the output folder.
    """

    name: ClassVar[str] = "stage"
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[dict[str, str]] = {}

    def key(self, ctx: Context) -> Any:
        """The settings the stage's result depends on besides the artifacts it reads (JSON-serialisable)."""
        return None

    def enabled(self, ctx: Context) -> bool:
        """Whether the stage runs in this run at all (an optional stage off in the config: its artifacts are
        neither written nor read, and later stages read the earlier versions)."""
        return True

    def run(self, ctx: Context) -> dict[str, Any]:  # pragma: no cover - abstract
        """Produce the artifacts of :attr:`writes`; return facts to record (and share as ``ctx.info``)."""
        raise NotImplementedError

    def outputs(self, ctx: Context) -> dict[str, Path]:
        return {a: ctx.out / f for a, f in self.writes.items()}


class Runner:
    """Runs stages in order, skipping finished ones (see the module docstring).

    Args:
        stages: the stages, in order.
        force: names of stages to redo (with every stage after the first of them).

    Raises:
        ConfigError: a forced stage that is not one of ``stages``.
    """

    def __init__(self, stages: Sequence[Stage], force: Sequence[str] = ()) -> None:
        names = [s.name for s in stages]
        for f in force:
            if f not in names:
                raise ConfigError(f"unknown stage {f!r} for --force; stages: {', '.join(names)}")
        self.stages = list(stages)
        self.first_forced = min((names.index(f) for f in force), default=len(names))

    def run(self, ctx: Context) -> Context:
        path = ctx.out / "stages.json"
        ctx.out.mkdir(parents=True, exist_ok=True)
        state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for i, stage in enumerate(self.stages):
            if not stage.enabled(ctx):
                continue
            missing = [a for a in stage.reads if a not in ctx.artifacts]
            if missing:
                raise ConfigError(f"stage {stage.name!r} reads {missing} that no stage before it writes")
            key = _hash([stage.key(ctx), {a: path_digest(ctx.artifacts[a]) for a in stage.reads}])
            outputs = stage.outputs(ctx)
            rec = state.get(stage.name, {})
            fresh = (i < self.first_forced and rec.get("key") == key
                     and rec.get("outputs") == {a: path_digest(p) for a, p in outputs.items()}
                     and all(p.exists() for p in outputs.values()))
            if fresh:
                ctx.log(stage.name, f"reusing {', '.join(str(p) for p in outputs.values()) or 'its result'}")
                ctx.info[stage.name] = rec.get("info", {})
            else:
                info = stage.run(ctx)
                ctx.info[stage.name] = info
                state[stage.name] = {"key": key, "outputs": {a: path_digest(p) for a, p in outputs.items()},
                                     "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "info": info}
                with atomic_write(path) as f:
                    f.write(json.dumps(state, indent=2, default=str))
            ctx.artifacts.update(outputs)
        return ctx
