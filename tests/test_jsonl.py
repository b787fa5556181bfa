"""The one JSON Lines reader and the one atomic writer (smallext.io.jsonl), the readers built on them (documents,
label-error flags, SciERC, input shards, extraction from stdin), and Ray output parts in Parquet carrying
documents' whole JSON form."""

from __future__ import annotations

import json

import pytest

from smallext import Relation
from smallext.doc import Document, Span
from smallext.errors import FormatError
from smallext.io.jsonl import iter_json_lines, iter_jsonl, write_json_lines, write_jsonl


def test_reader_skips_blank_lines_and_numbers_the_others(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n\n   \t\n{"a": "\xc3\xa9"}\r\n\n{"a": 3}')  # blank, whitespace, CRLF, no final \n
    assert list(iter_json_lines(p)) == [(1, {"a": 1}), (4, {"a": "é"}), (6, {"a": 3})]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n \n")
    assert list(iter_json_lines(empty)) == []


@pytest.mark.parametrize(
    "line2, message",
    [
        ('{"a": 2', "invalid JSON: Expecting ',' delimiter (column 8)"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"text"', "expected a JSON object, got a string"),
        ("null", "expected a JSON object, got null"),
    ],
)
def test_reader_names_file_and_line_of_a_bad_line(tmp_path, line2, message):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n' + line2 + "\n")
    with pytest.raises(FormatError) as e:
        list(iter_json_lines(p))
    assert (e.value.path, e.value.line, e.value.message) == (str(p), 3, message)
    assert str(e.value) == f"{p}:3: {message}"


def test_reader_names_a_line_that_is_not_utf8(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"id": "a", "text": "x"}\n{"id": "\xff"}\n')
    with pytest.raises(FormatError, match="not valid UTF-8") as e:
        list(iter_jsonl(p))
    assert e.value.line == 2 and e.value.path == str(p)


def test_reader_of_lines_read_elsewhere_and_errors_handed_over(tmp_path):
    """Lines (str or bytes) from stdin or a byte range: the name and first line given; with on_error, bad lines
    are handed over in order and reading goes on."""
    errors: list[FormatError] = []
    lines = [b'{"id": "a", "text": "x"}\n', b"oops\n", "{\"id\": \"b\"}\n", "\n", '{"id": "a", "text": "y"}\n',
             '{"id": "c", "text": "z"}\n']
    docs = list(iter_jsonl(lines, "in.jsonl", first_line=10, on_error=errors.append))
    assert [d.id for d in docs] == ["a", "c"]
    assert [(e.path, e.line) for e in errors] == [("in.jsonl", 11), ("in.jsonl", 12), ("in.jsonl", 14)]
    assert "invalid JSON" in errors[0].message
    assert errors[1].message == "document is missing the field 'text'"
    assert errors[2].message == "document id 'a' repeats line 10"
    assert [d.id for d in iter_jsonl(lines[4:] * 2, "<stdin>", unique_ids=False)] == ["a", "c", "a", "c"]
    with pytest.raises(FormatError, match=r"^<input>:2: invalid JSON"):
        list(iter_json_lines(lines))


def test_reader_reports_what_convert_refuses(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "a", "text": "xy", "spans": [{"start": 0, "end": 1, "label": "X", "alignment": "near"}]}\n')
    with pytest.raises(FormatError, match=r"x\.jsonl:1: document 'a': field 'spans': span alignment must be one of"):
        list(iter_jsonl(p))

    def positive(lineno, obj):
        if obj["n"] < 0:
            raise ValueError(f"field 'n': must be positive, got {obj['n']}")
        return obj["n"]

    q = tmp_path / "n.jsonl"
    q.write_text('{"n": 1}\n{"n": -1}\n')
    errors: list[FormatError] = []
    assert list(iter_json_lines(q, convert=positive, on_error=errors.append)) == [(1, 1)]
    assert str(errors[0]) == f"{q}:2: field 'n': must be positive, got -1"


def test_writer_round_trip_keeps_non_ascii(tmp_path):
    p = tmp_path / "sub" / "x.jsonl"
    objs = [{"a": "Zoë", "b": [1, 2.5, None]}, {}]
    assert write_json_lines(objs, p) == 2
    assert p.read_text(encoding="utf-8") == '{"a": "Zoë", "b": [1, 2.5, null]}\n{}\n'
    assert [o for _, o in iter_json_lines(p)] == objs


def test_writer_leaves_the_old_file_whole_when_it_fails_part_way(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"old": true}\n')

    def objects():
        yield {"new": 1}
        yield {"new": 2}
        raise RuntimeError("killed part-way")

    with pytest.raises(RuntimeError, match="part-way"):
        write_json_lines(objects(), p)
    with pytest.raises(TypeError):  # not JSON-serialisable, after one line
        write_json_lines([{"new": 1}, {"new": object()}], p)

    def documents():
        yield Document("a", "xy")
        raise RuntimeError("killed part-way")

    with pytest.raises(RuntimeError):
        write_jsonl(documents(), p)
    assert p.read_text() == '{"old": true}\n'
    assert sorted(x.name for x in tmp_path.iterdir()) == ["x.jsonl"]  # no temporary file left behind


def test_flags_reader_names_file_and_line(tmp_path):
    from smallext.quality.errors import Flag, read_flags, write_flags

    p = tmp_path / "flags.jsonl"
    flags = [Flag("d", 0, 3, "PER", "type", 0.75, "Ann", {"start": 0, "end": 3, "label": "ORG"})]
    assert write_flags(flags, p) == 1
    assert read_flags(p) == flags
    p.write_text(p.read_text() + "\n" + '{"id": "d", "start": 0}\n')
    with pytest.raises(FormatError, match=r"flags\.jsonl:3: not a label-error flag: .*'end'"):
        read_flags(p)
    p.write_text('{"id": \n')
    with pytest.raises(FormatError, match=r"flags\.jsonl:1: invalid JSON"):
        read_flags(p)


def test_scierc_reader_names_file_and_line(tmp_path):
    from smallext.io.scierc import read_scierc

    good = {"doc_key": "k", "sentences": [["Deep", "nets", "work"]], "ner": [[[0, 1, "Method"]]], "relations": [[]]}
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(good) + "\n\n" + json.dumps(good) + "\n")
    assert [d.text for d in read_scierc(p)] == ["Deep nets work"] * 2
    for bad, message in (('{"doc_key": ', "invalid JSON"), (json.dumps({"sentences": []}), "KeyError: 'ner'"),
                         ("[]", "expected a JSON object")):
        p.write_text(json.dumps(good) + "\n" + bad + "\n")
        with pytest.raises(FormatError, match=message) as e:
            read_scierc(p)
        assert e.value.line == 2 and e.value.path == str(p)


def test_shard_of_jsonl_skips_or_stops_at_bad_records(tmp_path):
    from smallext.scale.shards import input_files, plan_shards, read_shard

    p = tmp_path / "in.jsonl"
    p.write_bytes(b'{"id": "a", "text": "x"}\n\n{"id": "b", "text": "y"}\n{"id": "c", "text": 3}\n'
                  b'{"id": "d", "text": "z", "spans": [{"start": 0}]}\n{"id": "a", "text": "y"}\nnot json\n'
                  b'\xff\n[1]\n{"id": "e", "text": "w"}\n')
    shards = list(plan_shards(input_files(p), 3))
    assert [s.first_line for s in shards] == [1, 5, 8]
    got = [read_shard(s, "skip") for s in shards]
    # a repeated id is caught within a shard: "a" on line 6 repeats line 1, of another shard, so it is read
    assert [d.id for docs, _ in got for d in docs] == ["a", "b", "a", "e"]
    skipped = [r for _, sk in got for r in sk]
    assert [(r["file"], r["line"], r["field"]) for r in skipped] == [
        (str(p), 4, None), (str(p), 5, "spans"), (str(p), 7, None), (str(p), 8, None), (str(p), 9, None)]
    assert "text must be a string" in skipped[0]["error"] and "invalid JSON" in skipped[2]["error"]
    assert "not valid UTF-8" in skipped[3]["error"] and "JSON object" in skipped[4]["error"]
    with pytest.raises(FormatError, match=r"in\.jsonl:4: document 'c': text must be a string"):
        read_shard(shards[0], "stop")
    q = tmp_path / "dup.jsonl"
    q.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(FormatError, match=r"dup\.jsonl:2: document id 'a' repeats line 1"):
        read_shard(next(plan_shards(input_files(q), 10)), "stop")


def test_extract_file_reads_jsonl_from_stdin_and_writes_atomically(tmp_path, monkeypatch):
    """``smallext extract`` of JSONL on stdin: errors name ``<stdin>`` and the line; ids may repeat there (as
    before); the output is written whole or not at all."""
    import io as stdio
    import sys

    from smallext.students import extractor

    class Echo:
        def extract_chunks(self, docs, chunk, batch_size):
            for d in docs:
                if d.text == "boom":
                    raise RuntimeError("killed part-way")
                yield d.with_spans([Span(0, 1, "X", 0.5)])

    monkeypatch.setattr(extractor.Extractor, "load", classmethod(lambda cls, *a, **k: Echo()))
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(sys, "stdin", stdio.StringIO('{"id": "a", "text": "xy"}\n\n{"id": "a", "text": "z"}\n'))
    assert extractor.extract_file("model", "-", out, fmt="jsonl") == 2
    assert [d.text for d in iter_jsonl(out, unique_ids=False)] == ["xy", "z"]
    monkeypatch.setattr(sys, "stdin", stdio.StringIO('{"id": "a", "text": "xy"}\n{"id": 1}\n'))
    with pytest.raises(FormatError, match=r"^<stdin>:2: document is missing the field 'text'"):
        extractor.extract_file("model", None, out, fmt="jsonl")
    monkeypatch.setattr(sys, "stdin", stdio.StringIO('{"id": "b", "text": "ok"}\n{"id": "c", "text": "boom"}\n'))
    with pytest.raises(RuntimeError):
        extractor.extract_file("model", None, out, fmt="jsonl")
    assert [d.text for d in iter_jsonl(out, unique_ids=False)] == ["xy", "z"]


def _documents() -> list[Document]:
    spans = [Span(0, 3, "Peop", 0.9, "openai:gpt", "exact"), Span(14, 18, "Org", 0.8, "llama:q", "fuzzy"),
             Span(21, 25, "Loc"), Span(21, 25, "Org", None, "gold")]
    return [
        Document("a", "Ann works for Acme in Oslo", spans, {"k": 1, "nested": {"ü": [1, None]}},
                 tokens=[(0, 3), (4, 9), (10, 13), (14, 18), (19, 21), (22, 26)],
                 relations=[Relation(0, 1, "Work_For", 0.7, "m"), Relation(1, 2, "Located_In")]),
        Document("b", "nothing here"),
        Document("c", "Zoë", [Span(0, 3, "PER", 1.0, None, "fuzzy")], {}),
    ]


def test_parquet_part_round_trips_documents_exactly(tmp_path):
    """A Parquet part reads back as the documents written, as a JSONL part does: span alignment, score and
    source, relations, tokens and meta included (the Parquet form used to drop alignment and tokens)."""
    pytest.importorskip("pyarrow")
    from smallext.scale.extract import _write_part, iter_output

    docs = _documents()
    for fmt in ("parquet", "jsonl"):
        out = tmp_path / fmt
        _write_part(docs, out / f"part-00000.{fmt}", fmt)
        _write_part(docs[:1], out / f"part-00001.{fmt}", fmt)
        (out / "report.json").write_text(json.dumps({"parts": [f"part-00000.{fmt}", f"part-00001.{fmt}"]}))
        back = list(iter_output(out))
        assert back == docs + docs[:1]
        assert [d.to_dict() for d in back] == [d.to_dict() for d in docs + docs[:1]]


def test_parquet_part_columns_and_older_parts(tmp_path):
    """Every part has the same columns (one per field of a document's JSON form), and a part written with the
    older list-of-structs columns still reads."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from smallext.scale.extract import _read_part, _write_part, parquet_columns

    _write_part([Document("b", "nothing here")], tmp_path / "part-00000.parquet", "parquet")
    table = pq.read_table(tmp_path / "part-00000.parquet")
    assert tuple(table.column_names) == parquet_columns() == ("id", "text", "spans", "meta", "tokens", "relations",
                                                                    "records")
    assert table.to_pylist() == [{"id": "b", "text": "nothing here", "spans": "[]", "meta": "{}", "tokens": None,
                                  "relations": None, "records": None}]
    span = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("score", pa.float64()),
                      ("source", pa.string())])
    old = pa.table({"id": ["a"], "text": ["Ann"], "meta": ['{"k": 1}'],
                    "spans": pa.array([[{"start": 0, "end": 3, "label": "PER", "score": 0.5, "source": None}]],
                                      pa.list_(span))})
    pq.write_table(old, tmp_path / "old.parquet")
    assert list(_read_part(tmp_path / "old.parquet")) == [Document("a", "Ann", [Span(0, 3, "PER", 0.5)], {"k": 1})]
