"""SpERT-style JSON of entities and relations (CoNLL04 as released by SpERT and re-serialised by TablERT).

A file is one JSON list of sentences::

    [{"tokens": ["PERUGIA", ",", "Italy"], "tags": ["U-Loc", "O", "U-Loc"],
      "relations": [{"head": 0, "tail": 1, "type": "Located_In"}], "orig_id": 23}, ...]

Entities come either as ``tags`` (BILOU: ``B-``, ``I-``, ``L-``, ``U-``, ``O``; TablERT's form) or, in SpERT's own
files, as ``"entities": [{"type", "start", "end"}]`` with end-exclusive token offsets. A relation's ``head`` and
``tail`` index the entities in order of appearance. Reference: Eberts & Ulges (2020), "Span-based Joint Entity and
Relation Extraction with Transformer Pre-training" (ECAI), github.com/lavis-nlp/spert.

Each sentence becomes a :class:`~smallext.doc.Document` whose text is its tokens joined by single spaces, with
token offsets in ``tokens`` and the relations as :class:`~smallext.doc.Relation` between its spans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smallext.doc import Document, Span
from smallext.errors import DocumentError, FormatError
from smallext.io.tags import join_tokens
from smallext.kinds.relations import Relation

__all__ = ["read_spert", "bilou_chunks"]


def bilou_chunks(tags: list[str]) -> list[tuple[int, int, str]]:
    """Chunks ``[(first_token, end_token_exclusive, type)]`` of a BILOU (or BIO) tag sequence, in order.

    ``B-X I-X* L-X`` and ``U-X`` are entities; a ``B``/``I`` run that is not closed by ``L`` ends where the type
    changes or an ``O`` comes (the BIO reading). Raises ``ValueError`` on a malformed tag.
    """
    chunks: list[tuple[int, int, str]] = []
    start, cur = -1, None
    for i, tag in enumerate([*tags, "O"]):
        if tag == "O":
            prefix, typ = "O", None
        elif len(tag) > 2 and tag[1] == "-" and tag[0] in "BILU":
            prefix, typ = tag[0], tag[2:]
        else:
            raise ValueError(f"invalid BILOU tag {tag!r} at token {i}")
        if cur is not None and (prefix in "OBU" or typ != cur):
            chunks.append((start, i, cur))
            cur = None
        if prefix == "U":
            chunks.append((i, i + 1, typ))
        elif prefix in "BIL" and cur is None:
            start, cur = i, typ
        if prefix == "L" and cur is not None:
            chunks.append((start, i + 1, cur))
            cur = None
    return chunks


def _entities(item: dict[str, Any]) -> list[tuple[int, int, str]]:
    if "entities" in item:
        return [(int(e["start"]), int(e["end"]), str(e["type"])) for e in item["entities"]]
    return bilou_chunks(list(item["tags"]))


def read_spert(path: str | Path, id_prefix: str | None = None) -> list[Document]:
    """Read a SpERT/TablERT JSON file into Documents (one per sentence, ids ``PREFIX:00000`` ...).

    Raises:
        FormatError: not a JSON list, a sentence without ``tokens``, a malformed tag, or a relation whose head or
            tail is not an entity index; the message names the file and the sentence (its 0-based index and
            ``orig_id``).
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    if not isinstance(data, list):
        raise FormatError(path, None, "expected a JSON list of sentences")
    prefix = id_prefix or path.stem
    docs = []
    for k, item in enumerate(data):
        where = f"sentence {k}" + (f" (orig_id {item.get('orig_id')})" if isinstance(item, dict) else "")
        try:
            tokens = [str(t) for t in item["tokens"]]
            text, offsets = join_tokens(tokens)
            chunks = _entities(item)
            spans = [Span(offsets[s][0], offsets[e - 1][1], t, None, "gold") for s, e, t in chunks]
            relations = []
            for r in item.get("relations", []):
                h, t = int(r["head"]), int(r["tail"])
                if not (0 <= h < len(spans) and 0 <= t < len(spans)):
                    raise ValueError(f"relation {r} refers to entity {h} or {t}, but there are {len(spans)}")
                relations.append(Relation(h, t, str(r["type"]), None, "gold"))
            meta = {"orig_id": item["orig_id"]} if "orig_id" in item else {}
            docs.append(Document(f"{prefix}:{k:05d}", text, spans, meta, offsets, relations=relations))
        except (KeyError, TypeError, ValueError, IndexError, DocumentError) as e:
            raise FormatError(path, None, f"{where}: {type(e).__name__}: {e}") from None
    return docs
