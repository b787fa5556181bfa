"""Distillation benchmark: the headline result, one table per dataset.

    python bench/distill.py [--datasets conll2003 crossner-ai] [--conll-corpus 1000] [--shots K] [--epochs 8]
                            [--layers 3] [--concurrency 16] [--gold-examples 100] [--strong] [--strong-base mpnet]
                            [--strong-sentences N] [--strong-corpus M] [--strong-epochs E]

Every system is a :func:`smallext.pipeline.distill` run (finished stages are reused, so a re-run or a run after a crash
repeats no teacher call and no training):

- CoNLL-2003: the LLM teacher (``llamacpp:qwen2.5-coder-1.5b``, the best shot count of bench/results/teacher.json
  unless ``--shots``) labels the first 1,000 sentences of the train split (labels unused); a student on the
  first ``--layers`` (3) of MiniLM-L6's 6 encoder layers is trained on them, and for comparison one with all 6.
  The teacher is scored on the first 200 test sentences, the students on all of them and on the same 200. Upper
  bound: the 3-layer student trained on the gold labels of the same sentences. spaCy en_core_web_sm on the whole
  test set.
- CrossNER-AI: the run of ``examples/crossner-ai-plain.yaml`` (the plain path, the ``make demo`` run before issue
  25, reused from ``runs/crossner-ai-plain`` when it finished there), the same student with all encoder layers when
  the config keeps fewer, and the same student on the dev split's gold labels. With ``--gold-examples N``
  (default 100, the whole train split): the student on the same silver labels plus N gold documents of the
  teacher's example pool (``gold_examples`` in the config), and a student on those N gold documents alone.
- ``--strong``: the strong-teacher scenario. A ``--strong-base`` (all-mpnet-base-v2) student trained on the gold
  of the first half of CoNLL-2003 train labels the second half's text; a MiniLM student (all 6 layers) is trained
  on those labels and compared with the teacher and with a MiniLM trained on that half's gold. Off by default: on
  2 CPU cores one mpnet epoch over half of CoNLL-2003 train takes over an hour. ``--strong-sentences 1000
  --strong-corpus 3000 --strong-epochs 4`` (the teacher on 1,000 gold sentences, the students on 3,000 of the
  second half) takes about 50 minutes here: training the teacher 12 minutes, each MiniLM 17-19.

For each system: F1 with 95% CI, documents/s, p50 latency and peak RSS (in child processes, see
:mod:`smallext.measure`), and the teacher's annotation time and tokens. Targets (printed MET / NOT MET): with the
LLM teacher, student F1 >= teacher F1 on the teacher's test documents; strong teacher: student F1 >= 0.97 x the
teacher's; student throughput >= 1,000 x the LLM teacher's.

Results: bench/results/distill.json and distill.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RESULTS, RUNS, machine, met, reuse_stores, row, run, write_results  # noqa: E402
from smallext.report import annotation_time  # noqa: E402

QWEN = "llamacpp:qwen2.5-coder-1.5b"
OUT = RUNS / "distill"


def student_opts(args, base="minilm", layers=None):
    opts = {"base_model": base, "epochs": args.epochs, "batch_size": 8, "threads": args.threads}
    return {**opts, "layers": layers} if layers else opts


def annotation_cost(m: dict) -> dict:
    a = m["annotation"]
    return {"documents": a["documents"], "wall_seconds": a["wall_seconds"], "tokens_in": a["tokens_in"],
            "tokens_out": a["tokens_out"], "failed": a["failed"], "ungrounded_rate": a["ungrounded_rate"],
            "annotated_this_run": a["annotated_this_run"], "time": annotation_time(a)}


def llm_table(name: str, llm: dict, gold: dict, full: dict | None = None) -> dict:
    """The LLM-teacher table; ``full``: the same student config with all encoder layers (a run's metrics)."""
    teacher = row("LLM teacher, applied directly", llm, "teacher")
    student = row("student distilled from the LLM", llm, "student")
    student_same = row("student, on the teacher's documents", llm, "student", scores_key="scores_on_teacher_sample")
    upper = row("student trained on gold (upper bound)", gold, "student")
    speedup = student["documents_per_s"] / max(teacher["documents_per_s"], 1e-12)
    rows = [teacher, student_same, student]
    if full is not None:
        rows += [row("the same student with all encoder layers, on the teacher's documents", full, "student",
                     scores_key="scores_on_teacher_sample"),
                 row("the same student with all encoder layers", full, "student")]
    return {
        "dataset": name, "rows": [*rows, upper], "early_stopping": llm["training"]["dev"],
        "student_layers": llm["config"]["student"].get("layers"),
        "teacher_annotation": annotation_cost(llm),
        "targets": {
            "student_f1_ge_teacher": {"student": student_same["f1"], "teacher": teacher["f1"],
                                      "met": student_same["f1"] >= teacher["f1"]},
            "throughput_ge_1000x": {"ratio": speedup, "met": speedup >= 1000},
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["crossner-ai", "conll2003"])
    ap.add_argument("--conll-corpus", type=int, default=1000, help="CoNLL-2003 train sentences the LLM labels")
    ap.add_argument("--teacher-test", type=int, default=200, help="CoNLL-2003 test sentences the LLM is scored on")
    ap.add_argument("--shots", type=int, default=None, help="LLM shots (default: best in teacher.json, else 0)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--layers", type=int, default=3,
                    help="encoder layers of the CoNLL-2003 students (0: all); CrossNER-AI: as its example config")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16, help="sequences the LLM teacher decodes together")
    ap.add_argument("--gold-examples", type=int, default=100,
                    help="CrossNER-AI: also train students with this many gold documents of the example pool")
    ap.add_argument("--strong", action="store_true", help="also run the strong-teacher scenario")
    ap.add_argument("--strong-base", default="mpnet")
    ap.add_argument("--strong-sentences", type=int, default=None, help="cap each half of CoNLL train (default: all)")
    ap.add_argument("--strong-corpus", type=int, default=None,
                    help="cap of the second half alone (the text the teacher labels); default --strong-sentences")
    ap.add_argument("--strong-epochs", type=int, default=None, help="epochs of the strong teacher (default: --epochs)")
    args = ap.parse_args()

    from smallext.datasets import load
    from smallext.io.jsonl import write_jsonl

    t_start = time.perf_counter()
    shots = args.shots
    if shots is None:
        tj = RESULTS / "teacher.json"
        shots = (json.loads(tj.read_text()).get("best_conll_shots") if tj.is_file() else None) or 0
    topts = {"shots": shots, "threads": args.threads, "concurrency": args.concurrency}
    tables, notes = [], []

    def save(complete: bool) -> dict:
        data = {"machine": machine(), "threads": args.threads, "shots": shots, "epochs": args.epochs,
                "tables": tables, "notes": notes, "complete": complete,
                "wall_seconds": round(time.perf_counter() - t_start, 1),
                "command": "python bench/distill.py " + " ".join(sys.argv[1:])}
        write_results("distill", data, markdown(data))
        return data

    if "crossner-ai" in args.datasets:
        cfg = yaml.safe_load((REPO / "examples/crossner-ai-plain.yaml").read_text())
        cfg["schema"] = str(REPO / cfg["schema"])
        demo_out = REPO / cfg["output"]
        llm = run({**cfg, "output": str(demo_out)})
        gold = run({**cfg, "teacher": "gold", "teacher_options": {}, "teacher_test_limit": None,
                    "student": {**cfg["student"], "threads": args.threads},
                    "output": str(OUT / "crossner-ai-gold")})
        full = None
        if cfg["student"].get("layers"):  # the same silver labels, a student with every layer
            reuse_stores(demo_out, OUT / "crossner-ai-all-layers")
            full = run({**cfg, "student": {**cfg["student"], "layers": None},
                        "output": str(OUT / "crossner-ai-all-layers")})
        table = llm_table("crossner-ai", llm, gold, full)
        if args.gold_examples:
            # the same silver labels (the demo run's store answers every teacher call) plus the pool's gold,
            # against a student on that gold alone
            mixed_out = OUT / "crossner-ai-llm-plus-gold"
            reuse_stores(demo_out, mixed_out)
            # the pool cannot judge the epochs of students that train on it: 10% of the training data is held out
            mixed = run({**cfg, "dev": None, "gold_examples": args.gold_examples, "output": str(mixed_out)})
            pool = run({**cfg, "dev": None, "corpus": cfg["teacher_options"]["examples"],
                        "corpus_limit": args.gold_examples, "teacher": "gold", "teacher_options": {},
                        "teacher_test_limit": None,
                        "student": {**cfg["student"], "threads": args.threads},
                        "output": str(OUT / "crossner-ai-pool-gold")})
            n = mixed["training"]["gold_documents"]
            table["rows"][-1:-1] = [row(f"student on the silver labels + {n} gold examples", mixed, "student"),
                                  row(f"student on those {n} gold examples alone", pool, "student")]
        tables.append(table)
        save(False)

    if "conll2003" in args.datasets:
        common = {"schema": str(REPO / "schemas/conll2003.yaml"), "corpus": "conll2003:train",
                  "corpus_limit": args.conll_corpus, "test": "conll2003:test", "teacher_test_limit": args.teacher_test,
                  "student": student_opts(args)}
        llm_cfg = {**common, "teacher": QWEN,
                   "teacher_options": {**topts, "examples": "conll2003:train" if shots else None}}
        full_out = OUT / f"conll-llm-{shots}shot"  # the student with every layer (the run's first student)
        full = run({**llm_cfg, "output": str(full_out)})
        if args.layers:
            reuse_stores(full_out, OUT / f"conll-llm-{shots}shot-{args.layers}layers")
            llm = run({**llm_cfg, "student": student_opts(args, layers=args.layers),
                       "output": str(OUT / f"conll-llm-{shots}shot-{args.layers}layers")})
            gold = run({**common, "teacher": "gold", "student": student_opts(args, layers=args.layers),
                        "output": str(OUT / f"conll-gold-{args.layers}layers")})
        else:
            llm, full = full, None
            gold = run({**common, "teacher": "gold", "output": str(OUT / "conll-gold")})
        table = llm_table("conll2003", llm, gold, full)
        # spaCy: its own run over the whole test set (F1, speed, memory measured like the teachers')
        from smallext.evaluate import evaluate
        from smallext.measure import in_child, measure_teacher
        from smallext.schema import load_schema

        schema = load_schema(REPO / "schemas/conll2003.yaml")
        test = schema.map_documents(load("conll2003:test"))
        sp = in_child(measure_teacher, "spacy:en_core_web_sm", str(REPO / "schemas/conll2003.yaml"), {},
                      [d.to_dict() for d in test], str(OUT / "conll-spacy.store.sqlite"))
        from smallext.doc import Document

        res = evaluate(test, [Document.from_dict(d) for d in sp["preds"]])["micro"]
        table["rows"].append({"system": "spaCy en_core_web_sm", "f1": res["f1"], "ci95": res["ci95"],
                              "precision": res["precision"], "recall": res["recall"], "documents": len(test),
                              "documents_per_s": sp["timing"]["documents_per_s"],
                              "latency_p50_ms": sp["timing"]["latency_p50_ms"], "peak_rss_mb": sp["peak_rss_mb"]})
        tables.append(table)
        save(False)

    if args.strong:
        train = load("conll2003:train")
        half = len(train) // 2
        first, second = train[:half], train[half:]
        n_first, n_second = args.strong_sentences, args.strong_corpus or args.strong_sentences
        first, second = first[:n_first], second[:n_second]  # None: the whole half
        if n_first or n_second:
            notes.append(f"strong-teacher scenario: the teacher trained on the first {len(first)} sentences of the "
                         f"first half, the students on the first {len(second)} of the second")
        t_epochs = args.strong_epochs or args.epochs
        notes.append(f"strong teacher ({args.strong_base}): {t_epochs} epochs at most; its students: {args.epochs}")
        OUT.mkdir(parents=True, exist_ok=True)
        write_jsonl(first, OUT / "conll-train-first-half.jsonl")
        write_jsonl(second, OUT / "conll-train-second-half.jsonl")
        common = {"schema": str(REPO / "schemas/conll2003.yaml"), "test": "conll2003:test"}
        teacher = run({**common, "corpus": str(OUT / "conll-train-first-half.jsonl"), "teacher": "gold",
                       "student": {**student_opts(args, args.strong_base), "epochs": t_epochs},
                       "output": str(OUT / "strong-teacher")})
        student = run({**common, "corpus": str(OUT / "conll-train-second-half.jsonl"),
                       "teacher": f"model:{OUT / 'strong-teacher' / 'model'}", "student": student_opts(args),
                       "output": str(OUT / "strong-student")})
        gold = run({**common, "corpus": str(OUT / "conll-train-second-half.jsonl"), "teacher": "gold",
                    "student": student_opts(args), "output": str(OUT / "strong-gold")})
        t_row = row(f"{args.strong_base} student on gold first half (teacher)", teacher, "student")
        s_row = row("MiniLM distilled from it on the second half", student, "student")
        g_row = row("MiniLM on the second half's gold", gold, "student")
        tables.append({"dataset": "conll2003 (strong teacher)", "rows": [t_row, s_row, g_row],
                       "teacher_annotation": annotation_cost(student),
                       "targets": {"student_f1_ge_0.97_teacher": {
                           "student": s_row["f1"], "teacher": t_row["f1"], "met": s_row["f1"] >= 0.97 * t_row["f1"]}}})
    else:
        notes.append("strong-teacher scenario not run (--strong): on 2 CPU cores one epoch of all-mpnet-base-v2 over "
                     "half of CoNLL-2003 train takes over an hour")

    print(markdown(save(True)))


def markdown(d: dict) -> str:
    lines = ["# Distillation benchmark" + ("" if d.get("complete") else " (partial: the run was interrupted)"), "",
             f"`{d['command']}`: {d['machine']['cpu_count']} CPU cores, {d['threads']} threads; LLM teacher "
             f"`{QWEN}` with {d['shots']} shots; students MiniLM-L6 int8 ONNX (CoNLL-2003: {d['epochs']} epochs at "
             "most; CrossNER-AI: as in examples/crossner-ai-plain.yaml).", ""]
    for t in d["tables"]:
        lines += [f"## {t['dataset']}", "",
                  "| system | F1 (95% CI) | P | R | test documents | documents/s | p50 ms | peak RSS MB |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in t["rows"]:
            p50 = "n/a" if r["latency_p50_ms"] is None else f"{r['latency_p50_ms']:,.1f}"  # spaCy: batch only
            lines.append(f"| {r['system']} | {r['f1']:.3f} ({r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}) "
                         f"| {r['precision']:.3f} | {r['recall']:.3f} | {r['documents']} "
                         f"| {r['documents_per_s']:,.2f} | {p50} | {r['peak_rss_mb']:,.0f} |")
        a = t["teacher_annotation"]
        if t.get("student_layers"):
            lines += ["", f"The students run the first {t['student_layers']} of MiniLM-L6's 6 encoder layers "
                          "(`student.layers`), unless the row says otherwise."]
        if t.get("early_stopping"):
            lines += ["", f"The distilled student's epochs were judged on {t['early_stopping']}."]
        lines += ["", f"Teacher annotation of the unlabelled corpus: {a['documents']} documents; wall time "
                      f"{a.get('time', annotation_time(a))}; {a['tokens_in']:,} tokens in, {a['tokens_out']:,} out, "
                      f"{a['failed']} failed, {a['ungrounded_rate']:.1%} of returned strings ungrounded.", ""]
        for name, v in t["targets"].items():
            detail = ", ".join(f"{k} {x:,.3f}" for k, x in v.items() if k != "met")
            lines.append(f"- {name}: {detail}: **{met(v['met'])}**")
        lines.append("")
    lines += [f"- {n}" for n in d["notes"]]
    lines += ["", f"Wall time of this invocation: {d['wall_seconds'] / 60:.1f} min (stages finished by earlier "
                  "invocations are reused; each table gives the teacher's annotation time)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
