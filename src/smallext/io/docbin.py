"""spaCy's binary corpus format, ``.spacy`` (a serialized ``spacy.tokens.DocBin``), read and written through
spaCy itself, so spaCy and Prodigy users can bring their data in and take it out.

Entities travel as ``doc.ents`` (character offsets ``start_char``/``end_char`` and ``label_``); the document
id, meta, each span's score, source and alignment, and every other kind's layer in its JSON Lines form (under
its field name: ``"relations"``, indices into the entities, which keep their order) travel in ``doc.user_data``
(``{"id", "meta", "spans": [[start, end, label, score, source, alignment]], "relations": [...], ...}``; a
layer without items is left out; a DocBin written elsewhere has none of it, and its documents get ids ``"0"``,
``"1"``... and spans with source ``spacy``; its other ``user_data`` keys are ignored). Format reference:
https://spacy.io/api/docbin.

Writing keeps the text byte for byte and every span exactly: the text is tokenized by a blank spaCy pipeline
of ``lang`` and each token that a span edge falls inside is split there, so every span lies on token
boundaries. ``doc.ents`` cannot overlap: a document with overlapping spans is an error naming it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smallext.doc import LAYERS, Document
from smallext.errors import DocumentError, FormatError
from smallext.io.atomic import atomic_write

__all__ = ["read_docbin", "write_docbin"]


def _spacy():
    try:
        import spacy
        from spacy.tokens import Doc, DocBin
    except ImportError:  # pragma: no cover - the spacy extra is part of `all`
        raise ImportError("the .spacy format needs spaCy: pip install 'smallext[spacy]'") from None
    return spacy, Doc, DocBin


def _json(value: Any) -> Any:
    """``value`` as JSON would give it back: DocBin's msgpack reads arrays as tuples, JSON forms want lists."""
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def read_docbin(path: str | Path, lang: str = "xx") -> list[Document]:
    """Documents of a ``.spacy`` file: text, ``doc.ents`` as spans, and id, meta, the spans' scores, sources
    and alignments and the registered layers (relations, ...) from ``doc.user_data`` when this module wrote them
    (else source ``spacy``, no score).

    Raises:
        FileNotFoundError: no such file.
        FormatError: not a DocBin (names the file), a repeated document id, or a layer's items that its JSON form
            refuses (names the document).
    """
    spacy, _, DocBin = _spacy()
    path = Path(path)
    data = path.read_bytes()
    try:
        docs = list(DocBin().from_bytes(data).get_docs(spacy.blank(lang).vocab))
    except Exception as e:  # noqa: BLE001 - msgpack/zlib errors of a file that is not a DocBin
        raise FormatError(path, None, f"not a spaCy DocBin: {type(e).__name__}: {e}") from None
    out: list[Document] = []
    seen: set[str] = set()
    for i, doc in enumerate(docs):
        user = doc.user_data if isinstance(doc.user_data, dict) else {}
        doc_id = str(user.get("id", i))
        if doc_id in seen:
            raise FormatError(path, None, f"document {i}: id {doc_id!r} repeats")
        seen.add(doc_id)
        extra = {(x[0], x[1], x[2]): x[3:] for x in user.get("spans") or []}
        spans = []
        for e in doc.ents:
            score, source, alignment = (*extra.get((e.start_char, e.end_char, e.label_), (None, "spacy")), None)[:3]
            spans.append({"start": e.start_char, "end": e.end_char, "label": e.label_, "score": score,
                          "source": source, "alignment": alignment})
        layers = {f: _json(user[f]) for f in LAYERS if f in user}  # each layer in its JSON form
        try:
            out.append(Document.from_dict({"id": doc_id, "text": doc.text, "spans": spans,
                                           "meta": _json(dict(user.get("meta") or {})), **layers}))
        except DocumentError as e:
            raise FormatError(path, None, f"document {i}: {e}") from None
    return out


def _doc(nlp, Doc, document: Document):
    """A spaCy Doc of ``document.text`` whose tokens are split at every span edge."""
    edges = {e for s in document.spans for e in (s.start, s.end)}
    words: list[str] = []
    spaces: list[bool] = []
    for tok in nlp.make_doc(document.text):
        a, b = tok.idx, tok.idx + len(tok.text)
        cuts = [a, *sorted(e for e in edges if a < e < b), b]
        for k, (x, y) in enumerate(itertools.pairwise(cuts)):
            words.append(document.text[x:y])
            spaces.append(bool(tok.whitespace_) if k == len(cuts) - 2 else False)
    return Doc(nlp.vocab, words=words, spaces=spaces)


def write_docbin(docs: Iterable[Document], path: str | Path, lang: str = "xx") -> int:
    """Write Documents as a ``.spacy`` DocBin atomically. Returns the count written.

    Raises:
        DocumentError: a document has overlapping spans (``doc.ents`` cannot hold them), or a span edge falls
            on whitespace that spaCy's tokenizer keeps inside a token (names the document and span).
    """
    spacy, Doc, DocBin = _spacy()
    nlp = spacy.blank(lang)
    out = DocBin(store_user_data=True)
    n = 0
    for document in docs:
        sdoc = _doc(nlp, Doc, document)
        if sdoc.text != document.text:  # pragma: no cover - the words and spaces above rebuild the text
            raise DocumentError(f"document {document.id!r}: spaCy does not keep its text unchanged")
        ents = []
        for s in document.spans:
            ent = sdoc.char_span(s.start, s.end, label=s.label)
            if ent is None:
                raise DocumentError(f"document {document.id!r}: span [{s.start}, {s.end}) {s.label} is not on "
                                    "spaCy token boundaries")
            ents.append(ent)
        try:
            sdoc.ents = ents
        except ValueError as e:
            raise DocumentError(f"document {document.id!r}: overlapping spans cannot be spaCy entities "
                                f"({e})") from None
        sdoc.user_data = {"id": document.id, "meta": document.meta,
                          **{f: LAYERS[f].to_json(items) for f, items in document.layers.items()},
                          "spans": [[x.start, x.end, x.label, x.score, x.source, x.alignment]
                                    for x in document.spans]}
        out.add(sdoc)
        n += 1
    with atomic_write(path, "wb") as f:
        f.write(out.to_bytes())
    return n
