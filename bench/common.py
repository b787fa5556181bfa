"""Shared benchmark helpers: timing, peak memory, subprocess workers, result files."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smallext.measure import peak_rss_mb  # noqa: F401  (re-exported for the benchmarks)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
RUNS = REPO / "runs" / "bench"

def n_tokens(texts: Sequence[str]) -> int:
    """Whitespace tokens: the unit of tokens/s for every system, so the figures compare."""
    return sum(len(t.split()) for t in texts)


def speed(run_batch: Callable[[list[str]], Any], texts: Sequence[str], batch_size: int) -> dict[str, float]:
    """Throughput over ``texts`` with one call per ``batch_size`` texts, and per-call latency percentiles
    (ms): at batch 1, the latency of one sentence. One warm-up call is made first and not timed.
    """
    run_batch(list(texts[:batch_size]))
    lat = []
    t0 = time.perf_counter()
    for lo in range(0, len(texts), batch_size):
        t = time.perf_counter()
        run_batch(list(texts[lo : lo + batch_size]))
        lat.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0]] * 99
    return {**_rates(texts, wall, batch_size), "latency_p50_ms": round(q[49], 3), "latency_p95_ms": round(q[94], 3)}


def _rates(texts: Sequence[str], wall: float, batch_size: int) -> dict[str, float]:
    return {
        "batch_size": batch_size,
        "sentences": len(texts),
        "seconds": round(wall, 3),
        "sentences_per_s": round(len(texts) / wall, 1),
        "tokens_per_s": round(n_tokens(texts) / wall, 1),
    }


def corpus_speed(run_all: Callable[[list[str]], Any], texts: Sequence[str], batch_size: int) -> dict[str, float]:
    """Throughput of one call over the whole corpus that the system splits into batches of ``batch_size``
    (grouped by length where the system does that). One warm-up call on a few texts is not timed."""
    run_all(list(texts[:batch_size]))
    t0 = time.perf_counter()
    run_all(list(texts))
    return _rates(texts, time.perf_counter() - t0, batch_size)


def run_worker(script: Path, args: Sequence[str], timeout: int = 3600) -> dict[str, Any]:
    """Run ``script --worker ...`` in a fresh process (so its peak RSS is its own); parse its last JSON line."""
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, str(script), "--worker", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_results(name: str, data: dict[str, Any], markdown: str) -> None:
    """Write ``bench/results/NAME.json`` and ``NAME.md`` atomically."""
    from smallext.io.atomic import atomic_write

    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_write(RESULTS / f"{name}.json") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    with atomic_write(RESULTS / f"{name}.md") as f:
        f.write(markdown)


def met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def target_lines(targets: dict[str, dict[str, Any]]) -> list[str]:
    """One markdown line per target: its figures and whether it is met (``{name: {figure: value, "met": bool}}``)."""
    lines = []
    for k, v in targets.items():
        detail = ", ".join(f"{x} {y:,.3f}" if isinstance(y, float) else f"{x}: {y}" for x, y in v.items() if x != "met")
        lines.append(f"- {k}: {detail}: **{met(v['met'])}**")
    return lines


def machine() -> dict[str, Any]:
    import platform

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def reuse_stores(src: Path, dst: Path) -> None:
    """Copy a finished run's teacher stores into another run's folder: every teacher call is answered there."""
    dst.mkdir(parents=True, exist_ok=True)
    for store in ("silver.store.sqlite", "teacher_test.store.sqlite"):
        if not (dst / store).is_file() and (src / store).is_file():
            shutil.copyfile(src / store, dst / store)


def run(cfg: dict) -> dict:
    from smallext.pipeline import distill

    print(f"[distill] {cfg['output']}: teacher {cfg['teacher']}", file=sys.stderr, flush=True)
    return distill(cfg, progress=False)


def row(name: str, m: dict, who: str, *, scores_key: str = "scores") -> dict:
    """One table row from a distill run's metrics (``metrics.json``, read as :class:`smallext.report.Metrics`):
    ``who`` is ``teacher`` or ``student``."""
    from smallext.report import Metrics

    t = getattr(Metrics.model_validate(m).test, who)
    scores = getattr(t, scores_key)
    s = scores.entities.micro
    r = {"system": name, "f1": s.f1, "ci95": s.ci95, "precision": s.precision, "recall": s.recall,
         "documents": scores.documents, "documents_per_s": t.timing.documents_per_s,
         "latency_p50_ms": t.timing.latency_p50_ms, "peak_rss_mb": t.peak_rss_mb}
    if who == "teacher":
        r["latency_unit"] = t.timing.latency_unit or "per document"
    return r
