"""LaTeX tables (``tabular`` and its kin) read into a :class:`~smallext.io.tables.Table` whose cells keep their
offsets in the LaTeX source, so an offset into the source (a gold cell's) maps into the linearised text.

What is read: every top-level ``tabular``, ``tabular*``, ``tabularx``, ``tabulary``, ``longtable`` or ``array``
environment of the source, in order (a tabular nested in a cell stays inside that cell); rows end at ``\\\\``
(with its optional ``*`` and ``[length]``) or ``\\tabularnewline``, cells at ``&``, both only outside braces and
nested environments; ``%`` comments are ignored. Rules and row formatting at the start of a row (``\\hline``,
``\\toprule``, ``\\midrule``, ``\\bottomrule``, ``\\cline``, ``\\cmidrule``, ``\\specialrule``, ``\\hhline``,
``\\hdashline``, ``\\addlinespace``, ``\\rowcolor``, ``\\noalign``, and a paper's own macros named
``...hline`` or ``...rule``, such as ``\\whline``, taken as full rules) are not cell text. A cell that is one
``\\multicolumn{n}{spec}{content}`` or ``\\multirow{n}{width}{content}`` becomes its content, with its span.
Everything else stays as written (``\\textbf{0.95}``, ``$\\pm$``), line breaks made spaces.

Header rows: the rows above the first full rule (``\\hline``, ``\\midrule``, ...) below the first row, when there
is one that leaves some rows below it; else the first row. Captions: the contents of each ``\\caption{...}``
outside the tabulars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smallext.io.tables import Cell, Table

__all__ = ["LatexError", "parse_latex_table"]

_ENVS = ("tabular", "tabular*", "tabularx", "tabulary", "longtable", "array")
_BEGIN = re.compile(r"\\begin\s*\{(" + "|".join(re.escape(e) for e in _ENVS) + r")\}")
# rule or row-formatting command -> the number of brace arguments it takes
_ROW_COMMANDS = {"hline": 0, "toprule": 0, "midrule": 0, "bottomrule": 0, "specialrule": 3, "hhline": 1,
                 "hdashline": 0, "Xhline": 1, "cline": 1, "cmidrule": 1, "cdashline": 1, "addlinespace": 0,
                 "rowcolor": 1, "noalign": 1, "arrayrulecolor": 1, "morecmidrules": 0, "rowcolors": 3,
                 "firsthline": 0, "lasthline": 0, "endhead": 0, "endfirsthead": 0, "endfoot": 0, "endlastfoot": 0}
_FULL_RULES = {"hline", "midrule", "specialrule", "hhline", "hdashline", "Xhline", "firsthline"}
_RULE_LIKE = re.compile(r"^[A-Za-z]*(?:hline|rule)$")  # a paper's own rule macros: \whline, \thickhline
_DIMENSION = re.compile(r"\s*\[\s*-?[\d.]+\s*(?:pt|em|ex|mm|cm|in|bp|pc|dd|sp|mu)?\s*\]")


class LatexError(ValueError):
    """The source holds no table environment, or one is not closed (the message says which)."""


@dataclass
class _Row:
    start: int
    end: int
    rules: set[str]


def _mask_comments(code: str) -> str:
    """``code`` with each ``%`` comment (to the end of its line) made spaces; the same length."""
    out = list(code)
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c == "\\":
            i += 2
            continue
        if c == "%":
            j = code.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
            continue
        i += 1
    return "".join(out)


def _command(code: str, i: int) -> tuple[str, int]:
    """The command starting at the backslash ``code[i]``: its name and the offset after it."""
    j = i + 1
    if j < len(code) and code[j].isalpha():
        while j < len(code) and code[j].isalpha():
            j += 1
        return code[i + 1:j], j
    return code[i + 1:j + 1], min(j + 1, len(code))


def _group(code: str, i: int, open_: str = "{", close: str = "}") -> int | None:
    """The offset after the balanced group opening at ``code[i]`` (``{...}``), or None when there is none."""
    if i >= len(code) or code[i] != open_:
        return None
    depth, j = 0, i
    while j < len(code):
        c = code[j]
        if c == "\\":
            j += 2
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return None


def _skip_space(code: str, i: int, end: int) -> int:
    while i < end and code[i].isspace():
        i += 1
    return i


def _env_end(code: str, name: str, i: int) -> int:
    """The offset of the ``\\end{name}`` that closes the environment whose body starts at ``i``."""
    pattern = re.compile(r"\\(begin|end)\s*\{" + re.escape(name) + r"\}")
    depth = 1
    for m in pattern.finditer(code, i):
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            return m.start()
    raise LatexError(f"\\begin{{{name}}} at offset {i} is never closed by \\end{{{name}}}")


def _body_start(code: str, name: str, i: int) -> int:
    """The offset after an environment's arguments (``[pos]``, a width for the starred kinds, the column spec)."""
    i = _skip_space(code, i, len(code))
    if i < len(code) and code[i] == "[":
        i = _group(code, i, "[", "]") or i
        i = _skip_space(code, i, len(code))
    for _ in range(2 if name in ("tabular*", "tabularx", "tabulary") else 1):
        j = _group(code, i)
        if j is None:
            break
        i = _skip_space(code, j, len(code))
    return i


def _split(code: str, start: int, end: int) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """The rows of a body: ``(row start, row end, [(cell start, cell end), ...])`` in source offsets."""
    rows = []
    cells: list[tuple[int, int]] = []
    row_start = cell_start = start
    depth = env = 0
    i = start
    while i < end:
        c = code[i]
        if c == "\\":
            name, j = _command(code, i)
            if name in ("begin", "end"):
                k = _group(code, _skip_space(code, j, end))
                env += 1 if name == "begin" else -1
                i = k if k is not None else j
                continue
            if depth == 0 and env == 0 and name in ("\\", "tabularnewline"):
                cells.append((cell_start, i))
                rows.append((row_start, i, cells))
                if j < end and code[j] == "*":
                    j += 1
                if j < end and code[j] == "[":
                    j = _group(code, j, "[", "]") or j
                else:
                    m = _DIMENSION.match(code, j, end)
                    j = m.end() if m else j
                row_start = cell_start = j
                cells = []
                i = j
                continue
            i = j
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        elif c == "&" and depth == 0 and env == 0:
            cells.append((cell_start, i))
            cell_start = i + 1
        i += 1
    cells.append((cell_start, end))
    rows.append((row_start, end, cells))
    return rows


def _leading_commands(code: str, i: int, end: int) -> tuple[int, set[str]]:
    """Skip the rules and row formatting at ``code[i:end]``'s start: the offset after them and their names."""
    seen: set[str] = set()
    while True:
        i = _skip_space(code, i, end)
        if i >= end or code[i] != "\\":
            return i, seen
        name, j = _command(code, i)
        if name not in _ROW_COMMANDS and not _RULE_LIKE.match(name):
            return i, seen
        seen.add(name if name in _ROW_COMMANDS else "hline")
        for _ in range(_ROW_COMMANDS.get(name, 0)):
            k = _skip_space(code, j, end)
            while k < end and code[k] in "[(":  # optional arguments: \cmidrule(lr){2-3}, \rowcolor[gray]{.9}
                g = _group(code, k, code[k], "]" if code[k] == "[" else ")")
                if g is None:
                    break
                k = _skip_space(code, g, end)
            g = _group(code, k)
            if g is None:
                break
            j = g
        k = _skip_space(code, j, end)
        if name in ("toprule", "midrule", "bottomrule", "addlinespace", "cmidrule") and k < end and code[k] in "[(":
            g = _group(code, k, code[k], "]" if code[k] == "[" else ")")
            j = g if g is not None else j
        i = j


def _strip(code: str, a: int, b: int) -> tuple[int, int]:
    while a < b and code[a].isspace():
        a += 1
    while b > a and code[b - 1].isspace():
        b -= 1
    return a, b


def _unwrap(code: str, a: int, b: int) -> tuple[int, int, int, int]:
    """A cell's content range and its ``(rowspan, colspan)`` when it is one ``\\multicolumn`` / ``\\multirow``."""
    rowspan = colspan = 1
    while a < b and code[a] == "\\":
        name, j = _command(code, a)
        if name not in ("multicolumn", "multirow"):
            break
        groups = []
        k = j
        while True:
            k = _skip_space(code, k, b)
            if k < b and code[k] == "[":
                g = _group(code, k, "[", "]")
                if g is None:
                    break
                k = g
                continue
            g = _group(code, k)
            if g is None or g > b:
                break
            groups.append((k, g))
            k = g
            if len(groups) == 3:
                break
        if len(groups) < 3 or _skip_space(code, k, b) != b:
            break
        try:
            n = int(code[groups[0][0] + 1:groups[0][1] - 1].strip())
        except ValueError:
            n = 1
        if name == "multicolumn":
            colspan = max(1, n)
        else:
            rowspan = max(1, n)
        a, b = _strip(code, groups[2][0] + 1, groups[2][1] - 1)
    return a, b, rowspan, colspan


def _captions(code: str, outside: list[tuple[int, int]]) -> list[tuple[str, int]]:
    out = []
    for m in re.finditer(r"\\caption\s*(?:\[[^\]]*\])?\s*(?=\{)", code):
        if any(a <= m.start() < b for a, b in outside):
            continue
        g = _group(code, m.end())
        if g is None:
            continue
        a, b = _strip(code, m.end() + 1, g - 1)
        if b > a:
            out.append((code[a:b], a))
    return out


def parse_latex_table(code: str) -> tuple[Table, list[tuple[str, int]]]:
    """The table of a LaTeX source (see the module docstring) and its captions as ``(text, source offset)``.

    Every cell's :attr:`~smallext.io.tables.Cell.source` is the offset of its text in ``code``: ``code[source:
    source + len(text)]`` is its text with line breaks made spaces and ``%`` comments made spaces.

    Raises:
        LatexError: no table environment, or one that is not closed.
    """
    masked = _mask_comments(code)
    bodies: list[tuple[int, int]] = []
    envs: list[tuple[int, int]] = []
    for m in _BEGIN.finditer(masked):
        if any(a <= m.start() < b for a, b in envs):
            continue  # nested in a cell of a table already read
        name = m.group(1)
        start = _body_start(masked, name, m.end())
        end = _env_end(masked, name, m.end())
        bodies.append((start, end))
        envs.append((m.start(), end))
    if not bodies:
        raise LatexError("no tabular environment (\\begin{tabular} ...) found")
    rows: list[list[Cell]] = []
    rules_before: list[set[str]] = []
    pending: set[str] = set()
    for start, end in bodies:
        for _row_start, _row_end, cells in _split(masked, start, end):
            first, seen = _leading_commands(masked, cells[0][0], cells[0][1])
            pending |= seen
            cells = [(first, cells[0][1]), *cells[1:]]
            spans = []
            for a, b in cells:
                a, b = _strip(masked, a, b)
                spans.append(_unwrap(masked, a, b))
            if len(spans) == 1 and spans[0][0] == spans[0][1]:
                continue  # a row of rules alone, or the empty tail after the last \\
            r = len(rows)
            row, col = [], 0
            for a, b, rowspan, colspan in spans:
                row.append(Cell(masked[a:b], r, col, rowspan, colspan, a))
                col += colspan
            rows.append(row)
            rules_before.append(pending)
            pending = set()
    if not rows:
        raise LatexError("the tabular has no rows")
    header = 1
    for r in range(1, len(rows)):
        if rules_before[r] & _FULL_RULES:
            header = r
            break
    return Table(rows, header), _captions(masked, envs)
