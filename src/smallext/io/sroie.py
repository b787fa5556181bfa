"""SROIE receipts (ICDAR 2019 Robust Reading Challenge on Scanned Receipts OCR and Information Extraction, task 3).

A data folder holds ``box/NNN.csv`` (the OCR text boxes: one per row, ``x1,y1,x2,y2,x3,y3,x4,y4,transcript``,
the transcript may contain commas) and ``key/NNN.json`` (the key fields ``company``, ``date``, ``address``,
``total``). Reference: Huang et al. (2019), "ICDAR2019 Competition on Scanned Receipt OCR and Information
Extraction" (ICDAR); the files here are zzzDavid/ICDAR-2019-SROIE's renumbered copy of the training set.

Each receipt becomes a :class:`~smallext.doc.Document` (id ``PREFIX:NNN``) whose text is its transcripts, one
line per box, in the file's order (the boxes are listed top to bottom); ``meta["lines"]`` holds each line's
``[start, end, x1, y1, x3, y3]`` (character offsets into the text, then the box's top-left and bottom-right
corners in pixels), so a value can be traced to its box. The key fields are the document's gold record (type
``Receipt``, :file:`schemas/sroie.yaml`), each value grounded in the text as a teacher's would be
(:func:`smallext.kinds.records.grounding.candidates`: exact, then fuzzy, OCR-tolerant, then normalised): the
key's ``BOOK TA .K (TAMAN DAYA) SDN BHD`` is OCR'd ``BOOK TA .K(TAMAN DAYA) SDN BND``, an address spans several
lines. A value found nowhere is kept with no offsets (``meta["ungrounded"]`` names its fields).
"""

from __future__ import annotations

import json
from pathlib import Path

from smallext.doc import Document
from smallext.errors import FormatError

__all__ = ["read_sroie", "receipt_ids"]

_KEYS = ("company", "date", "address", "total")


def receipt_ids(path: str | Path) -> list[str]:
    """The receipt numbers (``"000"`` ...) of a data folder that have both a box and a key file, sorted.

    Raises:
        FileNotFoundError: the folder has no ``box/`` or ``key/``.
    """
    root = Path(path)
    for sub in ("box", "key"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"{root}: not an SROIE data folder (no {sub}/ inside)")
    return sorted(p.stem for p in (root / "box").glob("*.csv") if (root / "key" / f"{p.stem}.json").is_file())


def _lines(path: Path) -> list[tuple[str, list[int]]]:
    out = []
    with open(path, encoding="utf-8", newline="") as f:  # not CSV-quoted: a transcript may start with '"'
        for n, line in enumerate(f.read().split("\n"), 1):
            row = line.rstrip("\r").split(",", 8)
            if not "".join(row).strip():
                continue
            if len(row) < 9:
                raise FormatError(path, n, f"expected 8 coordinates and a transcript, got {len(row)} columns")
            try:
                box = [int(float(x)) for x in row[:8]]
            except ValueError:
                raise FormatError(path, n, f"box coordinates must be numbers, got {row[:8]}") from None
            text = ",".join(row[8:]).strip()
            if text:
                out.append((text, [box[0], box[1], box[4], box[5]]))
    return out


def read_sroie(path: str | Path, *, first: int | None = None, last: int | None = None,
               id_prefix: str = "sroie", schema=None) -> list[Document]:
    """Read the receipts numbered ``first`` to ``last`` (inclusive; default all) of an SROIE data folder.

    Args:
        path: the folder holding ``box/`` and ``key/``.
        first, last: receipt numbers (``500`` and ``625`` for the test receipts of ``sroie:test``).
        id_prefix: document ids are ``f"{id_prefix}:{NNN}"``.
        schema: the schema whose ``Receipt`` fields ground the keys (default :file:`schemas/sroie.yaml`).

    Returns:
        One Document per receipt, in number order, each with one gold ``Receipt`` record (fields absent from the
        key file, or empty, are absent).

    Raises:
        FileNotFoundError: not an SROIE data folder.
        FormatError: a malformed box row or key file (the file and line named).
    """
    from smallext.kinds.records.grounding import ground_record
    from smallext.kinds.records.schema import record_type

    root = Path(path)
    if schema is None:
        from smallext.schema import load_schema

        schema = load_schema(Path(__file__).resolve().parents[3] / "schemas" / "sroie.yaml")
    rt = record_type(schema, "Receipt")
    docs = []
    for rid in receipt_ids(root):
        if (first is not None and int(rid) < first) or (last is not None and int(rid) > last):
            continue
        lines = _lines(root / "box" / f"{rid}.csv")
        text, meta_lines, pos = [], [], 0
        for t, box in lines:
            text.append(t)
            meta_lines.append([pos, pos + len(t), *box])
            pos += len(t) + 1
        text_s = "\n".join(text)
        key_path = root / "key" / f"{rid}.json"
        try:
            keys = json.loads(key_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise FormatError(key_path, e.lineno, f"not valid JSON: {e.msg}") from None
        if not isinstance(keys, dict):
            raise FormatError(key_path, None, "expected an object of key fields")
        record = ground_record(text_s, rt, {k: keys.get(k) for k in _KEYS}, "gold")
        missing = [k for k, v in record.values() if not v.grounded]
        meta = {"receipt": rid, "lines": meta_lines}
        if missing:
            meta["ungrounded"] = missing
        docs.append(Document(f"{id_prefix}:{rid}", text_s, meta=meta, records=[record]))
    return docs
