"""Quality benchmark: how well label errors are found, what repairing them and grouped shots buy the student.

    python bench/quality.py [--datasets crossner-ai conll2003] [--shots 4] [--shot-groups 8] [--folds 4]
                            [--sample-ai 100] [--sample-conll 200] [--epochs 8] [--threads 2]

The local teacher ``llamacpp:qwen2.5-coder-1.5b`` on the corpora of bench/distill.py (CrossNER-AI dev text as in
examples/crossner-ai-plain.yaml; the first 1,000 CoNLL-2003 train sentences); gold labels are used only to measure.
Every system is a :func:`smallext.pipeline.distill` run under runs/bench/quality/ (finished stages are reused);
the 0-shot runs start from the stores of bench/distill.py's runs when they are there, so no call is repeated.

Per corpus:

1. **Error detection** on the 0-shot teacher's labels (the quality stage's flags): AUROC of the span error score
   for "this silver span is not in the gold", beside the teacher's own signal (its grounding: a fuzzy match
   counts as doubt; the LLM gives no confidence of its own) and a random order; the precision of the
   ``missing`` flags at the threshold distill adds them (``add_above``).
2. **Students** (all test sentences): 0-shot teacher without and with repair; grouped shots without and with
   repair and with the 100 gold sentences of the example pool beside the repaired labels; the 0-shot teacher's
   repaired labels with those 100 gold sentences and a student with all 6 encoder layers (the most accurate
   student within the 0-shot teacher's time); spaCy en_core_web_sm on CoNLL-2003
   in the same run. Teacher time: each run's annotation wall time over that of the 0-shot teacher labelling the
   same corpus in a store of its own (timed in this run, not taken from another run's store).
3. **Grouped shots**: on the first ``--sample-*`` test sentences, the teacher with 0 shots, with shots retrieved
   per call, and with shots shared by groups of about ``--shot-groups`` calls (evaluated once per group in the
   llama.cpp prefix cache): F1 and seconds per sentence.

Targets (printed MET / NOT MET): AUROC >= 0.75 on both corpora; missing-flag precision >= 0.6; student F1 >= 0.50
on CrossNER-AI and >= 0.62 on CoNLL-2003 and above spaCy, with teacher time <= 1.3x the 0-shot run's; grouped
shots within 0.03 F1 of per-call shots at <= 1.3x the 0-shot time per sentence.

Results: bench/results/quality.json and quality.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RUNS, machine, reuse_stores, row, run, target_lines, write_results  # noqa: E402
from smallext.quality.repair import QualityOptions  # noqa: E402

QWEN = "llamacpp:qwen2.5-coder-1.5b"
OUT = RUNS / "quality"
DISTILL = RUNS / "distill"


def base_config(name: str, args) -> tuple[dict, Path, str]:
    """The 0-shot distill config of a corpus (as bench/distill.py runs it), where its finished run is, and the
    gold of its corpus."""
    if name == "crossner-ai":
        cfg = yaml.safe_load((REPO / "examples/crossner-ai-plain.yaml").read_text())
        cfg["schema"] = str(REPO / cfg["schema"])
        return cfg, REPO / cfg["output"], "crossner-ai:dev"
    cfg = {"schema": str(REPO / "schemas/conll2003.yaml"), "corpus": "conll2003:train", "corpus_limit": 1000,
           "test": "conll2003:test", "teacher_test_limit": 200, "teacher": QWEN,
           "teacher_options": {"shots": 0, "threads": args.threads, "concurrency": 16, "examples": "conll2003:train"},
           "student": {"base_model": "minilm", "epochs": args.epochs, "batch_size": 8, "threads": args.threads,
                       "layers": 3}}
    return cfg, DISTILL / "conll-llm-0shot", "conll2003:train"


def detection(out: Path, gold_spec: str, schema_path: str, add_above: float) -> dict:
    """AUROC of the quality stage's span error scores against "not in the gold", beside the teacher's grounding
    signal and a random order; precision of the missing flags at ``add_above``."""
    from sklearn.metrics import roc_auc_score

    from smallext.datasets import load_documents
    from smallext.io import read_jsonl
    from smallext.quality.errors import read_flags
    from smallext.schema import load_schema

    schema = load_schema(schema_path)
    gold = {d.id: {s.key for s in d.spans} for d in schema.map_documents(load_documents(gold_spec))}
    silver = [d for d in schema.map_documents(read_jsonl(out / "silver.jsonl")) if "teacher_error" not in d.meta]
    flags = read_flags(out / "flags.jsonl")
    score = {(f.id, f.start, f.end, f.label): f.score for f in flags if f.kind != "missing"}
    wrong, ours, teacher = [], [], []
    for d in silver:
        for s in d.spans:
            wrong.append(int(s.key not in gold[d.id]))
            ours.append(score.get((d.id, *s.key), 0.0))
            teacher.append(1.0 if s.alignment == "fuzzy" else 0.0)
    rng = random.Random(0)
    missing = [f for f in flags if f.kind == "missing" and f.score >= add_above]
    hits = sum((f.start, f.end, f.label) in gold[f.id] for f in missing)
    return {"spans": len(wrong), "wrong": sum(wrong), "auroc": roc_auc_score(wrong, ours),
            "auroc_teacher_grounding": roc_auc_score(wrong, teacher),
            "auroc_random": roc_auc_score(wrong, [rng.random() for _ in wrong]),
            "missing_flags": len(missing), "missing_precision": hits / len(missing) if missing else None,
            "add_above": add_above}


def corpus_seconds(name: str, cfg: dict) -> float:
    """Wall seconds of the 0-shot teacher over the whole corpus, in a store of its own (a re-run reads the time
    the first took from the store's clock)."""
    from smallext.datasets import load_documents
    from smallext.measure import in_child, measure_teacher

    specs = cfg["corpus"] if isinstance(cfg["corpus"], list) else [cfg["corpus"]]
    docs = [d.without_spans() for s in specs for d in load_documents(s)][: cfg.get("corpus_limit")]
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"[timing] {name}: 0-shot teacher over {len(docs)} corpus documents", file=sys.stderr, flush=True)
    r = in_child(measure_teacher, cfg["teacher"], cfg["schema"], {**cfg["teacher_options"], "shots": 0},
                 [d.to_dict() for d in docs], str(OUT / f"{name}-0shot-timing.store.sqlite"))
    return r["timing"]["seconds"]


def teacher_on_sample(name: str, cfg: dict, n: int, options: dict, src: Path | None) -> dict:
    """The teacher with ``options`` on the first ``n`` test documents, in a child process (F1 and speed)."""
    from smallext.datasets import load_documents
    from smallext.doc import Document
    from smallext.evaluate import evaluate
    from smallext.measure import in_child, measure_teacher
    from smallext.schema import load_schema

    test = load_schema(cfg["schema"]).map_documents(load_documents(cfg["test"]))[:n]
    store = OUT / f"{name}.store.sqlite"
    if src is not None and not store.is_file() and src.is_file():
        import shutil

        OUT.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, store)
    print(f"[sample] {name}: {n} test documents, {options}", file=sys.stderr, flush=True)
    r = in_child(measure_teacher, cfg["teacher"], cfg["schema"], {**cfg["teacher_options"], **options},
                 [d.to_dict() for d in test], str(store))
    s = evaluate(test, [Document.from_dict(d) for d in r["preds"]])["micro"]
    return {"system": name, "documents": n, "f1": s["f1"], "ci95": s["ci95"], "precision": s["precision"],
            "recall": s["recall"], "seconds_per_document": 1 / r["timing"]["documents_per_s"],
            "tokens": r["summary"]["tokens_in"] + r["summary"]["tokens_out"]}


def corpus(name: str, args) -> dict:
    cfg, done, gold_spec = base_config(name, args)
    shots = {**cfg["teacher_options"], "shots": args.shots, "shot_groups": args.shot_groups}
    quality = {"folds": args.folds}
    runs: dict[str, dict] = {}

    def variant(key: str, **over) -> dict:
        out = OUT / f"{name}-{key}"
        if key.startswith("0shot"):
            reuse_stores(done, out)
        elif key != "shots":
            reuse_stores(OUT / f"{name}-shots", out)
        runs[key] = run({**cfg, **over, "output": str(out)})
        return runs[key]

    variant("0shot")
    variant("0shot-repair", quality=quality)
    variant("shots", teacher_options=shots)
    variant("shots-repair", teacher_options=shots, quality=quality)
    variant("shots-repair-gold", teacher_options=shots, quality=quality, gold_examples=100, dev=None)
    variant("0shot-repair-gold-6layers", quality=quality, gold_examples=100, dev=None,
            student={**cfg["student"], "layers": None})
    det = detection(OUT / f"{name}-0shot-repair", gold_spec, cfg["schema"], QualityOptions().add_above)
    base_time = corpus_seconds(name, cfg)
    students = []
    labels = {"0shot": "0-shot teacher", "0shot-repair": "0-shot teacher, labels repaired",
              "shots": f"{args.shots} shots per group of ~{args.shot_groups}",
              "shots-repair": f"{args.shots} shots per group, labels repaired",
              "shots-repair-gold": f"{args.shots} shots per group, repaired, + 100 gold examples",
              "0shot-repair-gold-6layers": "0-shot teacher, repaired, + 100 gold examples, all 6 layers"}
    for key, m in runs.items():
        r = row(labels[key], m, "student")
        seconds = base_time if key.startswith("0shot") else m["annotation"]["wall_seconds_all_runs"]
        r["teacher_time_ratio"] = seconds / max(base_time, 1e-9)
        r["repair"] = (m.get("quality") or {}).get("rounds")
        students.append(r)
    teachers = [row(f"teacher: {labels[k]}", runs[k], "teacher") for k in ("0shot", "shots")]
    sample_n = args.sample_ai if name == "crossner-ai" else args.sample_conll
    zero_store = done / "teacher_test.store.sqlite"
    sample = [teacher_on_sample(f"{name}-sample-0shot", cfg, sample_n, {"shots": 0}, zero_store),
              teacher_on_sample(f"{name}-sample-percall", cfg, sample_n, {"shots": args.shots}, None),
              teacher_on_sample(f"{name}-sample-grouped", cfg, sample_n,
                                {"shots": args.shots, "shot_groups": args.shot_groups}, None)]
    out = {"dataset": name, "detection": det, "students": students, "teachers": teachers, "sample": sample,
           "corpus_seconds_0shot": base_time}
    best = max((r for r in students if r["teacher_time_ratio"] <= 1.3), key=lambda r: r["f1"])
    goal = 0.50 if name == "crossner-ai" else 0.62
    out["targets"] = {
        "auroc_ge_0.75": {"auroc": det["auroc"], "met": det["auroc"] >= 0.75},
        "missing_precision_ge_0.6": {"precision": det["missing_precision"] or 0.0,
                                     "met": (det["missing_precision"] or 0) >= 0.6},
        f"student_f1_ge_{goal}": {"f1": best["f1"], "teacher_time_ratio": best["teacher_time_ratio"],
                                  "system": best["system"], "met": best["f1"] >= goal},
        "grouped_shots_within_0.03_at_1.3x": {
            "f1_grouped": sample[2]["f1"], "f1_per_call": sample[1]["f1"],
            "time_ratio": sample[2]["seconds_per_document"] / sample[0]["seconds_per_document"],
            "met": sample[2]["f1"] >= sample[1]["f1"] - 0.03
            and sample[2]["seconds_per_document"] <= 1.3 * sample[0]["seconds_per_document"]},
    }
    if name == "conll2003":
        from smallext.datasets import load
        from smallext.doc import Document
        from smallext.evaluate import evaluate
        from smallext.measure import in_child, measure_teacher
        from smallext.schema import load_schema

        test = load_schema(cfg["schema"]).map_documents(load("conll2003:test"))
        sp = in_child(measure_teacher, "spacy:en_core_web_sm", cfg["schema"], {}, [d.to_dict() for d in test],
                      str(OUT / "conll-spacy.store.sqlite"))
        f = evaluate(test, [Document.from_dict(d) for d in sp["preds"]])["micro"]["f1"]
        out["spacy_f1"] = f
        out["targets"][f"student_f1_ge_{goal}"]["spacy"] = f
        out["targets"][f"student_f1_ge_{goal}"]["met"] &= best["f1"] > f
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["crossner-ai", "conll2003"])
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--shot-groups", type=int, default=8, help="calls per group sharing their shots")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--sample-ai", type=int, default=100, help="CrossNER-AI test sentences for the shots comparison")
    ap.add_argument("--sample-conll", type=int, default=200, help="CoNLL-2003 test sentences for the shots comparison")
    ap.add_argument("--epochs", type=int, default=8, help="CoNLL-2003 student epochs (CrossNER-AI: its config's)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    tables = []

    def save(complete: bool) -> dict:
        data = {"machine": machine(), "args": vars(args), "tables": tables, "complete": complete,
                "wall_seconds": round(time.perf_counter() - t0, 1),
                "command": "python bench/quality.py " + " ".join(sys.argv[1:])}
        write_results("quality", data, markdown(data))
        return data

    for name in args.datasets:
        tables.append(corpus(name, args))
        save(False)
    print(markdown(save(True)))


def markdown(d: dict) -> str:
    a = d["args"]
    lines = ["# Quality benchmark" + ("" if d["complete"] else " (partial: the run was interrupted)"), "",
             f"`{d['command']}`: {d['machine']['cpu_count']} CPU cores; teacher `{QWEN}`; quality stage with "
             f"{a['folds']} cross-fitted folds; shots: {a['shots']} per group of about {a['shot_groups']} calls.", ""]
    for t in d["tables"]:
        det = t["detection"]
        lines += [f"## {t['dataset']}", "", "### Error detection on the 0-shot teacher's labels", "",
                  f"{det['spans']} silver spans, {det['wrong']} not in the gold ({det['wrong'] / det['spans']:.1%}).",
                  "", "| span score | AUROC (not in the gold) |", "|---|---|",
                  f"| quality stage (cross-fitted students) | {det['auroc']:.3f} |",
                  f"| teacher's grounding (fuzzy match = doubt; the LLM gives no confidence) | "
                  f"{det['auroc_teacher_grounding']:.3f} |",
                  f"| random order | {det['auroc_random']:.3f} |", "",
                  f"Missing-entity flags at the threshold distill adds them ({det['add_above']}): "
                  f"{det['missing_flags']}, precision "
                  + ("n/a" if det["missing_precision"] is None else f"{det['missing_precision']:.3f}") + ".", "",
                  "### Students (all test sentences)", "",
                  f"Teacher time is each run's annotation wall time over the 0-shot teacher's on the same corpus, "
                  f"{t['corpus_seconds_0shot'] / 60:.1f} min, timed in this run.", "",
                  "| system | F1 (95% CI) | P | R | documents/s | teacher time / 0-shot |", "|---|---|---|---|---|---|"]
        for r in t["students"]:
            lines.append(f"| {r['system']} | {r['f1']:.3f} ({r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}) "
                         f"| {r['precision']:.3f} | {r['recall']:.3f} | {r['documents_per_s']:,.1f} "
                         f"| {r['teacher_time_ratio']:.2f}x |")
        if "spacy_f1" in t:
            lines.append(f"| spaCy en_core_web_sm | {t['spacy_f1']:.3f} | | | | |")
        lines += ["", "### The teacher with shots (first test sentences)", "",
                  "| teacher | documents | F1 (95% CI) | P | R | s/document |", "|---|---|---|---|---|---|"]
        for r in [*t["teachers"], *t["sample"]]:
            spd = r.get("seconds_per_document") or 1 / r["documents_per_s"]
            lines.append(f"| {r['system']} | {r['documents']} | {r['f1']:.3f} ({r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}) "
                         f"| {r['precision']:.3f} | {r['recall']:.3f} | {spd:.2f} |")
        lines.append("")
        lines += target_lines(t["targets"])
        lines.append("")
    lines += [f"Wall time of this invocation: {d['wall_seconds'] / 60:.1f} min (finished stages are reused)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
