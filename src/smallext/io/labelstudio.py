"""Label Studio round trip: tasks with the teacher's spans pre-filled, and the reviewed annotations back.

Formats (Label Studio documentation, "Import pre-annotated data" and "Export annotations", JSON):

- A **task** is ``{"data": {"text": ..., "smallext_id": ...}, "predictions": [{"model_version", "score",
  "result": [...]}]}``; each result item is ``{"id", "from_name": "label", "to_name": "text", "type": "labels",
  "value": {"start", "end", "text", "labels": [TYPE]}, "score"}`` with character offsets ``[start, end)``.
  Relations between spans are results ``{"type": "relation", "from_id", "to_id", "direction": "right",
  "labels": [TYPE]}``.
- The **labelling config** names the same ``label``/``text`` controls: one ``<Label>`` per entity type, its
  definition as the hint.
- The **JSON export** is the list of tasks, each with its ``annotations``: ``{"id", "result", "was_cancelled",
  "completed_by", "created_at", "updated_at", ...}``. A result's ``value`` may lack ``text`` (Label Studio issue
  #6027), and carries ``origin: "manual"`` or ``"prediction"``.

Reading an export keeps each task's latest completed annotation; tasks without one (skipped, cancelled or not
yet annotated) are reported in :attr:`Imported.skipped`, never dropped silently.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from smallext.doc import Document, Span
from smallext.errors import FormatError
from smallext.io.atomic import atomic_write
from smallext.kinds.relations import Relation

__all__ = ["FROM_NAME", "TO_NAME", "Imported", "export_ids", "labeling_config", "read_export", "to_task",
           "write_tasks"]

FROM_NAME = "label"
"""Name of the ``<Labels>`` control in the generated config (the results' ``from_name``)."""
TO_NAME = "text"
"""Name of the ``<Text>`` object (the results' ``to_name``; the task's text is ``data.text``)."""


def labeling_config(schema) -> str:
    """The Label Studio labelling config (XML) of a :class:`~smallext.schema.Schema`: a ``<Labels>`` control
    with one ``<Label>`` per entity type (its definition as the ``hint``) over a ``<Text>`` object, and a
    ``<Relations>`` block when the schema has relation types."""
    view = ET.Element("View")
    labels = ET.SubElement(view, "Labels", name=FROM_NAME, toName=TO_NAME)
    for t in schema.entity_types:
        ET.SubElement(labels, "Label", value=t.name, hint=t.definition)
    relation_types = getattr(schema, "relation_types", None) or []
    if relation_types:
        rel = ET.SubElement(view, "Relations")
        for r in relation_types:
            ET.SubElement(rel, "Relation", value=r.name)
    ET.SubElement(view, "Text", name=TO_NAME, value=f"${TO_NAME}")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _result_id(i: int) -> str:
    return f"s{i}"


def to_task(doc: Document, *, model_version: str = "smallext", score: float | None = None) -> dict[str, Any]:
    """One Label Studio task for ``doc``: its text and id in ``data``, its spans (and relations) as one
    prediction. ``score`` is the prediction's score (for example the selection score); by default the mean of
    the spans' scores, or None."""
    result: list[dict[str, Any]] = []
    for i, s in enumerate(doc.spans):
        item = {"id": _result_id(i), "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
                "value": {"start": s.start, "end": s.end, "text": doc.span_text(s), "labels": [s.label]}}
        if s.score is not None:
            item["score"] = s.score
        result.append(item)
    for r in doc.relations:
        result.append({"from_id": _result_id(r.head), "to_id": _result_id(r.tail), "type": "relation",
                       "direction": "right", "labels": [r.label]})
    scores = [s.score for s in doc.spans if s.score is not None]
    if score is None and scores:
        score = sum(scores) / len(scores)
    prediction: dict[str, Any] = {"model_version": model_version, "result": result}
    if score is not None:
        prediction["score"] = round(float(score), 6)
    return {"data": {TO_NAME: doc.text, "smallext_id": doc.id}, "predictions": [prediction]}


def write_tasks(docs: Iterable[Document], path: str | Path, schema=None, *, config_path: str | Path | None = None,
                model_version: str | None = None, scores: Mapping[str, float] | None = None) -> int:
    """Write Label Studio tasks (a JSON list) atomically, and the labelling config when ``config_path`` is
    given (``schema`` required then). ``model_version`` defaults to the spans' ``source`` (or ``smallext``);
    ``scores`` maps document ids to the prediction score. Returns the number of tasks.

    Raises:
        ValueError: ``config_path`` without ``schema``.
    """
    tasks = []
    for d in docs:
        version = model_version or next((s.source for s in d.spans if s.source), None) or "smallext"
        tasks.append(to_task(d, model_version=version, score=(scores or {}).get(d.id)))
    with atomic_write(path) as f:
        f.write(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    if config_path is not None:
        if schema is None:
            raise ValueError("write_tasks: a labelling config needs the schema")
        with atomic_write(config_path) as f:
            f.write(labeling_config(schema))
    return len(tasks)


@dataclass
class Imported:
    """The documents read from a Label Studio export.

    Attributes:
        documents: one Document per task with a completed annotation, in the export's order; spans have
            ``source`` ``labelstudio:REVIEWER`` and no score; ``meta["review"]`` names the task, the annotation,
            the reviewer and the time.
        skipped: ``{"task", "id", "reason"}`` for every document without a completed annotation (``reason``:
            ``cancelled`` when every annotation was skipped or cancelled, ``unannotated`` when there is none,
            ``missing from the export`` for an original document no task names: Label Studio's default export
            leaves out tasks nobody annotated). A document in several tasks counts once, with its latest
            completed annotation, and is listed in ``skipped`` at most once.
        ignored: the number of tasks left out because they name none of the ``originals`` (``others="ignore"``).
    """

    documents: list[Document] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0
    """Tasks of documents other than the ``originals`` (``others="ignore"``: a whole project's export)."""


def _reviewer(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("username") or completed_by.get("id"))
    return f"user{completed_by}" if completed_by is not None else "unknown"


def _when(annotation: dict[str, Any]) -> tuple[float, int]:
    """An annotation's order in time: its last change (ISO 8601 time, as seconds since the epoch; ``Z`` or an
    offset; naive times are taken as UTC; missing or unreadable: earliest), then its id."""
    stamp = annotation.get("updated_at") or annotation.get("created_at")
    seconds = float("-inf")
    if isinstance(stamp, str):
        try:
            t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            seconds = (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            pass
    aid = annotation.get("id")
    return seconds, aid if isinstance(aid, int) else 0


def _latest(annotations: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    done = [a for a in annotations if not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=_when)


def _tasks(path: Path) -> list[Any]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise FormatError(path, None, f"not UTF-8 text: {e}") from None
    if not isinstance(tasks, list):
        raise FormatError(path, None, "a Label Studio JSON export is a list of tasks")
    return tasks


def export_ids(path: str | Path) -> set[str]:
    """The document ids (``data.smallext_id``) of the tasks of a Label Studio JSON export.

    Raises:
        FormatError: not readable JSON, or not a list of tasks (names the file).
    """
    data = [t.get("data") if isinstance(t, dict) else None for t in _tasks(Path(path))]
    return {str(d["smallext_id"]) for d in data if isinstance(d, dict) and "smallext_id" in d}


def read_export(path: str | Path | Sequence[str | Path], *, schema=None,
                originals: Iterable[Document] | None = None,
                others: Literal["error", "ignore"] = "error") -> Imported:
    """Read Label Studio's JSON export into Documents (see :class:`Imported`).

    Args:
        path: the export file (``Export -> JSON`` in Label Studio, or ``GET /api/projects/ID/export``), or
            several (for example partial exports of one round, or of a project over several rounds): their
            tasks are read together, and a document's latest completed annotation over all of them wins.
        schema: when given, every label must be one of its entity (or relation) types.
        originals: the documents that were exported (for example the ``review select`` output); when given,
            each task must name one of them (``data.smallext_id``) and keep its text unchanged, and the
            reviewed document keeps its id and meta.
        others: with ``originals``, a task naming another document is an error (``"error"``) or left out and
            counted in :attr:`Imported.ignored` (``"ignore"``: one Label Studio project holding several rounds).

    Offsets are Python string indices (Unicode code points) into ``data.text``, as Label Studio's text
    regions give them; a region whose ``value.text`` is not the text at its offsets is an error (with a hint
    when the text has characters outside the Basic Multilingual Plane, which older Label Studio versions counted
    as two UTF-16 units).

    Raises:
        FormatError: not a list of tasks; a task without ``data.text``; a text that differs from the original;
            an offset outside the text; a ``value.text`` that is not the text at its offsets; a label not in the
            schema; a relation naming an unknown region; with ``others="error"``, a task of a document not
            among the ``originals``. The message names the file and the task id.
    """
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    by_id = {d.id: d for d in originals} if originals is not None else None
    entity_types = set(schema.labels) if schema is not None else None
    relation_types = {r.name for r in getattr(schema, "relation_types", None) or []} if schema is not None else None
    out = Imported()
    latest: dict[str, tuple[tuple, Document]] = {}  # a document imported twice: its latest annotation wins
    for path, n, task in ((p, n, t) for p in paths for n, t in enumerate(_tasks(p))):
        tid = task.get("id", f"#{n}") if isinstance(task, dict) else f"#{n}"

        def fail(msg: str, tid=tid, path=path) -> FormatError:
            return FormatError(path, None, f"task {tid}: {msg}")

        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get(TO_NAME), str):
            raise fail(f"no data.{TO_NAME} string")
        text = data[TO_NAME]
        doc_id = str(data.get("smallext_id", f"labelstudio-{tid}"))
        original = None
        if by_id is not None:
            original = by_id.get(doc_id)
            if original is None:
                if others == "ignore":
                    out.ignored += 1
                    continue
                raise fail(f"document {doc_id!r} is not among the exported documents")
            if original.text != text:
                raise fail(f"the text of document {doc_id!r} differs from the original")
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
        ann = _latest(annotations)
        if ann is None:
            out.skipped.append({"task": tid, "id": doc_id, "reason": "cancelled" if annotations else "unannotated"})
            continue
        reviewer = _reviewer(ann.get("completed_by"))
        source = f"labelstudio:{reviewer}"
        spans: list[Span] = []
        region: dict[str, int] = {}
        relations: list[tuple[str, str, str]] = []
        for item in ann.get("result") or []:
            if not isinstance(item, dict):
                raise fail(f"annotation {ann.get('id')}: a result item is not an object")
            kind = item.get("type")
            if kind == "relation":
                for label in item.get("labels") or []:
                    if relation_types is not None and label not in relation_types:
                        raise fail(f"relation label {label!r} is not a relation type of the schema")
                    relations.append((str(item.get("from_id")), str(item.get("to_id")), label))
                continue
            if kind != "labels":
                continue
            v = item.get("value") or {}
            start, end = v.get("start"), v.get("end")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                raise fail(f"region {item.get('id')}: offsets [{start}, {end}) outside the text "
                           f"(length {len(text)})")
            if "text" in v and v["text"] != text[start:end]:
                wide = any(ord(c) > 0xFFFF for c in text)
                raise fail(f"region {item.get('id')}: value.text {v['text']!r} is not the text at "
                           f"[{start}, {end}) ({text[start:end]!r})"
                           + ("; the text has characters outside the Basic Multilingual Plane: were the offsets "
                              "counted in UTF-16 units (older Label Studio versions)?" if wide else ""))
            for label in v.get("labels") or []:
                if entity_types is not None and label not in entity_types:
                    raise fail(f"label {label!r} is not an entity type of the schema "
                               f"({', '.join(sorted(entity_types))})")
                region.setdefault(str(item.get("id")), len(spans))
                spans.append(Span(start, end, label, None, source))
        rels = []
        for head, tail, label in relations:
            if head not in region or tail not in region:
                raise fail(f"relation {label!r} names a region that is not a labelled span ({head} -> {tail})")
            rels.append(Relation(region[head], region[tail], label, None, source))
        meta = dict(original.meta) if original is not None else {}
        meta["review"] = {"labelstudio_task": tid, "annotation": ann.get("id"), "reviewer": reviewer,
                          "updated_at": ann.get("updated_at") or ann.get("created_at")}
        when = _when(ann)
        if doc_id not in latest or when >= latest[doc_id][0]:
            latest[doc_id] = (when, Document(doc_id, text, spans, meta=meta, relations=rels))
    out.documents = [doc for _, doc in latest.values()]
    done = {d.id for d in out.documents}
    seen: set[str] = set()
    skipped = []
    for t in reversed(out.skipped):  # once per document, its last task's reason
        if t["id"] not in done and t["id"] not in seen:
            seen.add(t["id"])
            skipped.append(t)
    out.skipped = skipped[::-1]
    if by_id is not None:
        named = done | {t["id"] for t in out.skipped}
        out.skipped += [{"task": None, "id": i, "reason": "missing from the export"} for i in by_id if i not in named]
    return out
