"""Student benchmark: accuracy, speed, memory and size of the student against spaCy, in one run.

    python bench/student.py [--epochs 3] [--threads 2]

1. Trains MiniLM students on CoNLL-2003 train (gold) with and without the casing-feature embedding and keeps
   the one with the better dev F1 (both numbers go in its model card). Finished models are cached under
   runs/bench/student/, so a re-run (or a run after a crash) does not train again.
2. On CoNLL-2003 test, each system in its own process (so peak RSS is its own): the student as torch fp32,
   ONNX fp32 and ONNX int8, and spaCy en_core_web_sm (the library's spaCy teacher: OntoNotes types mapped
   to CoNLL's through the schema's aliases). For each: F1 with a 95% CI, sentences/s and tokens/s at batch 1
   and 32, p50/p95 latency per sentence (batch 1), peak RSS, size on disk.
3. CrossNER-AI: a student trained on its 100 training sentences, F1 on its test set.

Results: bench/results/student.json and student.md. Targets are printed as MET / NOT MET.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    REPO,
    RUNS,
    corpus_speed,
    machine,
    met,
    peak_rss_mb,
    run_worker,
    speed,
    write_results,
)

TYPES = ["PER", "ORG", "LOC", "MISC"]
SCRIPT = Path(__file__).resolve()
TARGETS = {"f1": 0.89, "tokens_per_s": 25_000, "vs_spacy": 5.0, "rss_mb": 300, "size_mb": 30}


# --------------------------------------------------------------------------------------------- workers
def worker(args) -> None:
    """Measure one system in this process and print one JSON line."""
    from smallext.datasets import load
    from smallext.doc import Document
    from smallext.evaluate import evaluate, slim

    test = load("conll2003:test")
    texts = [d.text for d in test]
    out: dict = {"system": args.system}
    docs_f1 = None
    if args.system == "spacy":
        from smallext.teachers import load_teacher

        teacher = load_teacher("spacy:en_core_web_sm", REPO / "schemas" / "conll2003.yaml")
        nlp = teacher.nlp
        preds = list(teacher.annotate(test))

        def run(batch):
            return [nlp(t) for t in batch]

        def run_all(batch):
            return list(nlp.pipe(batch, batch_size=32))

        size = sum(f.stat().st_size for f in Path(nlp.path).rglob("*") if f.is_file()) / 1e6
    elif args.system == "torch":
        import torch

        from smallext.students.train import TrainResult, predict

        torch.set_num_threads(args.threads)
        ckpt = TrainResult.load(Path(args.model).parent / f"{Path(args.model).name}.torch")
        model, tok, tags = ckpt.model, ckpt.tokenizer, ckpt.tags

        def run(batch):
            return predict(model, tok, tags, [Document(str(i), t) for i, t in enumerate(batch)],
                           batch_size=len(batch))

        def run_all(batch):
            return predict(model, tok, tags, [Document(str(i), t) for i, t in enumerate(batch)], batch_size=32)

        preds = predict(model, tok, tags, test, batch_size=32)
        docs_f1 = evaluate(load("conll2003:test", group_documents=True),
                           predict(model, tok, tags, load("conll2003:test", group_documents=True)))
        size = sum(p.numel() * 4 for p in model.parameters()) / 1e6
    else:
        from smallext.students.extractor import Extractor

        model = Path(args.model)
        onnx = "model.onnx" if args.system == "onnx-int8" else str(model.parent / f"{model.name}.fp32.onnx")
        ex = Extractor.load(args.model, threads=args.threads, onnx_file=onnx)

        def run(batch):
            return ex.extract(batch, batch_size=len(batch))

        def run_all(batch):
            return ex.extract(batch, batch_size=32)

        preds = ex.extract(test, batch_size=32)
        grouped = load("conll2003:test", group_documents=True)
        docs_f1 = evaluate(grouped, ex.extract(grouped, batch_size=32))
        if args.system == "onnx-int8":
            size = sum(f.stat().st_size for f in Path(args.model).iterdir()) / 1e6
        else:
            size = Path(onnx).stat().st_size / 1e6
    out["test"] = slim(evaluate(test, preds))
    if docs_f1 is not None:
        out["test_documents"] = slim(docs_f1)
    out["batch1"] = speed(run, texts[:1000], 1)
    out["batch32"] = corpus_speed(run_all, texts, 32)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["size_mb"] = round(size, 1)
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------- training
def train_cached(name: str, train, dev, config, card, group_documents: bool, test=None):
    """Train and package a student unless runs/bench/student/NAME holds one made with the same settings (the
    torch checkpoint is kept beside it, NAME.torch, for the torch row)."""
    from smallext.datasets import load_documents
    from smallext.evaluate import evaluate, slim
    from smallext.io.atomic import atomic_write
    from smallext.schema import load_schema
    from smallext.students.export import package
    from smallext.students.train import fit as train_fn
    from smallext.students.train import predict as predict_fn

    out = RUNS / "student" / name
    done = out.parent / f"{name}.done.json"
    key = {"config": config.model_dump(), "train": str(train), "dev": str(dev), "documents": group_documents}
    if done.is_file() and json.loads(done.read_text()).get("key") == key:
        print(f"[cached] {name}", file=sys.stderr)
        return json.loads(done.read_text())
    schema = load_schema(REPO / "schemas" / card.pop("schema"))

    def docs(spec):
        return schema.map_documents(load_documents(spec, group_documents=group_documents))

    tr, dv = docs(train), docs(dev)
    t0 = time.perf_counter()
    res = train_fn(tr, dv, schema.labels, config, progress=True)
    row = {"key": key, "dev_torch": slim(res.dev), "best_epoch": res.best_epoch, "history": res.history,
           "train_seconds": round(time.perf_counter() - t0, 1)}
    if test is not None:
        te = docs(test)
        row["test_torch"] = slim(evaluate(te, predict_fn(res.model, res.tokenizer, res.tags, te)))
    package(res, out, schema=schema, card=card, keep_fp32=out.parent / f"{name}.fp32.onnx")
    res.save(out.parent / f"{name}.torch")

    with atomic_write(done) as f:
        f.write(json.dumps(row, indent=2))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--system", default="onnx-int8")
    ap.add_argument("--model", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--sentences", action="store_true", help="train on sentences instead of whole articles")
    ap.add_argument("--no-ablation", action="store_true", help="train only the casing model")
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    from smallext.students.options import StudentOptions

    docs = not args.sentences
    t_start = time.perf_counter()
    variants = {}
    for casing in (True,) if args.no_ablation else (True, False):
        name = f"conll2003-{'casing' if casing else 'nocasing'}"
        cfg = StudentOptions(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, casing=casing,
                          threads=args.threads, seed=13)
        card = {"schema": "conll2003.yaml", "training_data": "CoNLL-2003 train (gold), "
                + ("whole articles" if docs else "sentences"), "teacher": "none (gold labels)"}
        variants[casing] = train_cached(name, "conll2003:train", "conll2003:dev", cfg, card, docs)
    best = max(variants, key=lambda c: variants[c]["dev_torch"]["micro"]["f1"])
    best_name = f"conll2003-{'casing' if best else 'nocasing'}"
    model_dir = RUNS / "student" / best_name
    ablation = {("casing" if c else "no casing"): round(v["dev_torch"]["micro"]["f1"], 4) for c, v in variants.items()}

    # record the ablation in the kept model's card
    from smallext.students.export import write_config

    cfgj = json.loads((model_dir / "config.json").read_text())
    cfgj["card"]["casing_ablation_dev_f1"] = ablation
    notes = [n for n in cfgj["card"].get("notes", []) if not n.startswith("Casing-feature ablation")]
    cfgj["card"]["notes"] = notes
    notes.append(
        "Casing-feature ablation, CoNLL-2003 dev micro F1 (torch, best epoch): "
        + ", ".join(f"{k} {v:.4f}" for k, v in ablation.items()) + f"; kept: {'casing' if best else 'no casing'}."
    )
    systems = {}
    for system in ("onnx-int8", "onnx-fp32", "torch", "spacy"):
        print(f"measuring {system} ...", file=sys.stderr)
        systems[system] = run_worker(SCRIPT, ["--system", system, "--model", str(model_dir),
                                              "--threads", str(args.threads)])
    scores = {f"test (int8 ONNX, {'articles' if docs else 'sentences'})":
              systems["onnx-int8"]["test_documents" if docs else "test"],
              "test (int8 ONNX, sentences)": systems["onnx-int8"]["test"]}
    cfgj["card"]["scores"] = {**cfgj["card"].get("scores", {}), **scores}
    write_config(model_dir, cfgj)

    # CrossNER-AI: 100 gold training sentences
    ai_cfg = StudentOptions(epochs=20, lr=1e-4, batch_size=8, threads=args.threads, seed=13)
    ai = train_cached("crossner-ai", "crossner-ai:train", "crossner-ai:dev", ai_cfg,
                      {"schema": "crossner-ai.yaml", "training_data": "CrossNER-AI train (100 sentences, gold)"},
                      False, test="crossner-ai:test")
    from smallext.datasets import load
    from smallext.evaluate import evaluate, slim
    from smallext.students.extractor import Extractor

    # parity: the int8 model against the torch model on the dev set, same input (articles or sentences)
    dev = load("conll2003:dev", group_documents=docs)
    int8_dev = evaluate(dev, Extractor.load(model_dir, threads=args.threads).extract(dev), n_boot=0)["micro"]["f1"]
    torch_dev = variants[best]["dev_torch"]["micro"]["f1"]
    ai_test = load("crossner-ai:test")
    ai_int8 = evaluate(ai_test, Extractor.load(RUNS / "student" / "crossner-ai", threads=args.threads).extract(ai_test))

    int8, sp = systems["onnx-int8"], systems["spacy"]
    headline_f1 = int8["test_documents" if docs else "test"]["micro"]["f1"]
    ratio = int8["batch32"]["tokens_per_s"] / sp["batch32"]["tokens_per_s"]
    targets = {
        "int8 F1 on CoNLL-2003 test >= 89.0": (round(100 * headline_f1, 2), headline_f1 >= TARGETS["f1"]),
        "int8 tokens/s at batch 32, 2 threads >= 25,000": (
            int8["batch32"]["tokens_per_s"], int8["batch32"]["tokens_per_s"] >= TARGETS["tokens_per_s"]),
        "int8 tokens/s >= 5x spaCy en_core_web_sm": (round(ratio, 2), ratio >= TARGETS["vs_spacy"]),
        "extractor peak RSS <= 300 MB": (int8["peak_rss_mb"], int8["peak_rss_mb"] <= TARGETS["rss_mb"]),
        "model directory <= 30 MB": (int8["size_mb"], int8["size_mb"] <= TARGETS["size_mb"]),
        "int8 dev F1 within 0.5 point of torch": (
            f"{100 * int8_dev:.2f} vs {100 * torch_dev:.2f}", abs(int8_dev - torch_dev) <= 0.005),
    }
    data = {
        "machine": machine(), "threads": args.threads, "train_on": "articles" if docs else "sentences",
        "epochs": args.epochs, "casing_ablation_dev_f1": ablation, "kept": best_name,
        "training": variants, "systems": systems,
        "crossner_ai": {"train": ai, "test_int8": slim(ai_int8)},
        "dev_parity": {"torch": torch_dev, "int8": int8_dev},
        "targets": {k: {"value": v, "met": ok} for k, (v, ok) in targets.items()},
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "command": "python bench/student.py " + " ".join(sys.argv[1:]),
    }
    write_results("student", data, markdown(data))
    print(markdown(data))


def markdown(d) -> str:
    s = d["systems"]
    lines = [
        "# Student benchmark (CoNLL-2003 test)", "",
        f"`{d['command']}` on {d['machine']['cpu_count']} CPU cores, {d['threads']} threads; student trained on "
        f"CoNLL-2003 train ({d['train_on']}), {d['epochs']} epochs; tokens are whitespace tokens. Batch 1: one "
        "call per sentence (latency per sentence); batch 32: one call over the 3,453 test sentences that the "
        "system splits into batches of 32 (the students group them by length). Peak RSS is each system's own "
        "process (VmHWM).", "",
        "| system | F1 sentences (95% CI) | F1 articles | sent/s b1 | tok/s b1 | sent/s b32 | tok/s b32 "
        "| p50 ms | p95 ms | peak RSS MB | size MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in s.items():
        m = r["test"]["micro"]
        art = f"{r['test_documents']['micro']['f1']:.4f}" if "test_documents" in r else "-"
        lines.append(
            f"| {name} | {m['f1']:.4f} ({m['ci95'][0]:.4f}-{m['ci95'][1]:.4f}) | {art} "
            f"| {r['batch1']['sentences_per_s']:,.0f} | {r['batch1']['tokens_per_s']:,.0f} "
            f"| {r['batch32']['sentences_per_s']:,.0f} | {r['batch32']['tokens_per_s']:,.0f} "
            f"| {r['batch1']['latency_p50_ms']:.2f} | {r['batch1']['latency_p95_ms']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {r['size_mb']:.1f} |"
        )
    base = s["spacy"]["batch32"]["tokens_per_s"]
    lines += ["", "Throughput at batch 32 relative to spaCy en_core_web_sm: "
              + ", ".join(f"{k} {v['batch32']['tokens_per_s'] / base:.2f}x" for k, v in s.items()), ""]
    lines += ["## Casing-feature ablation (CoNLL-2003 dev F1, torch)", ""]
    lines += [f"- {k}: {v:.4f}" for k, v in d["casing_ablation_dev_f1"].items()] + [f"- kept: {d['kept']}", ""]
    ai = d["crossner_ai"]["test_int8"]["micro"]
    lo, hi = ai["ci95"]
    lines += ["## CrossNER-AI (100 gold training sentences)", "",
              f"int8 student F1 on CrossNER-AI test: {ai['f1']:.4f} (95% CI {lo:.4f}-{hi:.4f})", ""]
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {k} | {v['value']} | {met(v['met'])} |" for k, v in d["targets"].items()]
    lines += ["", f"Wall time: {d['wall_seconds'] / 60:.1f} min", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
