"""MOLE+ papers: the metadata-extraction test set that MeXtract ships (Alyafeai, Al-Shaibani & Ghanem, "MOLE",
arXiv 2505.19800; "MeXtract", arXiv 2510.06889; github.com/zaidalyafeai/MeXtract at commit
``83d564f084faf332ead58427a61c361920ab8673``, ``datasets/sft_test.parquet``, Apache-2.0).

The parquet has one row per paper (147 in ``sft_test``: 21 for each of the schemas ``ar``, ``en``, ``fr``, ``jp``,
``ru``, ``multi``, ``model``) with columns ``path`` (``evals/<schema>/test/<name>.json``, the gold record's file in
the repository), ``chat`` (system prompt with the annotation guidelines; user message ``Schema Name: <name>``,
``Input Schema: <JSON>``, ``Paper Text: <text>``, ``Output JSON:``; assistant reply: the gold JSON), ``text`` (the
chat rendered for Qwen) and ``error``.

Each paper becomes a :class:`~smallext.doc.Document` (id ``PREFIX:<schema>:<name>``, rows in file order) whose text
is the paper text of the user message (trailing whitespace before ``Output JSON:`` removed), with ``meta``:
``schema`` (the schema name, which is the dataset's language or ``model``, as ``Schema Name`` and ``path`` give it),
``path``, ``input_schema`` (the message's schema: attribute -> ``answer_type``, ``answer_min``, ``answer_max``,
``options``), ``paper_link`` and, when the repository's ``evals/`` folder is beside the ``datasets/`` folder (as in
the project's data copy), ``annotations_from_paper`` from the gold file (attribute -> 0/1: whether the paper states
it; MeXtract's recall is over these).

One gold record (source ``"gold"``) per paper, of the record type of :func:`mole_schema` (``Dataset`` or ``Model``),
every attribute of the reply as a field (no offsets: the gold is not grounded): strings, numbers, booleans as
given; a list as several values; an object of a list (``Subsets``, ``Models``) as its JSON (``json.dumps``, keys in
the gold's order); ``""``, ``[]`` and ``null`` as an absent field (MeXtract's defaults for strings and lists).

Schemas: :func:`mole_schema` builds the smallext schema of a MOLE schema from the message's ``Input Schema`` (the
schema the model is given) and the system prompt's guidelines (the fields' descriptions). The message cannot say
which strings are MeXtract's ``LongStr`` (scored by ROUGE-1; its ``get_type`` answers ``str``): those are
:data:`LONG_STR`, read from MeXtract's ``src/schema.py`` (class ``Dataset``). :file:`schemas/mole-<name>.yaml` are
these schemas written out (``tests/test_mole.py`` checks that they equal the ones built from the parquet).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.kinds.records.document import Record, Value

__all__ = ["LONG_STR", "MOLE_SCHEMAS", "RECORD_TYPES", "field_kind", "guideline_descriptions", "mole_schema",
           "mole_schemas", "parse_user_message", "read_mole"]

MOLE_SCHEMAS = ("ar", "en", "fr", "jp", "ru", "multi", "model")
"""The MOLE schemas of the test papers (MeXtract's ``get_schema`` names)."""

LONG_STR = frozenset({"Description", "Paper_Title", "Abstract"})
"""Attributes of the dataset schemas typed ``LongStr`` in MeXtract's ``src/schema.py`` (scored by ROUGE-1); the
``model`` schema has none."""

RECORD_TYPES = {"model": "Model"}
"""Schema name -> its record type's name (``Dataset`` for the others)."""

_USER = re.compile(r"\s*Schema Name:\s*(\S+)\s*Input Schema:\s*")
_GUIDE = re.compile(r"^\s*\d+\.\s+\*\*(.+?)\*\*:?\s*(.*?)\s*$", re.M)


def parse_user_message(message: str) -> tuple[str, dict[str, Any], str]:
    """``(schema name, input schema, paper text)`` of a MeXtract user message.

    Raises:
        ValueError: no ``Schema Name:``/``Input Schema:`` head, a schema that is not a JSON object, or no
            ``Paper Text:`` after it.
    """
    m = _USER.match(message)
    if not m:
        raise ValueError("no 'Schema Name: ... Input Schema:' at the start of the user message")
    try:
        schema, end = json.JSONDecoder().raw_decode(message, m.end())
    except json.JSONDecodeError as e:
        raise ValueError(f"the Input Schema is not valid JSON: {e.msg}") from None
    if not isinstance(schema, dict):
        raise ValueError("the Input Schema is not a JSON object")
    rest = re.match(r"\s*Paper Text: ?", message[end:])
    if not rest:
        raise ValueError("no 'Paper Text:' after the Input Schema")
    text = message[end + rest.end():]
    cut = text.rfind("Output JSON:")
    if cut >= 0 and not text[cut + len("Output JSON:"):].strip():
        text = text[:cut]
    return m.group(1), schema, text.rstrip()


def guideline_descriptions(system_prompt: str) -> dict[str, str]:
    """Attribute -> its guideline (``N. **Name**: text`` lines of the system prompt; ``HF Link`` is ``HF_Link``)."""
    out = {}
    for name, text in _GUIDE.findall(system_prompt):
        key = name.strip().rstrip(":").strip().replace(" ", "_")
        if text and key.lower() not in {k.lower() for k in out}:
            out[key] = text
    return out


def field_kind(name: str, spec: dict[str, Any], schema_name: str = "") -> str:
    """MeXtract's type class of an attribute: ``str``, ``longstr``, ``url``, ``year``, ``int``, ``float``, ``bool``,
    ``list`` (of strings) or ``list[dict]``, from its ``answer_type`` (and :data:`LONG_STR` for a dataset schema).

    Raises:
        ValueError: an ``answer_type`` MeXtract does not have.
    """
    t = spec.get("answer_type")
    if t == "str":
        return "longstr" if name in LONG_STR and schema_name != "model" else "str"
    if t in ("url", "year", "int", "float", "bool"):
        return t
    if t == "list[str]":
        return "list"
    if isinstance(t, str) and t.startswith("list[dict["):
        return "list[dict]"
    raise ValueError(f"attribute {name!r}: unknown answer_type {t!r}")


def _unique(options: list[Any]) -> list[str]:
    seen, out = set(), []
    for o in options:
        if str(o).lower() not in seen:
            seen.add(str(o).lower())
            out.append(str(o))
    return out


def mole_schema(schema_name: str, input_schema: dict[str, Any], guidelines: dict[str, str] | None = None):
    """The smallext schema ``mole-<schema_name>``: one record type (``Dataset``, or ``Model`` for ``model``), one
    field per attribute, in the message's order.

    Types: ``str`` with options -> ``enum`` (choices deduplicated case-insensitively: the licence list repeats some);
    ``str``/``url`` -> ``string``; a :data:`LONG_STR` attribute -> ``text``; ``year``/``int`` -> ``integer``;
    ``float`` -> ``number``; ``bool`` -> ``boolean``; ``list[str]`` -> a list of ``enum`` (with options) or
    ``string``; ``list[dict[...]]`` -> a list of ``text`` (each a JSON object with the named keys). Descriptions: the
    attribute's guideline, else its name; then the length bounds.

    Raises:
        ValueError: an unknown ``answer_type``; pydantic.ValidationError: an invalid field name.
    """
    from smallext.kinds.records.schema import RecordField, RecordType
    from smallext.schema import Schema

    guidelines = guidelines or {}
    fields = []
    for name, spec in input_schema.items():
        kind = field_kind(name, spec, schema_name)
        options = _unique(spec.get("options") or [])
        desc = guidelines.get(name) or next((v for k, v in guidelines.items() if k.lower() == name.lower()),
                                            name.replace("_", " "))
        lo, hi = spec.get("answer_min"), spec.get("answer_max")
        unit = {"str": "words", "longstr": "words", "url": "links", "list": "items", "list[dict]": "items"}.get(kind)
        if lo is not None and not options and (hi is not None or unit is None):
            bound = f"{lo}-{hi}" if hi is not None else f">= {lo}"
            desc = f"{desc} ({kind}; {bound}{' ' + unit if unit else ''})"
        if kind == "list[dict]":
            keys = spec["answer_type"][len("list[dict["):].rstrip("]")
            desc = f"{desc} Each value a JSON object with the keys {keys}."
        ftype = {"str": "enum" if options else "string", "url": "string", "longstr": "text", "year": "integer",
                 "int": "integer", "float": "number", "bool": "boolean", "list": "enum" if options else "string",
                 "list[dict]": "text"}[kind]
        fields.append(RecordField(name=name, description=desc, type=ftype, choices=options if ftype == "enum" else [],
                                  **{"list": kind in ("list", "list[dict]")}))
    rt = RecordType(name=RECORD_TYPES.get(schema_name, "Dataset"),
                    definition=("A language model described by the paper" if schema_name == "model" else
                                f"A dataset described by the paper (MOLE schema {schema_name!r})")
                    + ", with the metadata attributes of MeXtract's schema.",
                    fields=fields, max_records=1)
    return Schema(name=f"mole-{schema_name}",
                  description=f"MOLE+ metadata of a scientific paper (MeXtract's {schema_name!r} schema, "
                              "datasets/sft_test.parquet).",
                  record_types=[rt])


def _values(kind: str, given: Any) -> tuple[Value, ...]:
    if given is None or given == "" or given == []:
        return ()
    if kind == "list[dict]":
        items = given if isinstance(given, list) else [given]
        return tuple(Value(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) for x in items)
    if isinstance(given, list):
        return tuple(Value(x if isinstance(x, (str, int, float, bool)) else json.dumps(x, ensure_ascii=False))
                     for x in given if x is not None and x != "")
    if isinstance(given, (str, int, float, bool)):
        return (Value(given),)
    return (Value(json.dumps(given, ensure_ascii=False)),)


def read_mole(path: str | Path, *, schema: str | None = None, id_prefix: str | None = None,
              evals: str | Path | None = None, group_documents: bool = False) -> list[Document]:
    """Read MeXtract's SFT parquet (see the module docstring).

    Args:
        path: ``sft_test.parquet`` (or ``sft_valid.parquet``).
        schema: keep only the papers of this MOLE schema (``ar`` ... ``model``); default all.
        id_prefix: document ids are ``f"{id_prefix}:{schema}:{name}"`` (default ``mole``).
        evals: the folder holding ``evals/`` (default: the parquet's folder's parent, the repository root); a missing
            gold file leaves ``annotations_from_paper`` out.
        group_documents: no effect (a paper is one document); accepted because :func:`smallext.datasets.load`
            passes it to a format not named like a dataset.

    Returns:
        One Document per paper, with one gold record.

    Raises:
        FormatError: not a parquet file, a missing column, a chat that is not system/user/assistant, a user message
            that cannot be parsed, a reply that is not a JSON object; the message names the file and the row.
        FileNotFoundError: ``path`` does not exist.
        ImportError: pyarrow is not installed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover
        raise ImportError("reading MOLE's parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path, columns=["path", "chat"])
    except Exception as e:  # pyarrow raises ArrowInvalid, KeyError ...
        raise FormatError(path, None, f"not a MeXtract parquet file (columns path, chat): {e}") from None
    root = Path(evals) if evals is not None else path.resolve().parent.parent
    prefix = id_prefix if id_prefix is not None else "mole"
    docs = []
    for i, row in enumerate(table.to_pylist()):
        where = f"row {i}"
        chat = row.get("chat") or []
        roles = [m.get("role") for m in chat]
        if roles[:3] != ["system", "user", "assistant"]:
            raise FormatError(path, None, f"{where}: field chat: roles {roles}, expected system, user, assistant")
        try:
            name, input_schema, text = parse_user_message(chat[1]["content"])
        except ValueError as e:
            raise FormatError(path, None, f"{where}: field chat.1.content: {e}") from None
        if schema is not None and name != schema:
            continue
        try:
            gold = json.loads(chat[2]["content"])
        except json.JSONDecodeError as e:
            raise FormatError(path, None, f"{where}: field chat.2.content: not valid JSON: {e.msg}") from None
        if not isinstance(gold, dict):
            raise FormatError(path, None, f"{where}: field chat.2.content: the reply is not a JSON object")
        src = str(row.get("path") or "")
        fields: dict[str, tuple[Value, ...]] = {}
        for attr, given in gold.items():
            if attr not in input_schema:
                raise FormatError(path, None, f"{where}: field chat.2.content.{attr}: not an attribute of the "
                                              f"Input Schema ({name})")
            try:
                kind = field_kind(attr, input_schema[attr], name)
            except ValueError as e:
                raise FormatError(path, None, f"{where}: field chat.1.content: {e}") from None
            vs = _values(kind, given)
            if vs:
                fields[attr] = vs
        meta: dict[str, Any] = {"schema": name, "path": src, "input_schema": input_schema,
                                "paper_link": gold.get("Paper_Link")}
        gold_file = root / src if src else None
        if gold_file is not None and gold_file.is_file():
            ann = json.loads(gold_file.read_text(encoding="utf-8")).get("annotations_from_paper")
            if isinstance(ann, dict):
                meta["annotations_from_paper"] = ann
        record = Record(RECORD_TYPES.get(name, "Dataset"), fields, source="gold")
        docs.append(Document(f"{prefix}:{name}:{Path(src).stem or i}", text, meta=meta, records=[record]))
    return docs


def mole_schemas(path: str | Path) -> dict[str, Any]:
    """Schema name -> :func:`mole_schema` of each MOLE schema the parquet's papers use, from the first paper's
    user message and system prompt.

    Raises:
        FormatError: see :func:`read_mole`; also two papers of one schema given different Input Schemas or
            system prompts.
        FileNotFoundError: ``path`` does not exist.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    seen: dict[str, tuple[dict[str, Any], str]] = {}
    for i, row in enumerate(pq.read_table(path, columns=["chat"]).to_pylist()):
        chat = row["chat"]
        try:
            name, spec, _ = parse_user_message(chat[1]["content"])
        except (ValueError, IndexError, KeyError) as e:
            raise FormatError(path, None, f"row {i}: field chat.1.content: {e}") from None
        got = (spec, chat[0]["content"])
        if name in seen and seen[name] != got:
            raise FormatError(path, None, f"row {i}: schema {name!r}: another Input Schema or system prompt than "
                                          "an earlier paper's")
        seen.setdefault(name, got)
    return {name: mole_schema(name, spec, guideline_descriptions(system)) for name, (spec, system) in seen.items()}


def _yaml(schema) -> str:
    import yaml

    rt = schema.record_types[0]
    data = {"name": schema.name, "description": schema.description,
            "record_types": [{"name": rt.name, "definition": rt.definition, "max_records": rt.max_records,
                              "fields": [f.dump() for f in rt.fields]}]}
    head = ("# Generated by `python -m smallext.io.mole PARQUET schemas/` from MeXtract's datasets/sft_test.parquet\n"
            "# (github.com/zaidalyafeai/MeXtract, commit 83d564f084faf332ead58427a61c361920ab8673, Apache-2.0): the\n"
            "# Input Schema of the papers' user message, the guidelines of their system prompt as descriptions\n"
            "# (smallext.io.mole.mole_schema). Do not edit by hand; tests/test_mole.py checks it against the data.\n")
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=118)


if __name__ == "__main__":  # pragma: no cover
    import sys

    out = Path(sys.argv[2])
    for _name, _schema in mole_schemas(sys.argv[1]).items():
        (out / f"{_schema.name}.yaml").write_text(_yaml(_schema), encoding="utf-8")
        print(out / f"{_schema.name}.yaml")
