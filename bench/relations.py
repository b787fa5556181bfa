"""Relation benchmark: the relation student trained on gold (upper bound), the local LLM teacher, the student
distilled from the teacher, and what relations cost in speed and memory.

    python bench/relations.py [--parts gold teacher distill speed] [--epochs 15] [--corpora conll04 scierc]
                              [--sample 100]
                              [--corpus-limit 200] [--threads 2]

1. **gold** (upper bound): a student (MiniLM-L6, all 6 layers) trained jointly for entities and relations on each
   corpus's gold train split, best epoch by dev entity + strict relation F1, scored as int8 ONNX on the whole
   test set: CoNLL04 (SpERT split, 288 test sentences) and SciERC (551 test sentences of 100 abstracts).
2. **teacher**: ``llamacpp:qwen2.5-coder-1.5b`` with the relation task, 0 and 4 retrieved shots (pool: CoNLL04
   train), on the first ``--sample`` CoNLL04 test sentences: entity and relation F1, relations and entities it
   returned that could not be grounded, seconds per sentence.
3. **distill**: ``smallext distill examples/conll04.yaml`` (output under runs/bench): the 0-shot teacher labelling
   the first ``--corpus-limit`` CoNLL04 train sentences (their labels unused), a student trained on those silver
   labels (dev: the gold dev split), scored on the whole test set and on the teacher's sample, with the speed-up in
   documents/s.
4. **speed**: documents/s (batch job), p50/p95 latency at batch 1 and peak RSS of the CoNLL04 relation student
   against the same packaged encoder without its relation head (the entity-only student), each in a fresh
   process, on the 288 test sentences.

Every part keeps its result in runs/bench/relations/ and a re-run reuses it (the teacher's calls through its
SQLite store). Results: bench/results/relations.json and relations.md, targets printed MET / NOT MET.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RUNS, machine, run, target_lines, write_results  # noqa: E402

QWEN = "llamacpp:qwen2.5-coder-1.5b"
OUT = RUNS / "relations"
CORPORA = {"conll04": ("schemas/conll04.yaml", 0.62), "scierc": ("schemas/scierc.yaml", 0.30)}


def _kept(path: Path, make) -> dict:
    """The result kept at ``path``, or ``make()``'s, written there."""
    if path.is_file():
        return json.loads(path.read_text())
    res = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    return res


def _scores(res) -> dict:
    """The numbers of an evaluation result (a dict or :class:`smallext.evaluate.Evaluation`) the results file keeps."""
    from smallext.evaluate import Evaluation

    ev = Evaluation.model_validate(res)
    ent, rel = ev.section("entities"), ev.section("relations")
    return {"entity_f1": ent.micro.f1, "entity_ci95": ent.micro.ci95,
            "relation_strict_f1": rel.strict.micro.f1 if rel else 0.0,
            "relation_strict_ci95": rel.strict.micro.ci95 if rel else None,
            "relation_boundaries_f1": rel.boundaries.micro.f1 if rel else 0.0,
            "relation_per_type": {t: v.f1 for t, v in rel.strict.per_type.items()} if rel else {},
            "documents": ev.documents}


def gold_student(name: str, args) -> dict:
    from smallext.students.options import StudentOptions
    from smallext.students.train import train_student

    schema, _ = CORPORA[name]
    out = OUT / f"{name}-gold"

    def make():
        t0 = time.perf_counter()
        opts = StudentOptions(epochs=args.epochs, threads=args.threads, batch_size=8)
        s = train_student(REPO / schema, f"{name}:train", f"{name}:dev", out / "model", opts, test_data=f"{name}:test",
                          progress=False)
        return {"test": _scores(s["test_int8"]), "dev": _scores(s["dev_int8"]), "epochs": args.epochs,
                "seconds": round(time.perf_counter() - t0, 1), "model": str(out / "model")}

    print(f"[relations] gold student {name}", file=sys.stderr, flush=True)
    return _kept(out / "result.json", make)


def teacher(shots: int, args) -> dict:
    from smallext.datasets import load
    from smallext.doc import Document
    from smallext.evaluate import evaluate
    from smallext.measure import in_child, measure_teacher
    from smallext.schema import load_schema

    schema = load_schema(REPO / "schemas/conll04.yaml")
    sample = schema.map_documents(load("conll04", "test"))[: args.sample]
    out = OUT / f"teacher-{shots}shot"

    def make():
        out.mkdir(parents=True, exist_ok=True)
        opts = {"shots": shots, "examples": "conll04:train", "threads": args.threads, "concurrency": 8}
        t = in_child(measure_teacher, QWEN, str(REPO / "schemas/conll04.yaml"), opts, [d.to_dict() for d in sample],
                     str(out / "store.sqlite"))
        preds = [Document.from_dict(d) for d in t["preds"]]
        g = t["summary"]["grounding"]
        return {"shots": shots, "scores": _scores(evaluate(sample, preds)),
                "seconds_per_sentence": t["timing"]["seconds"] / len(sample),
                "documents_per_s": t["timing"]["documents_per_s"],
                "entities_ungrounded_rate": g["ungrounded"] / max(g["entities"], 1),
                "relations_returned": g["relations"], "relations_ungrounded": g["relations_ungrounded"],
                "relations_type_error": g["relations_type_error"],
                "relations_unknown_type": g["relations_unknown_type"],
                "relations_dropped_rate": (g["relations"] - g["relations_kept"]) / max(g["relations"], 1),
                "peak_rss_mb": t["peak_rss_mb"]}

    print(f"[relations] teacher {shots} shots on {len(sample)} test sentences", file=sys.stderr, flush=True)
    return _kept(out / "result.json", make)


def distilled(args) -> dict:
    import yaml

    out = OUT / "distill-0shot"
    cfg = yaml.safe_load((REPO / "examples/conll04.yaml").read_text())  # the example config, as a user runs it
    cfg.update({"schema": str(REPO / cfg["schema"]), "corpus_limit": args.corpus_limit,
                "teacher_test_limit": args.sample, "output": str(out)})
    cfg["student"] = {**cfg["student"], "epochs": args.epochs, "threads": args.threads}
    cfg["teacher_options"] = {**cfg["teacher_options"], "threads": args.threads}
    # the teacher's test sample is the one the teacher part labelled: reuse its calls
    src = OUT / "teacher-0shot" / "store.sqlite"
    if src.is_file() and not (out / "teacher_test.store.sqlite").is_file():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / "teacher_test.store.sqlite")
    run(cfg)
    from smallext.report import Metrics

    m = Metrics.model_validate_json((out / "metrics.json").read_text())
    t = m.test
    return {"corpus_documents": m.annotation.documents, "annotation_seconds": m.stage_seconds.annotate,
            "teacher": _scores(t.teacher.scores), "student_on_teacher_sample":
            _scores(t.student.scores_on_teacher_sample), "student": _scores(t.student.scores),
            "speedup_documents_per_s": t.speedup_documents_per_s,
            "student_documents_per_s": t.student.timing.documents_per_s,
            "teacher_documents_per_s": t.teacher.timing.documents_per_s, "report": str(out / "report.md")}


def speed(model: Path, args) -> dict:
    from smallext.datasets import load
    from smallext.measure import in_child, measure_student

    entity_only = OUT / "conll04-gold" / "entity-only"
    if entity_only.exists():
        shutil.rmtree(entity_only)
    shutil.copytree(model, entity_only)
    cfg = json.loads((entity_only / "config.json").read_text())
    cfg["relation_types"] = []
    (entity_only / "config.json").write_text(json.dumps(cfg))
    (entity_only / "relation.onnx").unlink()
    texts = [d.text for d in load("conll04", "test")]
    out = {}
    for name, path in (("entity-only", entity_only), ("relations", model)):
        print(f"[relations] speed of the {name} student", file=sys.stderr, flush=True)
        r = in_child(measure_student, str(path), texts, args.threads)
        out[name] = {k: r[k] for k in ("documents_per_s", "latency_p50_ms", "latency_p95_ms", "peak_rss_mb")}
    out["relations_over_entity_only_documents_per_s"] = (out["relations"]["documents_per_s"]
                                                         / out["entity-only"]["documents_per_s"])
    return out


def markdown(res: dict) -> str:
    lines = ["# Relations benchmark", "", f"Command: `{res['command']}`; {res['minutes']:.1f} min on "
             f"{res['machine']['cpu_count']} CPU cores (a shared machine: timings are indicative).", ""]
    if res.get("gold"):
        lines += ["## Student trained on gold (upper bound), int8 ONNX, whole test sets", "",
                  "| corpus | test documents | entity F1 (95% CI) | relation F1 strict (95% CI) "
                  "| relation F1 boundaries | epochs | training min |", "|---|---|---|---|---|---|---|"]
        for name, r in res["gold"].items():
            t = r["test"]
            lo, hi = t["relation_strict_ci95"]
            lines.append(f"| {name} | {t['documents']} | {t['entity_f1']:.3f} ({t['entity_ci95'][0]:.3f}-"
                         f"{t['entity_ci95'][1]:.3f}) | {t['relation_strict_f1']:.3f} ({lo:.3f}-{hi:.3f}) | "
                         f"{t['relation_boundaries_f1']:.3f} | {r['epochs']} | {r['seconds'] / 60:.1f} |")
        lines += ["", "Per relation type (strict F1): " + "; ".join(
            f"{n}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["test"]["relation_per_type"].items())
            for n, r in res["gold"].items()), ""]
    if res.get("teacher"):
        lines += [f"## Teacher `{QWEN}` on the first {res['sample']} CoNLL04 test sentences", "",
                  "| shots | entity F1 | relation F1 strict | boundaries | entities ungrounded | relations returned | "
                  "dropped (ungrounded / types / unknown) | s per sentence |", "|---|---|---|---|---|---|---|---|"]
        for r in res["teacher"].values():
            s = r["scores"]
            lines.append(f"| {r['shots']} | {s['entity_f1']:.3f} | {s['relation_strict_f1']:.3f} | "
                         f"{s['relation_boundaries_f1']:.3f} | {r['entities_ungrounded_rate']:.1%} | "
                         f"{r['relations_returned']} | {r['relations_ungrounded']} / {r['relations_type_error']} / "
                         f"{r['relations_unknown_type']} | {r['seconds_per_sentence']:.2f} |")
        lines.append("")
    if res.get("distill"):
        d = res["distill"]
        lines += [f"## Student distilled from the 0-shot teacher ({d['corpus_documents']} CoNLL04 train sentences, "
                  "labels unused)", "", "| system | documents | entity F1 | relation F1 strict | boundaries |",
                  "|---|---|---|---|---|"]
        for label, key in (("teacher", "teacher"), ("student, teacher's sample", "student_on_teacher_sample"),
                           ("student, whole test set", "student")):
            s = d[key]
            lines.append(f"| {label} | {s['documents']} | {s['entity_f1']:.3f} | {s['relation_strict_f1']:.3f} | "
                         f"{s['relation_boundaries_f1']:.3f} |")
        lines += ["", f"Student {d['student_documents_per_s']:,.1f} documents/s against the teacher's "
                  f"{d['teacher_documents_per_s']:.3f}: {d['speedup_documents_per_s']:,.0f}x. Run report: "
                  f"`{Path(d['report']).relative_to(REPO)}`.", ""]
    if res.get("speed"):
        s = res["speed"]
        lines += ["## Speed and memory: relation student against the same encoder without its relation head", "",
                  "| student | documents/s | p50 ms | p95 ms | peak RSS MB |", "|---|---|---|---|---|"]
        for k in ("entity-only", "relations"):
            v = s[k]
            lines.append(f"| {k} | {v['documents_per_s']:,.1f} | {v['latency_p50_ms']:.2f} | {v['latency_p95_ms']:.2f} "
                         f"| {v['peak_rss_mb']:,.0f} |")
        lines += ["", f"Relations keep {s['relations_over_entity_only_documents_per_s']:.2f}x of the entity-only "
                  "throughput.", ""]
    lines += ["## Targets", "", *target_lines(res["targets"]), ""]
    return "\n".join(lines)


def targets(res: dict) -> dict:
    out = {}
    for name, r in (res.get("gold") or {}).items():
        need = CORPORA[name][1]
        out[f"{name} gold-trained student strict relation F1 >= {need}"] = {
            "F1": r["test"]["relation_strict_f1"], "met": r["test"]["relation_strict_f1"] >= need}
    d = res.get("distill")
    if d:
        s, t = d["student_on_teacher_sample"]["relation_strict_f1"], d["teacher"]["relation_strict_f1"]
        out["distilled student relation F1 >= the teacher's on its documents, at >= 1,000x its documents/s"] = {
            "student": s, "teacher": t, "speed-up": float(d["speedup_documents_per_s"]),
            "met": s >= t and d["speedup_documents_per_s"] >= 1000}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["gold", "teacher", "distill", "speed"],
                   choices=["gold", "teacher", "distill", "speed"])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA),
                   help="corpora of the gold part (each kept result is reused)")
    p.add_argument("--sample", type=int, default=100, help="CoNLL04 test sentences the teacher labels")
    p.add_argument("--corpus-limit", type=int, default=200, help="CoNLL04 train sentences the teacher labels")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    t0 = time.perf_counter()
    res: dict = {"command": "python bench/relations.py " + " ".join(sys.argv[1:]), "machine": machine(),
                 "sample": args.sample}
    kept = REPO / "bench" / "results" / "relations.json"
    if kept.is_file():  # parts not run now keep their last results
        res.update({k: v for k, v in json.loads(kept.read_text()).items() if k in ("gold", "teacher", "distill",
                                                                                     "speed")})
    if "gold" in args.parts:
        res["gold"] = {**(res.get("gold") or {}), **{name: gold_student(name, args) for name in args.corpora}}
    if "teacher" in args.parts:
        res["teacher"] = {f"{k}shot": teacher(k, args) for k in (0, 4)}
    if "distill" in args.parts:
        res["distill"] = distilled(args)
    if "speed" in args.parts:
        res["speed"] = speed(OUT / "conll04-gold" / "model", args)
    res["minutes"] = (time.perf_counter() - t0) / 60
    res["targets"] = targets(res)
    write_results("relations", res, markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
