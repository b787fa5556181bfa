"""Records benchmark, part 1: the LLM teacher filling records (issue 26).

    python bench/records.py --parts teacher [--datasets sroie funsd] [--shots 0 4] [--limit N] [--threads 2]

Local teacher ``llamacpp:qwen2.5-coder-1.5b`` on 2 CPU cores, 0 and 4 retrieved shots (drawn from the train
split, never the test; with shots, calls share them in groups of 16 similar receipts so that llama.cpp evaluates
the shots once per group), gold used only to measure:

- **SROIE** receipts 500-625 (``sroie:test``, 126): field F1 per field and micro, in the normalised setting and
  the SROIE task 3 protocol, record F1, and the extractive ceiling: the share of gold key values that occur in the
  OCR lines exactly, and after whitespace folding (:func:`smallext.teachers.grounding.find_exact`,
  ``smallext.teachers.grounding.find_fuzzy(..., across_lines=True)``). Published SROIE task 3 figures (2019 winner 89.6,
  LayoutLM-base 94.4) use the images and the official test set: context, not a comparison.
- **FUNSD** test forms (``funsd:test``, 50): key-value pair F1 (a ``KeyValue`` record counts when its key and
  value both match: the record-level score; field level beside it).
- Seconds and tokens per document (wall time of the store's runs over the documents they annotated).

Every run has its own store under runs/bench/records/, so a re-run (or a run after a crash) repeats no call.
Results: bench/results/records.json and records.md (a part or dataset not run keeps its earlier figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RESULTS, RUNS, machine, write_results  # noqa: E402

QWEN = "llamacpp:qwen2.5-coder-1.5b"
DATASETS = {"sroie": ("sroie:test", "sroie:train", "sroie.yaml"),
            "funsd": ("funsd:test", "funsd:train", "funsd.yaml")}


def extractive_ceiling(gold) -> dict:
    """The share of SROIE's gold key strings (read from the key files) found in the receipts' OCR text exactly and
    after whitespace folding, per field and over all."""
    from smallext.datasets import data_root
    from smallext.teachers.grounding import find_exact, find_fuzzy

    keys = data_root() / "sroie" / "train" / "data" / "key"
    per: dict[str, list[int]] = {}
    for d in gold:
        raw = json.loads((keys / f"{d.meta['receipt']}.json").read_text(encoding="utf-8"))
        for k, v in raw.items():
            if not str(v).strip():
                continue
            c = per.setdefault(k, [0, 0, 0])
            c[0] += 1
            c[1] += bool(find_exact(d.text, v.strip()))
            c[2] += bool(find_exact(d.text, v.strip()) or find_fuzzy(d.text, v, across_lines=True))
    total = [sum(c[i] for c in per.values()) for i in range(3)]
    out = {k: {"values": c[0], "exact": c[1] / c[0], "whitespace_folded": c[2] / c[0]} for k, c in per.items()}
    out["all"] = {"values": total[0], "exact": total[1] / total[0], "whitespace_folded": total[2] / total[0]}
    return out


def run_teacher(dataset: str, shots: int, limit: int | None, threads: int) -> dict:
    """Annotate the dataset's test documents with the teacher (``shots`` from its train split) through a store of
    its own, and score the records against the gold."""
    from smallext.datasets import load
    from smallext.evaluate import Evaluation, evaluate
    from smallext.measure import teacher_timing
    from smallext.schema import load_schema
    from smallext.teachers import load_teacher, teacher_options
    from smallext.teachers.annotate import annotate
    from smallext.teachers.store import Store

    test, pool, schema_file = DATASETS[dataset]
    schema = load_schema(REPO / "schemas" / schema_file)
    gold = load(test)[:limit] if limit else load(test)
    options = {"threads": threads, "shots": shots, "n_ctx": 8192 if shots else 4096}
    if shots:
        options |= {"examples": pool, "shot_groups": 16}
    opts = teacher_options(QWEN, options)
    name = f"{dataset}-{shots}shot"
    print(f"[records] {name}: {len(gold)} documents", file=sys.stderr, flush=True)
    teacher = load_teacher(QWEN, schema, opts)
    t0 = time.perf_counter()
    (RUNS / "records").mkdir(parents=True, exist_ok=True)
    with Store(RUNS / "records" / f"{name}.sqlite") as st:
        summary = annotate([d.unlabelled() for d in gold], teacher, None, store=st, progress=False)
        timing = teacher_timing(summary, [d.text for d in gold], st.call_latencies())
    teacher.close()
    preds = summary.pop("documents_out")
    ev = Evaluation.model_validate(evaluate(gold, preds, schema=schema)).records
    n = len(gold)
    g = summary["grounding"]
    return {
        "system": name, "teacher": QWEN, "shots": shots, "documents": n, "timing": timing["timing_basis"],
        "fields": ev.fields.model_dump(), "records": ev.records.model_dump(), "protocol": ev.protocol.model_dump(),
        "grounding_precision": ev.grounding_precision,
        "grounding": {k: v for k, v in g.items() if k.startswith(("values", "records"))},
        "failed_documents": summary["failed"], "calls": summary["calls"],
        "seconds_per_document": timing["seconds"] / n,
        "tokens_per_document": (summary["tokens_in"] + summary["tokens_out"]) / n,
        "tokens_in_per_document": summary["tokens_in"] / n, "tokens_out_per_document": summary["tokens_out"] / n,
        "wall_seconds_this_run": round(time.perf_counter() - t0, 1),
    }


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown(d: dict) -> str:
    lines = ["# Records benchmark: the LLM teacher (issue 26)", "",
             f"Teacher `{QWEN}` on {d['machine']['cpu_count']} CPU cores; command: `{d['command']}`.", ""]
    rows = d.get("teacher", {})
    for dataset in DATASETS:
        runs = [r for r in rows.values() if r["system"].startswith(dataset)]
        if not runs and not (dataset == "sroie" and "ceiling" in d):
            continue
        lines += [f"## {dataset.upper()} ({DATASETS[dataset][0]})", ""]
        if runs:
            lines += ["| system | documents | field F1 (95% CI) | field F1, protocol | record F1 | grounding "
                      "precision | s/document | tokens/document | failed |", "|---|---|---|---|---|---|---|---|---|"]
            for r in runs:
                m, p, rec = r["fields"]["micro"], r["protocol"]["fields"]["micro"], r["records"]["micro"]
                ci = f"({m['ci95'][0]:.3f}-{m['ci95'][1]:.3f})"
                lines.append(f"| {r['system']} | {r['documents']} | {m['f1']:.3f} {ci}"
                             f" | {p['f1']:.3f} | {rec['f1']:.3f} | {r['grounding_precision']:.3f} | "
                             f"{r['seconds_per_document']:.1f} | {r['tokens_per_document']:.0f} | "
                             f"{r['failed_documents']} |")
            fields = sorted({f for r in runs for f in r["fields"]["per_field"]})
            lines += ["", "F1 per field (normalised | protocol):", "",
                      "| field | " + " | ".join(r["system"] for r in runs) + " |",
                      "|---|" + "---|" * len(runs)]
            for f in fields:
                cells = []
                for r in runs:
                    a, b = r["fields"]["per_field"].get(f), r["protocol"]["fields"]["per_field"].get(f)
                    cells.append(f"{_f(a and a['f1'])} \\| {_f(b and b['f1'])}")
                lines.append(f"| {f} | " + " | ".join(cells) + " |")
            lines.append("")
        if dataset == "sroie" and "ceiling" in d:
            lines += ["Extractive ceiling (share of gold key strings found in the OCR lines):", "",
                      "| field | values | exact | after whitespace folding |", "|---|---|---|---|"]
            for k, c in d["ceiling"].items():
                lines.append(f"| {k} | {c['values']} | {c['exact']:.3f} | {c['whitespace_folded']:.3f} |")
            lines += ["", "Published SROIE task 3 figures (2019 winner 89.6, LayoutLM-base 94.4) use the images and "
                      "the official test set (not obtained here): context, not a comparison.", ""]
        if dataset == "funsd" and runs:
            lines += ["FUNSD key-value pair F1 is the record F1 above (a `KeyValue` record counts when its key and "
                      "value both match).", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["teacher"], choices=["teacher"])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 4])
    ap.add_argument("--limit", type=int, default=None, help="only the first N test documents (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    path = RESULTS / "records.json"
    d = json.loads(path.read_text()) if path.is_file() else {}
    d |= {"machine": machine(), "command": "python bench/records.py " + " ".join(sys.argv[1:])}
    from smallext.datasets import load

    if "sroie" in a.datasets:
        d["ceiling"] = extractive_ceiling(load("sroie:test"))
    d.setdefault("teacher", {})
    for dataset in a.datasets:
        for shots in a.shots:
            r = run_teacher(dataset, shots, a.limit, a.threads)
            d["teacher"][r["system"]] = r
            write_results("records", d, markdown(d))  # after each run: a later failure loses nothing
    write_results("records", d, markdown(d))
    print(markdown(d))


if __name__ == "__main__":
    main()
