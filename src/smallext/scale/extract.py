"""Extraction at scale: a packaged student over a large corpus on Ray Data, shard by shard, resumable.

The driver plans shards (:mod:`smallext.scale.shards`) by streaming over the input once, and hands Ray Data
only the shards' descriptions. ``map_batches`` runs :class:`ShardExtractor`, a callable class whose actors
(``workers`` of them, ``threads`` CPUs each) load the ONNX :class:`~smallext.students.extractor.Extractor`
once and then, for each shard: read it, extract in the calls :func:`~smallext.students.extractor.extract_file`
makes (``chunk`` documents from the start of the file), write ``part-NNNNN.jsonl`` (or ``.parquet``) to a
temporary name and rename it, then record the shard as finished in ``_shards/NNNNN.json``. Only those small
records come back to the driver, so its memory does not grow with the corpus.

Faults: Ray restarts a killed actor and retries its shard (a part is renamed into place whole, so a retried
shard replaces nothing half-written); a re-run of a killed driver skips the shards already recorded.
The parts in order, concatenated, are what the single-process ``smallext extract`` writes for the same input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from smallext.doc import LAYERS, Document
from smallext.errors import ConfigError, FormatError
from smallext.io.atomic import atomic_write
from smallext.io.jsonl import iter_jsonl, write_json_lines, write_jsonl
from smallext.scale.cluster import ShardProgress, ray_session, user_errors, worker_count
from smallext.scale.shards import Shard, input_files, plan_shards, read_shard
from smallext.students.extractor import FILE_CHUNK

__all__ = ["OUTPUT_FORMATS", "ShardExtractor", "extract_dataset", "iter_output"]

OUTPUT_FORMATS = ("jsonl", "parquet")
SHARD_DIR = "_shards"


def _part(out_dir: Path, index: int, fmt: str) -> Path:
    return out_dir / f"part-{index:05d}.{fmt}"


def _record(out_dir: Path, index: int) -> Path:
    return out_dir / SHARD_DIR / f"{index:05d}.json"


def _write_json(path: Path, obj: Any) -> None:
    write_json_lines([obj], path)


def _write_part(docs: Sequence[Document], path: Path, fmt: str) -> None:
    """One shard's documents, atomically: JSONL lines, or a Parquet table of the same JSON forms
    (:func:`_parquet_table`)."""
    if fmt == "jsonl":
        write_jsonl(docs, path)
        return
    import pyarrow.parquet as pq

    with atomic_write(path, "wb") as f:
        pq.write_table(_parquet_table(docs), f)


def parquet_columns() -> tuple[str, ...]:
    """The columns of a Parquet part: one per field of a document's JSON form (:meth:`Document.to_dict`), the
    core ones and then each registered layer's (``relations``, ...). ``id`` and ``text`` hold strings; the
    others the field's JSON text, null where the JSON form leaves the field out."""
    return (*_CORE, *LAYERS)


_CORE = ("id", "text", "spans", "meta", "tokens")
_PLAIN = ("id", "text")


def _parquet_table(docs: Sequence[Document]) -> Any:
    """A Parquet part's table (:func:`parquet_columns`): read back by :func:`_read_part`, the documents are
    equal to those written, every span's score, source and alignment included.

    Raises:
        ValueError: a document's JSON form has a field that no column holds (it would be lost).
    """
    import pyarrow as pa

    columns = parquet_columns()
    rows = [d.to_dict() for d in docs]
    lost = set().union(*(row.keys() for row in rows)) - set(columns)
    if lost:
        raise ValueError(f"a Parquet part has no column for the document field(s) {sorted(lost)}")
    return pa.table({c: pa.array([_cell(c, row.get(c)) for row in rows], pa.string()) for c in columns})


def _cell(column: str, value: Any) -> str | None:
    """A field of a document's JSON form as a Parquet cell (``None``: the JSON form leaves it out)."""
    return value if value is None or column in _PLAIN else json.dumps(value, ensure_ascii=False)


def _field(column: str, cell: Any) -> Any:
    """A Parquet cell as a field of a document's JSON form (a part written before the cells were JSON text
    holds lists of structs: they are taken as they are)."""
    return cell if column in _PLAIN or not isinstance(cell, str) else json.loads(cell)


class ShardExtractor:
    """The callable class of ``map_batches``: one per Ray actor, holding one loaded Extractor.

    Args:
        model_dir: packaged model directory (readable on every node).
        out_dir: output folder (shared by every node).
        threads: onnxruntime threads (the actor's ``num_cpus``).
        fmt: ``jsonl`` or ``parquet``; on_error: ``stop`` or ``skip``; batch_size, chunk: as
            :func:`~smallext.students.extractor.extract_file`.

    Each call takes a batch of shard descriptions (columns of :class:`~smallext.scale.shards.Shard`) and returns
    one row per shard: ``index``, ``documents``, ``skipped`` (counts) and ``error`` (empty, or the first bad
    record under ``on_error="stop"``: its message, with ``file`` and ``line``).
    """

    def __init__(self, model_dir: str, out_dir: str, threads: int, fmt: str, on_error: str, batch_size: int,
                 chunk: int) -> None:
        from smallext.students.extractor import Extractor

        self.extractor = Extractor.load(model_dir, threads=threads)
        self.out_dir = Path(out_dir)
        self.fmt, self.on_error, self.batch_size, self.chunk = fmt, on_error, batch_size, chunk

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows: dict[str, list] = {"index": [], "documents": [], "skipped": [], "error": [], "file": [], "line": []}
        for i in range(len(batch["index"])):
            shard = Shard(**{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in batch.items()})
            done, error = self._shard(shard)
            rows["index"].append(shard.index)
            rows["documents"].append(done.get("documents", 0))
            rows["skipped"].append(len(done.get("skipped", [])))
            rows["error"].append(error.message if error else "")
            rows["file"].append(error.path if error else "")
            rows["line"].append((error.line or 0) if error else 0)
        return rows

    def _shard(self, shard: Shard) -> tuple[dict[str, Any], FormatError | None]:
        record = _record(self.out_dir, shard.index)
        if record.is_file():  # finished before a retry or by an earlier run
            return json.loads(record.read_text(encoding="utf-8")), None
        try:
            docs, skipped = read_shard(shard, self.on_error)
        except FormatError as e:
            return {}, e
        out = list(self.extractor.extract_chunks(docs, chunk=self.chunk, batch_size=self.batch_size))
        part = _part(self.out_dir, shard.index, self.fmt)
        _write_part(out, part, self.fmt)
        done = {**shard.to_dict(), "part": part.name, "documents": len(out), "skipped": skipped}
        _write_json(record, done)
        return done, None


def _plan_key(model_dir: Path, files: Sequence[tuple[Path, str]], fmt: str, shard_docs: int, chunk: int,
              batch_size: int) -> dict[str, Any]:
    """What decides the output: a folder of parts is resumed only under the same key."""
    return {
        "model": str(model_dir.resolve()),
        "model_config_mtime_ns": (model_dir / "config.json").stat().st_mtime_ns if (model_dir / "config.json").exists()
        else None,
        "inputs": [[str(p.resolve()), f, p.stat().st_size, p.stat().st_mtime_ns] for p, f in files],
        "format": fmt, "shard_docs": shard_docs, "chunk": chunk, "batch_size": batch_size,
    }


def _claim(out_dir: Path, key: dict[str, Any]) -> None:
    """Make ``out_dir`` this job's: new, or holding the parts of the same job (then they are reused).

    Raises:
        ConfigError: the folder holds other files, or the parts of another job (other input, model or settings).
    """
    plan = out_dir / SHARD_DIR / "plan.json"
    if plan.is_file():
        old = json.loads(plan.read_text(encoding="utf-8"))
        if old != key:
            diff = sorted(k for k in key if old.get(k) != key[k])
            raise ConfigError(f"{out_dir}: holds the output of another extraction (it differs in: "
                              f"{', '.join(diff)}); give another output folder or delete it")
        return
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir}: not empty and not an extraction's output folder; give a new or empty folder")
    _write_json(plan, key)


def extract_dataset(
    model: str | Path,
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    fmt: str = "jsonl",
    input_format: str | None = None,
    on_error: str = "stop",
    batch_size: int = 32,
    chunk: int = FILE_CHUNK,
    shard_docs: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Extract spans from a corpus with a packaged student on Ray Data; resumable.

    Args:
        model: packaged model directory (on a cluster: a path every node can read).
        inputs: files and/or folders of ``.jsonl``, ``.txt`` (one document per line) or ``.parquet`` (a
            ``text`` column, optional ``id``); folders are read recursively in path order.
        out_dir: output folder (on a cluster: shared by the nodes): ``part-00000.jsonl`` ... in input order,
            ``report.json``, ``skipped.jsonl``, and ``_shards/`` (the finished shards, for resuming).
        address: Ray cluster address (``ray://HOST:10001``, ``HOST:6379``, ``auto``); None: ``$RAY_ADDRESS``, else
            a local Ray on this machine.
        workers: actors extracting at once (default: the cluster's CPUs // ``threads``).
        threads: onnxruntime threads per actor, and the CPUs each actor reserves (``num_cpus``).
        fmt: output format, ``jsonl`` or ``parquet`` (columns ``id``, ``text`` and, as JSON text, ``spans``,
            ``meta``, ``tokens``, ``relations``: :func:`parquet_columns`).
        input_format: ``jsonl``, ``text`` or ``parquet`` for every input (default: from each file's extension).
        on_error: ``stop`` (the first bad record ends the run with its file and line; finished shards are
            kept) or ``skip`` (bad records are left out and listed in ``skipped.jsonl``).
        batch_size: windows per onnxruntime call. chunk: documents per extraction call, counted from the
            start of each file (as :func:`~smallext.students.extractor.extract_file`, so results are identical).
        shard_docs: documents per shard (default ``4 * chunk``); a multiple of ``chunk``.
        progress: show a progress bar of shards.

    Returns:
        The report (also written to ``out_dir/report.json``): ``documents``, ``skipped``, ``shards``,
        ``shards_this_run``, ``workers``, ``threads``, ``wall_seconds`` (this run), ``documents_per_s`` (this run's
        documents over its wall time), ``format``, ``parts`` (file names in order), ``skipped_file``.

    Raises:
        FormatError: with ``on_error="stop"``, a bad record (file, line, field named); an input whose format is
            unknown.
        ConfigError: bad arguments, Ray missing or unreachable, or ``out_dir`` holding other output.
        FileNotFoundError: a missing input or model file.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
    if on_error not in ("stop", "skip"):
        raise ConfigError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    if threads < 1 or chunk < 1 or batch_size < 1:
        raise ConfigError("threads, chunk and batch_size must be at least 1")
    shard_docs = shard_docs or 4 * chunk
    if shard_docs % chunk:
        raise ConfigError(f"shard_docs ({shard_docs}) must be a multiple of chunk ({chunk}), so that each shard's "
                          "extraction calls are those of a single process")
    model_dir, out_dir = Path(model), Path(out_dir)
    if not (model_dir / "model.onnx").is_file():
        raise ConfigError(f"not a smallext model directory: {model_dir / 'model.onnx'} is missing")
    files = input_files(inputs, input_format)
    _claim(out_dir, _plan_key(model_dir, files, fmt, shard_docs, chunk, batch_size))

    shards = list(plan_shards(files, shard_docs))
    todo = [s for s in shards if not _record(out_dir, s.index).is_file()]
    t0 = time.perf_counter()
    new_docs = 0
    n_workers = 0
    if todo:
        with ray_session(address) as ray:
            n_workers = min(worker_count(ray, workers, threads), len(todo))
            ds = ray.data.from_items([s.to_dict() for s in todo], override_num_blocks=len(todo))
            ds = ds.map_batches(ShardExtractor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=n_workers),
                                num_cpus=threads,
                                fn_constructor_kwargs={"model_dir": str(model_dir.resolve()),
                                                       "out_dir": str(out_dir.resolve()), "threads": threads,
                                                       "fmt": fmt, "on_error": on_error, "batch_size": batch_size,
                                                       "chunk": chunk})
            with user_errors(), ShardProgress(progress, len(shards), len(shards) - len(todo), "extracting") as advance:
                for row in ds.iter_rows():
                    if row["error"]:
                        raise FormatError(row["file"], row["line"] or None, row["error"])
                    new_docs += row["documents"]
                    advance()
    wall = time.perf_counter() - t0
    return _report(out_dir, shards, fmt, new_docs, len(todo), n_workers, threads, wall)


def _report(out_dir: Path, shards: Sequence[Shard], fmt: str, new_docs: int, new_shards: int, workers: int,
            threads: int, wall: float) -> dict[str, Any]:
    """Check every shard is finished, list the skipped records, and write the report (both atomically)."""
    documents = 0
    parts = []

    def skipped_records() -> Iterator[dict[str, Any]]:
        nonlocal documents
        for s in shards:
            path = _record(out_dir, s.index)
            if not path.is_file():
                raise ConfigError(f"{out_dir}: shard {s.index} ({s.path} from line {s.first_line}) did not finish; "
                                  "run again to finish it")
            done = json.loads(path.read_text(encoding="utf-8"))
            documents += done["documents"]
            parts.append(done["part"])
            yield from done["skipped"]

    skipped = write_json_lines(skipped_records(), out_dir / "skipped.jsonl")
    report = {
        "documents": documents, "skipped": skipped, "shards": len(shards), "shards_this_run": new_shards,
        "documents_this_run": new_docs, "workers": workers, "threads": threads, "wall_seconds": round(wall, 3),
        "documents_per_s": round(new_docs / wall, 1) if new_docs and wall > 0 else None, "format": fmt,
        "parts": parts, "skipped_file": "skipped.jsonl",
    }
    _write_json(out_dir / "report.json", report)
    for tmp in [*out_dir.glob(".part-*.tmp"), *(out_dir / SHARD_DIR).glob(".*.tmp")]:
        tmp.unlink(missing_ok=True)  # left by workers killed while writing
    return report


def iter_output(out_dir: str | Path) -> Iterator[Document]:
    """The documents of an :func:`extract_dataset` output folder, in input order (parts listed by its report).

    Raises:
        ConfigError: the folder has no ``report.json`` (the extraction did not finish).
    """
    out_dir = Path(out_dir)
    report = out_dir / "report.json"
    if not report.is_file():
        raise ConfigError(f"{out_dir}: no report.json; the extraction did not finish (run it again)")
    for name in json.loads(report.read_text(encoding="utf-8"))["parts"]:
        yield from _read_part(out_dir / name)


def _read_part(path: Path) -> Iterator[Document]:
    """The documents of one part written by :func:`_write_part` (JSONL or Parquet)."""
    if path.suffix == ".jsonl":
        yield from iter_jsonl(path)
        return
    import pyarrow.parquet as pq

    for row in pq.read_table(path).to_pylist():
        yield Document.from_dict({c: _field(c, v) for c, v in row.items() if v is not None})


def ray_throughput(model: str | Path, texts: Sequence[str], work_dir: str | Path, *, address: str | None = None,
                   workers: int | None = None, threads: int = 1) -> dict[str, Any]:
    """A student's batch throughput on Ray: ``texts`` (one document per line) extracted by
    :func:`extract_dataset` from a fresh ``work_dir`` (replaced), as a distill run with ``engine: ray`` measures it.

    Returns:
        ``documents``, ``workers``, ``threads``, ``wall_seconds`` (the extraction, Ray's start excluded) and
        ``documents_per_s``.

    Raises:
        ConfigError: Ray missing or unreachable; see :func:`extract_dataset`.
    """
    import shutil

    work = Path(work_dir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    src = work / "input.txt"
    src.write_text("".join(t.replace("\n", " ") + "\n" for t in texts), encoding="utf-8")
    rep = extract_dataset(model, src, work / "out", address=address, workers=workers, threads=threads)
    return {k: rep[k] for k in ("documents", "workers", "threads", "wall_seconds", "documents_per_s")}
