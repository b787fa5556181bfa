"""Annotation at scale: the corpus in shards, each annotated on a Ray actor through a store of its own.

``annotate(docs, teacher_factory, out, engine=RayEngine(...))`` (:func:`smallext.teachers.annotate.annotate`,
to which a :class:`RayEngine` is an :class:`~smallext.teachers.annotate.Engine`) splits the documents
into shards of ``shard_docs`` (fixed boundaries, so a re-run finds every document in the same shard). Ray
Data's ``map_batches`` runs :class:`ShardAnnotator` on an actor pool: each actor builds its own teacher once
(a llama.cpp teacher: one model per actor) and annotates each shard it is given with the single-machine
:func:`~smallext.teachers.annotate.annotate` into the shard's SQLite
:class:`~smallext.teachers.store.Store` (``STORE/shard-00000.sqlite`` ...). So, exactly as on one machine, a
re-run skips finished documents and repeats no finished call; a killed actor is restarted by Ray and its
shard retried, losing at most the calls in flight. The driver then writes the output JSONL (every input
document once, in input order) from the shard stores, atomically.

For OpenAI-compatible teachers a cluster-wide :class:`Limiter` (one Ray actor) bounds the requests in flight
and their rate, whatever the number of workers (an ensemble's members are not limited).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.io.atomic import atomic_write
from smallext.io.jsonl import dumps
from smallext.scale.cluster import ShardProgress, ray_session, user_errors, worker_count
from smallext.teachers.base import Teacher
from smallext.teachers.store import Store

__all__ = ["Limiter", "LimitedBackend", "RayEngine", "ShardAnnotator"]


class Limiter:
    """A cluster-wide limit on LLM requests, run as one async Ray actor that every worker asks.

    Args:
        in_flight: requests at once, over every worker (None: no limit).
        per_second: requests started per second, over every worker (None: no limit).
        lease_s: a permit not released within this many seconds is taken back (a worker killed mid-request
            would otherwise hold it for ever).

    :meth:`acquire` waits for a free slot and for the rate, then returns a permit; :meth:`release` returns it.
    :meth:`stats` gives ``granted`` and ``peak_in_flight``.
    """

    def __init__(self, in_flight: int | None, per_second: float | None, lease_s: float = 600.0) -> None:
        self.in_flight, self.lease_s = in_flight, lease_s
        self.interval = 1.0 / per_second if per_second else 0.0
        self.next_start = 0.0
        self.leases: dict[int, float] = {}
        self.granted = self.peak = 0
        self.changed: asyncio.Condition | None = None

    async def acquire(self) -> int:
        self.changed = self.changed or asyncio.Condition()
        async with self.changed:
            while True:
                now = time.monotonic()
                self.leases = {k: t for k, t in self.leases.items() if t > now}
                if not self.in_flight or len(self.leases) < self.in_flight:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), timeout=1.0)
            self.granted += 1
            permit = self.granted
            self.leases[permit] = now + self.lease_s
            self.peak = max(self.peak, len(self.leases))
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)
        return permit

    async def release(self, permit: int) -> None:
        self.changed = self.changed or asyncio.Condition()
        async with self.changed:
            self.leases.pop(permit, None)
            self.changed.notify_all()

    async def stats(self) -> dict[str, int]:
        return {"granted": self.granted, "peak_in_flight": self.peak}


class LimitedBackend:
    """A :class:`~smallext.teachers.backends.Backend` whose calls each hold a permit of a :class:`Limiter` actor."""

    def __init__(self, backend: Any, limiter: Any) -> None:
        self.inner, self.limiter = backend, limiter
        self.name, self.model = backend.name, backend.model
        self.concurrency = backend.concurrency
        self.constrained = getattr(backend, "constrained", None)

    def complete(self, messages: list[dict[str, str]], *, json_schema: dict | None, max_tokens: int):
        import ray

        permit = ray.get(self.limiter.acquire.remote())
        try:
            return self.inner.complete(messages, json_schema=json_schema, max_tokens=max_tokens)
        finally:
            self.limiter.release.remote(permit)

    def close(self) -> None:
        self.inner.close()


def _limited(teacher: Teacher, limiter: Any) -> Teacher:
    """``teacher`` with its OpenAI-compatible backend behind ``limiter`` (other teachers as they are)."""
    from smallext.teachers.llm import LLMTeacher

    if limiter is None or not isinstance(teacher, LLMTeacher) or teacher.backend.name != "openai":
        return teacher
    return LLMTeacher(teacher.spec, teacher.task, LimitedBackend(teacher.backend, limiter),
                      chunk_chars=teacher.chunk_chars, price_per_mtok=teacher.price_per_mtok)


class ShardAnnotator:
    """The callable class of ``map_batches``: one per actor, with its own teacher, annotating whole shards.

    Args:
        factory: builds the teacher (called once, in the actor).
        run: the single-machine :func:`~smallext.teachers.annotate.annotate`.
        store_dir: the folder of shard stores. limiter: a :class:`Limiter` actor or None.
        price_per_mtok: for the cost estimate.

    Each call takes rows ``index`` (the shard) and ``docs`` (its documents as JSON) and returns ``index`` and
    ``summary`` (the shard run's summary as JSON).
    """

    def __init__(self, factory: Callable[[], Teacher], run: Callable[..., dict[str, Any]], store_dir: str,
                 limiter: Any, price_per_mtok: float | None) -> None:
        self.teacher = _limited(factory(), limiter)
        self.run, self.store_dir, self.price = run, Path(store_dir), price_per_mtok

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {"index": [], "summary": []}
        for index, docs in zip(batch["index"], batch["docs"], strict=True):
            docs = [Document.from_dict(d) for d in json.loads(docs)]
            summary = self.run(docs, self.teacher, None, store=_shard_store(self.store_dir, int(index)),
                               progress=False, price_per_mtok=self.price)
            summary.pop("documents_out")
            summary["teacher_description"] = self.teacher.describe()
            summary["price_per_mtok"] = self.teacher.price_per_mtok
            out["index"].append(int(index))
            out["summary"].append(json.dumps(summary, default=str))
        return out

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.teacher.close()


def _shard_store(store_dir: Path, index: int) -> Path:
    return store_dir / f"shard-{index:05d}.sqlite"


def _finished(path: Path, docs: Sequence[Document]) -> bool:
    """Whether every document of a shard is done in its store."""
    if not path.is_file():
        return False
    with Store(path) as st:
        status = st.statuses()
    return all(status.get(d.id) == "done" for d in docs)


@dataclass(frozen=True)
class RayEngine:
    """Run an annotation on Ray (see the module docstring).

    Attributes:
        address: the Ray cluster (None: ``$RAY_ADDRESS``, else a local Ray).
        workers: actors, each with its own teacher (default: the cluster's CPUs // ``cpus_per_worker``).
        cpus_per_worker: CPUs each actor reserves (a llama.cpp teacher: give it its ``threads``).
        shard_docs: documents per shard (and per store file); fixed for the life of a store folder.
        max_in_flight, requests_per_second: the cluster-wide limit for OpenAI-compatible teachers.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    shard_docs: int = 64
    max_in_flight: int | None = None
    requests_per_second: float | None = None

    def annotate(self, docs: Sequence[Document], teacher: Callable[[], Teacher], out: str | Path | None, *,
                 store: str | Path, run: Callable[..., dict[str, Any]], progress: bool = True,
                 price_per_mtok: float | None = None) -> dict[str, Any]:
        """Annotate ``docs`` (see :func:`smallext.teachers.annotate.annotate`, which calls this with
        ``engine=``); ``store`` is a folder of shard stores; ``teacher`` a factory of teachers.

        Returns:
            The summary of the single-machine run, summed over the shards (``store``: the folder), with
            ``shards``, ``shards_this_run``, ``workers``, ``limiter`` (its ``granted`` and ``peak_in_flight``, or
            None) and ``teacher_description``.

        Raises:
            ConfigError: ``teacher`` is a Teacher object (a worker needs to build its own), or the store folder
                was made with another ``shard_docs``.
        """
        if isinstance(teacher, Teacher) or not callable(teacher):
            raise ConfigError("the Ray engine builds a teacher in each worker: give a factory, e.g. "
                              "functools.partial(load_teacher, spec, schema, options), not a Teacher")
        store_dir = Path(store)
        _claim_store(store_dir, self.shard_docs)
        shards = [list(docs[lo : lo + self.shard_docs]) for lo in range(0, len(docs), self.shard_docs)]
        todo = [i for i, s in enumerate(shards) if not _finished(_shard_store(store_dir, i), s)]
        t0 = time.perf_counter()
        summaries: list[dict[str, Any]] = []
        limiter_stats = None
        n_workers = 0
        if todo:
            with ray_session(self.address) as ray:
                n_workers = min(worker_count(ray, self.workers, self.cpus_per_worker), len(todo))
                limiter = None
                if self.max_in_flight or self.requests_per_second:
                    limiter = ray.remote(num_cpus=0)(Limiter).remote(self.max_in_flight, self.requests_per_second)
                items = [{"index": i, "docs": json.dumps([d.to_dict() for d in shards[i]])} for i in todo]
                ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                    ShardAnnotator, batch_size=1, compute=ray.data.ActorPoolStrategy(size=n_workers),
                    num_cpus=self.cpus_per_worker,
                    fn_constructor_kwargs={"factory": teacher, "run": run, "store_dir": str(store_dir.resolve()),
                                           "limiter": limiter, "price_per_mtok": price_per_mtok})
                bar = ShardProgress(progress, len(shards), len(shards) - len(todo), "annotating")
                with user_errors(), bar as advance:
                    for row in ds.iter_rows():
                        summaries.append(json.loads(row["summary"]))
                        advance()
                if limiter is not None:
                    limiter_stats = ray.get(limiter.stats.remote())
        return _merge(docs, shards, store_dir, out, summaries, {
            "shards": len(shards), "shards_this_run": len(todo), "workers": n_workers, "limiter": limiter_stats,
            "wall_seconds": round(time.perf_counter() - t0, 2)}, price_per_mtok)


def _claim_store(store_dir: Path, shard_docs: int) -> None:
    plan = store_dir / "plan.json"
    if plan.is_file():
        old = json.loads(plan.read_text(encoding="utf-8"))["shard_docs"]
        if old != shard_docs:
            raise ConfigError(f"{store_dir}: its shards hold {old} documents each, not {shard_docs}; give that "
                              "shard size or another store")
        return
    with atomic_write(plan) as f:
        f.write(json.dumps({"shard_docs": shard_docs}) + "\n")


def _merge(docs: Sequence[Document], shards: Sequence[Sequence[Document]], store_dir: Path, out, summaries,
           extra: dict[str, Any], price: float | None) -> dict[str, Any]:
    """Write the output from the shard stores in input order and sum the shards' totals."""
    spans = failed = 0
    totals: dict[str, Any] = {}
    keep = []
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(atomic_write(out)) if out is not None else None
        for i, shard in enumerate(shards):
            with Store(_shard_store(store_dir, i)) as st:
                results = st.results(shard)
                for k, v in st.totals().items():
                    if isinstance(v, dict):
                        for kk, vv in v.items():
                            totals.setdefault(k, {})[kk] = totals.get(k, {}).get(kk, 0) + vv
                    else:
                        totals[k] = totals.get(k, 0) + v
            for d in results:
                spans += len(d.spans)
                failed += "teacher_error" in d.meta
                if f is not None:
                    f.write(dumps(d) + "\n")
            keep.extend(results)
    g = totals.get("grounding", {})
    if price is None and summaries:
        price = summaries[0]["price_per_mtok"]
    tokens = totals.get("tokens_in", 0) + totals.get("tokens_out", 0)
    this_run = {k: sum(s.get(k, 0) for s in summaries) for k in ("annotated_this_run", "calls_this_run",
                                                                 "cache_hits_this_run")}
    return {
        "teacher": summaries[0]["teacher"] if summaries else None, "documents": len(docs), **this_run,
        "spans": spans, "failed": failed,
        "ungrounded_rate": (g.get("ungrounded", 0) / g["entities"]) if g.get("entities") else 0.0,
        "unknown_type": g.get("unknown_type", 0), "tokens_in": totals.get("tokens_in", 0),
        "tokens_out": totals.get("tokens_out", 0), "calls": totals.get("calls", 0),
        "failed_calls": totals.get("failed_calls", 0), "wall_seconds_all_runs": totals.get("wall_seconds_all_runs", 0),
        "annotated_all_runs": totals.get("annotated_all_runs", 0), "call_seconds": totals.get("call_seconds", 0),
        "estimated_cost": round(tokens / 1e6 * price, 4) if price is not None else None, "grounding": g,
        "store": str(store_dir), "output": str(out) if out is not None else None,
        "teacher_description": summaries[0].get("teacher_description") if summaries else None,
        **extra, "documents_out": keep,
    }

