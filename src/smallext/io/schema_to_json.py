"""The tables of Schema-to-JSON (Bai, Kang, Stanovsky, Freitag, Dredze & Ritter, "Schema-Driven Information
Extraction from Heterogeneous Tables", Findings of EMNLP 2024, arXiv 2305.14336; github.com/bflashcp3f/
schema-to-json, ``data/mltables.zip`` and ``data/discomat.zip``): MlTables (LaTeX tables of arXiv machine-learning
papers, with the paper's text around them) and DiSCoMat (glass-composition tables of materials-science papers,
Gupta et al., ACL 2023, as a ``| cell | cell |`` grid with a ``Caption:`` line).

Each split is a JSON object keyed by table id, each value ``{paper_id, table_id, table_code, sup_text,
target_cells, gold_json_records}``; ``gold_json_records`` holds one record per numeric cell, ``{"cell_char_index":
[start, end]}`` (MlTables: offsets into ``table_code``) or ``{"cell_index": [row, column, k]}`` (DiSCoMat: grid
row and column, and which number of the cell, from 0), with ``"cell_record"``: a JSON object as a string,
``{"value": "0.953", "type": "Result", "task": ..., "metric": [...], "experimental settings": {...}}``.

Each table becomes a :class:`~smallext.doc.Document` (id ``PREFIX:TABLE_ID``; tables in id order, as the authors'
code reads them) whose text is the table linearised by :mod:`smallext.io.tables` (captions, then one row per
line, cells separated by ``" | "``; MlTables cells as :mod:`smallext.io.latex` reads them), then, after a blank
line, the paper's text (``sup_text``, MlTables only; ``meta["paper_text"]`` holds its offsets). The paper's text
is there because the gold attributes come from it: of MlTables' 14,519 attribute values (other than the cell's
own and the settings), 8,660 occur verbatim (by one of their names) in the table's source and 2,241 only in the
paper's text. ``meta`` has the table's ``cells``,
``rows``, ``header`` (to repeat in each window of a long table), ``captions``, and ``source``, ``table`` (the
table id), ``paper``; ``ungrounded``: ``[[record index, field], ...]`` for values found nowhere;
``alternatives``: ``[[record index, field, [names, ...]], ...]`` where the gold gives several names of one value;
``value_not_in_cell``: the records whose number was not at its gold cell (then grounded like an attribute; none
in these files).

Gold records (source ``"gold"``; :file:`schemas/mltables.yaml`, :file:`schemas/discomat.yaml`), one per gold
cell, in the file's order, fields in the schema's order:

- the record's type and keys are the dataset's, mapped to the schema's names through its aliases
  (``Data Stat.`` is ``DataStat``, ``training data/set`` is ``training_data``);
- ``value`` (the cell's number) takes the cell's offsets: the gold offsets into the LaTeX mapped into the text
  (MlTables), or the ``k``-th number of the grid cell (DiSCoMat); both exact;
- every other string or enum value is grounded in the text with
  :func:`smallext.kinds.records.grounding.candidates` (exact, then case- and space-insensitive or OCR-tolerant,
  then normalised), the occurrence nearest the cell taken (:func:`~smallext.kinds.records.grounding.closest`);
  a value found nowhere is kept without offsets and listed in ``meta["ungrounded"]``;
- a list in the gold is several names of one value (the authors' evaluation accepts any of them): the value is the
  first name found exactly, else the first found at all, else the first; all names go to ``meta["alternatives"]``;
- a settings object (``{"depth range": "[0.5, 10]"}``) gives one ``"name: value"`` string per entry, in a ``text``
  field (abstractive, no offsets);
- the placeholders ``"xx"`` and ``{"xx": "yy"}`` (nothing said) give no value: the field is absent.

Counts (from these files): MlTables 43 / 11 / 68 tables, 1,169 / 429 / 2,201 gold cells (train / dev / test);
DiSCoMat 500 / 500 / 487 tables, 18,297 / 18,297 / 19,331 cells. DiSCoMat's ``train.json`` is byte for byte its
``dev.json`` (the authors' repository has no DiSCoMat train split of its own): never tune on its dev split a
model trained on its train split.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.latex import LatexError, parse_latex_table
from smallext.io.tables import Cell, Linearised, Table, linearise, one_line
from smallext.kinds.records.document import Record, Value

__all__ = ["SPLITS", "read_discomat", "read_mltables"]

SPLITS = ("train", "dev", "test")

_RANK = {"exact": 0, "fuzzy": 1, "normalized": 2}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _schema(name: str, schema):
    if schema is not None:
        return schema
    from smallext.schema import load_schema

    return load_schema(Path(__file__).resolve().parents[3] / "schemas" / f"{name}.yaml")


def _load(path: str | Path, name: str, split: str | None) -> tuple[str, dict[str, Any]]:
    """The split's tables and the name errors give its file (``ZIP/member`` inside a zip)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".zip":
        if split is None:
            raise FormatError(path, None, f"a zip holds several splits: give split= ({', '.join(SPLITS)})")
        member = f"{name}/{split}.json"
        where = f"{path}/{member}"
        try:
            with zipfile.ZipFile(path) as z:
                raw = z.read(member)
        except KeyError:
            raise FormatError(path, None, f"no member {member} (split {split!r})") from None
        except zipfile.BadZipFile as e:
            raise FormatError(path, None, f"not a zip file: {e}") from None
    else:
        where = str(path)
        raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise FormatError(where, None, f"not valid UTF-8: {e.reason}") from None
    except json.JSONDecodeError as e:
        raise FormatError(where, e.lineno, f"not valid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise FormatError(where, None, "expected a JSON object of table id -> table")
    return where, data


def _table_fields(where: str, key: str, item: Any, index_key: str) -> list[tuple[Any, dict[str, Any]]]:
    """The table's gold cells as ``(cell index, record object)``; checks the fields the readers use."""
    if not isinstance(item, dict):
        raise FormatError(where, None, f"table {key!r}: must be an object, got {type(item).__name__}")
    for f in ("table_code", "gold_json_records"):
        if f not in item:
            raise FormatError(where, None, f"table {key!r}: field {f}: missing")
    if not isinstance(item["table_code"], str):
        raise FormatError(where, None, f"table {key!r}: field table_code: must be a string")
    if not isinstance(item.get("sup_text", ""), str):
        raise FormatError(where, None, f"table {key!r}: field sup_text: must be a string")
    gold = item["gold_json_records"]
    if not isinstance(gold, list):
        raise FormatError(where, None, f"table {key!r}: field gold_json_records: must be a list")
    out = []
    for i, g in enumerate(gold):
        at = f"table {key!r}: field gold_json_records.{i}"
        if not isinstance(g, dict) or index_key not in g or "cell_record" not in g:
            raise FormatError(where, None, f"{at}: must be an object with {index_key} and cell_record")
        idx = g[index_key]
        if not (isinstance(idx, list) and idx and all(isinstance(x, int) and not isinstance(x, bool) for x in idx)):
            raise FormatError(where, None, f"{at}.{index_key}: must be a list of integers, got {idx!r}")
        rec = g["cell_record"]
        if isinstance(rec, str):
            try:
                rec = json.loads(rec)
            except json.JSONDecodeError as e:
                raise FormatError(where, None, f"{at}.cell_record: not valid JSON: {e.msg}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("type"), str) or "value" not in rec:
            raise FormatError(where, None, f"{at}.cell_record: must be an object with a type and a value")
        out.append((idx, rec))
    return out


def _placeholder(v: Any) -> bool:
    return v is None or v == "xx" or v == {"xx": "yy"} or (isinstance(v, str) and not v.strip()) or v == [] \
        or v == {}


class _Grounder:
    """Grounds a document's gold values, caching each string's candidates (cells share their attributes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cache: dict[tuple[str, str], tuple[list, Any]] = {}

    def options(self, field, raw: str):
        from smallext.kinds.records.grounding import candidates
        from smallext.kinds.records.normalize import normalize

        key = (field.name, raw)
        if key not in self.cache:
            got = normalize(field, raw)
            value = got[0] if got is not None else raw.strip()
            self.cache[key] = (candidates(self.text, field, raw, value if got is not None else None), value)
        return self.cache[key]

    def value(self, field, names: list[str], anchor: int) -> tuple[Value, bool]:
        """The value of ``field`` among ``names`` (see the module docstring) and whether it was grounded."""
        from smallext.kinds.records.grounding import closest

        best: tuple[int, int, Value] | None = None
        for n, raw in enumerate(names):
            opts, value = self.options(field, raw)
            if not opts:
                continue
            c = closest(opts, [anchor])
            span = self.text[c.start:c.end]
            alignment = c.alignment
            if alignment == "exact" and field.type == "string":
                value = span
            elif alignment == "exact" and span != str(value):
                alignment = "normalized"
            v = Value(value, None if span == str(value) else span, c.start, c.end, alignment)
            if best is None or (_RANK[alignment], n) < best[:2]:
                best = (_RANK[alignment], n, v)
        if best is not None:
            return best[2], True
        return Value(self.options(field, names[0])[1]), False


def _record(where: str, key: str, i: int, rec: dict[str, Any], schema, cell_value: Value, grounder: _Grounder,
            anchor: int, meta: dict[str, Any]) -> Record:
    """One gold record: ``cell_value`` for ``value``, every other attribute grounded near ``anchor``."""
    from smallext.kinds.records.schema import record_labels, record_type, resolve_record

    at = f"table {key!r}: field gold_json_records.{i}.cell_record"
    name = resolve_record(schema, rec["type"])
    if name is None:
        raise FormatError(where, None, f"{at}.type: {rec['type']!r} is not a record type or alias of schema "
                                       f"{schema.name!r} (types: {', '.join(record_labels(schema))})")
    rt = record_type(schema, name)
    fields: dict[str, tuple[Value, ...]] = {}
    for attr, given in rec.items():
        if attr == "type":
            continue
        fname = rt.resolve_field(attr)
        if fname is None:
            raise FormatError(where, None, f"{at}.{attr}: not a field of record type {name!r} (fields: "
                                           f"{', '.join(f.name for f in rt.fields)})")
        if fname == "value":
            fields["value"] = (cell_value,)
            continue
        if _placeholder(given):
            continue
        f = rt.field(fname)
        if isinstance(given, dict):  # settings: "name: value" strings, abstractive (no offsets)
            items = [f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in given.items()
                     if not _placeholder(v)]
            if items:
                fields[fname] = tuple(Value(x) for x in items) if f.is_list else (Value("; ".join(items)),)
            continue
        names = [str(x) for x in (given if isinstance(given, list) else [given]) if not _placeholder(x)]
        if not names:
            continue
        if len(names) > 1:
            meta.setdefault("alternatives", []).append([i, fname, names])
        if f.type == "text":
            fields[fname] = (Value(names[0]),)
            continue
        v, grounded = grounder.value(f, names, anchor)
        if not grounded:
            meta.setdefault("ungrounded", []).append([i, fname])
        fields[fname] = (v,)
    return Record(rt.name, {f.name: fields[f.name] for f in rt.fields if f.name in fields}, source="gold")


def _cell_value(where: str, key: str, i: int, text: str, value: str, span: tuple[int, int] | None,
                grounder: _Grounder, schema, rec_type: str, anchor: int, meta: dict[str, Any]) -> Value:
    """The cell's value at ``span`` when the text there is it; else grounded like any attribute."""
    if span is not None and text[span[0]:span[1]] == value:
        return Value(value, None, span[0], span[1], "exact")
    from smallext.kinds.records.schema import record_type, resolve_record

    name = resolve_record(schema, rec_type)
    if name is None:
        return Value(value)  # _record raises the error naming the type
    v, grounded = grounder.value(record_type(schema, name).field("value"), [value], anchor)
    meta.setdefault("value_not_in_cell", []).append(i)
    if not grounded:
        meta.setdefault("ungrounded", []).append([i, "value"])
    return v


def _document(doc_id: str, lin: Linearised, meta: dict[str, Any], records: list[Record]) -> Document:
    return Document(doc_id, lin.text, meta={**meta, **lin.meta}, records=records)


def read_mltables(path: str | Path, *, split: str | None = None, id_prefix: str | None = None,
                  schema=None) -> list[Document]:
    """Read an MlTables split (see the module docstring).

    Args:
        path: ``mltables.zip`` (then ``split`` names the member ``mltables/{split}.json``) or a split's JSON file.
        split: ``train``, ``dev`` or ``test`` (43, 11 and 68 tables).
        id_prefix: document ids are ``f"{id_prefix}:{table id}"`` (default ``mltables:{split}``, or ``mltables``).
        schema: the schema whose record types the gold records take (default :file:`schemas/mltables.yaml`).

    Returns:
        One Document per table, in table id order, with one gold record per gold cell.

    Raises:
        FormatError: not a zip or JSON, a missing split, a table or gold cell with a missing or mistyped field, a
            ``table_code`` with no ``tabular``, a record type or attribute the schema does not know, a gold cell
            offset outside the table's source; the message names the file (``ZIP/mltables/test.json``), the
            table and the field.
        FileNotFoundError: ``path`` does not exist.
    """
    schema = _schema("mltables", schema)
    where, data = _load(path, "mltables", split)
    prefix = id_prefix if id_prefix is not None else ("mltables" if split is None else f"mltables:{split}")
    docs = []
    for key in sorted(data):
        item = data[key]
        gold = _table_fields(where, key, item, "cell_char_index")
        code = item["table_code"]
        try:
            table, captions = parse_latex_table(code)
        except LatexError as e:
            raise FormatError(where, None, f"table {key!r}: field table_code: {e}") from None
        table.captions = [c for c, _ in captions]
        lin = linearise(table, item.get("sup_text", "").strip(), "paper_text")
        cells = [(c, r, k) for r, row in enumerate(table.rows) for k, c in enumerate(row)]
        grounder = _Grounder(lin.text)
        meta: dict[str, Any] = {"source": where, "table": key, "paper": str(item.get("paper_id", ""))}
        records = []
        for i, (idx, rec) in enumerate(gold):
            if len(idx) != 2 or not 0 <= idx[0] < idx[1] <= len(code):
                raise FormatError(where, None, f"table {key!r}: field gold_json_records.{i}.cell_char_index: "
                                               f"{idx} is not a [start, end) inside table_code (length {len(code)})")
            s, e = idx
            span = None
            for c, r, k in cells:
                if c.source <= s and e <= c.source + len(c.text):
                    start = lin.start(r, k) + s - c.source
                    span = (start, start + e - s)
                    break
            anchor = span[0] if span else lin.meta["rows"][0][0]
            value = _cell_value(where, key, i, lin.text, one_line(str(rec["value"])), span, grounder, schema,
                                rec["type"], anchor, meta)
            records.append(_record(where, key, i, rec, schema, value, grounder, anchor, meta))
        docs.append(_document(f"{prefix}:{key}", lin, meta, records))
    return docs


def _grid(code: str) -> tuple[Table, list[str], str]:
    """DiSCoMat's ``| a | b |`` grid (columns where every line of equal length has its pipe, so a ``|`` inside a
    cell does not split it), its captions and the other lines."""
    lines, offsets, pos = [], [], 0
    for ln in code.split("\n"):
        lines.append(ln)
        offsets.append(pos)
        pos += len(ln) + 1
    grid = [(ln, off) for ln, off in zip(lines, offsets, strict=True) if ln.lstrip().startswith("|")]
    captions = [ln.strip().removeprefix("Caption:").strip() for ln in lines if ln.strip().startswith("Caption:")]
    other = "\n".join(ln for ln in lines if ln.strip() and not ln.lstrip().startswith("|")
                      and not ln.strip().startswith("Caption:"))
    common: list[int] | None = None
    if grid and len({len(ln) for ln, _ in grid}) == 1:
        sets = [{i for i, ch in enumerate(ln) if ch == "|"} for ln, _ in grid]
        common = sorted(set.intersection(*sets))
    rows = []
    for r, (ln, off) in enumerate(grid):
        seps = common if common and len(common) >= 2 else [i for i, ch in enumerate(ln) if ch == "|"]
        row = []
        for j in range(len(seps) - 1):
            a, b = seps[j] + 1, seps[j + 1]
            while a < b and ln[a].isspace():
                a += 1
            while b > a and ln[b - 1].isspace():
                b -= 1
            row.append(Cell(ln[a:b], r, j, source=off + a))
        rows.append(row)
    return Table(rows, 1), [c for c in captions if c], other


def _kth_number(cell: str, value: str, k: int) -> int | None:
    """Where in ``cell`` its ``k``-th number (from 0) is ``value``; else ``value``'s ``k``-th (or only)
    occurrence not inside a longer number; else None."""
    numbers = list(_NUMBER.finditer(cell))
    if k < len(numbers) and numbers[k].group() == value.lstrip("+-"):
        start = numbers[k].start() - (len(value) - len(value.lstrip("+-")))
        if start >= 0 and cell[start:start + len(value)] == value:
            return start
    found = []
    for m in re.finditer(re.escape(value), cell):
        a, b = m.start(), m.end()
        if (a and (cell[a - 1].isdigit() or (cell[a - 1] in ".," and a > 1 and cell[a - 2].isdigit()))) or \
                (b < len(cell) and (cell[b].isdigit() or (cell[b] in ".," and b + 1 < len(cell)
                                                          and cell[b + 1].isdigit()))):
            continue
        found.append(a)
    if not found:
        return None
    return found[k] if k < len(found) else found[0]


def read_discomat(path: str | Path, *, split: str | None = None, id_prefix: str | None = None,
                  schema=None) -> list[Document]:
    """Read a DiSCoMat split of Schema-to-JSON (see the module docstring).

    Args:
        path: ``discomat.zip`` (then ``split`` names the member ``discomat/{split}.json``) or a split's JSON file.
        split: ``train``, ``dev`` or ``test`` (500, 500 and 487 tables; train and dev are the same file).
        id_prefix: document ids are ``f"{id_prefix}:{table id}"`` (default ``discomat:{split}``, or ``discomat``).
        schema: the schema whose record types the gold records take (default :file:`schemas/discomat.yaml`).

    Returns:
        One Document per table, in table id order, with one gold record per gold cell. The grid's first row is its
        header; the ``Caption:`` line is the caption.

    Raises:
        FormatError: not a zip or JSON, a missing split, a table or gold cell with a missing or mistyped field, a
            ``table_code`` with no grid line, a record type or attribute the schema does not know; the message
            names the file, the table and the field.
        FileNotFoundError: ``path`` does not exist.
    """
    schema = _schema("discomat", schema)
    where, data = _load(path, "discomat", split)
    prefix = id_prefix if id_prefix is not None else ("discomat" if split is None else f"discomat:{split}")
    docs = []
    for key in sorted(data):
        item = data[key]
        gold = _table_fields(where, key, item, "cell_index")
        table, captions, other = _grid(item["table_code"])
        if not table.rows:
            raise FormatError(where, None, f"table {key!r}: field table_code: no grid line (| cell | cell |)")
        table.captions = captions
        after = "\n\n".join(x for x in (other, item.get("sup_text", "").strip()) if x)
        lin = linearise(table, after, "paper_text")
        grounder = _Grounder(lin.text)
        meta: dict[str, Any] = {"source": where, "table": key, "paper": str(item.get("paper_id", ""))}
        records = []
        for i, (idx, rec) in enumerate(gold):
            value = one_line(str(rec["value"]))
            span = None
            r, j, k = (idx + [0, 0])[:3]
            if 0 <= r < len(table.rows) and 0 <= j < len(table.rows[r]):
                cell = table.rows[r][j]
                at = _kth_number(cell.text, value, k)
                if at is not None:
                    start = lin.start(r, j) + at
                    span = (start, start + len(value))
                anchor = lin.start(r, j)
            else:
                anchor = lin.meta["rows"][0][0]
            v = _cell_value(where, key, i, lin.text, value, span, grounder, schema, rec["type"], anchor, meta)
            records.append(_record(where, key, i, rec, schema, v, grounder, anchor, meta))
        docs.append(_document(f"{prefix}:{key}", lin, meta, records))
    return docs
