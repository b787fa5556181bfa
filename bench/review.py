"""What a review budget buys: active learning with a simulated reviewer, each selection strategy against random.

    python bench/review.py [--datasets crossner-ai conll2003] [--seeds 3] [--strategies ...] [--labels best|0shot]
                           [--finished-only]

Per dataset, the teacher's labels of the corpus (``best``: those of bench/quality.py's most accurate student
within the 0-shot teacher's time: the 0-shot local Qwen teacher's labels repaired by the quality stage, trained
with 100 gold documents of the example pool and all 6 encoder layers; ``shots``: grouped shots, repaired, 3
layers; ``0shot``: the 0-shot teacher of bench/distill.py as it labelled) go through
the review loop (:func:`smallext.quality.review.review_loop`): 4 rounds of 25 documents, each selected by the
strategy from the current student, reviewed by a simulated reviewer that copies the dev/train gold labels of the
selected documents, then a student retrained on the labels so far. Every student (after 0, 25, 50, 75 and 100
reviewed documents) is scored on the whole test set (strict span F1). The ``errors`` strategy ranks by the
quality stage's flags of the teacher's labels (those its distill run wrote, as a user of that run has them).

Identical training data gives an identical student (fixed training seed), so students are cached by a digest of
their documents: the round-1 student is shared by every strategy and seed. Each finished run is kept in
``runs/bench/review/NAME-STRATEGY-sSEED/result.json``; a re-run, or a later session, goes on where this one
stopped. Results: ``bench/results/review.{json,md}`` and ``review.png`` (F1 against documents reviewed, mean
over seeds with the spread as a band).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, RUNS, machine, reuse_stores, run, target_lines, write_results  # noqa: E402
from quality import OUT as QUALITY_OUT  # noqa: E402
from quality import base_config  # noqa: E402

OUT = RUNS / "review"
BUDGET, ROUNDS = 25, 4
UNCERTAIN = ("entropy", "mnlp", "bald", "disagreement")
"""The strategies that rank by the student's doubt (``errors`` ranks by the quality stage's flags: reported
against random beside the targets, not counted as an uncertainty strategy)."""


LABELS = {
    # bench/quality.py's most accurate student within the 0-shot teacher's time: the 0-shot teacher's labels
    # repaired by the quality stage, 100 gold documents of the example pool beside them, all 6 encoder layers
    "best": ("0shot-repair-gold-6layers", {"gold_examples": 100, "dev": None}, {"layers": None}),
    # grouped shots, repaired (3 layers)
    "shots": ("shots-repair", {}, {}),
}


def silver_labels(name: str, args) -> tuple[dict, list, str]:
    """The teacher's labels to review, the distill config the students train with, and the corpus's gold."""
    from smallext.io import read_jsonl

    cfg, done, gold_spec = base_config(name, args)
    if args.labels in LABELS:
        run_name, over, student = LABELS[args.labels]
        path = QUALITY_OUT / f"{name}-{run_name}" / "repaired.jsonl"
        if not path.is_file():
            raise SystemExit(f"{path} is missing: run bench/quality.py first, or use --labels 0shot")
        return {**cfg, **over, "student": {**cfg["student"], **student}}, read_jsonl(path), gold_spec
    out = OUT / f"{name}-0shot-teacher"
    reuse_stores(done, out)
    run({**cfg, "output": str(out)})
    return cfg, read_jsonl(out / "silver.jsonl"), gold_spec


def one_run(name: str, labels_kind: str, strategy: str, seed: int, cfg: dict, labels: list, gold_spec: str,
            flags, finished_only: bool = False) -> dict | None:
    """One review loop; its result is kept in its folder and read back on a re-run (``finished_only``: only
    read back, ``None`` when the run has not finished)."""
    from smallext.datasets import load_documents
    from smallext.io.jsonl import documents_digest
    from smallext.pipeline import load_config
    from smallext.pipeline.stages import train_on
    from smallext.quality.review import ReviewOptions, review_loop
    from smallext.schema import load_schema

    folder = OUT / f"{name}-{labels_kind}-{strategy}-s{seed}"
    done = folder / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    if finished_only:
        return None
    config = load_config({**cfg, "output": str(folder)})
    schema = load_schema(config.schema_path)
    docs = schema.map_documents([d for d in labels if "teacher_error" not in d.meta])
    gold = schema.map_documents(load_documents(gold_spec))
    test = schema.map_documents(load_documents(config.test))
    cache = OUT / "students" / f"{name}-{hashlib.sha256(config.student.model_dump_json().encode()).hexdigest()[:8]}"

    def train(train_docs, out: Path) -> Path:
        cached = cache / documents_digest(train_docs)[:16]
        if not (cached / "config.json").is_file():
            train_on(config, schema, train_docs, cached)
        shutil.copytree(cached, out, dirs_exist_ok=True)
        return out

    print(f"[review] {name} {strategy} seed {seed}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    options = ReviewOptions(budget=BUDGET, rounds=ROUNDS, strategy=strategy, seed=seed, reviewer="simulated",
                            gold=gold_spec)
    res = review_loop(docs, schema, options, folder / "review", train=train, gold=gold, test=test,
                      flags_for=lambda _docs: flags)
    curve = [r["test_f1"] for r in res.rounds] + [res.final["test_f1"]]
    out = {"dataset": name, "strategy": strategy, "seed": seed, "reviewed": [BUDGET * k for k in range(len(curve))],
           "f1": curve, "changed": [r["changed"] for r in res.rounds], "seconds": round(time.perf_counter() - t0, 1)}
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(out))
    return out


def training_noise(name: str, labels_kind: str, cfg: dict, labels: list, seeds: int,
                   finished_only: bool = False) -> dict | None:
    """The noise floor of one comparison: the student of the labels before any review (round 1's selector)
    trained with ``seeds`` training seeds (13, the benchmark's, then 1, 2, ...), each scored on the whole test
    set. Kept in ``runs/bench/review/NAME-LABELS-noise/result.json`` (``finished_only``: read only)."""
    from smallext.datasets import load_documents
    from smallext.evaluate import evaluate
    from smallext.pipeline import load_config
    from smallext.pipeline.stages import train_on
    from smallext.schema import load_schema
    from smallext.students.extractor import Extractor

    folder = OUT / f"{name}-{labels_kind}-noise"
    done = folder / "result.json"
    old = json.loads(done.read_text()) if done.is_file() else {"seeds": [], "f1": []}
    if finished_only or len(old["seeds"]) >= seeds:
        return old if old["seeds"] else None
    config = load_config({**cfg, "output": str(folder)})
    schema = load_schema(config.schema_path)
    docs = schema.map_documents([d for d in labels if "teacher_error" not in d.meta])
    test = schema.map_documents(load_documents(config.test))
    for seed in [13, *range(1, seeds)][len(old["seeds"]):seeds]:
        print(f"[review] {name} training noise: seed {seed}", file=sys.stderr, flush=True)
        c = config.model_copy(update={"student": config.student.model_copy(update={"seed": seed})})
        train_on(c, schema, docs, folder / f"seed-{seed}")
        ex = Extractor.load(folder / f"seed-{seed}", threads=config.student.threads)
        old["seeds"].append(seed)
        old["f1"].append(evaluate(test, ex.extract(test), n_boot=0)["micro"]["f1"])
        folder.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(old))
    return old


def error_flags(name: str, labels_kind: str, cfg: dict, labels: list):
    """The quality stage's flags: those its distill run wrote (``flags.jsonl``, of the teacher's labels before the
    repair, as a user of the run has them), else computed once on the labels being reviewed."""
    from smallext.pipeline import load_config
    from smallext.quality.errors import label_errors, read_flags, write_flags
    from smallext.schema import load_schema

    if labels_kind in LABELS and (QUALITY_OUT / f"{name}-{LABELS[labels_kind][0]}" / "flags.jsonl").is_file():
        return read_flags(QUALITY_OUT / f"{name}-{LABELS[labels_kind][0]}" / "flags.jsonl")
    path = OUT / f"{name}-{labels_kind}-flags.jsonl"
    if not path.is_file():
        config = load_config({**cfg, "output": str(OUT)})
        schema = load_schema(config.schema_path)
        docs = schema.map_documents([d for d in labels if "teacher_error" not in d.meta])
        OUT.mkdir(parents=True, exist_ok=True)
        write_flags(label_errors(docs, schema, config.student, progress=False)[0], path)
    return read_flags(path)


def summarize(runs: list[dict], strategies: list[str]) -> dict:
    """Mean and spread over seeds of F1 at each budget, per strategy; the targets against random."""
    table: dict[str, dict] = {}
    for s in strategies:
        rs = [r for r in runs if r["strategy"] == s]
        if not rs:
            continue
        curves = list(zip(*[r["f1"] for r in rs], strict=True))
        table[s] = {"seeds": len(rs), "reviewed": rs[0]["reviewed"], "mean": [statistics.mean(c) for c in curves],
                    "sd": [statistics.stdev(c) if len(c) > 1 else 0.0 for c in curves]}
    return table


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, d in results["datasets"].items() if d.get("curves")]
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for s, t in results["datasets"][name]["curves"].items():
            x, m, sd = t["reviewed"], t["mean"], t["sd"]
            ax.plot(x, m, marker="o", label=s, linestyle="--" if s == "random" else "-")
            ax.fill_between(x, [a - b for a, b in zip(m, sd, strict=True)], [a + b for a, b in zip(m, sd, strict=True)],
                            alpha=0.12)
        ax.set_title(f"{name}: student F1 on the whole test set")
        ax.set_xlabel("documents reviewed")
        ax.set_ylabel("F1 (strict)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results: dict) -> str:
    lines = ["# Review benchmark: what a review budget buys", "",
             f"`python bench/review.py {results['args']}`: {results['machine']['cpu_count']} CPU cores; labels: "
             f"{results['labels']}; rounds of {BUDGET} documents; simulated reviewer (the gold labels of the "
             "selected documents); students scored on the whole test set; mean ± sd over seeds (the selection "
             "seeds: the students' training seed is fixed, so identical training data give an identical student "
             "and the spread is that of the selection alone, not of training).", "",
             "![F1 against documents reviewed](review.png)", ""]
    for name, d in results["datasets"].items():
        if not d.get("curves"):
            lines += [f"> {name}: no seed finished by every strategy yet.", ""]
            continue
        curves = d["curves"]
        budgets = next(iter(curves.values()))["reviewed"]
        if not d.get("complete", True):
            lines += [f"> {name}: partial: {len(d['runs'])} runs so far"
                      + (f" ({d['left_out']} more finished runs of seeds that not every strategy has finished are "
                         "left out, so strategies compare on the same seeds)" if d.get("left_out") else "")
                      + ".", ""]
        lines += [f"## {name}", "", "| strategy | seeds | " + " | ".join(f"{b} reviewed" for b in budgets) + " |",
                  "|---|---|" + "---|" * len(budgets)]
        for s, t in curves.items():
            cells = " | ".join(f"{m:.3f} ± {sd:.3f}" for m, sd in zip(t["mean"], t["sd"], strict=True))
            lines.append(f"| {s} | {t['seeds']} | {cells} |")
        lines.append("")
        lines += target_lines(d["targets"])
        lines += one_strategy_line(curves) + errors_lines(curves)
        if d.get("training_noise"):
            f1 = d["training_noise"]["f1"]
            lines.append(f"- Training noise: the student of the unreviewed labels trained with {len(f1)} training "
                         f"seeds scores {statistics.mean(f1):.3f} ± {statistics.stdev(f1) if len(f1) > 1 else 0:.3f}"
                         f" (range {min(f1):.3f}-{max(f1):.3f}); a difference between two students smaller than "
                         "that spread may be training noise alone.")
        if "f1_ge_0.57_with_100_reviewed" in d["targets"]:
            t = d["targets"]["f1_ge_0.57_with_100_reviewed"]
            lines.append(f"- The student of the labels before any review already scores {t['f1_at_0_reviewed']:.3f} "
                         f"(labels: {results['labels']}), so that target says little; review added "
                         f"{t['f1'] - t['f1_at_0_reviewed']:+.3f} on top.")
        lines.append("")
    lines += [f"Wall time of this invocation: {results['wall_seconds'] / 60:.1f} min (finished runs are reused).", ""]
    return "\n".join(lines)


def targets(name: str, curves: dict) -> dict:
    out = {}
    if "random" in curves:
        rnd = curves["random"]
        for i, b in enumerate(rnd["reviewed"]):
            if b not in (25, 50, 100):
                continue
            best = max((s for s in curves if s in UNCERTAIN), key=lambda s: curves[s]["mean"][i], default=None)
            if best is None:
                continue
            gain = curves[best]["mean"][i] - rnd["mean"][i]
            out[f"best_uncertainty_beats_random_by_0.02_at_{b}"] = {
                "strategy": best, "f1": curves[best]["mean"][i], "random": rnd["mean"][i], "gain": gain,
                "met": gain >= 0.02}
    if name == "crossner-ai":
        f1_100 = {s: t["mean"][-1] for s, t in curves.items() if t["reviewed"][-1] == 100}
        if f1_100:
            best = max(f1_100, key=f1_100.get)
            start = curves[best]["mean"][0]  # the labels' own student: what review added is the difference
            out["f1_ge_0.57_with_100_reviewed"] = {"strategy": best, "f1": f1_100[best], "f1_at_0_reviewed": start,
                                                   "met": f1_100[best] >= 0.57}
    return out


def errors_lines(curves: dict) -> list[str]:
    """The ``errors`` strategy (the quality stage's flags) against random at each budget: reported, no target."""
    if "errors" not in curves or "random" not in curves:
        return []
    e, r = curves["errors"], curves["random"]
    cells = ", ".join(f"{b}: {m - n:+.3f}" for b, m, n in zip(e["reviewed"], e["mean"], r["mean"], strict=True) if b)
    return [f"- `errors` (the quality stage's flags, not an uncertainty strategy) against random: {cells}"]


def one_strategy_line(curves: dict) -> list[str]:
    """The targets take the best uncertainty strategy at each budget apart (a maximum over several noisy
    curves); this line asks more: one strategy ahead of random by 0.02 at 25, 50 and 100 reviewed."""
    if "random" not in curves:
        return []
    rnd = curves["random"]
    at = [i for i, b in enumerate(rnd["reviewed"]) if b in (25, 50, 100)]
    worst = {s: min(curves[s]["mean"][i] - rnd["mean"][i] for i in at) for s in UNCERTAIN if s in curves}
    if not worst:
        return []
    best = max(worst, key=worst.get)
    return [f"- One strategy ahead of random at every budget: best `{best}`, its smallest gain {worst[best]:+.3f} "
            f"({'>=' if worst[best] >= 0.02 else '<'} 0.02)."]


def report(results: dict, name: str, runs: list[dict], args, t0: float, left_out: int = 0) -> None:
    """Add a dataset's runs so far to the results and write the results files and the plot."""
    curves = summarize(runs, args.strategies)
    results["datasets"][name] = {**results["datasets"].get(name, {}), "runs": runs, "curves": curves,
                                 "targets": targets(name, curves),
                                 "complete": len(runs) == args.seeds * len(args.strategies), "left_out": left_out}
    results["wall_seconds"] = time.perf_counter() - t0
    plot(results, RESULTS / "review.png")
    write_results("review", results, markdown(results))


def main() -> None:
    from smallext.quality.select import STRATEGIES

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["crossner-ai", "conll2003"])
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--labels", choices=[*LABELS, "0shot"], default="best")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8, help="CoNLL-2003 student epochs (CrossNER-AI: its config's)")
    p.add_argument("--shots", type=int, default=4, help="as bench/quality.py (for its base config)")
    p.add_argument("--shot-groups", type=int, default=8)
    p.add_argument("--training-noise", type=int, default=3, metavar="K",
                   help="also train the student of the unreviewed labels with K training seeds (0: not)")
    p.add_argument("--finished-only", action="store_true",
                   help="start no run: write the results of the finished ones, over the seeds every strategy has "
                        "finished (a partial benchmark compares strategies on the same seeds)")
    args = p.parse_args()
    t0 = time.perf_counter()
    results = {"args": " ".join(sys.argv[1:]), "machine": machine(), "labels": args.labels, "datasets": {}}
    for name in args.datasets:
        cfg, labels, gold_spec = silver_labels(name, args)
        flags = error_flags(name, args.labels, cfg, labels) if "errors" in args.strategies else None
        noise = (training_noise(name, args.labels, cfg, labels, args.training_noise, args.finished_only)
                 if args.training_noise else None)
        results["datasets"].setdefault(name, {})["training_noise"] = noise
        runs = []
        for seed in range(1, args.seeds + 1):
            for s in args.strategies:  # the results so far are written after every run
                r = one_run(name, args.labels, s, seed, cfg, labels, gold_spec, flags, args.finished_only)
                if r is None:
                    continue
                runs.append(r)
                if not args.finished_only:
                    report(results, name, runs, args, t0)
        if args.finished_only:
            seeds = [k for k in range(1, args.seeds + 1)
                     if sum(r["seed"] == k for r in runs) == len(args.strategies)]
            left = [r for r in runs if r["seed"] not in seeds]
            if left:
                print(f"[review] {name}: {len(left)} finished run(s) of seeds not finished by every strategy are "
                      "left out", file=sys.stderr)
            if seeds:
                report(results, name, [r for r in runs if r["seed"] in seeds], args, t0, left_out=len(left))
    if args.finished_only:  # every dataset, those with no finished seed too
        results["wall_seconds"] = time.perf_counter() - t0
        plot(results, RESULTS / "review.png")
        write_results("review", results, markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
