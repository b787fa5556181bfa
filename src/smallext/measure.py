"""Measuring systems honestly: peak memory, throughput and latency, each system in a process of its own.

- :func:`in_child` runs a measurement in a fresh (spawned) process and adds that process's peak RSS.
- :func:`measure_student`: a packaged student's throughput (median of repeated timed passes) and latency.
- :func:`measure_teacher`: a teacher's annotation of documents through a store, timed by the store's clock
  (:func:`teacher_timing`), so a re-run answered from the store is charged the time of the runs that did
  the work.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["MIN_PASSES", "MIN_TIMED_S", "in_child", "latency_timings", "measure_student", "measure_teacher",
           "peak_rss_mb", "teacher_timing"]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes).

    Read from ``VmHWM`` in /proc/self/status, which starts afresh at exec. ``ru_maxrss`` is only the
    fallback (non-Linux): Linux carries it across fork and exec, so a child would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _child(fn, args, queue) -> None:
    try:
        result = fn(*args)
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        queue.put(("ok", result))
    except BaseException as e:  # reported to the parent
        queue.put(("error", f"{type(e).__name__}: {e}"))


def in_child(fn, *args) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh (spawned) process and return its dict result plus its own
    ``peak_rss_mb``.

    Raises:
        RuntimeError: the child raised (its error is quoted), or it died without a result (killed, out of
            memory, a crash in native code; its exit code is given) instead of leaving the parent waiting.
    """
    import multiprocessing as mp
    import queue

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    while True:
        try:
            status, result = q.get(timeout=0.5)
            break
        except queue.Empty:
            if p.is_alive():
                continue
            try:  # it may have exited just after putting its result
                status, result = q.get(timeout=2.0)
                break
            except queue.Empty:
                name = getattr(fn, "__name__", repr(fn))
                raise RuntimeError(f"the child process running {name} exited with code {p.exitcode} "
                                   "without a result") from None
    p.join()
    if status != "ok":
        raise RuntimeError(result)
    return result


def latency_timings(latencies_ms: list[float], n_docs: int, n_tokens: int, seconds: float) -> dict[str, float]:
    """``documents_per_s``, ``tokens_per_s`` over ``seconds``, and the p50/p95 of ``latencies_ms``."""
    q = statistics.quantiles(latencies_ms, n=100) if len(latencies_ms) > 1 else [latencies_ms[0]] * 99
    return {"documents_per_s": n_docs / seconds, "tokens_per_s": n_tokens / seconds,
            "latency_p50_ms": q[49], "latency_p95_ms": q[94]}


MIN_PASSES, MIN_TIMED_S = 3, 3.0  # student throughput: timed passes over the measured documents


def measure_student(model_dir: str, texts: list[str], threads: int | None) -> dict[str, Any]:
    """Throughput and per-document latency of a packaged student, in this process.

    Throughput is timed the way :func:`~smallext.students.extractor.extract_file` runs a batch job (calls of
    ``FILE_CHUNK`` documents, windows batched 32 at a time by length), over repeated passes (at least
    ``MIN_PASSES``, and until ``MIN_TIMED_S`` seconds have passed): the median pass gives documents/s (one pass
    over 200 sentences takes under a second here, and single passes varied by 15% or more). Latency is one call
    per document. Returns ``documents_per_s``, ``tokens_per_s`` (whitespace tokens), ``latency_p50_ms``,
    ``latency_p95_ms`` and ``passes``.
    """
    from smallext.students.extractor import FILE_CHUNK, Extractor

    ex = Extractor.load(model_dir, threads=threads)
    ex.extract(texts[:8])
    lat = []
    for t in texts:
        t0 = time.perf_counter()
        ex.extract([t])
        lat.append((time.perf_counter() - t0) * 1000)
    passes: list[float] = []
    start = time.perf_counter()
    while len(passes) < MIN_PASSES or (time.perf_counter() - start < MIN_TIMED_S and len(passes) < 50):
        t0 = time.perf_counter()
        for lo in range(0, len(texts), FILE_CHUNK):
            ex.extract(texts[lo : lo + FILE_CHUNK])
        passes.append(time.perf_counter() - t0)
    out = latency_timings(lat, len(texts), sum(len(t.split()) for t in texts), statistics.median(passes))
    return {**out, "passes": len(passes)}


def teacher_timing(summary: dict[str, Any], texts: list[str], call_latencies_s: list[float]) -> dict[str, Any]:
    """A teacher's speed over ``texts`` from an :func:`~smallext.teachers.annotate.annotate` summary.

    Calls may overlap (concurrency), so the cost is wall time: that of every run of the store, over the
    documents those runs annotated, scaled to ``len(texts)`` (a re-run that finds every document in the store
    takes no time; its own clock would say so). Latency percentiles are per call (several documents per call).
    """
    done = summary["annotated_all_runs"]
    if done:
        seconds = summary["wall_seconds_all_runs"] * len(texts) / done
        basis = f"wall time over the {done} documents annotated (all runs)"
    else:
        seconds, basis = summary["wall_seconds"], "wall time"
    lat = [x * 1000 for x in call_latencies_s]
    n_tokens = sum(len(t.split()) for t in texts)
    return {"documents_per_s": len(texts) / max(seconds, 1e-9), "tokens_per_s": n_tokens / max(seconds, 1e-9),
            "seconds": round(seconds, 2), "timing_basis": basis,
            "latency_p50_ms": statistics.median(lat) if lat else None,
            "latency_p95_ms": statistics.quantiles(lat, n=100)[94] if len(lat) > 1 else (lat[0] if lat else None),
            "latency_unit": "per call (several documents per call)"}


def measure_teacher(spec: str, schema_path: str, options: BaseModel | Mapping[str, Any] | None,
                    docs_json: list[dict], store: str) -> dict[str, Any]:
    """Annotate documents with a teacher in this process (for :func:`in_child`) through the SQLite store at
    ``store``; returns ``preds`` (documents as dicts), the annotation ``summary`` and ``timing``
    (:func:`teacher_timing`). ``options``: the teacher kind's options model (a distill config's
    ``teacher_options``, pickled to the child and used as it is) or a mapping of them (validated here)."""
    from smallext.doc import Document
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate
    from smallext.teachers.store import Store

    docs = [Document.from_dict(d) for d in docs_json]
    teacher = load_teacher(spec, schema_path, options)
    try:
        with Store(store) as st:
            summary = annotate(docs, teacher, None, store=st, progress=False)
            latencies = st.call_latencies()
    finally:
        teacher.close()
    preds = summary.pop("documents_out")
    return {"preds": [d.to_dict() for d in preds], "summary": summary,
            "timing": teacher_timing(summary, [d.text for d in docs], latencies)}
