"""Does a refactoring change what users get? The same probes run on an earlier commit and on the working tree,
each in a process of its own, and their outputs are compared.

Probes (every one on the whole split, real data from ../shared/data):

- ``documents``: CoNLL04, SciERC, CoNLL-2003 and CrossNER-AI train and test read, mapped to their schema and
  written as JSON Lines, plus every schema example (a hash of the JSON);
- ``prompts``: the LLM teacher's messages, reply JSON schema and token budget for 50 dev documents of each schema
  (and reply format): the call-cache keys, so stored teacher replies are reused after the change;
- ``scores``: ``evaluate`` of CoNLL04 test against a seeded perturbation of it (spans dropped, relations with
  them), entity and relation sections with bootstrap intervals.

Usage: ``python bench/identity.py --before 48478fe`` (writes bench/results/identity.{json,md}). It needs git and
the project's virtual environment; the earlier commit is checked out in a temporary worktree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="the earlier commit")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(old), args.before], check=True)
        try:
            before = probe(old)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=True)
    after = probe(REPO)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    rows = {k: {"identical": before[k] == after[k],
                "before": before[k] if isinstance(before[k], str) else hashlib.sha256(
                    json.dumps(before[k], sort_keys=True).encode()).hexdigest(),
                "after": after[k] if isinstance(after[k], str) else hashlib.sha256(
                    json.dumps(after[k], sort_keys=True).encode()).hexdigest()} for k in before}
    md = [f"# Identity of outputs: {args.before} against the working tree (HEAD {head.stdout.strip()})", "",
          "| probe | identical | before | after |", "|---|---|---|---|",
          *(f"| {k} | {'yes' if v['identical'] else '**NO**'} | {v['before'][:16]} | {v['after'][:16]} |"
            for k, v in rows.items()), "",
          "Command: `python bench/identity.py --before " + args.before + "`. Not covered: training a student and "
          "the stored teacher runs of bench/distill and bench/relations (their prompts, which key the stored calls, "
          "are the `prompts` probe)."]
    write_results("identity", {"before": args.before, "probes": rows}, "\n".join(md) + "\n")
    print("\n".join(md))
    sys.exit(0 if all(v["identical"] for v in rows.values()) else 1)


if __name__ == "__main__":
    main()
