"""Token tag schemes (IOB1, IOB2/BIO) and their conversion to and from character spans.

Tags are ``O``, ``B-TYPE`` or ``I-TYPE``.

* **IOB2** (a.k.a. BIO): every entity starts with ``B-``.
* **IOB1** (CoNLL-2003): an entity starts with ``I-``; ``B-`` is used only for an entity that directly
  follows another entity of the same type.

Decoding follows the chunking rule of the ``conlleval`` script (CoNLL-2000 shared task), which is also
``seqeval``'s default mode: a chunk starts at ``B-X``, or at ``I-X`` when the previous tag is ``O`` or of
another type. Under that rule IOB1 and IOB2 decode identically; the scheme matters only when writing.
Reference: Tjong Kim Sang & Veenstra (1999), "Representing Text Chunks", EACL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from smallext.doc import Span
from smallext.errors import DocumentError

Scheme = Literal["iob1", "iob2"]
SCHEMES: tuple[str, ...] = ("iob1", "iob2")


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split a tag into ``(prefix, type)``: ``"O" -> ("O", None)``, ``"B-PER" -> ("B", "PER")``.

    Raises:
        ValueError: the tag is not ``O``, ``B-X`` or ``I-X`` with a non-empty type ``X``.
    """
    if tag == "O":
        return "O", None
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    raise ValueError(f"invalid tag {tag!r}: expected O, B-TYPE or I-TYPE")


def chunks_from_tags(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Decode a tag sequence (IOB1 or IOB2) into chunks ``[(first_token, end_token_exclusive, type)]``.

    Uses the conlleval rule described in the module docstring.

    Raises:
        ValueError: a tag is malformed (see :func:`parse_tag`).
    """
    chunks: list[tuple[int, int, str]] = []
    start, cur = -1, None
    for i, tag in enumerate(tags):
        prefix, typ = parse_tag(tag)
        begins = prefix == "B" or (prefix == "I" and typ != cur)
        if cur is not None and (prefix == "O" or begins):
            chunks.append((start, i, cur))
            cur = None
        if begins:
            start, cur = i, typ
    if cur is not None:
        chunks.append((start, len(tags), cur))
    return chunks


def tags_from_chunks(n: int, chunks: Sequence[tuple[int, int, str]], scheme: Scheme = "iob2") -> list[str]:
    """Encode non-overlapping token chunks as ``n`` tags in ``scheme``.

    Raises:
        ValueError: chunks overlap or lie outside ``[0, n)``.
    """
    tags = ["O"] * n
    prev_end, prev_type = -1, None
    for start, end, typ in sorted(chunks):
        if not (0 <= start < end <= n):
            raise ValueError(f"chunk [{start}, {end}) outside 0..{n}")
        if start < prev_end:
            raise ValueError(f"chunk [{start}, {end}) {typ} overlaps the previous chunk")
        first = "B" if scheme == "iob2" or (start == prev_end and typ == prev_type) else "I"
        tags[start] = f"{first}-{typ}"
        for i in range(start + 1, end):
            tags[i] = f"I-{typ}"
        prev_end, prev_type = end, typ
    return tags


def detect_scheme(tag_sequences: Sequence[Sequence[str]]) -> Scheme:
    """``"iob1"`` if some chunk starts with ``I-`` (only IOB1 does that), else ``"iob2"``."""
    for tags in tag_sequences:
        prev = None
        for tag in tags:
            prefix, typ = parse_tag(tag)
            if prefix == "I" and typ != prev:
                return "iob1"
            prev = typ
    return "iob2"


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Re-encode a tag sequence as IOB2 (chunks unchanged)."""
    return tags_from_chunks(len(tags), chunks_from_tags(tags), "iob2")


def join_tokens(tokens: Sequence[str], start: int = 0) -> tuple[str, list[tuple[int, int]]]:
    """Join tokens with single spaces, returning the text and each token's ``(start, end)`` offsets.

    ``start`` shifts all offsets (used when several sentences share one text).
    """
    offsets, pos = [], start
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), offsets


def spans_from_chunks(
    chunks: Sequence[tuple[int, int, str]], offsets: Sequence[tuple[int, int]], source: str | None = None
) -> list[Span]:
    """Map token chunks to character spans using token ``offsets``."""
    return [Span(offsets[s][0], offsets[e - 1][1], t, None, source) for s, e, t in chunks]


def chunks_from_spans(
    spans: Sequence[Span], offsets: Sequence[tuple[int, int]], doc_id: str = "?"
) -> list[tuple[int, int, str]]:
    """Map character spans to token chunks ``[(first_token, end_token_exclusive, type)]``.

    Raises:
        DocumentError: a span does not start and end on token boundaries, or two spans overlap (IOB tags
            cannot express overlapping entities). The message names the document and the span.
    """
    by_start = {s: i for i, (s, _) in enumerate(offsets)}
    by_end = {e: i for i, (_, e) in enumerate(offsets)}
    chunks = []
    prev_end = -1
    for sp in sorted(spans, key=lambda s: s.key):
        i, j = by_start.get(sp.start), by_end.get(sp.end)
        if i is None or j is None:
            raise DocumentError(
                f"document {doc_id!r}: span [{sp.start}, {sp.end}) {sp.label!r} does not fall on token "
                "boundaries, so it cannot be written as token tags"
            )
        if i < prev_end:
            raise DocumentError(
                f"document {doc_id!r}: span [{sp.start}, {sp.end}) {sp.label!r} overlaps another span; "
                "IOB tags cannot express overlapping entities"
            )
        chunks.append((i, j + 1, sp.label))
        prev_end = j + 1
    return chunks
