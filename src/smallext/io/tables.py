"""Tables as text: a grid of cells linearised into a Document, one row per line, cells separated by ``" | "``, and
readers for users' own tables in Markdown, CSV and HTML.

Every table reader of the package (these, and the MlTables and DiSCoMat readers of
:mod:`smallext.io.schema_to_json`) writes the same text and the same ``meta``, so a value in the text can be
traced to its cell::

    Caption: Results on the test set.          <- one line per caption, when the table has one
    Model | F1 | Acc                           <- the header rows (meta["header"])
    BERT | 91.2 | 95.0
    Ours | 92.4 | 95.3
                                               <- a blank line, then the text after the table (a paper's text)
    We compare ...

``meta`` keys (offsets are character offsets into ``Document.text``, end-exclusive):

``cells``
    ``[[start, end, row, column, rowspan, colspan], ...]``, one per cell in row order, empty cells included
    (``start == end``). ``row`` counts the table's rows from 0 (the header rows first); ``column`` is the cell's
    first grid column, from 0 (a cell spanning three columns moves the next one three on).
``rows``
    ``[[start, end], ...]``: each row's line (without its newline).
``header``
    ``[start, end]``: the header rows' lines, from the first's start to the last's end. A task that cuts a long
    table into windows repeats ``text[start:end]`` at the top of every window after the first, so no window
    loses the column names (LangExtract issue #308). ``header_rows`` is how many rows it holds.
``captions``
    ``[[start, end], ...]``: each caption's text (after ``"Caption: "``), when there is one.
``source``
    the file read; readers add their own keys (``table``: the table's number in its file).

Cell texts are kept as written (LaTeX markup, Markdown emphasis and all) except that every line break or tab
inside a cell becomes one space, so a cell's text is one line and each character of it is the character of the
source at the same place (the offsets of a source can be mapped into the text by :attr:`Cell.source`).

Sources of the user formats: GitHub Flavored Markdown's pipe tables (github.github.com/gfm, "Tables
(extension)"); CSV as Python's :mod:`csv` reads it (RFC 4180, with the delimiter sniffed); HTML ``<table>``
elements (WHATWG HTML, "Tabular data": ``<caption>``, ``<thead>``, ``<tr>``, ``<th>``/``<td>`` with ``colspan``
and ``rowspan``), parsed with the standard library's :mod:`html.parser`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError

__all__ = ["CAPTION_PREFIX", "CELL_SEPARATOR", "Cell", "Linearised", "Table", "grid_columns", "linearise", "one_line",
           "read_csv", "read_html", "read_markdown", "table_document"]

CELL_SEPARATOR = " | "
"""What separates two cells of a row in the text."""

CAPTION_PREFIX = "Caption: "
"""What starts a caption's line."""

_BREAKS = re.compile(r"[\r\n\t\v\f\x1c-\x1e\x85\u2028\u2029]")  # what str.splitlines splits on, and tabs


@dataclass(frozen=True)
class Cell:
    """One cell of a table.

    Attributes:
        text: its text as written (one line: line breaks and tabs become spaces; see :func:`one_line`).
        row: its row, from 0 (header rows included).
        column: its first grid column, from 0.
        rowspan: how many rows it spans (HTML ``rowspan``, LaTeX ``\\multirow``); 1 by default.
        colspan: how many columns it spans (HTML ``colspan``, LaTeX ``\\multicolumn``); 1 by default.
        source: the offset of ``text[0]`` in the source it was read from, when ``text`` is a stretch of it
            character for character; else None.
    """

    text: str
    row: int
    column: int
    rowspan: int = 1
    colspan: int = 1
    source: int | None = None


@dataclass
class Table:
    """A table to linearise: its rows of :class:`Cell` s, how many of them are header rows, its captions.

    Attributes:
        rows: the rows, top to bottom, each a list of cells left to right (a row may be empty).
        header_rows: the number of leading rows that name the columns (at least 1 when there are rows).
        captions: the table's captions (one line each: line breaks become spaces).
    """

    rows: list[list[Cell]]
    header_rows: int = 1
    captions: list[str] = field(default_factory=list)


@dataclass
class Linearised:
    """A linearised table: its text, the document ``meta`` of the module docstring, and for each cell (in row
    order, as in ``meta["cells"]``) and caption where its text starts."""

    text: str
    meta: dict[str, Any]
    cell_starts: list[list[int]]
    caption_starts: list[int]

    def start(self, row: int, index: int) -> int:
        """Where the ``index``-th cell (0-based, in the row's order) of row ``row`` starts in the text."""
        return self.cell_starts[row][index]


def one_line(s: str) -> str:
    """``s`` with every line break and tab made one space (the same length, so offsets into it still hold)."""
    return _BREAKS.sub(" ", s)


def linearise(table: Table, after: str = "", after_key: str = "text_after") -> Linearised:
    """The text and ``meta`` of ``table`` (see the module docstring), then, after a blank line, ``after`` (its
    offsets in ``meta[after_key]`` as ``[start, end]``) when it is not empty.

    Raises:
        ValueError: the table has no rows.
    """
    if not table.rows:
        raise ValueError("the table has no rows")
    parts: list[str] = []
    pos = 0
    captions, caption_starts = [], []
    for c in table.captions:
        c = one_line(c)
        caption_starts.append(pos + len(CAPTION_PREFIX))
        captions.append([pos + len(CAPTION_PREFIX), pos + len(CAPTION_PREFIX) + len(c)])
        parts.append(CAPTION_PREFIX + c)
        pos += len(CAPTION_PREFIX) + len(c) + 1
    rows, cells, starts = [], [], []
    for row in table.rows:
        line_start = pos
        row_starts = []
        for k, cell in enumerate(row):
            if k:
                pos += len(CELL_SEPARATOR)
            text = one_line(cell.text)
            row_starts.append(pos)
            cells.append([pos, pos + len(text), cell.row, cell.column, cell.rowspan, cell.colspan])
            pos += len(text)
        parts.append(CELL_SEPARATOR.join(one_line(c.text) for c in row))
        rows.append([line_start, pos])
        starts.append(row_starts)
        pos += 1
    n_header = max(1, min(table.header_rows, len(rows)))
    meta: dict[str, Any] = {"cells": cells, "rows": rows, "header": [rows[0][0], rows[n_header - 1][1]],
                            "header_rows": n_header}
    if captions:
        meta["captions"] = captions
    text = "\n".join(parts)
    if after:
        meta[after_key] = [len(text) + 2, len(text) + 2 + len(after)]
        text = f"{text}\n\n{after}"
    return Linearised(text, meta, starts, caption_starts)


def table_document(doc_id: str, table: Table, meta: dict[str, Any] | None = None, after: str = "",
                   after_key: str = "text_after", **layers: Any) -> tuple[Document, Linearised]:
    """A :class:`~smallext.doc.Document` of ``table`` (see :func:`linearise`), with ``meta`` merged into the
    table's, and the linearisation (to map cells and source offsets into the text)."""
    lin = linearise(table, after, after_key)
    return Document(doc_id, lin.text, meta={**(meta or {}), **lin.meta}, **layers), lin


def grid_columns(rows: Sequence[Sequence[tuple[int, int]]]) -> list[list[int]]:
    """Each cell's first grid column given each row's cells' ``(rowspan, colspan)``: a cell starts at the first
    column not taken by a cell of a row above that spans down into this row (HTML's table model)."""
    taken: dict[int, set[int]] = {}
    out = []
    for r, row in enumerate(rows):
        cols, col = [], 0
        for rowspan, colspan in row:
            while col in taken.get(r, ()):
                col += 1
            cols.append(col)
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken.setdefault(r + dr, set()).add(col + dc)
            col += colspan
        out.append(cols)
    return out


def _sequential(rows: list[list[tuple[str, int | None]]], header_rows: int) -> Table:
    """A table of cells with no spans, columns numbered left to right."""
    return Table([[Cell(t, r, k, source=s) for k, (t, s) in enumerate(row)] for r, row in enumerate(rows)],
                 header_rows)


# ---------------------------------------------------------------------------------------------------- Markdown

_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_PIPE = re.compile(r"(?<!\\)\|")


def _md_cells(line: str, base: int) -> list[tuple[str, int]]:
    """A pipe-table row's cells (stripped, as written) with their offsets in the file."""
    bounds = [m.start() for m in _PIPE.finditer(line)]
    edges = [-1, *bounds, len(line)]
    pieces = [(edges[i] + 1, edges[i + 1]) for i in range(len(edges) - 1)]
    if pieces and not line[pieces[0][0]:pieces[0][1]].strip() and bounds and not line[:bounds[0]].strip():
        pieces = pieces[1:]  # the leading pipe
    if pieces and bounds and not line[bounds[-1] + 1:].strip():
        pieces = pieces[:-1]  # the trailing pipe
    out = []
    for a, b in pieces:
        while a < b and line[a].isspace():
            a += 1
        while b > a and line[b - 1].isspace():
            b -= 1
        out.append((line[a:b], base + a))
    return out


def read_markdown(path: str | Path, *, id_prefix: str | None = None) -> list[Document]:
    """Read every pipe table of a Markdown file (GitHub Flavored Markdown: a header row, a delimiter row such as
    ``|---|:--:|``, then body rows until a blank line or a line without a pipe).

    Returns:
        One Document per table, in file order, ids ``f"{id_prefix}:{k}"`` (``k`` from 0; default prefix: the
        file's stem), linearised as the module docstring says; ``meta["source"]`` is the file, ``meta["table"]``
        ``k`` and ``meta["line"]`` the 1-based line of the table's header row. Cells are kept as written
        (``\\|`` stays escaped); a body row with fewer cells than the header is kept short, one with more is kept
        long (GFM would pad or cut it). No records: users' tables have no gold.

    Raises:
        FormatError: the file is not UTF-8, or holds no pipe table (names the file).
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    text = _read_utf8(path)
    lines = text.splitlines(keepends=True)
    starts, pos = [], 0
    for ln in lines:
        starts.append(pos)
        pos += len(ln)
    prefix = id_prefix if id_prefix is not None else path.stem
    docs, i = [], 0
    while i + 1 < len(lines):
        head, delim = lines[i].rstrip("\r\n"), lines[i + 1].rstrip("\r\n")
        if "|" in head and "-" in delim and _DELIMITER.match(delim) and _PIPE.search(head + delim):
            rows = [_md_cells(head, starts[i])]
            j = i + 2
            while j < len(lines) and lines[j].strip() and _PIPE.search(lines[j]):
                rows.append(_md_cells(lines[j].rstrip("\r\n"), starts[j]))
                j += 1
            k = len(docs)
            doc, _ = table_document(f"{prefix}:{k}", _sequential(rows, 1),
                                    {"source": str(path), "table": k, "line": i + 1})
            docs.append(doc)
            i = j
        else:
            i += 1
    if not docs:
        raise FormatError(path, None, "no pipe table found (a header row, then a delimiter row such as |---|---|)")
    return docs


# --------------------------------------------------------------------------------------------------------- CSV

def read_csv(path: str | Path, *, delimiter: str | None = None, header_rows: int = 1,
             id_prefix: str | None = None) -> list[Document]:
    """Read a CSV file as one table (Python's :mod:`csv`, RFC 4180 quoting; a UTF-8 byte order mark is skipped).

    Args:
        path: the file.
        delimiter: the cell delimiter; None sniffs it (``csv.Sniffer`` over the first 64 KiB, among ``, ; TAB |``),
            falling back to a comma.
        header_rows: how many leading rows name the columns (``meta["header"]``).
        id_prefix: the document id (default: the file's stem).

    Returns:
        A list of one Document, linearised as the module docstring says (cells stripped of surrounding spaces; a
        quoted line break inside a cell becomes a space); ``meta["source"]`` is the file and ``meta["lines"]``
        each row's 1-based first line in the file. Blank rows are skipped. No records.

    Raises:
        FormatError: the file is not UTF-8, a row is malformed (names the line), or the file has no rows.
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    text = _read_utf8(path).removeprefix("\ufeff")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, lines = [], []
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise FormatError(path, reader.line_num, f"malformed CSV row: {e}") from None
        if not any(c.strip() for c in row):
            continue
        rows.append([(c.strip(), None) for c in row])
        lines.append(first)
    if not rows:
        raise FormatError(path, None, "no rows: the file is empty")
    prefix = id_prefix if id_prefix is not None else path.stem
    doc, _ = table_document(prefix, _sequential(rows, header_rows), {"source": str(path), "lines": lines})
    return [doc]


# -------------------------------------------------------------------------------------------------------- HTML

class _HtmlTables(HTMLParser):
    """Collects each ``<table>``'s caption, rows and cells (text, header flag, spans, section)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[dict[str, Any]] = []
        self.stack: list[dict[str, Any]] = []
        self.skip = 0
        self.opened = 0

    def _cell_end(self, t: dict[str, Any]) -> None:
        if t["cell"] is not None:
            t["rows"][-1].append(t["cell"])
            t["cell"] = None

    def _row_end(self, t: dict[str, Any]) -> None:
        self._cell_end(t)
        t["in_row"] = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self.skip += 1
            return
        if tag == "table":
            self.stack.append({"rows": [], "cell": None, "caption": None, "in_caption": False, "section": "body",
                               "in_row": False, "line": self.getpos()[0], "order": self.opened})
            self.opened += 1
            return
        if not self.stack:
            return
        t = self.stack[-1]
        if tag == "caption":
            t["caption"], t["in_caption"] = [], True
        elif tag in ("thead", "tbody", "tfoot"):
            self._row_end(t)
            t["section"] = tag[1:]
        elif tag == "tr":
            self._row_end(t)
            t["rows"].append([])
            t["sections"] = t.get("sections", []) + [t["section"]]
            t["in_row"] = True
        elif tag in ("td", "th"):
            self._cell_end(t)
            if not t["in_row"]:
                t["rows"].append([])
                t["sections"] = t.get("sections", []) + [t["section"]]
                t["in_row"] = True
            a = dict(attrs)
            t["cell"] = {"text": [], "th": tag == "th", "rowspan": _span(a.get("rowspan")),
                         "colspan": _span(a.get("colspan"))}
        elif tag == "br":
            self.handle_data(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self.skip = max(0, self.skip - 1)
            return
        if not self.stack:
            return
        t = self.stack[-1]
        if tag == "table":
            self._row_end(t)
            self.done.append(self.stack.pop())
        elif tag == "caption":
            t["in_caption"] = False
        elif tag in ("td", "th"):
            self._cell_end(t)
        elif tag == "tr":
            self._row_end(t)

    def handle_data(self, data: str) -> None:
        if self.skip or not self.stack:
            return
        t = self.stack[-1]
        if t["cell"] is not None:
            t["cell"]["text"].append(data)
        elif t["in_caption"]:
            t["caption"].append(data)


def _span(v: str | None) -> int:
    """A ``rowspan``/``colspan`` attribute as browsers read it: a positive integer, else 1."""
    try:
        n = int(str(v).strip())
    except (TypeError, ValueError):
        return 1
    return n if n >= 1 else 1


def read_html(path: str | Path, *, id_prefix: str | None = None) -> list[Document]:
    """Read every ``<table>`` of an HTML file (the standard library's :mod:`html.parser`; no lxml needed).

    Cell and caption texts are their character data with entities decoded and runs of whitespace (``<br>``
    too) made one space; a table inside a cell is a table of its own (its text is not the outer cell's). Header
    rows: the rows of ``<thead>``, else the leading rows whose cells are all ``<th>``, else the first row.
    Columns follow HTML's table model (a ``rowspan`` cell takes its column in the rows below).

    Returns:
        One Document per table with at least one row, in the order the tables open (an outer table before the
        tables inside it), ids ``f"{id_prefix}:{k}"`` (default prefix: the file's stem); ``meta["source"]``
        the file, ``meta["table"]`` ``k``, ``meta["line"]`` the 1-based line of the ``<table>`` tag. No records.

    Raises:
        FormatError: the file is not UTF-8, or holds no table with a row (names the file).
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    parser = _HtmlTables()
    parser.feed(_read_utf8(path))
    parser.close()
    while parser.stack:  # unclosed tables end with the file
        t = parser.stack[-1]
        parser._row_end(t)
        parser.done.append(parser.stack.pop())
    prefix = id_prefix if id_prefix is not None else path.stem
    docs = []
    for t in sorted(parser.done, key=lambda t: t["order"]):
        rows = t["rows"]
        if not any(rows):
            continue
        sections = t.get("sections", ["body"] * len(rows))
        keep = [i for i, r in enumerate(rows) if r]
        rows = [rows[i] for i in keep]
        sections = [sections[i] for i in keep]
        n_head = sum(1 for s in sections if s == "head") if "head" in sections else 0
        if not n_head:
            while n_head < len(rows) and all(c["th"] for c in rows[n_head]):
                n_head += 1
        cols = grid_columns([[(c["rowspan"], c["colspan"]) for c in r] for r in rows])
        table = Table([[Cell(" ".join("".join(c["text"]).split()), r, cols[r][k], c["rowspan"], c["colspan"])
                        for k, c in enumerate(row)] for r, row in enumerate(rows)], max(1, n_head))
        if t["caption"]:
            caption = " ".join("".join(t["caption"]).split())
            if caption:
                table.captions.append(caption)
        k = len(docs)
        doc, _ = table_document(f"{prefix}:{k}", table, {"source": str(path), "table": k, "line": t["line"]})
        docs.append(doc)
    if not docs:
        raise FormatError(path, None, "no <table> with a row (<tr> and <td>/<th>) found")
    return docs


def _read_utf8(path: Path) -> str:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise FormatError(path, None, "is a folder, not a file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FormatError(path, line, f"not valid UTF-8: {e.reason} at byte {e.start}") from None
