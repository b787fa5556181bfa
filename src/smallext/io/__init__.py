"""Corpus readers and writers. Every format reads into and writes from :class:`~smallext.doc.Document`.

Format names (``--from``/``--to`` on the CLI):

========  =====================================================  ======  =======
name      layout                                                 read    write
========  =====================================================  ======  =======
conll     CoNLL-2003 ``token POS chunk TAG``, ``-DOCSTART-``      IOB1/2  IOB2
tsv       ``token<TAB>TAG`` (WNUT-17, CrossNER, BC5CDR)           IOB2    IOB2
wikiann   ``lang:token<TAB>TAG`` (WikiANN, Rahimi et al. 2019)    IOB2    --
jsonl     native JSON Lines (:mod:`smallext.doc`)                 yes     yes
text      one document per line, no labels                      yes     yes
========  =====================================================  ======  =======
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.columns import read_columns, write_columns
from smallext.io.jsonl import iter_jsonl, read_jsonl, write_jsonl
from smallext.io.text import read_text, write_text

__all__ = [
    "FORMATS",
    "convert",
    "format_from_path",
    "read",
    "write",
    "read_columns",
    "write_columns",
    "read_jsonl",
    "iter_jsonl",
    "write_jsonl",
    "read_text",
    "write_text",
]

FORMATS = ("conll", "tsv", "wikiann", "jsonl", "text")
WRITABLE = ("conll", "tsv", "jsonl", "text")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".conll": "conll",
    ".tsv": "tsv",
    ".bio": "tsv",
    ".iob": "tsv",
    ".iob2": "tsv",
}


def format_from_path(path: str | Path) -> str:
    """The format implied by a file's extension.

    Raises:
        FormatError: the extension is not one of ``.jsonl .json .txt .conll .tsv .bio .iob .iob2``.
    """
    ext = Path(path).suffix.lower()
    if ext not in _EXTENSIONS:
        raise FormatError(
            path, None, f"cannot tell the format from the extension {ext!r}; give one of {', '.join(FORMATS)}"
        )
    return _EXTENSIONS[ext]


def read(path: str | Path, fmt: str | None = None, **options: Any) -> list[Document]:
    """Read a corpus file.

    Args:
        path: the file.
        fmt: one of :data:`FORMATS`; ``None`` infers it from the extension.
        **options: passed to the format's reader (for column formats: ``group_documents``, ``scheme``,
            ``id_prefix``).

    Raises:
        FormatError: malformed content (file and line named) or unknown format.
        FileNotFoundError: ``path`` does not exist.
    """
    fmt = fmt or format_from_path(path)
    if fmt in ("conll", "tsv", "wikiann"):
        return read_columns(path, fmt, **options)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "text":
        return read_text(path, **options)
    raise FormatError(path, None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write(docs: Iterable[Document], path: str | Path, fmt: str | None = None, **options: Any) -> int:
    """Write Documents atomically in ``fmt`` (inferred from the extension when ``None``). Returns the count.

    Raises:
        FormatError: the format cannot be written.
        DocumentError: the documents cannot be expressed in the format (e.g. overlapping spans as IOB2).
    """
    fmt = fmt or format_from_path(path)
    if fmt in ("conll", "tsv"):
        return write_columns(docs, path, fmt, **options)
    if fmt == "jsonl":
        return write_jsonl(docs, path)
    if fmt == "text":
        return write_text(docs, path)
    raise FormatError(path, None, f"cannot write format {fmt!r}; writable formats: {', '.join(WRITABLE)}")


def convert(
    src: str | Path,
    dst: str | Path,
    *,
    from_fmt: str | None = None,
    to_fmt: str | None = None,
    scheme: str | None = None,
    group_documents: bool = False,
) -> int:
    """Read ``src`` (a file, or a registered dataset such as ``conll2003:train``) and write ``dst``.

    Formats come from the extensions unless given. Column outputs use IOB2. Returns the documents written.

    Raises:
        FormatError, DocumentError, DatasetError: see :func:`read`, :func:`write` and
            :func:`smallext.datasets.load`.
    """
    from smallext.datasets import is_dataset_spec, load

    if from_fmt is None and is_dataset_spec(str(src)):
        docs = load(str(src), group_documents=group_documents)
    else:
        fmt = from_fmt or format_from_path(src)
        opts: dict[str, Any] = {}
        if fmt in ("conll", "tsv", "wikiann"):
            opts = {"scheme": scheme, "group_documents": group_documents}
        docs = read(src, fmt, **opts)
    return write(docs, dst, to_fmt)
