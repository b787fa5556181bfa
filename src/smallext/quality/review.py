"""The review loop: rounds of train the student -> select documents -> a person reviews them -> the reviewed
documents replace their silver versions (active learning with a human, as Prodigy users run it).

A round's reviewer is either a person through Label Studio (the loop writes the round's tasks and stops; it
goes on when the round's export file is given, days later if need be) or, for benchmarks, a **simulated
reviewer** that copies the gold labels of the selected documents; its spans say so (``source``
``simulated-reviewer``), and so do the report and the model card.

Everything a round decides is kept under its folder (``round-K/selected.jsonl``, ``round-K/model/``,
``round-K/tasks.json``, ``round-K/reviewed.jsonl``) with ``state.json`` naming the settings it was made with: a
re-run (or a crash) repeats no finished round; changed settings or labels start the loop again, and the earlier
rounds are moved aside (``review.old-N``), never deleted, and the documents a person reviewed in them are
carried into the new loop (``carried.jsonl``: reviewed, not asked again). A Label Studio round closes only when
every task of it is annotated or skipped in the exports given (a round's own, partial ones, or a whole
project's); until then the run waits for a later export. A document the reviewer skipped (cancelled) is not
offered in a later round.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smallext.doc import Document, Span
from smallext.errors import ConfigError, SmallextError
from smallext.evaluate import selection_score
from smallext.io.atomic import atomic_write
from smallext.quality.select import Strategy

__all__ = ["AwaitingReview", "ReviewOptions", "ReviewResult", "SIMULATED", "merge_reviewed", "review_loop",
           "simulated_review"]

SIMULATED = "simulated-reviewer"
"""``source`` of the spans a simulated reviewer gives (the gold labels of the selected documents)."""


class ReviewOptions(BaseModel):
    """Settings of the review loop (the ``review:`` section of a distill config)."""

    model_config = ConfigDict(extra="forbid")
    budget: int = Field(25, ge=1, description="documents reviewed per round")
    rounds: int = Field(1, ge=1, description="review rounds")
    strategy: Strategy = Field(
        "mnlp", description="how documents are selected (smallext.quality.select)")
    seed: int = Field(13, description="selection seed")
    diversity: int = Field(5, ge=1, description="diversity pool in multiples of the budget (1: plain top)")
    samples: int = Field(10, ge=2, description="dropout masks for bald")
    reviewer: Literal["labelstudio", "simulated"] = Field(
        "labelstudio", description="a person through Label Studio, or a simulated reviewer copying the gold")
    gold: str | None = Field(None, description="the simulated reviewer's gold labels (dataset or file; documents "
                                               "matched by text)")
    as_dev: bool = Field(False, description="the reviewed documents form the student's dev set (early stopping) "
                                            "instead of training it, when the config has no gold dev set")
    exports: list[str] = Field(default_factory=list, description="Label Studio JSON exports of reviewed rounds "
                                                                 "(each is matched to its round by its documents)")


class AwaitingReview(SmallextError):
    """The loop stopped: a round's tasks wait for a person in Label Studio. Not a failure; the message says
    which file to import into Label Studio and how to go on."""

    def __init__(self, round_no: int, tasks: Path, config: Path, detail: str = "") -> None:
        self.round_no, self.tasks, self.config = round_no, tasks, config
        super().__init__(f"round {round_no}: {detail}import {tasks} into a Label Studio project labelled with "
                         f"{config}; review the tasks (or skip those you will not review), export them as JSON and "
                         "run again with the export (smallext review loop CONFIG --export FILE, or review.exports "
                         "in the config)")


@dataclass
class ReviewResult:
    """What the loop did.

    Attributes:
        labels: the labels with every reviewed document in place of its silver version (input order).
        reviewed: the reviewed documents, in review order (the carried ones first).
        rounds: per round ``{"round", "selected": [ids], "reviewed", "skipped", "spans_before", "spans_after",
            "changed"}``; when the round trained a student (a strategy that needs one, or a test set), ``"dev_f1"``:
            that student's micro F1 (strict, int8 ONNX) on its dev set as its model card gives it (``None``
            without a dev set); and, when a test set is given, ``"test_f1"`` of the student that selected.
        final: with a test set, ``{"rounds", "reviewed", "test_f1"}`` of the student trained after the last round.
        carried: how many documents a person reviewed in Label Studio under earlier settings or labels
            (``carried.jsonl``): kept as reviewed, never selected again.
    """

    labels: list[Document]
    reviewed: list[Document]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    carried: int = 0


def merge_reviewed(labels: Sequence[Document], reviewed: Sequence[Document]) -> list[Document]:
    """``labels`` with each reviewed document (matched by id) in place of its silver version."""
    by_id = {d.id: d for d in reviewed}
    return [by_id.get(d.id, d) for d in labels]


def simulated_review(selected: Sequence[Document], gold: Sequence[Document], spec: str) -> list[Document]:
    """The simulated reviewer: each selected document with the gold labels of the gold document with the same
    text (spans ``source`` :data:`SIMULATED`).

    Raises:
        ConfigError: a selected text is not in the gold (names the document).
    """
    by_text = {d.text: d for d in gold}
    out = []
    for d in selected:
        g = by_text.get(d.text)
        if g is None:
            raise ConfigError(f"review.gold: document {d.id!r} is not in {spec} (the simulated reviewer needs its "
                              "gold labels)")
        spans = [Span(s.start, s.end, s.label, None, SIMULATED) for s in g.spans]
        meta = {**d.meta, "review": {"reviewer": f"{SIMULATED} (gold labels of {spec})"}}
        out.append(Document(d.id, d.text, spans, meta=meta, **g.layers))
    return out


def _exports_for(exports: Sequence[str], ids: set[str]) -> list[str]:
    """The exports (of those given) with a task of one of this round's documents: a round's own export, partial
    exports of it, or a whole project's export holding several rounds.

    Raises:
        ConfigError: an export that cannot be read as a Label Studio JSON export (names it).
    """
    from smallext.io.labelstudio import export_ids

    out = []
    for path in exports:
        try:
            names = export_ids(path)
        except (OSError, SmallextError) as e:
            raise ConfigError(f"review.exports: cannot read {path}: {e}") from None
        if names & ids:
            out.append(path)
    return out


def _earlier_reviews(out_dir: Path, labels: Sequence[Document]) -> list[Document]:
    """The documents a person reviewed in Label Studio in a loop folder made with other settings (its rounds'
    ``reviewed.jsonl`` and what it carried itself), that are still among ``labels`` with the same text."""
    from smallext.io import read_jsonl

    texts = {d.id: d.text for d in labels}
    found: dict[str, Document] = {}
    for path in [out_dir / "carried.jsonl", *sorted(out_dir.glob("round-*/reviewed.jsonl"))]:
        if path.is_file():
            for d in read_jsonl(path):
                if "labelstudio_task" in (d.meta.get("review") or {}) and texts.get(d.id) == d.text:
                    found[d.id] = d
    return list(found.values())


def dev_f1(extractor) -> float | None:
    """A packaged student's selection score (:func:`~smallext.evaluate.selection_score`: entity micro F1, strict,
    int8 ONNX) on the dev set it was trained with, from its model card
    (``card.scores["dev (int8 ONNX)"]``); ``None`` when it had no dev set."""
    scores = extractor.config.get("card", {}).get("scores", {}).get("dev (int8 ONNX)")
    return selection_score(scores) if scores else None


def _changed(before: Document, after: Document) -> int:
    a, b = {s.key for s in before.spans}, {s.key for s in after.spans}
    return len(a ^ b)


def review_loop(labels: Sequence[Document], schema, options: ReviewOptions, out_dir: str | Path, *,
                train: Callable[[list[Document], Path], Path], gold: Sequence[Document] | None = None,
                test: Sequence[Document] | None = None, flags_for: Callable[[list[Document]], list] | None = None,
                log: Callable[[str], None] = lambda msg: None) -> ReviewResult:
    """Run (or resume) the review loop.

    Args:
        labels: the silver documents (mapped to the schema's types).
        schema: the :class:`~smallext.schema.Schema` (the labelling config of the Label Studio tasks, and the
            labels an export may use).
        options: :class:`ReviewOptions`.
        out_dir: the loop's folder (``state.json`` and ``round-K/``).
        train: trains a student on documents and packages it into the given folder (returns it).
        gold: the simulated reviewer's gold documents (``options.reviewer == "simulated"``).
        test: a gold test set: every round's student and a final one are scored on it (benchmarks).
        flags_for: the ``errors`` strategy's label-error flags of the current labels.
        log: progress messages.

    Raises:
        AwaitingReview: a Label Studio round has no export yet (its tasks are written; run again with it), or
            the exports given leave some of its documents unreviewed.
        ConfigError: a simulated reviewer without gold, a selected document missing from the gold, the
            ``errors`` strategy without ``flags_for``, or an export that cannot be read.
        FormatError: a Label Studio export that does not match its round's tasks (see
            :func:`smallext.io.labelstudio.read_export`).
    """
    from smallext.evaluate import evaluate
    from smallext.io import read_jsonl, write_jsonl
    from smallext.io.jsonl import documents_digest
    from smallext.io.labelstudio import read_export, write_tasks
    from smallext.quality.select import NEEDS_MODEL, select
    from smallext.students.extractor import Extractor

    if options.reviewer == "simulated" and gold is None:
        raise ConfigError("review.gold: a simulated reviewer needs the gold labels")
    out_dir = Path(out_dir)
    key = {"options": options.model_dump(exclude={"exports", "rounds"}), "labels": documents_digest(labels),
           "test": test is not None}
    state_path = out_dir / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else None
    if state is None or state.get("key") != key:
        carried: list[Document] = []
        if out_dir.exists():  # other settings or labels: start again, keeping the old rounds (a person's work)
            carried = _earlier_reviews(out_dir, labels)
            k = 1
            while out_dir.with_name(f"{out_dir.name}.old-{k}").exists():
                k += 1
            shutil.move(str(out_dir), str(out_dir.with_name(f"{out_dir.name}.old-{k}")))
            log(f"settings or labels changed: the earlier rounds moved to {out_dir.name}.old-{k}"
                + (f"; the {len(carried)} documents a person reviewed there are kept (not asked again)"
                   if carried else ""))
        out_dir.mkdir(parents=True)
        write_jsonl(carried, out_dir / "carried.jsonl")
        state = {"key": key, "rounds": {}}

    def save() -> None:
        with atomic_write(state_path) as f:
            f.write(json.dumps(state))

    save()
    labels = list(labels)
    carried_path = out_dir / "carried.jsonl"
    reviewed: list[Document] = read_jsonl(carried_path) if carried_path.is_file() else []
    result = ReviewResult(labels, reviewed, carried=len(reviewed))

    def student(docs: list[Document], folder: Path) -> Extractor:
        if not (folder / "config.json").is_file():
            train(docs, folder)
        return Extractor.load(folder)

    def score(ex: Extractor) -> float:
        return selection_score(evaluate(list(test), ex.extract(list(test)), n_boot=0))

    for r in range(1, options.rounds + 1):
        rd = out_dir / f"round-{r}"
        rd.mkdir(exist_ok=True)
        current = merge_reviewed(labels, reviewed)
        info = state["rounds"].get(str(r), {})
        need_model = options.strategy in NEEDS_MODEL or test is not None
        ex = student(current, rd / "model") if need_model else None
        if ex is not None and "dev_f1" not in info:
            info["dev_f1"] = dev_f1(ex)
        if test is not None and "test_f1" not in info:
            info["test_f1"] = score(ex)
        sel_path = rd / "selected.jsonl"
        if not sel_path.is_file():
            if options.strategy == "errors" and flags_for is None:
                raise ConfigError("review.strategy errors needs the quality stage's flags")
            flags = flags_for(current) if options.strategy == "errors" else None
            cancelled = [t["id"] for k in range(1, r) for t in state["rounds"].get(str(k), {}).get("skipped", [])
                         if t["reason"] == "cancelled"]  # a document the reviewer skipped is not offered again
            sel = select(current, options.budget, options.strategy, extractor=ex, flags=flags,
                         seed=options.seed * 1000 + r, diversity=options.diversity, samples=options.samples,
                         exclude=[d.id for d in reviewed] + cancelled)
            write_jsonl(sel.documents, sel_path)
        selected = read_jsonl(sel_path)
        info["selected"] = [d.id for d in selected]
        rev_path, skip_path = rd / "reviewed.jsonl", rd / "skipped.json"
        if not rev_path.is_file():
            if options.reviewer == "simulated":
                done, skipped = simulated_review(selected, gold, options.gold or "the gold"), []
            else:
                tasks, config = rd / "tasks.json", rd / "config.xml"
                if not tasks.is_file():
                    write_tasks(selected, tasks, schema, config_path=config)
                exports = _exports_for(options.exports, {d.id for d in selected})
                if not exports:
                    state["rounds"][str(r)] = info
                    save()
                    raise AwaitingReview(r, tasks, config)
                imported = read_export(exports, schema=schema, originals=selected, others="ignore")
                open_tasks = [t for t in imported.skipped if t["reason"] != "cancelled"]
                if open_tasks:  # not finished: a later export of this round is read instead
                    state["rounds"][str(r)] = info
                    save()
                    raise AwaitingReview(r, tasks, config, f"{len(open_tasks)} of {len(selected)} documents are "
                                                           f"not reviewed in {', '.join(exports)} yet; ")
                done, skipped = imported.documents, imported.skipped
            with atomic_write(skip_path) as f:  # before reviewed.jsonl, which closes the round
                f.write(json.dumps(skipped))
            write_jsonl(done, rev_path)
        done = read_jsonl(rev_path)
        skipped = json.loads(skip_path.read_text(encoding="utf-8")) if skip_path.is_file() else []
        before = {d.id: d for d in selected}
        info.update(round=r, reviewed=len(done), skipped=skipped,
                    spans_before=sum(len(before[d.id].spans) for d in done),
                    spans_after=sum(len(d.spans) for d in done),
                    changed=sum(_changed(before[d.id], d) for d in done))
        reviewed.extend(done)
        state["rounds"][str(r)] = info
        save()
        result.rounds.append(info)
        log(f"round {r}: {len(done)} documents reviewed ({info['changed']} span changes)"
            + (f", the selecting student's test F1 {info['test_f1']:.3f}" if "test_f1" in info else ""))
    result.labels = merge_reviewed(labels, reviewed)
    if test is not None:
        final = state.get("final")
        if final is None or final["rounds"] != options.rounds:
            folder = out_dir / f"final-model-{options.rounds}"
            final = {"rounds": options.rounds, "reviewed": len(reviewed),
                     "test_f1": score(student(result.labels, folder))}
            state["final"] = final
            save()
        result.final = final
    return result
