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
spacy     spaCy's DocBin (``.spacy``; entities as ``doc.ents``)    yes     yes
spert     SpERT/TablERT JSON with relations (CoNLL04)             yes     --
scierc    SciERC JSON Lines with relations (DyGIE++/PURE)         yes     --
========  =====================================================  ======  =======

Modules: :mod:`.formats` (read or write any of them), one module per format, :mod:`.tags` (IOB tag schemes)
and :mod:`.atomic` (crash-safe output). Registered datasets (``conll2003:test``) are read by
:mod:`smallext.datasets`, which sits above this package: nothing here imports it.
"""
from __future__ import annotations

from smallext.io.columns import read_columns, write_columns
from smallext.io.formats import FORMATS, WRITABLE, format_from_path, read, write
from smallext.io.jsonl import iter_jsonl, read_jsonl, write_jsonl
from smallext.io.text import read_text, write_text

__all__ = [
    "FORMATS",
    "WRITABLE",
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
