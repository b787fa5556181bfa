"""A page of examples: documents labelled by two systems (a teacher and a student, or gold and a prediction),
side by side, the documents where they disagree most first, with a filter by type.

Each kind of output draws its own items with its ``html`` part (``kinds/<kind>/visualize.py``, a function
``html(doc, other, side) -> Rendered | None``): the entities kind marks its spans in the text, the relations kind
lists its relations under it as ``head -> label -> tail``; this module only pairs the documents, orders them and
lays out the page, looping over the kinds. An item one side has and the other does not is marked as a
disagreement (strict match, as :mod:`smallext.evaluate` counts: a span's ``(start, end, label)``, a relation's
arguments and type).

The page is one self-contained HTML file: inline CSS and a few lines of plain JavaScript (the type filter), no
request to the network (its Content-Security-Policy forbids any). A link may preset the filter with its fragment:
``examples.html#type=entities:PER&differ=1`` (``KIND:TYPE``; ``differ=1`` keeps only the documents with a
disagreement).

A kind's ``html`` part marks each item it draws with :func:`item_attributes` (the classes and ``data-``
attributes the filter reads), escapes every text it writes (:func:`html.escape`) and returns a :class:`Rendered`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from smallext.doc import Document
from smallext.errors import ConfigError, DocumentError
from smallext.io.atomic import atomic_write
from smallext.kinds import KINDS, kinds_of
from smallext.kinds.base import Kind
from smallext.schema import Schema

__all__ = ["Rendered", "Side", "item_attributes", "render_examples", "write_examples"]


@dataclass(frozen=True)
class Side:
    """One side of a pair of documents, as a kind's ``html`` part is told about it.

    Attributes:
        name: this side's name on the page (``"teacher"``).
        other: the other side's name (``"student"``), for the notes on disagreements ("not in the student's").
        schema: the schema the documents follow, or None (a relation kind reads its symmetric types from it).
    """

    name: str
    other: str
    schema: Schema | None = None


@dataclass(frozen=True)
class Rendered:
    """What a kind's ``html`` part returns for one side of one document.

    Attributes:
        body: HTML (escaped), shown in this side's column in registration order of the kinds; the entities kind's is
            the text with its spans marked.
        disagreements: how many of this side's items the other side does not have (the page adds both sides'
            counts up to order the documents).
        types: the types of the items drawn (each marked with :func:`item_attributes`), for the filter.
    """

    body: str
    disagreements: int = 0
    types: tuple[str, ...] = ()


def item_attributes(kind: str, label: str, *, differ: bool, note: str, classes: str = "") -> str:
    """The attributes of one drawn item: ``class="sx-item[ sx-diff] CLASSES" data-kind=.. data-type=..
    title=NOTE``, escaped, to put inside its opening tag. ``differ`` marks it as a disagreement (outlined on the
    page); the type filter finds items by ``data-kind`` and ``data-type``."""
    cls = " ".join(c for c in ("sx-item", "sx-diff" if differ else "", classes) if c)
    return (f'class="{cls}" data-kind="{html.escape(kind)}" data-type="{html.escape(label)}" '
            f'title="{html.escape(note)}"')


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1300px;margin:1.5em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.sx-summary{color:#444}
.sx-controls{position:sticky;top:0;background:#fff;padding:.6em 0;border-bottom:1px solid #ddd;z-index:1}
.sx-controls label{margin-right:1.5em}
.sx-doc{border-bottom:1px solid #e4e4e4;padding:.6em 0}.sx-doc h3{margin:.2em 0;font-size:100%}
.sx-badge{font-weight:normal;font-size:85%;padding:1px 6px;border-radius:8px;background:#eee;margin-left:.5em}
.sx-badge.sx-some{background:#fde2e1;color:#a51d1d}.sx-note{color:#8a5a00;font-size:85%;margin-left:.5em}
.sx-sides{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}.sx-side h4{margin:.3em 0;color:#555}
.sx-text{line-height:2.1;white-space:pre-wrap;margin:.2em 0}
mark.sx-item{padding:1px 2px;border-radius:3px;color:inherit}
.sx-lab{font-size:68%;color:#444;margin-left:3px;font-weight:600}
.sx-diff{outline:2px dashed #d62728;outline-offset:1px}
mark.sx-dim{background:none!important;outline:none}mark.sx-dim .sx-lab{display:none}
li.sx-dim,div.sx-dim,tr.sx-dim{display:none}
.sx-kind{font-size:80%;color:#666;margin:.4em 0 .1em}.sx-none{color:#888;font-size:85%}
ul.sx-list{margin:.1em 0;padding-left:1.2em}ul.sx-list li{margin:.15em 0}
.sx-legend mark{margin-right:.3em}
"""

_SCRIPT = """
(function () {
  var select = document.getElementById("sx-type"), differ = document.getElementById("sx-differ");
  var count = document.getElementById("sx-count"), docs = document.querySelectorAll("section.sx-doc");
  function fromHash() {
    var parts = window.location.hash.replace(/^#/, "").split("&");
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("="), value = decodeURIComponent(kv.slice(1).join("="));
      if (kv[0] === "differ") { differ.checked = value === "1"; }
      if (kv[0] === "type") {
        for (var j = 0; j < select.options.length; j++) {
          var o = select.options[j];
          if (o.getAttribute("data-kind") + ":" + o.getAttribute("data-type") === value) { select.selectedIndex = j; }
        }
      }
    }
  }
  function apply() {
    var o = select.options[select.selectedIndex];
    var kind = o.getAttribute("data-kind"), type = o.getAttribute("data-type");
    var shown = 0;
    for (var i = 0; i < docs.length; i++) {
      var doc = docs[i], items = doc.querySelectorAll(".sx-item"), has = !kind;
      for (var j = 0; j < items.length; j++) {
        var it = items[j];
        var match = !kind || (it.getAttribute("data-kind") === kind && it.getAttribute("data-type") === type);
        it.classList.toggle("sx-dim", !match);
        if (match) { has = true; }
      }
      var visible = has && (!differ.checked || doc.getAttribute("data-differ") !== "0");
      doc.hidden = !visible;
      if (visible) { shown += 1; }
    }
    count.textContent = "showing " + shown + " of " + docs.length + " documents";
  }
  select.addEventListener("change", apply);
  differ.addEventListener("change", apply);
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
})();
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _pairs(a_docs: Sequence[Document], b_docs: Sequence[Document]) -> list[tuple[Document, Document]]:
    by_id: dict[str, Document] = {}
    for d in b_docs:
        if d.id in by_id:
            raise DocumentError(f"document id {d.id!r} appears twice in the second set of documents")
        by_id[d.id] = d
    seen: set[str] = set()
    missing: list[str] = []
    pairs = []
    for d in a_docs:
        if d.id in seen:
            raise DocumentError(f"document id {d.id!r} appears twice in the first set of documents")
        seen.add(d.id)
        other = by_id.get(d.id)
        if other is None:
            missing.append(d.id)
            continue
        if other.text != d.text:
            raise DocumentError(f"document {d.id!r} has different texts in the two sets of documents")
        pairs.append((d, other))
    if missing:
        raise DocumentError(f"{len(missing)} document(s) of the first set have no document with the same id in the "
                         f"second: {', '.join(repr(m) for m in missing[:5])}{', ...' if len(missing) > 5 else ''}")
    return pairs


def _kinds(schema: Schema | None) -> list[Kind]:
    kinds = kinds_of(schema) if schema is not None else list(KINDS.values())
    return [k for k in kinds if k.has("html")]


def _note(doc: Document) -> str:
    err = doc.meta.get("teacher_error") if isinstance(doc.meta, dict) else None
    return f"failed: {err}" if err else ""


def render_examples(first: Sequence[Document], second: Sequence[Document], *, schema: Schema | None = None,
                    names: tuple[str, str] = ("teacher", "student"), limit: int | None = 50,
                    title: str = "Examples") -> str:
    """The examples page (see the module docstring) as one HTML string.

    Args:
        first: the documents of one side (the teacher's predictions, or gold), in the order to show ties in.
        second: the other side's documents (the student's): one per document of ``first``, found by id with the
            same text; documents of ``second`` that ``first`` lacks are left out (a student run on more documents
            than its teacher).
        schema: the schema they follow: only the kinds it declares are drawn, and a kind may read it (symmetric
            relation types). Without one every registered kind with an ``html`` part is asked, and a kind draws
            nothing when neither side has an item of it.
        names: the two sides' names, in the columns' headings and the notes on disagreements.
        limit: at most this many documents (those with the most disagreements; None: all).
        title: the page's title and heading.

    Returns:
        The page: one ``<section class="sx-doc" data-id=.. data-differ=N>`` per document shown (N the number of
        items on one side only, summed over the kinds), ordered by N, most first, then by their order in
        ``first``; each with a column per side.

    Raises:
        DocumentError: a document of ``first`` has no document of the same id in ``second``, or its text differs
            there; an id appears twice in one set (both ValueErrors).
        ConfigError: ``limit`` is negative.
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be at least 0 (or None for all), got {limit}")
    pairs = _pairs(first, second)
    kinds = _kinds(schema)
    sides = (Side(names[0], names[1], schema), Side(names[1], names[0], schema))
    drawn = []
    types: dict[str, set[str]] = {}
    for index, (a, b) in enumerate(pairs):
        columns, differ = [], 0
        for doc, other, side in ((a, b, sides[0]), (b, a, sides[1])):
            parts = []
            for kind in kinds:
                r: Rendered | None = kind.load("html")(doc, other, side)
                if r is None:
                    continue
                parts.append(r.body)
                differ += r.disagreements
                types.setdefault(kind.name, set()).update(r.types)
            note = _note(doc)
            head = html.escape(side.name) + (f'<span class="sx-note">{html.escape(note)}</span>' if note else "")
            columns.append(f'<div class="sx-side"><h4>{head}</h4>{"".join(parts)}</div>')
        drawn.append((differ, index, a.id, columns))
    drawn.sort(key=lambda x: (-x[0], x[1]))
    with_differ = sum(1 for d in drawn if d[0])
    shown = drawn if limit is None else drawn[:limit]
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="sx-summary">{len(shown)} of {len(pairs)} documents labelled by the '
            f"{html.escape(names[0])} and the {html.escape(names[1])}, side by side; {with_differ} of the "
            f"{len(pairs)} with a disagreement, those with the most first. An item outlined in red is on one "
            "side only (strict match: the same offsets and type; for a relation, the same arguments and type); "
            "hover an item for what the other side has.</p>"]
    options = ['<option value="">all types</option>']
    for kind in kinds:
        if types.get(kind.name):
            options.append(f'<optgroup label="{html.escape(kind.name)}">' + "".join(
                f'<option data-kind="{html.escape(kind.name)}" data-type="{html.escape(t)}">{html.escape(t)}'
                "</option>" for t in sorted(types[kind.name])) + "</optgroup>")
    body.append('<div class="sx-controls"><label>type <select id="sx-type">' + "".join(options) + "</select></label>"
                '<label><input type="checkbox" id="sx-differ"> only documents with a disagreement</label>'
                f'<span id="sx-count">showing {len(shown)} of {len(shown)} documents</span></div>')
    if not shown:
        body.append('<p class="sx-none">No documents.</p>')
    for differ, _, doc_id, columns in shown:
        badge = (f'<span class="sx-badge{" sx-some" if differ else ""}">{differ} disagreement'
                 f'{"" if differ == 1 else "s"}</span>')
        body.append(f'<section class="sx-doc" data-id="{html.escape(doc_id)}" data-differ="{differ}">'
                    f"<h3>{html.escape(doc_id)}{badge}</h3>"
                    f'<div class="sx-sides">{"".join(columns)}</div></section>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(body)}<script>{_SCRIPT}</script></body></html>")


def write_examples(path: str | Path, first: Sequence[Document], second: Sequence[Document], *,
                   schema: Schema | None = None, names: tuple[str, str] = ("teacher", "student"),
                   limit: int | None = 50, title: str = "Examples") -> Path:
    """Write :func:`render_examples` of ``first`` and ``second`` to ``path`` atomically (a reader sees the old page
    or the new one, never half of one). Arguments, the page's shape and errors as :func:`render_examples`.

    Returns:
        ``path`` as a Path.
    """
    page = render_examples(first, second, schema=schema, names=names, limit=limit, title=title)
    with atomic_write(path) as f:
        f.write(page)
    return Path(path)
