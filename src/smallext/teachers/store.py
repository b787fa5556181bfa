"""The annotation store: one SQLite file per annotation run (standard library ``sqlite3``).

Tables:

* ``documents``: every input document (position, id, text), its status (``pending``, ``done``,
  ``failed``), the annotated document as JSON, the failure reason, and the number of attempts.
* ``calls``: every teacher call: key (hash of backend, model and prompt), prompt hash, prompt, raw reply,
  parsed entities, grounded spans, grounding statistics, tokens in/out, latency, error, the documents
  it covered. A call with no error is the cache entry for its key; a failed call is kept for the record
  but never reused.
* ``runs``: one row per invocation with its options and statistics.

Each chunk's outcome is committed in one transaction (WAL journal), so a ``kill -9`` loses at most the
calls in flight; a re-run skips ``done`` documents and reuses cached replies.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import SmallextError

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    pos INTEGER NOT NULL, id TEXT PRIMARY KEY, text TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', result TEXT, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, updated REAL
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


class Store:
    """An annotation store at ``path`` (created if missing). Thread-safe for the call cache."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.run_id: int | None = None

    def close(self) -> None:
        self.db.close()

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

    def save_results(self, done: Iterable[Document], failed: dict[str, str]) -> None:
        """Record finished and failed documents in one transaction."""
        now = time.time()
        with self._lock:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE documents SET status='done', result=?, error=NULL, attempts=attempts+1, updated=? WHERE id=?",
                [(json.dumps(d.to_dict(), ensure_ascii=False), now, d.id) for d in done],
            )
            self.db.executemany(
                "UPDATE documents SET status='failed', error=?, attempts=attempts+1, updated=? WHERE id=?",
                [(err, now, i) for i, err in failed.items()],
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
                out.append(d.without_spans().with_spans([], teacher_error=error or status))
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
        """Record a call (successful or not)."""
        cols = ["backend", "model", "prompt_hash", "prompt", "reply", "parsed", "grounded", "stats", "tokens_in",
                "tokens_out", "latency", "error", "doc_ids"]
        vals = [record.get(c) for c in cols]
        vals = [json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for v in vals]
        with self._lock:
            self.db.execute(
                f"INSERT INTO calls(key, {', '.join(cols)}, run_id, created) "
                f"VALUES (?, {', '.join('?' * len(cols))}, ?, ?)",
                [key, *vals, self.run_id, time.time()],
            )

    def update_call(self, key: str, **fields: Any) -> None:
        """Attach parse/grounding outcomes to the latest call row of ``key``."""
        sets = ", ".join(f"{k}=?" for k in fields)
        vals = [json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for v in fields.values()]
        with self._lock:
            self.db.execute(f"UPDATE calls SET {sets} WHERE seq=(SELECT MAX(seq) FROM calls WHERE key=?)",
                            [*vals, key])

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

    def busy_seconds(self) -> float:
        """Seconds during which at least one recorded call was in flight: the length of the union of the
        calls' [end - latency, end] intervals (summed latencies overcount calls that overlap)."""
        with self._lock:
            spans = sorted((end - lat, end) for lat, end in self.db.execute(
                "SELECT latency, created FROM calls WHERE latency > 0 AND created IS NOT NULL"))
        total, reach = 0.0, float("-inf")
        for a, b in spans:
            if b > reach:
                total += b - max(a, reach)
                reach = b
        return total

    def totals(self) -> dict[str, Any]:
        """Totals over the whole store: documents by status, calls, tokens, grounding statistics."""
        with self._lock:
            status = dict(self.db.execute("SELECT status, COUNT(*) FROM documents GROUP BY status").fetchall())
            calls = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in),0), COALESCE(SUM(tokens_out),0), COALESCE(SUM(latency),0),"
                " SUM(error IS NOT NULL) FROM calls"
            ).fetchone()
            stats_rows = [r[0] for r in self.db.execute("SELECT stats FROM calls WHERE stats IS NOT NULL")]
            runs = self.db.execute("SELECT started, finished, stats FROM runs WHERE finished IS NOT NULL").fetchall()
        g: dict[str, int] = {}
        for s in stats_rows:
            for k, v in json.loads(s).items():
                g[k] = g.get(k, 0) + v
        return {
            "documents": status, "calls": calls[0], "failed_calls": calls[4] or 0, "tokens_in": calls[1],
            "tokens_out": calls[2], "call_seconds": round(calls[3], 2), "grounding": g,
            "wall_seconds_all_runs": round(sum(f - s for s, f, _ in runs), 2),
            "annotated_all_runs": sum(json.loads(st or "{}").get("annotated_this_run", 0) for _, _, st in runs),
        }
