"""The annotation run: a teacher labels a corpus through a store and a call cache, with progress and a summary.

The run is given its :class:`~smallext.teachers.store.AnnotationStore` (which documents are done, each
chunk's outcome, the runs' clocks) and its :class:`~smallext.teachers.store.CallCache` (by default the same
SQLite :class:`~smallext.teachers.store.Store`); the teacher gets the cache with each chunk and holds
nothing. Re-running the same command skips finished documents and reuses cached replies; documents that
failed are tried again. The output JSONL (every input document exactly once, in input order) is written
atomically at the end, so it is never half-written.

Elsewhere than in this process, an :class:`Engine` runs it: the layers above construct one and pass it
(:class:`smallext.scale.annotate.RayEngine`, shards on a Ray cluster, each through this same run); this layer
imports none of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.io.jsonl import write_jsonl
from smallext.teachers.base import Teacher
from smallext.teachers.grounding import GroundingStats
from smallext.teachers.store import AnnotationStore, CallCache, Store

__all__ = ["Engine", "annotate", "default_store"]


class Engine(Protocol):
    """Runs an annotation elsewhere than in this process (:class:`smallext.scale.annotate.RayEngine`: shards on
    a Ray cluster). :func:`annotate` hands it the run; it needs a teacher factory (each worker builds its own)."""

    def annotate(self, docs: Sequence[Document], teacher: Callable[[], Teacher], out: str | Path | None, *,
                 store: str | Path, run: Callable[..., dict[str, Any]], progress: bool = True,
                 price_per_mtok: float | None = None) -> dict[str, Any]:
        """Annotate ``docs`` with teachers built by ``teacher``, each part by ``run`` (this module's
        :func:`annotate`, in this process) into a store of its own in the folder ``store``; write ``out`` (every
        document once, in input order) and return the summary of :func:`annotate`, summed."""


def default_store(out: str | Path) -> Path:
    """The store beside an output file: ``out.jsonl`` -> ``out.store.sqlite``."""
    out = Path(out)
    return out.with_name(out.stem + ".store.sqlite")


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cols = [TextColumn("[bold]annotating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[rate]:.2f} docs/s  tokens {task.fields[tokens]:,}  "
                       "ungrounded {task.fields[ungrounded]}  failed {task.fields[failed]}")]
    return Progress(*cols, disable=not enabled)


def annotate(
    docs: Sequence[Document],
    teacher: Teacher | Callable[[], Teacher],
    out: str | Path | None,
    *,
    engine: Engine | str = "local",
    store: str | Path | AnnotationStore | None = None,
    cache: str | Path | CallCache | None = None,
    limit: int | None = None,
    progress: bool = True,
    price_per_mtok: float | None = None,
) -> dict[str, Any]:
    """Annotate ``docs`` with ``teacher`` and write the result as JSONL.

    Args:
        docs: input documents; only their text is used (except by the ``gold`` teacher).
        teacher: see :func:`smallext.teachers.load_teacher`; or a function that builds one (required by an
            engine, whose workers each build their own: ``functools.partial(load_teacher, spec, schema,
            options)``).
        engine: ``"local"`` (this process) or an :class:`Engine`, such as
            ``smallext.scale.annotate.RayEngine(...)`` (shards annotated on a Ray cluster, each in a store of its
            own; ``store`` is then a folder, by default ``out.store`` beside ``out``; see
            :mod:`smallext.scale.annotate`).
        out: output JSONL path (None: no file; the documents are in the returned ``documents_out``).
        store: the run's store: a SQLite path or an :class:`~smallext.teachers.store.AnnotationStore`
            (default: a SQLite file beside ``out``; required when ``out`` is None). A path is opened and
            closed here; a store object is left open.
        cache: where calls are looked up and recorded: a SQLite path (another run's store, whose successful
            calls are reused) or a :class:`~smallext.teachers.store.CallCache`; default: the store itself.
        limit: annotate only the first N documents.
        progress: show a rich progress bar (documents/s, tokens, ungrounded and failed counts).
        price_per_mtok: price per million tokens (in + out), for the cost estimate (default: the teacher's).

    Returns:
        A summary: ``documents``, ``spans``, ``failed``, ``ungrounded_rate``, ``tokens_in``, ``tokens_out``,
        ``calls``, ``cache_hits``, ``wall_seconds`` (this run), ``wall_seconds_all_runs`` and
        ``annotated_all_runs`` (wall time and documents finished over every run of the store, killed ones
        included up to their last finished chunk), ``estimated_cost``, ``grounding`` (over every chunk the
        store's runs finished, wherever their calls are cached), ``store``, ``output``, and ``documents_out``
        (the annotated documents).

    Raises:
        SmallextError: the store holds other texts under the same ids, or is of an earlier format; with
            the Ray engine, Ray missing or unreachable, or a Teacher object instead of a factory.
        ConfigError: ``engine`` a name other than ``"local"`` (``"ray"``: pass a ``RayEngine``).
        ValueError: neither ``out`` nor ``store`` is given; ``cache`` with an engine.
    """
    if isinstance(engine, str) and engine != "local":
        raise ConfigError(f"engine must be 'local' or an engine object, got {engine!r}"
                          + (": pass smallext.scale.annotate.RayEngine(...)" if engine == "ray" else ""))
    docs = list(docs)[:limit] if limit else list(docs)
    if store is None:
        if out is None:
            raise ValueError("annotate needs an output file or a store")
        store = default_store(out) if isinstance(engine, str) else default_store(out).with_suffix("")
    if not isinstance(engine, str):
        if cache is not None:
            raise ValueError("an engine keeps each shard's calls in its own store: cache= is not supported")
        return engine.annotate(docs, teacher, out, store=store, run=annotate, progress=progress,
                               price_per_mtok=price_per_mtok)
    if not isinstance(teacher, Teacher):  # a factory: the teacher is built here and closed after
        with contextlib.closing(teacher()) as built:
            return annotate(docs, built, out, store=store, cache=cache, progress=progress,
                            price_per_mtok=price_per_mtok)
    with contextlib.ExitStack() as stack:
        st: AnnotationStore = store if not isinstance(store, (str, Path)) else stack.enter_context(
            contextlib.closing(Store(store)))
        if cache is None:
            calls: CallCache = st  # type: ignore[assignment]  # the SQLite store is its own call cache
        elif isinstance(cache, (str, Path)):
            calls = stack.enter_context(contextlib.closing(Store(cache)))
        else:
            calls = cache
        return _run(docs, teacher, out, st, calls, store, limit, progress,
                    price_per_mtok if price_per_mtok is not None else teacher.price_per_mtok)


def _run(docs, teacher: Teacher, out, st: AnnotationStore, cache: CallCache, store_name, limit, progress,
         price) -> dict[str, Any]:
    st.register(docs)
    st.start_run(teacher.spec, {**teacher.describe(), "limit": limit, "documents": len(docs)})
    status = st.statuses()
    todo = [d for d in docs if status.get(d.id) != "done"]
    inputs = todo if teacher.uses_gold else [d.unlabelled() for d in todo]
    chunks = teacher.plan(inputs)
    stats = GroundingStats()
    counters = {"failed": 0, "tokens": 0, "calls": 0, "cache_hits": 0}
    finished_new = 0
    in_flight = max(1, teacher.concurrency) * 2
    t0 = time.perf_counter()
    with _progress(progress) as bar:
        task = bar.add_task("annotate", total=len(docs), completed=len(docs) - len(todo), rate=0.0, tokens=0,
                            ungrounded=0, failed=0)
        with ThreadPoolExecutor(max_workers=max(1, teacher.concurrency)) as pool:
            pending: set = set()
            it = iter(chunks)
            while True:
                while len(pending) < in_flight and (chunk := next(it, None)) is not None:
                    pending.add(pool.submit(teacher.annotate_chunk, chunk, cache))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    res = fut.result()
                    st.save_chunk(res)
                    stats += res.stats
                    counters["failed"] += len(res.failed)
                    counters["tokens"] += res.tokens_in + res.tokens_out
                    counters["calls"] += res.calls
                    counters["cache_hits"] += res.cache_hits
                    finished_new += len(res.docs) + len(res.failed)
                    st.touch_run(finished_new)
                    bar.update(task, advance=len(res.docs) + len(res.failed),
                               rate=finished_new / max(time.perf_counter() - t0, 1e-9), tokens=counters["tokens"],
                               ungrounded=stats.ungrounded, failed=counters["failed"])
    wall = time.perf_counter() - t0
    st.touch_run(finished_new)
    results = st.results(docs)
    if out is not None:
        write_jsonl(results, out)
    totals = st.totals()
    g = totals["grounding"]
    tokens = totals["tokens_in"] + totals["tokens_out"]
    summary = {
        "teacher": teacher.spec,
        "documents": len(docs),
        "annotated_this_run": finished_new,
        "spans": sum(len(d.spans) for d in results),
        "failed": sum(1 for d in results if "teacher_error" in d.meta),
        "ungrounded_rate": (g.get("ungrounded", 0) / g["entities"]) if g.get("entities") else 0.0,
        "unknown_type": g.get("unknown_type", 0),
        "tokens_in": totals["tokens_in"],
        "tokens_out": totals["tokens_out"],
        "calls": totals["calls"],
        "calls_this_run": counters["calls"],
        "cache_hits_this_run": counters["cache_hits"],
        "failed_calls": totals["failed_calls"],
        "wall_seconds": round(wall, 2),
        "wall_seconds_all_runs": totals["wall_seconds_all_runs"],
        "annotated_all_runs": totals["annotated_all_runs"],
        "call_seconds": totals["call_seconds"],
        "estimated_cost": round(tokens / 1e6 * price, 4) if price is not None else None,
        "grounding": g,
        "store": str(getattr(store_name, "path", store_name)),
        "output": str(out) if out is not None else None,
    }
    st.finish_run({k: v for k, v in summary.items() if k != "grounding"})
    summary["documents_out"] = results
    return summary
