"""Griffe extension for the API pages: the package's docstrings are Google style with reStructuredText inside
(Sphinx roles such as ``:class:`Document```, simple tables bordered by ``====`` lines, ``::`` before a literal
block). mkdocstrings renders Markdown, so this rewrites those three constructs before the docstring is parsed:

* a role becomes a code span linked to the object's API entry (an *optional* autorefs link: when the object is not
  on any page, it stays plain code and the strict build does not fail);
* a simple table becomes a Markdown table (a table without a header row gets an empty one, hidden by
  ``docs/stylesheets/extra.css``);
* a paragraph's closing ``::`` becomes ``:`` (the indented block after it is already a Markdown code block).

Nothing in the package's source changes; this file lives in docs/ and only the documentation build loads it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:mod|func|class|data|meth|attr|exc|obj|const):`(~?)([^`<>]+?)`")
BORDER = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


def _resolve(obj: griffe.Object, target: str, collection: Any) -> str | None:
    """The canonical path of what ``target`` names, seen from ``obj`` (Sphinx's lookup order, roughly)."""
    rel = target.lstrip(".")
    candidates = []
    scope: griffe.Object | None = obj
    while scope is not None:
        candidates.append(f"{scope.path}.{rel}")
        scope = scope.parent
    candidates.append(rel)
    for path in candidates:
        try:
            found = collection.get_member(path)
        except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        try:
            return found.final_target.path if found.is_alias else found.path
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return found.path
    return None


def _roles(text: str, obj: griffe.Object, collection: Any) -> str:
    def sub(m: re.Match) -> str:
        short, target = m.group(1), m.group(2).strip()
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        path = _resolve(obj, target, collection)
        code = f"<code>{title}</code>"
        return f'<autoref identifier="{path}" optional>{code}</autoref>' if path else code

    return ROLE.sub(sub, text)


def _cells(line: str, starts: list[int]) -> list[str]:
    ends = [*starts[1:], None]
    return [line[a:b].strip() if b else line[a:].strip() for a, b in zip(starts, ends, strict=True)]


def _table(lines: list[str], header: list[str] | None, starts: list[int]) -> list[str]:
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        cells = _cells(line, starts)
        if rows and not cells[0]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    head = header or [""] * len(starts)
    return ["", fmt(head), "|" + "---|" * len(starts), *(fmt(r) for r in rows), ""]


def _tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        border = lines[i]
        starts = [m.start() for m in re.finditer(r"=+", border)]
        borders = [j for j in range(i + 1, len(lines)) if lines[j] == border]
        if not borders:
            out.append(lines[i])
            i += 1
            continue
        second = borders[0]
        third = next((j for j in borders[1:] if all(lines[k].strip() for k in range(second + 1, j))), None)
        if third is not None and second - i == 2:
            header = _cells(lines[i + 1], starts)
            out.extend(_table(lines[second + 1 : third], header, starts))
            i = third + 1
        else:
            out.extend(_table(lines[i + 1 : second], None, starts))
            i = second + 1
    return "\n".join(out)


def _literal(text: str) -> str:
    # "Text::" -> "Text:"; a lone "::" line disappears. The indented block after it stays a code block.
    text = re.sub(r"(?m)^\s*::\s*$", "", text)
    return re.sub(r"(?m)(\S)::[ \t]*$", r"\1:", text)


class RstToMarkdown(griffe.Extension):
    """Rewrite the reStructuredText constructs of the package's docstrings into Markdown."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        seen: set[int] = set()

        def walk(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                value = _tables(_literal(obj.docstring.value))
                obj.docstring.value = _roles(value, obj, loader.modules_collection)
            for member in obj.members.values():
                if not member.is_alias:
                    walk(member)

        walk(pkg)
