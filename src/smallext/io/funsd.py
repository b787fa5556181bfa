"""FUNSD forms (Form Understanding in Noisy Scanned Documents; Jaume, Ekenel & Thiran, ICDAR-OST 2019,
guillaumejaume.github.io/FUNSD): one JSON file per scanned form,
``{"form": [{"id", "text", "box", "label", "words": [{"text", "box"}], "linking": [[from, to], ...]}]}``, where
``label`` is ``question``, ``answer``, ``header`` or ``other``, boxes are ``[x0, y0, x1, y1]`` in pixels of the
form's scan (top-left origin), and a link ``[q, a]`` from a question to an answer says that the answer fills in
the question.

Each form becomes a :class:`~smallext.doc.Document` (id ``PREFIX:STEM``, the file's name without ``.json``)
whose text is its entities' texts, one entity per line, in reading order. The files list entities in no reading
order (a form's entity 3 lies below its entity 4), so they are sorted top to bottom, then left to right, an
entity counting as on the same line as the one that starts that line when their tops differ by less than half
the smaller box's height (the entities side by side on a line of the scan are read left to right). Entities
whose text is empty or blanks are left out (their boxes are checkboxes, stamps and empty answers).

``meta`` (offsets are character offsets into the text, end-exclusive):

``lines``
    ``[[start, end, entity id, label, [x0, y0, x1, y1]], ...]``, one per line, in text order.
``words``
    ``[[start, end, line, [x0, y0, x1, y1]], ...]``: each word of a placed entity found in its line (in order,
    from where the word before it ended; ``line`` is its index in ``lines``); a word not found in its entity's
    text (the file's entity text and its words differ in 264 of 9,743 entities, mostly in spacing) is left out.
``links``
    every link of the form (question -> answer, header -> question, ...), ``[from id, to id]``, deduplicated.
``source``
    the file read; ``links_dropped``: question -> answer links left out because one side is blank (no record).

Gold records: one ``KeyValue`` record (:file:`schemas/funsd.yaml`) per distinct question -> answer link, its
``key`` the question's line and its ``value`` the answer's line, both with exact offsets (source ``"gold"``), in
the order of the questions in the text, then of the answers. A question with several answers gives several
records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.kinds.records.document import Record, Value

__all__ = ["RECORD_TYPE", "SPLITS", "read_funsd", "read_funsd_form"]

RECORD_TYPE = "KeyValue"
"""The record type of the gold records (:file:`schemas/funsd.yaml`)."""

SPLITS = {"train": "training_data", "test": "testing_data"}
"""Split name -> the folder of the FUNSD release (``dataset/``) that holds it."""

_LABELS = ("question", "answer", "header", "other")


def _entity(path: Path, i: int, e: Any) -> dict[str, Any]:
    where = f"form.{i}"
    if not isinstance(e, dict):
        raise FormatError(path, None, f"field {where}: an entity must be an object, got {type(e).__name__}")
    for key in ("id", "text", "box", "label"):
        if key not in e:
            raise FormatError(path, None, f"field {where}.{key}: missing")
    if not isinstance(e["id"], int) or isinstance(e["id"], bool):
        raise FormatError(path, None, f"field {where}.id: must be an integer, got {e['id']!r}")
    if not isinstance(e["text"], str):
        raise FormatError(path, None, f"field {where}.text: must be a string, got {type(e['text']).__name__}")
    if e["label"] not in _LABELS:
        raise FormatError(path, None, f"field {where}.label: must be one of {', '.join(_LABELS)}, got {e['label']!r}")
    box = _box(path, f"{where}.box", e["box"])
    words = e.get("words", [])
    if not isinstance(words, list):
        raise FormatError(path, None, f"field {where}.words: must be a list, got {type(words).__name__}")
    ws = []
    for j, w in enumerate(words):
        if not isinstance(w, dict) or not isinstance(w.get("text"), str):
            raise FormatError(path, None, f"field {where}.words.{j}: must be an object with a string text")
        ws.append((w["text"], _box(path, f"{where}.words.{j}.box", w.get("box"))))
    links = e.get("linking", [])
    if not isinstance(links, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair) for pair in links):
        raise FormatError(path, None, f"field {where}.linking: must be a list of [from id, to id] pairs, got {links!r}")
    return {"id": e["id"], "text": e["text"], "box": box, "label": e["label"], "words": ws,
            "links": [tuple(p) for p in links]}


def _box(path: Path, where: str, box: Any) -> list[int]:
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                          for x in box)):
        raise FormatError(path, None, f"field {where}: must be [x0, y0, x1, y1] (four numbers), got {box!r}")
    return [int(x) for x in box]


def _reading_order(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top to bottom, then left to right within a line (see the module docstring)."""
    rest = sorted(entities, key=lambda e: (e["box"][1], e["box"][0], e["id"]))
    out: list[dict[str, Any]] = []
    while rest:
        anchor = rest[0]
        ah = anchor["box"][3] - anchor["box"][1]
        line, keep = [], []
        for e in rest:
            h = min(ah, e["box"][3] - e["box"][1])
            (line if e["box"][1] - anchor["box"][1] < max(h, 1) / 2 else keep).append(e)
        out += sorted(line, key=lambda e: (e["box"][0], e["box"][1], e["id"]))
        rest = keep
    return out


def read_funsd_form(path: str | Path, *, id_prefix: str = "funsd") -> Document:
    """Read one FUNSD annotation file (see the module docstring).

    Raises:
        FormatError: not JSON, no ``form`` list, an entity with a missing or mistyped field (``id``, ``text``,
            ``box``, ``label``, ``words``, ``linking``), two entities with one id, or a link to an id that is no
            entity's; the message names the file and the field (``form.12.box``).
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(path, e.lineno, f"not valid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise FormatError(path, None, f"not valid UTF-8: {e.reason}") from None
    if not isinstance(data, dict) or not isinstance(data.get("form"), list):
        raise FormatError(path, None, "field form: missing, or not a list of entities")
    entities = [_entity(path, i, e) for i, e in enumerate(data["form"])]
    by_id: dict[int, dict[str, Any]] = {}
    for i, e in enumerate(entities):
        if e["id"] in by_id:
            raise FormatError(path, None, f"field form.{i}.id: id {e['id']} is used by two entities")
        by_id[e["id"]] = e
    links: list[tuple[int, int]] = []
    for i, e in enumerate(entities):
        for a, b in e["links"]:
            if a not in by_id or b not in by_id:
                raise FormatError(path, None, f"field form.{i}.linking: link [{a}, {b}] names an id that is no "
                                              "entity's")
            if (a, b) not in links:
                links.append((a, b))

    placed = _reading_order([e for e in entities if e["text"].strip()])
    text_lines, lines, words, where = [], [], [], {}
    pos = 0
    for k, e in enumerate(placed):
        t = " ".join(e["text"].split())  # one line: no line breaks, no blanks at its ends
        where[e["id"]] = (pos, pos + len(t))
        lines.append([pos, pos + len(t), e["id"], e["label"], e["box"]])
        cursor = 0
        for wt, wbox in e["words"]:
            wt = wt.strip()
            if not wt:
                continue
            at = t.find(wt, cursor)
            if at < 0:
                continue
            words.append([pos + at, pos + at + len(wt), k, wbox])
            cursor = at + len(wt)
        text_lines.append(t)
        pos += len(t) + 1
    text = "\n".join(text_lines)

    order = {e["id"]: k for k, e in enumerate(placed)}
    pairs = [(a, b) for a, b in links if by_id[a]["label"] == "question" and by_id[b]["label"] == "answer"]
    kept = sorted((p for p in pairs if p[0] in where and p[1] in where), key=lambda p: (order[p[0]], order[p[1]]))
    records = []
    for a, b in kept:
        (qs, qe), (as_, ae) = where[a], where[b]
        records.append(Record(RECORD_TYPE, {"key": (Value(text[qs:qe], None, qs, qe, "exact"),),
                                            "value": (Value(text[as_:ae], None, as_, ae, "exact"),)},
                              source="gold"))
    meta: dict[str, Any] = {"source": str(path), "lines": lines, "words": words, "links": [list(p) for p in links]}
    if len(pairs) > len(kept):
        meta["links_dropped"] = len(pairs) - len(kept)
    return Document(f"{id_prefix}:{path.stem}", text, meta=meta, records=records)


def read_funsd(path: str | Path, *, id_prefix: str = "funsd") -> list[Document]:
    """Read FUNSD forms: a folder of a split (``training_data`` or ``testing_data``, or its ``annotations``
    folder) or one annotation file.

    Args:
        path: ``dataset/testing_data``, ``dataset/testing_data/annotations`` or ``.../82092117.json``.
        id_prefix: document ids are ``f"{id_prefix}:{stem}"`` (``funsd:test:82092117``).

    Returns:
        One Document per form (sorted by file name), each with its gold ``KeyValue`` records (see the module
        docstring). FUNSD has 149 training and 50 test forms.

    Raises:
        FormatError: a malformed annotation file (see :func:`read_funsd_form`), or a folder with no
            ``*.json`` in it or its ``annotations/``.
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [read_funsd_form(path, id_prefix=id_prefix)]
    folder = path / "annotations" if (path / "annotations").is_dir() else path
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FormatError(path, None, "no FUNSD annotation files (*.json) here or in annotations/")
    return [read_funsd_form(f, id_prefix=id_prefix) for f in files]
