"""SciERC's processed JSON Lines (as read by DyGIE++, PURE and TANL): entities and relations of AI abstracts.

One abstract per line::

    {"doc_key": "...", "sentences": [["Recognition", "of", ...], ...],
     "ner": [[[0, 3, "Task"], ...], ...],              # per sentence: [start, end, type]
     "relations": [[[0, 3, 5, 6, "USED-FOR"], ...], ...], # per sentence: [s1, e1, s2, e2, type]
     "clusters": [...]}

Token offsets are **document-level and inclusive**. Reference: Luan et al. (2018), "Multi-Task Identification of
Entities, Relations, and Coreference for Scientific Knowledge Graph Construction" (EMNLP). Coreference clusters are
not read.

By default each sentence is a :class:`~smallext.doc.Document` (relations in SciERC never cross a sentence);
``group_documents=True`` gives one Document per abstract (sentences joined by single spaces, their count in
``meta["sentences"]``, their character ranges in ``meta["sentence_offsets"]``). Texts are the tokens joined by
single spaces.
"""

from __future__ import annotations

from pathlib import Path

from smallext.doc import Document, Span
from smallext.errors import DocumentError, FormatError
from smallext.io.jsonl import iter_json_lines
from smallext.io.tags import join_tokens
from smallext.kinds.relations import Relation

__all__ = ["read_scierc"]


def _document(doc_id: str, tokens: list[str], ents, rels, first: int, meta: dict) -> Document:
    """One Document of the tokens ``first ..`` with the entities/relations (document-level token offsets)."""
    text, offsets = join_tokens(tokens)
    spans, index = [], {}
    for s, e, t in ents:
        s, e = int(s) - first, int(e) - first
        if not (0 <= s <= e < len(tokens)):
            raise ValueError(f"entity [{s + first}, {e + first}] {t!r} is outside its tokens")
        index.setdefault((s, e), len(spans))
        spans.append(Span(offsets[s][0], offsets[e][1], str(t), None, "gold"))
    relations = []
    for s1, e1, s2, e2, t in rels:
        h = index.get((int(s1) - first, int(e1) - first))
        tl = index.get((int(s2) - first, int(e2) - first))
        if h is None or tl is None:
            raise ValueError(f"relation {[s1, e1, s2, e2, t]} has an argument that is not an entity")
        relations.append(Relation(h, tl, str(t), None, "gold"))
    return Document(doc_id, text, spans, meta, offsets, relations=relations)


def read_scierc(path: str | Path, id_prefix: str | None = None, group_documents: bool = False) -> list[Document]:
    """Read a SciERC JSON Lines file (ids ``PREFIX:00000`` ..., one per sentence, or per abstract when grouped;
    ``meta["doc_key"]`` names the abstract).

    Raises:
        FormatError: invalid JSON, a missing field, per-sentence lists of different lengths, an entity outside its
            sentence, or a relation argument that is not an entity; the message names the file and line.
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    prefix = id_prefix or path.stem
    docs: list[Document] = []
    for lineno, item in iter_json_lines(path):
        try:
            sents, ner, rels = item["sentences"], item["ner"], item["relations"]
            if not len(sents) == len(ner) == len(rels):
                raise ValueError("'sentences', 'ner' and 'relations' have different lengths")
            key = item.get("doc_key", str(lineno))
            if group_documents:
                tokens = [t for s in sents for t in s]
                starts, pos = [], 0
                for s in sents:
                    starts.append(pos)
                    pos += len(" ".join(s)) + 1
                meta = {"doc_key": key, "sentences": len(sents),
                        "sentence_offsets": [[p, p + len(" ".join(s))] for p, s in zip(starts, sents, strict=True)]}
                docs.append(_document(f"{prefix}:{len(docs):05d}", tokens, [e for x in ner for e in x],
                                      [r for x in rels for r in x], 0, meta))
                continue
            first = 0
            for k, s in enumerate(sents):
                docs.append(_document(f"{prefix}:{len(docs):05d}", s, ner[k], rels[k], first,
                                      {"doc_key": key, "sentence": k}))
                first += len(s)
        except (KeyError, TypeError, ValueError, IndexError, DocumentError) as e:
            raise FormatError(path, lineno, f"{type(e).__name__}: {e}") from None
    return docs
