"""A page a person can read: the documents with the worst label-error flags, their labels and the suggestions.

Each document's text is shown with its given spans marked (type as a small label after the span); a flagged
span is outlined in the colour of its kind and its suggestion is written beside it ("-> LOC", "remove",
"-> [New York] LOC"); a missing entity is underlined in green with "+ TYPE". Counts per kind and per type head
the page. Written atomically, in the style of the distill report.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from smallext.doc import Document
from smallext.io.atomic import atomic_write
from smallext.quality.errors import KINDS, Flag, document_scores
from smallext.report import html_page

__all__ = ["render_page", "write_page"]

_COLOURS = {"spurious": "#d62728", "type": "#ff7f0e", "boundary": "#9467bd", "missing": "#2ca02c"}
_STYLE = ("p.doc{line-height:2.1;text-align:left}.span{background:#e8eefc;padding:1px 2px;border-radius:3px}"
          ".lab{font-size:70%;color:#555;margin-left:2px}.flag{outline:2px solid;outline-offset:1px}"
          ".sugg{font-size:75%;font-weight:bold;margin-left:3px}.miss{border-bottom:3px solid #2ca02c}"
          "h3{margin-bottom:0}.meta{color:#666;font-size:85%}")


def _render_doc(doc: Document, flags: Sequence[Flag]) -> str:
    by_span = {(f.start, f.end, f.label): f for f in flags if f.kind != "missing"}
    marks = [(s.start, s.end, s.label, by_span.get(s.key)) for s in doc.spans]
    marks += [(f.start, f.end, f.label, f) for f in flags if f.kind == "missing"]
    out, pos = [], 0
    for start, end, label, flag in sorted(marks, key=lambda m: (m[0], -m[1])):
        if start < pos:  # overlaps a mark already written: its flag still shows in the counts
            continue
        out.append(html.escape(doc.text[pos:start]))
        inner = html.escape(doc.text[start:end])
        if flag is not None and flag.kind == "missing":
            out.append(f'<span class="miss" title="missing, confidence {flag.score:.2f}">{inner}</span>'
                       f'<span class="sugg" style="color:{_COLOURS["missing"]}">+ {html.escape(label)}</span>')
        else:
            style, note = "", ""
            if flag is not None:
                colour = _COLOURS[flag.kind]
                style = f' flag" style="outline-color:{colour}'
                if flag.suggestion is None:
                    what = "remove"
                elif (flag.suggestion["start"], flag.suggestion["end"]) == (start, end):
                    what = f"-> {flag.suggestion['label']}"
                else:
                    s = flag.suggestion
                    what = f"-> [{doc.text[s['start']:s['end']]}] {s['label']}"
                note = (f'<span class="sugg" style="color:{colour}" title="{flag.kind}, error score '
                        f'{flag.score:.2f}">{html.escape(what)} ({flag.score:.2f})</span>')
            out.append(f'<span class="span{style}">{inner}<span class="lab">{html.escape(label)}</span></span>{note}')
        pos = end
    out.append(html.escape(doc.text[pos:]))
    return "".join(out)


def render_page(docs: Sequence[Document], flags: Sequence[Flag], *, worst: int = 50, threshold: float = 0.5,
                title: str = "Label errors") -> str:
    """The HTML page: counts of the flags at or above ``threshold`` per kind and per type, then the ``worst``
    documents (by their worst flag) with their labels and the flags at or above ``threshold``."""
    shown = [f for f in flags if f.score >= threshold]
    per_kind = Counter(f.kind for f in shown)
    per_type: dict[str, Counter] = defaultdict(Counter)
    for f in shown:
        per_type[f.label][f.kind] += 1
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{len(docs)} documents, {sum(len(d.spans) for d in docs)} given spans; {len(shown)} flags with a score "
            f"of at least {threshold} (of {len(flags)}).</p>",
            "<table><tr><th>type</th>" + "".join(f"<th>{k}</th>" for k in KINDS) + "<th>all</th></tr>"]
    for t in sorted(per_type):
        body.append(f"<tr><td>{html.escape(t)}</td>" + "".join(f"<td>{per_type[t][k]}</td>" for k in KINDS)
                    + f"<td>{sum(per_type[t].values())}</td></tr>")
    body.append("<tr><td><b>all</b></td>" + "".join(f"<td><b>{per_kind[k]}</b></td>" for k in KINDS)
                + f"<td><b>{len(shown)}</b></td></tr></table>")
    body.append("<p>" + " ".join(f'<span class="sugg" style="color:{c}">{k}</span>' for k, c in _COLOURS.items())
                + "</p>")
    scores = document_scores(shown)
    by_doc: dict[str, list[Flag]] = defaultdict(list)
    for f in shown:
        by_doc[f.id].append(f)
    docs_by_id = {d.id: d for d in docs}
    for doc_id in sorted(scores, key=lambda i: -scores[i])[:worst]:
        d = docs_by_id.get(doc_id)
        if d is None:
            continue
        kinds = Counter(f.kind for f in by_doc[doc_id])
        body.append(f"<h3>{html.escape(doc_id)}</h3><div class='meta'>worst flag {scores[doc_id]:.2f}; "
                    + ", ".join(f"{n} {k}" for k, n in kinds.items()) + "</div>")
        body.append(f"<p class='doc'>{_render_doc(d, by_doc[doc_id])}</p>")
    return html_page(title, "".join(body), _STYLE)


def write_page(path: str | Path, docs: Sequence[Document], flags: Sequence[Flag], **options) -> Path:
    """Write :func:`render_page` to ``path`` atomically. Returns the path."""
    with atomic_write(path) as f:
        f.write(render_page(docs, flags, **options))
    return Path(path)
