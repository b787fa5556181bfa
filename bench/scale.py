"""Scale benchmark: extraction of a large corpus by one process and by Ray on the same cores.

    python bench/scale.py [--docs 100000] [--small 20000] [--model DIR] [--core-hour-usd 0.05]

1. The corpus: CoNLL-2003 (train, dev, test) and CrossNER (every domain and split) sentences, repeated to
   ``--docs`` lines, one document per line (runs/bench/scale/corpus-N.txt).
2. The student: the 3-layer MiniLM student of ``--model``, else one trained here once (2 epochs on 3,000
   CoNLL-2003 train sentences, 3 layers; cached under runs/bench/scale/model).
3. Each run in a fresh process of its own, so that its peak RSS is its own: the single process
   (``extract_file``, 2 onnxruntime threads) and Ray (``extract_dataset``, a local Ray with one actor per core,
   1 thread each; the Ray start is timed apart). Documents/s, the driver's peak RSS (VmHWM: the highest RSS
   the process reached over the run), at ``--small`` and ``--docs`` documents.
4. A projection of documents/s and of the cost per million documents on N machines like this one, from the
   measured per-core figure, assuming linear scaling and ``--core-hour-usd`` per core-hour (an assumption,
   stated in the results).

Results: bench/results/scale.json and scale.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RUNS, machine, target_lines, write_results  # noqa: E402
from smallext.measure import in_child  # noqa: E402

HERE = RUNS / "scale"
SOURCES = ["conll2003:train", "conll2003:dev", "conll2003:test"] + [
    f"crossner-{d}:{s}" for d in ("ai", "politics", "science") for s in ("train", "dev", "test")]
TARGET_RATIO = 0.8


def corpus(n: int) -> Path:
    """``n`` sentences of CoNLL-2003 and CrossNER, repeated in order, one per line (written once)."""
    path = HERE / f"corpus-{n}.txt"
    if path.is_file():
        return path
    from smallext.datasets import load
    from smallext.io.atomic import atomic_write

    texts = [d.text.replace("\n", " ") for s in SOURCES for d in load(s)]
    with atomic_write(path) as f:
        for i in range(n):
            f.write(texts[i % len(texts)] + "\n")
    return path


def student(model: str | None) -> Path:
    """The 3-layer student to run: ``model``, or one trained here once."""
    if model:
        return Path(model)
    out = HERE / "model"
    if (out / "model.onnx").is_file():
        return out
    from smallext.datasets import load
    from smallext.students.export import package
    from smallext.students.options import StudentOptions
    from smallext.students.train import fit

    print("[scale] training a 3-layer student (2 epochs, 3,000 CoNLL-2003 train sentences)", file=sys.stderr)
    res = fit(load("conll2003:train")[:3000], load("conll2003:dev")[:500], ["PER", "ORG", "LOC", "MISC"],
                StudentOptions(epochs=2, layers=3, threads=2, seed=1), progress=False)
    return package(res, out, card={"training_data": "conll2003:train[:3000]"})


def single(model: str, path: str, out: str) -> dict:
    """One process, 2 onnxruntime threads (runs in a child)."""
    from smallext.students.extractor import extract_file

    t0 = time.perf_counter()
    n = extract_file(model, path, out, threads=2)
    wall = time.perf_counter() - t0
    return {"documents": n, "seconds": round(wall, 2), "documents_per_s": round(n / wall, 1)}


def on_ray(model: str, path: str, out: str, workers: int) -> dict:
    """A local Ray started here (timed apart), ``workers`` actors of 1 thread each (runs in a child)."""
    import shutil

    import ray

    from smallext.scale import extract_dataset

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    start = time.perf_counter() - t0
    try:
        report = extract_dataset(model, path, out, workers=workers, threads=1)
    finally:
        ray.shutdown()
    wall = report["wall_seconds"]
    return {"documents": report["documents"], "shards": report["shards"], "ray_start_seconds": round(start, 2),
            "seconds": wall, "documents_per_s": round(report["documents"] / wall, 1),
            "documents_per_s_with_start": round(report["documents"] / (wall + start), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=20_000)
    ap.add_argument("--model", help="a packaged 3-layer student (default: train one)")
    ap.add_argument("--core-hour-usd", type=float, default=0.05, help="assumed price of one core-hour")
    ap.add_argument("--note", default="", help="a sentence on the machine's state, written into the results")
    args = ap.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)
    model = str(student(args.model))
    cores = os.cpu_count() or 1
    t_all = time.perf_counter()
    runs: dict[str, dict] = {}
    for n in (args.small, args.docs):
        path = str(corpus(n))
        for name, fn, extra in (("single", single, ()), ("ray", on_ray, (cores,))):
            out = HERE / f"out-{name}-{n}"
            print(f"[scale] {name}, {n:,} documents", file=sys.stderr, flush=True)
            runs[f"{name}-{n}"] = r = in_child(fn, model, path, str(out / "spans.jsonl" if name == "single" else out),
                                               *extra)
            print(f"[scale]   {r}", file=sys.stderr, flush=True)

    big_single, big_ray = runs[f"single-{args.docs}"], runs[f"ray-{args.docs}"]
    small_ray = runs[f"ray-{args.small}"]
    ratio = big_ray["documents_per_s"] / big_single["documents_per_s"]
    per_core = big_ray["documents_per_s"] / cores
    projection = []
    for machines in (1, 4, 16, 64):
        rate = per_core * cores * machines
        projection.append({"machines": machines, "cores": cores * machines, "documents_per_s": round(rate),
                           "hours_per_100m_documents": round(1e8 / rate / 3600, 2),
                           "usd_per_million_documents": round(1e6 / per_core / 3600 * args.core_hour_usd, 4)})
    targets = {
        "Ray >= 0.8x the single process (documents/s, same cores)": {
            "ray": big_ray["documents_per_s"], "single": big_single["documents_per_s"], "ratio": round(ratio, 3),
            "met": ratio >= TARGET_RATIO},
        "driver memory flat in the number of documents": {
            f"peak RSS MB at {args.small:,}": small_ray["peak_rss_mb"],
            f"peak RSS MB at {args.docs:,}": big_ray["peak_rss_mb"],
            "met": big_ray["peak_rss_mb"] <= small_ray["peak_rss_mb"] * 1.1 + 20},
    }
    data = {"machine": machine(), "model": model, "documents": args.docs, "small": args.small, "runs": runs,
            "per_core_documents_per_s": round(per_core, 1), "core_hour_usd_assumed": args.core_hour_usd,
            "projection": projection, "targets": targets, "note": args.note,
            "bench_seconds": round(time.perf_counter() - t_all, 1)}
    md = [f"# Scale: extraction of {args.docs:,} documents, one process against Ray on the same {cores} cores", "",
          f"`python bench/scale.py --docs {args.docs} --small {args.small}"
          f"{' --model ' + args.model if args.model else ''}` ({data['bench_seconds'] / 60:.1f} min), "
          f"student `{Path(model).parent.name}/{Path(model).name}` (3 layers, int8 ONNX). Corpus: CoNLL-2003 and "
          "CrossNER sentences repeated to size, one per line. Each run in a fresh process; peak RSS is that "
          "process's (the driver's; Ray's own processes and actors are not in it).",
          *([args.note] if args.note else []), "",
          "| run | documents | seconds | documents/s | Ray start s | docs/s with start | driver peak RSS MB |",
          "|---|---|---|---|---|---|---|"]
    for key, r in runs.items():
        md.append(f"| {key.rsplit('-', 1)[0]} | {r['documents']:,} | {r['seconds']:.1f} | {r['documents_per_s']:,.1f} "
                  f"| {r.get('ray_start_seconds', '-')} | {r.get('documents_per_s_with_start', '-')} "
                  f"| {r['peak_rss_mb']:,.0f} |")
    md += ["", *target_lines(targets), "",
           f"## Projection (not measured): N machines like this one ({cores} cores each)", "",
           f"From the measured {per_core:,.1f} documents/s per core (Ray, {args.docs:,} documents), assuming linear "
           f"scaling and ${args.core_hour_usd} per core-hour (an assumed price, not a quote):", "",
           "| machines | cores | documents/s | hours per 100M documents | USD per million documents |",
           "|---|---|---|---|---|"]
    for p in projection:
        md.append(f"| {p['machines']} | {p['cores']} | {p['documents_per_s']:,} | {p['hours_per_100m_documents']} "
                  f"| {p['usd_per_million_documents']} |")
    write_results("scale", data, "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
