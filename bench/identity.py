"""Does a refactoring change what users get? The same probes run on an earlier commit and on the working tree,
each in a process of its own, and their outputs are compared.

Probes (every one on the whole split, real data from ../shared/data):

- ``documents``: CoNLL04, SciERC, CoNLL-2003 and CrossNER-AI train and test read, mapped to their schema and
  written as JSON Lines, plus every schema example (a hash of the JSON);
- ``prompts``: the LLM teacher's messages, reply JSON schema and token budget for 50 dev documents of each schema
  (and reply format): the call-cache keys, so stored teacher replies are reused after the change;
- ``scores``: ``evaluate`` of CoNLL04 test against a seeded perturbation of it (spans dropped, relations with
  them), entity and relation sections with bootstrap intervals.

Usage: ``python bench/identity.py --before 48478fe [--after REV]`` (writes bench/results/identity.{json,md}). It
needs git and the project's virtual environment; each commit is checked out in a temporary worktree (without
``--after``, the working tree is the later side).

``--runs BEFORE_ROOT AFTER_ROOT`` adds the comparison of stored benchmark runs: each root is a checkout whose
``runs/`` holds what the CrossNER-AI part of bench/distill.py and the gold and teacher parts of bench/relations.py
wrote there (``runs/crossner-ai``, ``runs/bench/distill/crossner-ai-*``, ``runs/bench/relations/*``) and whose
``runs/results/`` holds copies of the bench/results files those scripts wrote; the later side's teacher stores
were seeded with the earlier side's calls (see ``seed-store`` below), so its teacher replies are the same text.
Compared, run folder by run folder:

- ``labels``: every JSON Lines file a stage wrote (``silver.jsonl``: the annotate stage's spans and relations);
- ``teacher``: the documents of every teacher store (the teacher's labels of the corpus and of the test sample,
  as parsed and grounded by that side's code), and the teacher calls the later run made beyond the seeded ones;
- ``predictions``: every packaged student (``model/``) extracts its test set, with the code of its own side, in
  a process of its own;
- ``scores``: ``metrics.json``, ``result.json`` and the results files, leaf by leaf; timings, memory, paths and
  the call counters of a run answered from its store are listed apart (they are not outputs a seed fixes);
- ``models``: SHA-256 of each packaged model's files (informative: equal weights give equal predictions).

``python bench/identity.py seed-store SRC DST [DOCS.jsonl]`` writes DST as SRC's teacher calls alone (documents,
chunks and runs emptied), so that a run with DST parses and grounds every stored reply again with its own code
instead of reading the documents the earlier run stored; a document whose calls failed is kept finished, as DOCS
(that run's JSON Lines output) has it: its retry would be a new teacher call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, write_results

PROBE = r'''
import hashlib, json, random, sys
root = sys.argv[1]
from smallext.datasets import load
from smallext.doc import Document
from smallext.evaluate import evaluate
from smallext.schema import load_schema
from smallext.teachers.llm import LlamaCppOptions, _task

def docs():
    h = hashlib.sha256()
    for name in ("conll04", "scierc", "conll2003", "crossner-ai"):
        sch = load_schema(f"{root}/schemas/{name}.yaml")
        for split in ("train", "test"):
            for d in sch.map_documents(load(name, split)):
                h.update(json.dumps(d.to_dict(), sort_keys=True).encode())
        h.update(json.dumps([e.to_dict() for e in sch.examples()], sort_keys=True).encode())
    return h.hexdigest()

def prompts():
    h = hashlib.sha256()
    for name in ("conll04", "crossner-ai", "scierc"):
        sch = load_schema(f"{root}/schemas/{name}.yaml")
        for fmt in (["list", "pairs", "grouped"] if name == "crossner-ai" else ["list"]):
            task = _task(sch, LlamaCppOptions(reply_format=fmt))
            for d in load(name, "dev")[:50]:
                call = [task.messages(d.text), task.json_schema(d.text), task.max_tokens(d.text)]
                h.update(json.dumps(call).encode())
    return h.hexdigest()

def scores():
    sch = load_schema(f"{root}/schemas/conll04.yaml")
    gold = sch.map_documents(load("conll04", "test"))
    rng = random.Random(0)
    pred = [d.map_spans(lambda s: s if rng.random() < 0.8 else None) for d in gold]
    r = evaluate(gold, pred, symmetric=[t.name for t in sch.relation_types if t.symmetric], n_boot=200)
    return {k: r[k] for k in ("micro", "macro", "per_type", "support", "documents", "relations")}

print(json.dumps({"documents": docs(), "prompts": prompts(), "scores": scores()}, sort_keys=True))
'''


def probe(root: Path) -> dict:
    from smallext.datasets import data_root

    env = {**os.environ, "PYTHONPATH": str(root / "src"), "SMALLEXT_DATA": str(data_root())}
    out = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, env=env,
                         cwd=root)
    if out.returncode != 0:
        raise SystemExit(f"the probe failed in {root}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


PREDICT = r"""
import json, sys
root, jobs_path, out_path = sys.argv[1:4]
from smallext.datasets import load_documents
from smallext.schema import load_schema
from smallext.students.extractor import Extractor
out = {}
for j in json.load(open(jobs_path)):
    sch = load_schema(f"{root}/schemas/{j['schema']}")
    test = sch.map_documents(load_documents(j["test"]))
    out[j["name"]] = [d.to_dict() for d in Extractor.load(j["model"], threads=2).extract(test)]
with open(out_path, "w") as f:
    json.dump(out, f)
"""

VOLATILE = re.compile(r"seconds|wall|latency|per_s|rss|started|finished|minutes|timing|machine|command|size_mb|"
                      r"speedup|^time$|^report$")
"""Keys whose values are measurements of the machine, not outputs a seed fixes."""
REPLAYED = {"calls", "calls_this_run", "cache_hits", "cache_hits_this_run", "failed_calls", "tokens_in", "tokens_out",
            "call_seconds", "annotated_this_run", "annotated_all_runs", "estimated_cost"}
"""Counters of teacher calls: a run whose calls are all answered by its store counts none made."""


def _normalise(obj, roots: dict[str, str]):
    """``obj`` with every root path replaced by its placeholder (student spans name their model folder)."""
    text = json.dumps(obj, sort_keys=True)
    for path, name in sorted(roots.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, name)
    return json.loads(text)


def _leaves_diff(a, b, path: tuple = ()) -> list[tuple[tuple, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out += _leaves_diff(a.get(k, "<missing>"), b.get(k, "<missing>"), (*path, k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _leaves_diff(x, y, (*path, i))]
    return [] if a == b else [(path, a, b)]


def _json_diff(a, b) -> dict:
    """Leaf differences of two JSON documents, split into outputs, measurements, call counters and keys the
    later side adds (an added key is no change of what the earlier one wrote)."""
    res: dict = {"identical_outputs": True, "outputs": [], "measurements": 0, "call_counters": 0, "added": []}
    for path, x, y in _leaves_diff(a, b):
        keys = [str(k) for k in path]
        if x == "<missing>":
            res["added"].append("/".join(keys))
        elif any(VOLATILE.search(k) for k in keys):
            res["measurements"] += 1
        elif any(k in REPLAYED for k in keys):
            res["call_counters"] += 1
        else:
            res["outputs"].append({"path": "/".join(keys), "before": x, "after": y})
    res["identical_outputs"] = not res["outputs"]
    res["outputs"] = res["outputs"][:20]
    return res


def _labels(d: dict) -> dict:
    return {"spans": d.get("spans", []), "relations": d.get("relations", [])}


def _docs_diff(before: dict[str, dict], after: dict[str, dict]) -> dict:
    """Documents by id: which differ in their spans and relations, which in anything else."""
    common = [i for i in before if i in after]
    labels = [i for i in common if _labels(before[i]) != _labels(after[i])]
    other = [i for i in common if i not in labels and before[i] != after[i]]
    return {"documents": len(common), "only_before": [i for i in before if i not in after][:20],
            "only_after": [i for i in after if i not in before][:20],
            "spans": sum(len(before[i].get("spans", [])) for i in common),
            "relations": sum(len(before[i].get("relations", [])) for i in common),
            "labels_differ": labels[:50], "labels_differ_count": len(labels),
            "other_fields_differ": other[:20], "other_fields_differ_count": len(other),
            "examples": [{"id": i, "before": _labels(before[i]), "after": _labels(after[i])} for i in labels[:3]],
            "identical": not labels and not other and len(common) == len(before) == len(after)}


def _store(path: Path) -> tuple[dict[str, dict], dict[str, str], dict[int, str]]:
    db = sqlite3.connect(str(path))
    try:
        docs, status = {}, {}
        for i, st, result in db.execute("SELECT id, status, result FROM documents"):
            status[i] = st
            docs[i] = json.loads(result) if result else {"id": i, "status": st}
        calls = dict(db.execute("SELECT seq, key FROM calls"))
    finally:
        db.close()
    return docs, status, calls


def seed_store(src: Path, dst: Path, docs: Path | None = None) -> dict:
    """``dst``: ``src``'s teacher calls alone (its documents, chunks and runs removed). A document whose calls
    failed would be annotated again, a new teacher call: it is kept as finished, as the earlier run wrote it
    in ``docs`` (a JSON Lines file of that run, e.g. its ``silver.jsonl``, where it carries its
    ``teacher_error``)."""
    if dst.exists():
        raise SystemExit(f"{dst} exists")
    dst.parent.mkdir(parents=True, exist_ok=True)
    a, b = sqlite3.connect(str(src)), sqlite3.connect(str(dst))
    try:
        a.backup(b)
    finally:
        a.close()
    failed = [r[0] for r in b.execute("SELECT id FROM documents WHERE status != 'done'")]
    written = {}
    if failed:
        if docs is None:
            raise SystemExit(f"{src}: documents {failed} failed; give the run's JSON Lines file that has them")
        written = {d["id"]: d for d in map(json.loads, docs.read_text().splitlines()) if d}
        missing = [i for i in failed if "teacher_error" not in written.get(i, {}).get("meta", {})]
        if missing:
            raise SystemExit(f"{docs}: no failed document {missing}")
    b.execute("DELETE FROM documents WHERE status = 'done'")
    b.executemany("UPDATE documents SET status='done', result=? WHERE id=?",
                  [(json.dumps(written[i], ensure_ascii=False), i) for i in failed])
    for table in ("chunks", "runs"):
        b.execute(f"DELETE FROM {table}")
    b.commit()
    n = b.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    b.execute("VACUUM")
    b.close()
    return {"store": str(dst), "calls": n, "failed_documents_kept": failed}


def _run_folders(root: Path) -> dict[str, Path]:
    """Every folder under ``root/runs`` that holds something compared, by its path relative to ``runs``."""
    runs = (root / "runs").resolve()
    found = set()
    for pattern in ("metrics.json", "result.json", "*.jsonl", "*store.sqlite", "model/config.json"):
        for f in runs.rglob(pattern):
            folder = f.parent.parent if pattern.startswith("model/") else f.parent
            if "results" not in folder.relative_to(runs).parts[:1]:
                found.add(folder)
    return {str(f.relative_to(runs)): f for f in sorted(found)}


def _test_job(name: str, folder: Path) -> dict | None:
    """The test set a run folder's student is scored on (from its metrics, or a bench/relations gold part)."""
    if not (folder / "model" / "config.json").is_file():
        return None
    if (folder / "metrics.json").is_file():
        cfg = json.loads((folder / "metrics.json").read_text())["config"]
        if not cfg.get("test"):
            return None
        return {"name": name, "model": str(folder / "model"), "test": cfg["test"], "schema": Path(cfg["schema"]).name}
    corpus = folder.name.removesuffix("-gold")
    if folder.name.endswith("-gold") and corpus in ("conll04", "scierc"):
        return {"name": name, "model": str(folder / "model"), "test": f"{corpus}:test", "schema": f"{corpus}.yaml"}
    return None


def _predictions(root: Path, jobs: list[dict]) -> dict[str, list[dict]]:
    from smallext.datasets import data_root

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "jobs.json").write_text(json.dumps(jobs))
        env = {**os.environ, "PYTHONPATH": str(root / "src"), "SMALLEXT_DATA": str(data_root()),
               "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
        out = subprocess.run([sys.executable, "-c", PREDICT, str(root), str(Path(tmp) / "jobs.json"),
                              str(Path(tmp) / "out.json")], capture_output=True, text=True, env=env, cwd=root)
        if out.returncode != 0:
            raise SystemExit(f"the predictions probe failed in {root}:\n{out.stderr[-3000:]}")
        return json.loads((Path(tmp) / "out.json").read_text())


def _commit(root: Path) -> dict:
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    diff = subprocess.run([*git, "diff", "HEAD", "--", ".", ":!runs", ":!bench/results"], capture_output=True,
                          text=True).stdout
    results = subprocess.run([*git, "status", "--short", "--", "bench/results"], capture_output=True,
                             text=True).stdout.split("\n")
    return {"root": str(root), "commit": head, "local_changes": diff, "results_files": [r for r in results if r]}


def _sha(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}


def compare_runs(before_root: Path, after_root: Path) -> dict:
    """The stored runs under ``before_root/runs`` against those under ``after_root/runs`` (see the module)."""
    roots = {}
    for root, name in ((before_root, "<root>"), (after_root, "<root>")):
        roots[str(root)] = name
        roots[str((root / "runs").resolve())] = f"{name}/runs"
    norm = lambda obj: _normalise(obj, roots)  # noqa: E731
    fb, fa = _run_folders(before_root), _run_folders(after_root)
    out: dict = {"before": _commit(before_root), "after": _commit(after_root),
                 "only_before": [k for k in fb if k not in fa], "only_after": [k for k in fa if k not in fb],
                 "folders": {}}
    jobs_b = [j for k in fb if k in fa and (j := _test_job(k, fb[k]))]
    jobs_a = [j for k in fa if k in fb and (j := _test_job(k, fa[k]))]
    preds_b, preds_a = _predictions(before_root, jobs_b), _predictions(after_root, jobs_a)
    for name in (k for k in fb if k in fa):
        b, a = fb[name], fa[name]
        row: dict = {}
        for f in sorted(b.glob("*.jsonl")):
            if (a / f.name).is_file():
                read = lambda p: {d["id"]: d for d in map(json.loads, p.read_text().splitlines()) if d}  # noqa: E731
                row.setdefault("labels", {})[f.name] = _docs_diff(norm(read(f)), norm(read(a / f.name)))
        for f in sorted(b.glob("*store.sqlite")):
            if (a / f.name).is_file():
                db, sb, cb = _store(f)
                da, sa, ca = _store(a / f.name)
                d = _docs_diff(norm(db), norm(da))
                d["status_differ"] = [i for i in sb if sa.get(i) != sb[i]][:20]
                d["calls_stored_before"] = len(cb)
                d["calls_made_after"] = sum(1 for seq, key in ca.items() if cb.get(seq) != key)
                d["identical"] = d["identical"] and not d["status_differ"]
                row.setdefault("teacher", {})[f.name] = d
        if name in preds_b and name in preds_a:
            row["predictions"] = _docs_diff({d["id"]: d for d in norm(preds_b[name])},
                                            {d["id"]: d for d in norm(preds_a[name])})
        for f in ("metrics.json", "result.json"):
            if (b / f).is_file() and (a / f).is_file():
                row.setdefault("scores", {})[f] = _json_diff(norm(json.loads((b / f).read_text())),
                                                             norm(json.loads((a / f).read_text())))
        if (b / "model").is_dir() and (a / "model").is_dir():
            hb, ha = _sha(b / "model"), _sha(a / "model")
            row["models"] = {"identical_files": sorted(k for k in hb if ha.get(k) == hb[k]),
                             "different_files": sorted(k for k in set(hb) | set(ha) if ha.get(k) != hb.get(k))}
        out["folders"][name] = row
    rb, ra = (before_root / "runs" / "results"), (after_root / "runs" / "results")
    for f in sorted(rb.glob("*.json")) if rb.is_dir() else []:
        if (ra / f.name).is_file():
            out.setdefault("results_files", {})[f.name] = _json_diff(norm(json.loads(f.read_text())),
                                                                     norm(json.loads((ra / f.name).read_text())))
    return out


def _runs_identical(r: dict) -> bool:
    ok = not r["only_before"] and not r["only_after"]
    for row in r["folders"].values():
        for part in ("labels", "teacher"):
            ok &= all(v["identical"] and not v.get("calls_made_after") for v in row.get(part, {}).values())
        ok &= row.get("predictions", {"identical": True})["identical"]
        ok &= all(v["identical_outputs"] for v in row.get("scores", {}).values())
    return ok and all(v["identical_outputs"] for v in r.get("results_files", {}).values())


def runs_markdown(r: dict) -> list[str]:
    yes = lambda ok: "yes" if ok else "**NO**"  # noqa: E731
    lines = ["## Stored benchmark runs", "",
             f"Before: `{r['before']['root']}` at {r['before']['commit']}; after: `{r['after']['root']}` at "
             f"{r['after']['commit']}.", ""]
    for side in ("before", "after"):
        if r[side]["local_changes"]:
            lines += [f"Local changes of the {side} checkout (the sizes the runs were made at):", "", "```diff",
                      r[side]["local_changes"].rstrip(), "```", ""]
    for side in ("before", "after"):
        if r[side]["results_files"]:
            lines += [f"bench/results files of the {side} checkout changed by its runs (`git status`): "
                      + ", ".join(f"`{x}`" for x in r[side]["results_files"]) + ".", ""]
    if r["only_before"] or r["only_after"]:
        lines += [f"Run folders on one side only: before {r['only_before']}, after {r['only_after']}.", ""]
    lines += ["| run folder | what | documents | spans | relations | identical | differing documents |",
              "|---|---|---|---|---|---|---|"]
    for name, row in r["folders"].items():
        for part in ("labels", "teacher"):
            for f, v in row.get(part, {}).items():
                extra = f"; {v['calls_made_after']} teacher calls made after" if part == "teacher" else ""
                lines.append(f"| {name} | {f} | {v['documents']} | {v['spans']} | {v['relations']} | "
                             f"{yes(v['identical'] and not v.get('calls_made_after'))} | "
                             f"{v['labels_differ_count']} labels, {v['other_fields_differ_count']} other{extra} |")
        if "predictions" in row:
            v = row["predictions"]
            lines.append(f"| {name} | student predictions on the test set | {v['documents']} | {v['spans']} | "
                         f"{v['relations']} | {yes(v['identical'])} | {v['labels_differ_count']} labels, "
                         f"{v['other_fields_differ_count']} other |")
    lines += ["", "| scores | identical | outputs differing | measurements differing | call counters differing | "
              "keys added after |", "|---|---|---|---|---|---|"]
    files = [(f"{n}/{f}", v) for n, row in r["folders"].items() for f, v in row.get("scores", {}).items()]
    files += [(f"results/{f}", v) for f, v in r.get("results_files", {}).items()]
    for name, v in files:
        lines.append(f"| {name} | {yes(v['identical_outputs'])} | {len(v['outputs'])} | {v['measurements']} | "
                     f"{v['call_counters']} | {len(v['added'])} |")
    models = [(n, row["models"]) for n, row in r["folders"].items() if "models" in row]
    if models:
        lines += ["", "Packaged models, files byte-identical: " + "; ".join(
            f"{n}: {len(m['identical_files'])} of {len(m['identical_files']) + len(m['different_files'])}"
            + (f" (differ: {', '.join(m['different_files'])})" if m["different_files"] else "") for n, m in models)
                  + "."]
    diffs = [(n, v) for n, v in files if v["outputs"]]
    for n, v in diffs:
        lines += ["", f"Differing outputs in {n} (first {len(v['outputs'])}):", "",
                  *(f"- `{d['path']}`: {json.dumps(d['before'])[:120]} -> {json.dumps(d['after'])[:120]}"
                    for d in v["outputs"])]
    return lines + [""]


def _worktree(rev: str, path: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(path), rev], check=True)


def main() -> None:
    if sys.argv[1:2] == ["seed-store"]:
        src, dst, *docs = map(Path, sys.argv[2:5])
        print(json.dumps(seed_store(src, dst, *docs)))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="the earlier commit")
    ap.add_argument("--after", help="the later commit (default: the working tree)")
    ap.add_argument("--runs", nargs=2, type=Path, metavar=("BEFORE_ROOT", "AFTER_ROOT"),
                    help="also compare the stored benchmark runs under BEFORE_ROOT/runs and AFTER_ROOT/runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"before": args.before, "after": args.after}
        made = []
        try:
            for side, rev in sides.items():
                if rev:
                    _worktree(rev, Path(tmp) / side)
                    made.append(Path(tmp) / side)
            before = probe(Path(tmp) / "before")
            after = probe(Path(tmp) / "after" if args.after else REPO)
        finally:
            for path in made:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=True)
    runs = compare_runs(args.runs[0].resolve(), args.runs[1].resolve()) if args.runs else None
    if args.after:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.after], capture_output=True,
                              text=True).stdout.strip()
        later = f"{head}"
    else:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        later = f"the working tree (HEAD {head})"
    rows = {k: {"identical": before[k] == after[k],
                "before": before[k] if isinstance(before[k], str) else hashlib.sha256(
                    json.dumps(before[k], sort_keys=True).encode()).hexdigest(),
                "after": after[k] if isinstance(after[k], str) else hashlib.sha256(
                    json.dumps(after[k], sort_keys=True).encode()).hexdigest()} for k in before}
    command = "python bench/identity.py " + " ".join(sys.argv[1:])
    md = [f"# Identity of outputs: {args.before} against {later}", "",
          "| probe | identical | before | after |", "|---|---|---|---|",
          *(f"| {k} | {'yes' if v['identical'] else '**NO**'} | {v['before'][:16]} | {v['after'][:16]} |"
            for k, v in rows.items()), ""]
    data = {"before": args.before, "after": args.after or "working tree", "command": command, "probes": rows}
    if runs is not None:
        data["runs"] = runs
        data["runs_identical"] = _runs_identical(runs)
        md += runs_markdown(runs)
        md += [f"Stored runs identical: **{'yes' if data['runs_identical'] else 'NO'}**.", ""]
    md += [f"Command: `{command}`." + ("" if runs else " Not covered: training a student and the stored teacher "
           "runs of bench/distill and bench/relations (their prompts, which key the stored calls, are the "
           "`prompts` probe; `--runs` compares them).")]
    write_results("identity", data, "\n".join(md) + "\n")
    print("\n".join(md))
    ok = all(v["identical"] for v in rows.values()) and (runs is None or data["runs_identical"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
