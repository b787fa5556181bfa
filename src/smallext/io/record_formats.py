"""The readers of forms and tables, as entries for the package's format and dataset registries.

=========  ==========================================================  ===========================  ========
format     layout                                                      path                         records
=========  ==========================================================  ===========================  ========
funsd      FUNSD form annotations (:mod:`.funsd`)                       a split folder or one .json  gold
mltables   Schema-to-JSON MlTables, LaTeX tables (:mod:`.schema_to_json`)  the zip (``split=``) or a .json  gold
discomat   Schema-to-JSON DiSCoMat, grid tables (:mod:`.schema_to_json`)   the zip (``split=``) or a .json  gold
mole       MeXtract's MOLE+ papers, one record each (:mod:`.mole`)       ``sft_*.parquet`` (``schema=``)  gold
markdown   pipe tables (:func:`.tables.read_markdown`)                 ``.md``, ``.markdown``       --
csv        one table (:func:`.tables.read_csv`)                        ``.csv``                     --
html       ``<table>`` elements (:func:`.tables.read_html`)            ``.html``, ``.htm``          --
=========  ==========================================================  ===========================  ========

:data:`FORMATS` maps each name to its reader (``reader(path, **options)``, every one taking ``id_prefix``),
:data:`EXTENSIONS` the file extensions to their format, and :data:`DATASETS` the registered datasets
(``funsd:train|test``, ``mltables:train|dev|test``, ``discomat:train|dev|test``, ``mole-<schema>:test`` for each
MOLE schema: ``ar``, ``en``, ``fr``, ``jp``, ``ru``, ``multi``, ``model``, 21 papers each) as the keyword arguments of a
:class:`smallext.datasets.DatasetInfo` after its name. Nothing here imports :mod:`smallext.datasets` (it sits
above this package).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.funsd import read_funsd
from smallext.io.mole import MOLE_SCHEMAS, read_mole
from smallext.io.schema_to_json import read_discomat, read_mltables
from smallext.io.tables import read_csv, read_html, read_markdown

__all__ = ["DATASETS", "EXTENSIONS", "FORMATS", "read_record_format"]

FORMATS: dict[str, Callable[..., list[Document]]] = {
    "funsd": read_funsd,
    "mltables": read_mltables,
    "discomat": read_discomat,
    "mole": read_mole,
    "markdown": read_markdown,
    "csv": read_csv,
    "html": read_html,
}
"""Format name -> reader."""

EXTENSIONS: dict[str, str] = {".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".html": "html",
                              ".htm": "html"}
"""File extension -> format (the user formats; the dataset formats are folders and zips, named explicitly)."""

_SPLITS = ("train", "dev", "test")

DATASETS: dict[str, dict[str, Any]] = {
    "funsd": {
        "fmt": "funsd",
        "files": {"train": "funsd/dataset/training_data", "test": "funsd/dataset/testing_data"},
        "schema": "funsd.yaml",
        "provenance": "funsd/PROVENANCE.md",
    },
    "mltables": {
        "fmt": "mltables",
        "files": {s: "schema-to-json/data/mltables.zip" for s in _SPLITS},
        "schema": "mltables.yaml",
        "provenance": "schema-to-json/PROVENANCE.md",
        "options": {s: {"split": s} for s in _SPLITS},
    },
    # DiSCoMat's train.json is byte for byte its dev.json (see smallext.io.schema_to_json)
    "discomat": {
        "fmt": "discomat",
        "files": {s: "schema-to-json/data/discomat.zip" for s in _SPLITS},
        "schema": "discomat.yaml",
        "provenance": "schema-to-json/PROVENANCE.md",
        "options": {s: {"split": s} for s in _SPLITS},
    },
}
# MOLE+: one dataset per MOLE schema (each its own record type and schema file); only MeXtract's test papers (its
# sft_valid.parquet papers have no gold file under evals/, so no recall)
DATASETS.update({f"mole-{name}": {
    "fmt": "mole",
    "files": {"test": "mole/MOLE-plus-MeXtract-2025-12/datasets/sft_test.parquet"},
    "schema": f"mole-{name}.yaml",
    "provenance": "mole/PROVENANCE.md",
    "options": {"test": {"schema": name}},
} for name in MOLE_SCHEMAS})
"""Dataset name -> the fields of its :class:`smallext.datasets.DatasetInfo` after the name (paths relative to the
data root; ``options``: the reader's options per split)."""


def read_record_format(path: str | Path, fmt: str, **options: Any) -> list[Document]:
    """Read ``path`` with the reader of ``fmt`` (one of :data:`FORMATS`), passing ``options`` (``id_prefix``,
    ``split``, ...).

    Raises:
        FormatError: ``fmt`` is not one of :data:`FORMATS`, or the reader's (malformed input: file and field named).
        FileNotFoundError: ``path`` does not exist.
    """
    if fmt not in FORMATS:
        raise FormatError(path, None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[fmt](path, **options)
