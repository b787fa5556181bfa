"""Teacher benchmark: how well and how fast each teacher labels text, with the schemas from schemas/.

    python bench/teacher.py [--conll 200] [--ai 150] [--shots 0 4 8] [--threads 2]

On the first 200 sentences of CoNLL-2003 test and the first 150 of CrossNER-AI test:
``llamacpp:qwen2.5-coder-1.5b`` with 0, 4 and 8 retrieved shots (drawn from the train split only), spaCy
en_core_web_sm on CoNLL, and ensembles of the LLM (its best shot count) with spaCy on CoNLL. Speed
variants of the LLM are measured on the first 40 CoNLL sentences against the same configuration: one
sentence per call (no chunking), unconstrained decoding with the tolerant parser, the ``pairs`` and
``grouped`` reply formats, and one call at a time instead of 4 sequences decoded together.

For each: precision/recall/F1 (95% CI), ungrounded-span rate (returned strings not found in the text, over
all returned entities), invalid-reply rate (calls without usable JSON, over all calls), seconds and tokens
(in + out) per sentence. Seconds are the wall time of the runs of the row's store over the sentences they
annotated, scaled to all sentences (:func:`smallext.measure.teacher_timing`; ``timing`` in the JSON says so).

Every run has its own store under runs/bench/teacher/, so a re-run (or a run after a crash) repeats no call.
Results: bench/results/teacher.json and teacher.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RUNS, machine, write_results  # noqa: E402

QWEN = "llamacpp:qwen2.5-coder-1.5b"


def run_system(name, spec, schema, gold, *, cache=None, **options):
    """Annotate ``gold`` (its text) with the teacher ``spec`` and its ``options`` (the kind's options model) through
    its own store under runs/bench/teacher/, and score it."""
    from smallext.evaluate import evaluate
    from smallext.measure import teacher_timing
    from smallext.teachers import load_teacher, teacher_options
    from smallext.teachers.annotate import annotate
    from smallext.teachers.store import Store

    opts = teacher_options(spec, options)
    print(f"[{name}] {spec} {options}", file=sys.stderr, flush=True)
    teacher = load_teacher(spec, schema, opts)
    t0 = time.perf_counter()
    with Store(RUNS / "teacher" / f"{name}.sqlite") as st:
        summary = annotate(gold, teacher, None, store=st, progress=False, cache=cache)
        # wall time over the runs of the store that annotated, scaled to all sentences (a resumed row keeps the
        # earlier runs' share); calls overlap (4 sequences), so summed call latencies would overcount
        timing = teacher_timing(summary, [d.text for d in gold], st.call_latencies())
    teacher.close()
    wall = time.perf_counter() - t0
    preds = summary.pop("documents_out")
    res = evaluate(gold, preds)
    n = len(gold)
    g = summary["grounding"]
    calls = summary["calls"]
    return {
        "system": name, "teacher": spec, "shots": getattr(opts, "shots", 0),
        "chunk_chars": getattr(opts, "chunk_chars", None), "constrained": getattr(opts, "constrained", None),
        "concurrency": getattr(opts, "concurrency", None), "reply_format": getattr(opts, "reply_format", None),
        "timing": timing["timing_basis"],
        "sentences": n, "precision": res["micro"]["precision"], "recall": res["micro"]["recall"],
        "f1": res["micro"]["f1"], "ci95": res["micro"]["ci95"], "per_type": {
            t: round(v["f1"], 4) for t, v in res["per_type"].items()},
        "ungrounded_rate": summary["ungrounded_rate"], "entities_returned": g.get("entities", 0),
        "invalid_reply_rate": (summary["failed_calls"] / calls) if calls else 0.0,
        "failed_documents": summary["failed"],
        "seconds_per_sentence": timing["seconds"] / n,
        "tokens_per_sentence": (summary["tokens_in"] + summary["tokens_out"]) / n,
        "calls": calls, "wall_seconds_this_run": round(wall, 1), "preds": preds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conll", type=int, default=200)
    ap.add_argument("--ai", type=int, default=150)
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 4, 8])
    ap.add_argument("--ai-shots", type=int, nargs="+", default=None,
                    help="shot counts for CrossNER-AI (default: --shots; 8 shots there take ~20 s per sentence "
                         "on 2 CPU cores)")
    ap.add_argument("--variants", type=int, default=40, help="sentences for the speed variants (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from smallext.datasets import load
    from smallext.evaluate import evaluate
    from smallext.models import install
    from smallext.schema import load_schema

    install("qwen2.5-coder-1.5b")
    t_start = time.perf_counter()
    rows: list[dict] = []
    variants: list[dict] = []

    def save(partial: bool) -> dict:
        clean = [{k: v for k, v in r.items() if k != "preds"} for r in rows + variants]
        data = {"machine": machine(), "threads": args.threads, "complete": not partial,
                "rows": clean[: len(rows)], "variants": clean[len(rows):],
                "best_conll_shots": max((r for r in rows if r["teacher"] == QWEN and r["dataset"] == "conll2003"),
                                        key=lambda r: r["f1"], default={"shots": None})["shots"],
                "wall_seconds": round(time.perf_counter() - t_start, 1),
                "command": "python bench/teacher.py " + " ".join(sys.argv[1:])}
        write_results("teacher", data, markdown(data))
        return data

    conll_schema = load_schema(REPO / "schemas" / "conll2003.yaml")
    ai_schema = load_schema(REPO / "schemas" / "crossner-ai.yaml")
    conll = conll_schema.map_documents(load("conll2003:test")[: args.conll])
    ai = ai_schema.map_documents(load("crossner-ai:test")[: args.ai])

    for k in args.shots:
        rows.append(run_system(f"conll-qwen-{k}shot", QWEN, conll_schema, conll, threads=args.threads, shots=k,
                               examples="conll2003:train" if k else None) | {"dataset": "conll2003"})
        save(True)
    rows.append(run_system("conll-spacy", "spacy:en_core_web_sm", conll_schema, conll) | {"dataset": "conll2003"})
    best = max((r for r in rows if r["teacher"] == QWEN), key=lambda r: r["f1"])
    spacy_row = rows[-1]
    for mode in ("majority", "union"):
        rows.append(run_system(f"conll-ensemble-{mode}-{best['shots']}shot", f"ensemble:{QWEN},spacy:en_core_web_sm",
                               conll_schema, conll, threads=args.threads, shots=best["shots"],
                               examples="conll2003:train" if best["shots"] else None, ensemble_mode=mode,
                               cache=RUNS / "teacher" / f"{best['system']}.sqlite")
                    | {"dataset": "conll2003"})
        # the ensemble reuses the LLM's cached replies: charge it the LLM's and spaCy's cost
        rows[-1]["seconds_per_sentence"] = best["seconds_per_sentence"] + spacy_row["seconds_per_sentence"]
        rows[-1]["timing"] = f"{best['system']} ({best['timing']}) plus spaCy"
        rows[-1]["tokens_per_sentence"] = best["tokens_per_sentence"]
        rows[-1]["invalid_reply_rate"] = best["invalid_reply_rate"]
        save(True)
    for k in args.ai_shots if args.ai_shots is not None else args.shots:
        rows.append(run_system(f"ai-qwen-{k}shot", QWEN, ai_schema, ai, threads=args.threads, shots=k,
                               examples="crossner-ai:train" if k else None) | {"dataset": "crossner-ai"})
        save(True)

    if args.variants:
        sub = conll[: args.variants]
        k = best["shots"]
        ex = "conll2003:train" if k else None
        base = next(r for r in rows if r["system"] == f"conll-qwen-{k}shot")
        ids = {d.id for d in sub}
        base_sub = evaluate(sub, [d for d in base["preds"] if d.id in ids], n_boot=0)["micro"]["f1"]
        for name, opts in (("one-sentence-per-call", {"chunk_chars": 0}),
                           ("unconstrained", {"constrained": False}),
                           ("no-jump-forward", {"jump_forward": False}),
                           ("pairs-replies", {"reply_format": "pairs"}),
                           ("grouped-replies", {"reply_format": "grouped"}),
                           ("one-call-at-a-time", {"concurrency": 1})):
            r = run_system(f"conll-qwen-{k}shot-{name}", QWEN, conll_schema, sub, threads=args.threads, shots=k,
                           examples=ex, **opts)
            variants.append(r | {"dataset": "conll2003", "variant": name, "baseline_f1_same_sentences": base_sub})
            save(True)
    print(markdown(save(False)))


def markdown(d) -> str:
    head = ("| system | P | R | F1 (95% CI) | ungrounded | invalid replies | s/sentence | tokens/sentence |\n"
            "|---|---|---|---|---|---|---|---|")

    def row(r):
        return (f"| {r['system']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
                f"({r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}) | {r['ungrounded_rate']:.1%} | {r['invalid_reply_rate']:.1%} "
                f"| {r['seconds_per_sentence']:.2f} | {r['tokens_per_sentence']:.0f} |")

    lines = ["# Teacher benchmark" + ("" if d.get("complete") else " (partial: the run was interrupted)"), "",
             f"`{d['command']}`, {d['machine']['cpu_count']} CPU cores, llama.cpp with {d['threads']} threads. "
             "LLM rows: JSON-schema constrained decoding, several sentences per call (400 characters) and 4 sequences "
             "decoded together (continuous batching) unless "
             "the name says otherwise; shots retrieved from the train split by MiniLM similarity.", ""]
    for ds, title in (("conll2003", "CoNLL-2003 test, first sentences"), ("crossner-ai", "CrossNER-AI test")):
        rs = [r for r in d["rows"] if r["dataset"] == ds]
        if rs:
            lines += [f"## {title} ({rs[0]['sentences']} sentences)", "", head] + [row(r) for r in rs] + [""]
    if d["variants"]:
        lines += [f"## Speed variants ({d['variants'][0]['sentences']} CoNLL sentences, "
                  f"{d['best_conll_shots']} shots)", "", head] + [row(r) for r in d["variants"]]
        lines += [""] + [f"- {v['variant']}: F1 {v['f1']:.3f} vs {v['baseline_f1_same_sentences']:.3f} for the default "
                         "configuration on the same sentences" for v in d["variants"]] + [""]
    lines += [f"Wall time: {d['wall_seconds'] / 60:.1f} min", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
