"""The annotation store and the call cache: the layer between an annotation run and its teacher.

Two narrow interfaces, so that other implementations (a sharded store, one file per worker) can stand in:

* :class:`CallCache`: the LLM call cache a teacher is *given* for each chunk (``get`` a successful reply by
  key, ``put`` a call's record). :class:`MemoryCache` keeps it in memory.
* :class:`AnnotationStore`: what :func:`~smallext.teachers.annotate.annotate` needs of a run's store: the
  documents (which are done), each finished chunk's outcome and statistics, and the runs with their clocks.

:class:`Store`, one SQLite file (standard library ``sqlite3``, WAL journal), implements both and is the
single-machine default. Tables:

* ``documents``: every input document (position, id, text), its status (``pending``, ``done``,
  ``failed``), the annotated document as JSON, the failure reason, and the number of attempts.
* ``chunks``: one row per finished chunk: its documents, grounding statistics, tokens, calls made, cache
  hits and failed calls. The run's statistics are summed from here, so they count what this store's runs
  did even when their calls are cached in another store.
* ``calls``: every teacher call recorded through the cache: key (hash of backend, model and prompt), prompt
  hash, prompt, raw reply, parsed entities, grounded spans, grounding statistics, tokens in/out, latency,
  error, the documents it covered. A call with no error is the cache entry for its key; a failed call is
  kept for the record but never reused.
* ``runs``: one row per invocation with its options, statistics and clock.

Each chunk's outcome is committed in one transaction, so a ``kill -9`` loses at most the calls in flight;
a re-run skips ``done`` documents and reuses cached replies.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from smallext.doc import Document
from smallext.errors import SmallextError
from smallext.teachers.result import ChunkResult

__all__ = ["AnnotationStore", "CallCache", "MemoryCache", "Store", "STORE_VERSION"]

STORE_VERSION = 2
"""``PRAGMA user_version`` of a store this code writes (1: before the ``chunks`` table)."""


class CallCache(Protocol):
    """Where LLM calls are looked up and recorded (thread-safe)."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of the first successful call with ``key`` (at least ``reply``), or None."""

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Record a call, successful (``record["error"] is None``: a cache entry) or not."""


class AnnotationStore(Protocol):
    """What an annotation run keeps: documents and their status, chunk outcomes, run clocks."""

    def register(self, docs: Sequence[Document]) -> None:
        """Add input documents (new ids become pending); raise SmallextError when an id has another text."""

    def statuses(self) -> dict[str, str]:
        """``{document id: "pending" | "done" | "failed"}``."""

    def start_run(self, teacher: str, options: dict[str, Any]) -> None:
        """Open a run with the teacher's spec and options."""

    def save_chunk(self, result: ChunkResult) -> None:
        """Record a finished chunk (its documents done or failed, its statistics) atomically."""

    def touch_run(self, annotated: int) -> None:
        """Record the run's progress and clock, so a killed run's time still counts."""

    def finish_run(self, stats: dict[str, Any]) -> None:
        """Close the run with its summary."""

    def results(self, docs: Sequence[Document]) -> list[Document]:
        """The annotated version of each input document, in input order."""

    def totals(self) -> dict[str, Any]:
        """Totals over every run of the store (see :meth:`Store.totals`)."""

    def close(self) -> None: ...


class MemoryCache:
    """A :class:`CallCache` in memory (what :meth:`Teacher.annotate` uses when given no cache)."""

    def __init__(self) -> None:
        self._d: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        return self._d.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        if record.get("error") is None:
            with self._lock:
                self._d.setdefault(key, record)


SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    pos INTEGER NOT NULL, id TEXT PRIMARY KEY, text TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', result TEXT, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, updated REAL
);
CREATE TABLE IF NOT EXISTS chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, doc_ids TEXT, failed INTEGER, stats TEXT,
    tokens_in INTEGER, tokens_out INTEGER, calls INTEGER, cache_hits INTEGER, failed_calls INTEGER,
    call_seconds REAL, created REAL
);
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, backend TEXT, model TEXT, prompt_hash TEXT,
    prompt TEXT, reply TEXT, parsed TEXT, grounded TEXT, stats TEXT, tokens_in INTEGER, tokens_out INTEGER,
    latency REAL, error TEXT, doc_ids TEXT, run_id INTEGER, created REAL
);
CREATE INDEX IF NOT EXISTS calls_key ON calls(key);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, teacher TEXT, options TEXT, started REAL, finished REAL, stats TEXT
);
"""

_CALL_COLUMNS = ["backend", "model", "prompt_hash", "prompt", "reply", "parsed", "grounded", "stats", "tokens_in",
                 "tokens_out", "latency", "error", "doc_ids"]


def _json(v: Any) -> Any:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v


class Store:
    """An annotation store and call cache in one SQLite file at ``path`` (created if missing). Thread-safe.

    Raises:
        SmallextError: the file is a store of an earlier format (its runs' statistics could not be summed);
            the message says to delete it or name another store.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        has_tables = self.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='documents'").fetchone()[0]
        if has_tables and version < STORE_VERSION:
            self.db.close()
            raise SmallextError(f"{self.path}: an annotation store of an earlier smallext (format {version}); "
                                "delete it to annotate again, or give another store")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.execute(f"PRAGMA user_version={STORE_VERSION}")
        self.run_id: int | None = None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # documents -----------------------------------------------------------------------------------------
    def register(self, docs: Sequence[Document]) -> None:
        """Add input documents (new ids become ``pending``).

        Raises:
            SmallextError: a document id is already in the store with a different text (the store belongs to
                another corpus).
        """
        with self._lock:
            existing = dict(self.db.execute("SELECT id, text FROM documents").fetchall())
            start = len(existing)
            rows = []
            for d in docs:
                if d.id in existing:
                    if existing[d.id] != d.text:
                        raise SmallextError(
                            f"{self.path}: document {d.id!r} is stored with a different text; "
                            "use another --store for another corpus"
                        )
                    continue
                rows.append((start + len(rows), d.id, d.text))
                existing[d.id] = d.text
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO documents(pos, id, text) VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")

    def statuses(self) -> dict[str, str]:
        with self._lock:
            return dict(self.db.execute("SELECT id, status FROM documents").fetchall())

    def save_chunk(self, result: ChunkResult) -> None:
        """Record a chunk's finished and failed documents and its statistics in one transaction."""
        now = time.time()
        ids = [d.id for d in result.docs] + list(result.failed)
        with self._lock:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE documents SET status='done', result=?, error=NULL, attempts=attempts+1, updated=? WHERE id=?",
                [(json.dumps(d.to_dict(), ensure_ascii=False), now, d.id) for d in result.docs],
            )
            self.db.executemany(
                "UPDATE documents SET status='failed', error=?, attempts=attempts+1, updated=? WHERE id=?",
                [(err, now, i) for i, err in result.failed.items()],
            )
            self.db.execute(
                "INSERT INTO chunks(run_id, doc_ids, failed, stats, tokens_in, tokens_out, calls, cache_hits, "
                "failed_calls, call_seconds, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.run_id, json.dumps(ids), len(result.failed), json.dumps(result.stats.as_dict()),
                 result.tokens_in, result.tokens_out, result.calls, result.cache_hits, result.failed_calls,
                 result.call_seconds, now),
            )
            self.db.execute("COMMIT")

    def results(self, docs: Sequence[Document]) -> list[Document]:
        """The annotated version of each input document, in input order. A failed or unfinished document
        comes back without spans and with ``meta["teacher_error"]``."""
        with self._lock:
            rows = {r[0]: r[1:] for r in self.db.execute("SELECT id, status, result, error FROM documents")}
        out = []
        for d in docs:
            status, result, error = rows.get(d.id, ("pending", None, None))
            if status == "done":
                out.append(Document.from_dict(json.loads(result)))
            else:
                out.append(d.unlabelled(teacher_error=error or status))
        return out

    # call cache ----------------------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        """The cached successful call for ``key``, or None."""
        with self._lock:
            row = self.db.execute(
                "SELECT reply, tokens_in, tokens_out, latency FROM calls WHERE key=? AND error IS NULL "
                "ORDER BY seq LIMIT 1", (key,)
            ).fetchone()
        if row is None:
            return None
        return {"reply": row[0], "tokens_in": row[1], "tokens_out": row[2], "latency": row[3]}

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Record a call (successful or not) with the current run's id."""
        vals = [_json(record.get(c)) for c in _CALL_COLUMNS]
        with self._lock:
            self.db.execute(
                f"INSERT INTO calls(key, {', '.join(_CALL_COLUMNS)}, run_id, created) "
                f"VALUES (?, {', '.join('?' * len(_CALL_COLUMNS))}, ?, ?)",
                [key, *vals, self.run_id, time.time()],
            )

    # runs ----------------------------------------------------------------------------------------------
    def start_run(self, teacher: str, options: dict[str, Any]) -> int:
        with self._lock:
            cur = self.db.execute("INSERT INTO runs(teacher, options, started) VALUES (?, ?, ?)",
                                  (teacher, json.dumps(options, default=str), time.time()))
            self.run_id = cur.lastrowid
        return self.run_id

    def touch_run(self, annotated: int) -> None:
        """Record this run's progress (documents finished so far, and the time), so that the wall time of a
        run that is killed still counts in :meth:`totals`."""
        self.finish_run({"annotated_this_run": annotated})

    def finish_run(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self.db.execute("UPDATE runs SET finished=?, stats=? WHERE run_id=?",
                            (time.time(), json.dumps(stats), self.run_id))

    def call_latencies(self) -> list[float]:
        """Latency (s) of every successful call recorded here, in order."""
        with self._lock:
            return [r[0] for r in self.db.execute(
                "SELECT latency FROM calls WHERE error IS NULL AND latency > 0 ORDER BY seq")]

    def totals(self) -> dict[str, Any]:
        """Totals over every run of the store: documents by status; calls made, failed calls, tokens, call
        seconds and grounding statistics summed over the finished chunks; ``wall_seconds_all_runs`` and
        ``annotated_all_runs`` (wall time and documents finished over the runs, killed ones included up to
        their last finished chunk)."""
        with self._lock:
            status = dict(self.db.execute("SELECT status, COUNT(*) FROM documents GROUP BY status").fetchall())
            chunks = self.db.execute(
                "SELECT COALESCE(SUM(calls),0), COALESCE(SUM(failed_calls),0), COALESCE(SUM(tokens_in),0), "
                "COALESCE(SUM(tokens_out),0), COALESCE(SUM(call_seconds),0), COALESCE(SUM(cache_hits),0) FROM chunks"
            ).fetchone()
            stats_rows = [r[0] for r in self.db.execute("SELECT stats FROM chunks")]
            runs = self.db.execute("SELECT started, finished, stats FROM runs WHERE finished IS NOT NULL").fetchall()
        g: dict[str, int] = {}
        for s in stats_rows:
            for k, v in json.loads(s).items():
                g[k] = g.get(k, 0) + v
        return {
            "documents": status, "calls": chunks[0], "failed_calls": chunks[1], "tokens_in": chunks[2],
            "tokens_out": chunks[3], "call_seconds": round(chunks[4], 2), "cache_hits": chunks[5], "grounding": g,
            "wall_seconds_all_runs": round(sum(f - s for s, f, _ in runs), 2),
            "annotated_all_runs": sum(json.loads(st or "{}").get("annotated_this_run", 0) for _, _, st in runs),
        }
