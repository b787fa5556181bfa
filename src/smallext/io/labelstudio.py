"""Label Studio round trip: tasks with the teacher's labels pre-filled, and the reviewed annotations back.

Formats (Label Studio documentation, "Import pre-annotated data" and "Export annotations", JSON):

- A **task** is ``{"data": {"text": ..., "smallext_id": ...}, "predictions": [{"model_version", "score",
  "result": [...]}]}``; each result item has a ``type`` and is written and read by the kind of output it belongs
  to (its ``"labelstudio"`` part, a :class:`Form`): the entities kind's regions are ``{"id", "from_name":
  "label", "to_name": "text", "type": "labels", "value": {"start", "end", "text", "labels": [TYPE]}, "score"}``
  with character offsets ``[start, end)`` (:mod:`smallext.kinds.entities.labelstudio`), the relations kind's
  links between them ``{"type": "relation", "from_id", "to_id", ...}`` (:mod:`smallext.kinds.relations.labelstudio`).
- The **labelling config** is a ``<View>`` with each declared kind's controls (the entities kind's ``<Labels>``
  named ``label``, one ``<Label>`` per entity type, ...) over the ``<Text>`` object ``text``.
- The **JSON export** is the list of tasks, each with its ``annotations``: ``{"id", "result", "was_cancelled",
  "completed_by", "created_at", "updated_at", ...}``. A result's ``value`` may lack ``text`` (Label Studio issue
  #6027), and carries ``origin: "manual"`` or ``"prediction"``. Result items of a type no registered kind reads
  are ignored.

Reading an export keeps each task's latest completed annotation; tasks without one (skipped, cancelled or not
yet annotated) are reported in :attr:`Imported.skipped`, never dropped silently.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from smallext.doc import Document, Span
from smallext.errors import FormatError
from smallext.io.atomic import atomic_write
from smallext.kinds import KINDS, kinds_of

__all__ = ["FROM_NAME", "TO_NAME", "Form", "Imported", "Reading", "export_ids", "labeling_config", "read_export",
           "region_id", "to_task", "write_tasks"]

FROM_NAME = "label"
"""Name of the ``<Labels>`` control in the generated config (the entity regions' ``from_name``)."""
TO_NAME = "text"
"""Name of the ``<Text>`` object (the results' ``to_name``; the task's text is ``data.text``)."""


def region_id(i: int) -> str:
    """The result id of the document's span ``i`` in a task (what results referring to spans name)."""
    return f"s{i}"


@dataclass
class Reading:
    """One annotation being read back: what each kind's :meth:`Form.read` is given and fills.

    Attributes:
        text: the task's text (``data.text``).
        source: the ``source`` of what the reviewer labelled (``labelstudio:REVIEWER``).
        schema: the schema labels are checked against, or None.
        fail: builds the :class:`~smallext.errors.FormatError` to raise (naming the file and the task).
        spans: the document's spans, in the order read (what entities add; later kinds index into it).
        regions: result id -> index into :attr:`spans`.
        layers: the document's layers by field name (``relations``), indices into :attr:`spans` as read.
    """

    text: str
    source: str
    schema: Any
    fail: Callable[[str], FormatError]
    spans: list[Span] = field(default_factory=list)
    regions: dict[str, int] = field(default_factory=dict)
    layers: dict[str, list] = field(default_factory=dict)


class Form(Protocol):
    """A kind of output in Label Studio: its ``"labelstudio"`` part (``Kind.parts``).

    Attributes:
        types: the result ``type`` values it writes and reads (``("labels",)``).
    """

    types: tuple[str, ...]

    def config_tags(self, schema) -> list[ET.Element | str]:
        """Its controls in the labelling config of ``schema`` (elements or XML strings), put in the ``<View>``
        before the ``<Text>`` object; empty when the schema has nothing of this kind."""

    def results(self, doc: Document) -> list[dict[str, Any]]:
        """Its result items for ``doc`` (a task's prediction); regions of spans use :func:`region_id`."""

    def read(self, items: Sequence[dict[str, Any]], reading: Reading) -> None:
        """Read an annotation's result items of its :attr:`types` (in the annotation's order) into
        ``reading``. Raises ``reading.fail(...)`` on an item it refuses."""


def _forms() -> list[Form]:
    """The Label Studio forms of the registered kinds, in registration order (entities first)."""
    return [k.load("labelstudio") for k in KINDS.values() if k.has("labelstudio")]


def labeling_config(schema) -> str:
    """The Label Studio labelling config (XML) of a :class:`~smallext.schema.Schema`: the controls of each kind
    the schema declares (a ``<Labels>`` control with one ``<Label>`` per entity type, its definition as the
    ``hint``; a ``<Relations>`` block for relation types; ...) over a ``<Text>`` object."""
    view = ET.Element("View")
    for kind in kinds_of(schema):
        if kind.has("labelstudio"):
            for tag in kind.load("labelstudio").config_tags(schema):
                view.append(ET.fromstring(tag) if isinstance(tag, str) else tag)
    ET.SubElement(view, "Text", name=TO_NAME, value=f"${TO_NAME}")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def to_task(doc: Document, *, model_version: str = "smallext", score: float | None = None) -> dict[str, Any]:
    """One Label Studio task for ``doc``: its text and id in ``data``, each kind's items (spans, relations, ...)
    as the results of one prediction. ``score`` is the prediction's score (for example the selection score); by
    default the mean of the spans' scores, or None."""
    result: list[dict[str, Any]] = [item for form in _forms() for item in form.results(doc)]
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
        schema: when given, every label must be one of its types of the label's kind (entity types, relation
            types, ...).
        originals: the documents that were exported (for example the ``review select`` output); when given,
            each task must name one of them (``data.smallext_id``) and keep its text unchanged, and the
            reviewed document keeps its id and meta.
        others: with ``originals``, a task naming another document is an error (``"error"``) or left out and
            counted in :attr:`Imported.ignored` (``"ignore"``: one Label Studio project holding several rounds).

    Entity regions' offsets are Python string indices (Unicode code points) into ``data.text``, as Label Studio's
    text regions give them; a region whose ``value.text`` is not the text at its offsets is an error (with a hint
    when the text has characters outside the Basic Multilingual Plane, which older Label Studio versions counted
    as two UTF-16 units).

    Raises:
        FormatError: not a list of tasks; a task without ``data.text``; a text that differs from the original;
            a result item that is not an object; what a kind's reader refuses (an offset outside the text; a
            ``value.text`` that is not the text at its offsets; a label not in the schema; a relation naming an
            unknown region); with ``others="error"``, a task of a document not among the ``originals``. The
            message names the file and the task id.
    """
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    by_id = {d.id: d for d in originals} if originals is not None else None
    forms = _forms()
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
        items = ann.get("result") or []
        if not all(isinstance(item, dict) for item in items):
            raise fail(f"annotation {ann.get('id')}: a result item is not an object")
        reading = Reading(text, f"labelstudio:{reviewer}", schema, fail)
        for form in forms:
            form.read([item for item in items if item.get("type") in form.types], reading)
        meta = dict(original.meta) if original is not None else {}
        meta["review"] = {"labelstudio_task": tid, "annotation": ann.get("id"), "reviewer": reviewer,
                          "updated_at": ann.get("updated_at") or ann.get("created_at")}
        when = _when(ann)
        if doc_id not in latest or when >= latest[doc_id][0]:
            latest[doc_id] = (when, Document(doc_id, text, reading.spans, meta=meta, **reading.layers))
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
