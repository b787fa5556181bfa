"""Readers and writers for token-per-line column formats.

* ``conll``: CoNLL-2003 columns ``token POS chunk TAG`` separated by spaces (any column count >= 2, the
  same on every line of a file; the tag is the last column), ``-DOCSTART-`` lines between articles,
  IOB1 on read (detected, or given as ``scheme``). Format: Tjong Kim Sang & De Meulder (2003).
* ``tsv``: ``token<TAB>TAG`` (WNUT-17, CrossNER, BC5CDR style), IOB2.
* ``wikiann``: ``lang:token<TAB>TAG`` (Rahimi et al. 2019 WikiANN splits); the ``lang:`` prefix is removed
  and kept in ``meta["lang"]``.

A blank (or whitespace-only) line ends a sentence. Tokens of a sentence are joined with single spaces and
each token's character offsets are kept in ``Document.tokens``, so every tagged entity maps exactly to a
character span. With ``group_documents=True`` the sentences between two ``-DOCSTART-`` lines become one
Document whose sentences are joined with ``"\\n"``; otherwise each sentence is its own Document.

Every malformed line raises :class:`~smallext.errors.FormatError` naming the file and line number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from smallext.doc import Document
from smallext.errors import DocumentError, FormatError
from smallext.io.atomic import atomic_write
from smallext.io.tags import (
    SCHEMES,
    Scheme,
    chunks_from_spans,
    chunks_from_tags,
    detect_scheme,
    join_tokens,
    parse_tag,
    spans_from_chunks,
    tags_from_chunks,
)

DOCSTART = "-DOCSTART-"


@dataclass
class _Sentence:
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    extra: list[list[str]] = field(default_factory=list)  # middle columns (POS, chunk) per token
    line: int = 0  # line number of the first token
    docstart: str | None = None  # the -DOCSTART- line that precedes this sentence, if any
    doc_index: int = 0


def _split_conll(line: str, path: Path, lineno: int, ncols: list[int]) -> tuple[str, str, list[str]]:
    cols = line.split()
    if len(cols) < 2:
        raise FormatError(path, lineno, f"expected 'token ... TAG' columns, got {len(cols)} column(s): {line!r}")
    if ncols[0] == 0:
        ncols[0] = len(cols)
    elif len(cols) != ncols[0]:
        raise FormatError(path, lineno, f"expected {ncols[0]} columns like the lines before, got {len(cols)}")
    return cols[0], cols[-1], cols[1:-1]


def _split_tsv(line: str, path: Path, lineno: int, ncols: list[int]) -> tuple[str, str, list[str]]:
    cols = line.split("\t")
    if len(cols) != 2:
        raise FormatError(path, lineno, f"expected 2 tab-separated columns (token, tag), got {len(cols)}")
    token, tag = cols[0], cols[1].strip()
    if not token or any(c.isspace() for c in token):
        raise FormatError(path, lineno, f"token {token!r} is empty or contains whitespace")
    return token, tag, []


def _split_wikiann(line: str, path: Path, lineno: int, ncols: list[int]) -> tuple[str, str, list[str]]:
    token, tag, _ = _split_tsv(line, path, lineno, ncols)
    lang, sep, bare = token.partition(":")
    if not sep or not bare or not lang:
        raise FormatError(path, lineno, f"expected a 'lang:token' first column, got {token!r}")
    return bare, tag, [lang]


_SPLITTERS = {"conll": _split_conll, "tsv": _split_tsv, "wikiann": _split_wikiann}


def _sentences(path: Path, fmt: str) -> Iterator[_Sentence]:
    split = _SPLITTERS[fmt]
    ncols = [0]
    cur = _Sentence()
    pending_docstart: str | None = None
    doc_index = -1
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if cur.tokens:
                    yield cur
                    cur = _Sentence()
                continue
            if line.split(maxsplit=1)[0] == DOCSTART:
                if cur.tokens:
                    raise FormatError(path, lineno, "-DOCSTART- inside a sentence (no blank line before it)")
                pending_docstart = line
                doc_index += 1
                continue
            token, tag, extra = split(line, path, lineno, ncols)
            try:
                parse_tag(tag)
            except ValueError as e:
                raise FormatError(path, lineno, str(e)) from None
            if not cur.tokens:
                cur.line, cur.docstart, cur.doc_index = lineno, pending_docstart, max(doc_index, 0)
                pending_docstart = None
            cur.tokens.append(token)
            cur.tags.append(tag)
            cur.extra.append(extra)
    if cur.tokens:
        yield cur


def read_columns(
    path: str | Path,
    fmt: str = "conll",
    *,
    group_documents: bool = False,
    scheme: Scheme | None = None,
    id_prefix: str | None = None,
    keep_columns: bool = True,
) -> list[Document]:
    """Read a token-per-line file into Documents with character-offset spans.

    Args:
        path: the file.
        fmt: ``"conll"``, ``"tsv"`` or ``"wikiann"``.
        group_documents: one Document per ``-DOCSTART-`` article (sentences joined by ``"\\n"``) instead
            of one per sentence.
        scheme: ``"iob1"`` or ``"iob2"``; ``None`` detects it. Decoding is the same for both (conlleval
            rule); the detected scheme is stored in ``meta["scheme"]``.
        id_prefix: document ids are ``f"{id_prefix}:{index:05d}"``; defaults to the file name.
        keep_columns: keep the middle columns (POS, chunk) in ``meta["columns"]`` so that
            :func:`write_columns` can reproduce them.

    Returns:
        Documents with ``tokens`` set and ``meta`` holding ``line`` (first line of the record), ``doc``
        (article index), ``docstart`` (the ``-DOCSTART-`` line before the record, if any).

    Raises:
        FormatError: wrong column count, invalid tag, or a ``-DOCSTART-`` inside a sentence; names the
            file and line.
    """
    path = Path(path)
    if fmt not in _SPLITTERS:
        raise ValueError(f"unknown column format {fmt!r}; expected one of {sorted(_SPLITTERS)}")
    if scheme is not None and scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {SCHEMES}")
    prefix = id_prefix if id_prefix is not None else path.name
    sentences = list(_sentences(path, fmt))
    found = detect_scheme([s.tags for s in sentences])
    scheme = scheme or found
    groups: list[list[_Sentence]]
    if group_documents:
        groups = []
        for s in sentences:
            if not groups or s.docstart is not None:
                groups.append([])
            groups[-1].append(s)
    else:
        groups = [[s] for s in sentences]
    docs = []
    for i, group in enumerate(groups):
        text_parts, offsets, spans, columns = [], [], [], []
        pos = 0
        for s in group:
            text, offs = join_tokens(s.tokens, pos)
            spans += spans_from_chunks(chunks_from_tags(s.tags), offs)
            text_parts.append(text)
            offsets += offs
            if fmt == "conll" and keep_columns:
                columns += s.extra
            pos += len(text) + 1
        first = group[0]
        meta: dict = {"source_file": path.name, "line": first.line, "doc": first.doc_index, "scheme": scheme}
        if first.docstart is not None:
            meta["docstart"] = first.docstart
        if group_documents:
            meta["sentences"] = len(group)
        if columns and any(columns):
            meta["columns"] = columns
        if fmt == "wikiann":
            meta["lang"] = first.extra[0][0]
        docs.append(Document(f"{prefix}:{i:05d}", "\n".join(text_parts), spans, meta, offsets))
    return docs


def tokenize_for_tags(doc: Document) -> list[tuple[int, int]]:
    """Token offsets of ``doc``: its own ``tokens`` when present, else whitespace-separated pieces."""
    if doc.tokens is not None:
        return list(doc.tokens)
    out, pos = [], 0
    for piece in doc.text.split():
        start = doc.text.index(piece, pos)
        out.append((start, start + len(piece)))
        pos = start + len(piece)
    return out


def document_tags(doc: Document, scheme: Scheme = "iob2") -> tuple[list[list[str]], list[list[str]]]:
    """Tokens and tags of each sentence (line) of ``doc``, for writers and for seqeval comparisons.

    Returns:
        ``(tokens_per_sentence, tags_per_sentence)``.

    Raises:
        DocumentError: spans overlap or do not fall on token boundaries.
    """
    offsets = tokenize_for_tags(doc)
    tags = tags_from_chunks(len(offsets), chunks_from_spans(doc.spans, offsets, doc.id), scheme)
    sent_tokens: list[list[str]] = []
    sent_tags: list[list[str]] = []
    prev_end = None
    for (s, e), tag in zip(offsets, tags, strict=True):
        tok = doc.text[s:e]
        if any(c.isspace() for c in tok):
            raise DocumentError(f"document {doc.id!r}: token {tok!r} contains whitespace")
        if prev_end is None or "\n" in doc.text[prev_end:s]:
            sent_tokens.append([])
            sent_tags.append([])
        sent_tokens[-1].append(tok)
        sent_tags[-1].append(tag)
        prev_end = e
    return sent_tokens, sent_tags


def write_columns(
    docs: Iterable[Document], path: str | Path, fmt: str = "conll", scheme: Scheme = "iob2"
) -> int:
    """Write Documents as a token-per-line file (atomically: a temporary file renamed at the end).

    ``conll`` writes ``token [middle columns] TAG`` separated by spaces; the middle columns come from
    ``meta["columns"]`` when present, else ``-X- -X-`` placeholders. ``-DOCSTART-`` lines recorded in
    ``meta["docstart"]`` are written back. ``tsv`` writes ``token<TAB>TAG``.

    Returns:
        The number of documents written.

    Raises:
        DocumentError: a document has overlapping spans or spans off token boundaries.
    """
    if fmt not in ("conll", "tsv"):
        raise ValueError(f"cannot write column format {fmt!r}; expected 'conll' or 'tsv'")
    n = 0
    with atomic_write(path) as f:
        for doc in docs:
            sent_tokens, sent_tags = document_tags(doc, scheme)
            docstart = doc.meta.get("docstart")
            if docstart:
                f.write(f"{docstart}\n\n")
            columns = doc.meta.get("columns")
            k = 0
            for toks, tags in zip(sent_tokens, sent_tags, strict=True):
                for tok, tag in zip(toks, tags, strict=True):
                    if fmt == "tsv":
                        f.write(f"{tok}\t{tag}\n")
                    else:
                        middle = columns[k] if columns and k < len(columns) else ["-X-", "-X-"]
                        f.write(" ".join([tok, *middle, tag]) + "\n")
                    k += 1
                f.write("\n")
            n += 1
    return n
