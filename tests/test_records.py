"""The records kind: schema, data model and files, normalisation, grounding of each alignment, the reply's JSON
schema, salvage of a cut-off reply, windows, evaluation against hand-computed cases, the SROIE reader on the real
receipts, and a real llama.cpp teacher (SmolLM2) filling records."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO, needs_data
from smallext.doc import Document
from smallext.errors import ConfigError, DocumentError
from smallext.evaluate import Evaluation, evaluate
from smallext.kinds.records import Record, Value
from smallext.kinds.records.grounding import ground_record
from smallext.kinds.records.normalize import normalize
from smallext.kinds.records.task import RecordTask, merge_records, parse_record_reply
from smallext.schema import Schema, load_schema

SCHEMA = Schema.model_validate({"name": "receipts", "record_types": [{
    "name": "Receipt", "definition": "A shop receipt.", "max_records": 1, "fields": [
        {"name": "company", "description": "Seller.", "type": "string"},
        {"name": "date", "description": "Date of purchase.", "type": "date", "date_order": "DMY"},
        {"name": "total", "description": "Total paid.", "type": "money", "currency": "MYR"},
        {"name": "count", "description": "Items bought.", "type": "integer"},
        {"name": "paid_by_card", "description": "Paid by card.", "type": "boolean"},
        {"name": "kind", "description": "What was bought.", "type": "enum", "choices": ["food", "stationery"]},
        {"name": "items", "description": "Items.", "type": "string", "list": True},
        {"name": "summary", "description": "One line.", "type": "text"}]}]})
RT = SCHEMA.record_types[0]
TEXT = ("BOOK TA .K(TAMAN DAYA) SDN BND\nNO.53 JALAN SAGU 18,\nTAMAN DAYA\nDATE: 25/12/2018\n"
        "KF MODELLING CLAY\nQTY 3\nTOTAL RM9.00\nCASH 10.00\nCHANGE 1.00")

ISSUE_EXAMPLE = {"id": "r1", "text": TEXT, "spans": [], "meta": {}, "records": [{"type": "Receipt", "fields": {
    "total": [{"value": "9.00", "text": "RM9.00", "start": TEXT.index("RM9.00"), "end": TEXT.index("RM9.00") + 6,
               "alignment": "normalized", "score": 0.97, "currency": "MYR"}],
    "date": [{"value": "2018-12-25", "text": "25/12/2018", "start": TEXT.index("25/12"),
              "end": TEXT.index("25/12") + 10, "alignment": "normalized"}],
    "company": [{"value": "BOOK TA .K (TAMAN DAYA) SDN BHD", "text": "BOOK TA .K(TAMAN DAYA) SDN BND", "start": 0,
                 "end": 30, "alignment": "fuzzy"}],
    "paid_by_card": [{"value": False}]}}]}


# ------------------------------------------------------------------------------------------------ schema
def _schema_file(tmp_path, fields):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "s", "record_types": [{"name": "R", "definition": "d", "fields": fields}]}))
    return p


def test_schema_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(ConfigError, match=r"s\.yaml: record_types\.0\.fields\.0: .*an enum field needs its choices"):
        load_schema(_schema_file(tmp_path, [{"name": "k", "type": "enum", "description": "d"}]))
    with pytest.raises(ConfigError, match=r"record_types\.0\.fields\.0\.type"):
        load_schema(_schema_file(tmp_path, [{"name": "k", "type": "float", "description": "d"}]))
    with pytest.raises(ConfigError, match="date_order is for date fields"):
        load_schema(_schema_file(tmp_path, [{"name": "k", "type": "string", "date_order": "DMY", "description": "d"}]))
    with pytest.raises(ConfigError, match=r"record_types\.0\.fields\.1\.name: 'K' is already a field"):
        load_schema(_schema_file(tmp_path, [{"name": "k", "description": "d"}, {"name": "K", "description": "d"}]))
    ok = load_schema(_schema_file(tmp_path, [{"name": "k", "list": True, "description": "d"}]))
    assert ok.record_types[0].fields[0].is_list and not ok.entity_types
    assert load_schema(REPO / "schemas" / "sroie.yaml").record_types[0].field("date").date_order == "DMY"


def test_schema_example_records_are_checked():
    ex = {"text": "TOTAL 9.00", "records": [{"type": "R", "fields": {"nope": [{"value": "9.00"}]}}]}
    with pytest.raises(ValueError, match=r"record_types\.0\.examples\.0\.records\.0\.fields\.nope: not a field"):
        Schema.model_validate({"name": "s", "record_types": [{"name": "R", "definition": "d", "examples": [ex],
                                                             "fields": [{"name": "total", "description": "d"}]}]})


# ------------------------------------------------------------------------------------ data model and files
def test_json_form_of_the_issue_round_trips_and_is_checked(tmp_path):
    from smallext.io.jsonl import read_jsonl, write_jsonl

    d = Document.from_dict(ISSUE_EXAMPLE)
    assert d.to_dict() == ISSUE_EXAMPLE
    write_jsonl([d], tmp_path / "r.jsonl")
    assert read_jsonl(tmp_path / "r.jsonl") == [d]
    bad = json.loads(json.dumps(ISSUE_EXAMPLE))
    bad["records"][0]["fields"]["total"][0].update(alignment="exact")  # "RM9.00" is not "9.00"'s exact text? it is
    bad["records"][0]["fields"]["total"][0]["start"] += 1
    with pytest.raises(DocumentError, match=r"'r1': record 0 \(Receipt\) field 'total': an exact value's text"):
        Document.from_dict(bad)
    bad = json.loads(json.dumps(ISSUE_EXAMPLE))
    bad["records"][0]["fields"]["date"][0]["end"] = 10_000
    with pytest.raises(DocumentError, match="outside the text"):
        Document.from_dict(bad)
    bad["records"][0]["fields"]["date"] = {"value": "x"}
    with pytest.raises(DocumentError, match="field 'date': values must be a list"):
        Document.from_dict(bad)


def test_records_survive_docbin_parquet_and_every_span_operation(tmp_path):
    pytest.importorskip("spacy")
    pytest.importorskip("pyarrow")
    from smallext.doc import Span
    from smallext.io.docbin import read_docbin, write_docbin
    from smallext.scale.extract import _read_part, _write_part

    d = Document.from_dict(ISSUE_EXAMPLE).replace(spans=[Span(0, 4, "ORG")])
    write_docbin([d], tmp_path / "r.spacy")
    assert read_docbin(tmp_path / "r.spacy")[0].records == d.records
    _write_part([d], tmp_path / "p.parquet", "parquet")
    assert list(_read_part(tmp_path / "p.parquet")) == [d]
    assert d.with_spans([]).records == d.records and d.map_spans(lambda s: None).records == d.records
    assert d.unlabelled().records == []


def test_map_documents_renames_types_and_fields_through_aliases():
    s = Schema.model_validate({"name": "s", "record_types": [{"name": "Receipt", "definition": "d", "aliases": ["bill"],
                                                             "fields": [{"name": "total", "description": "d",
                                                                         "aliases": ["amount"]}]}]})
    d = Document("a", "x", records=[Record("BILL", {"Amount": (Value("9"),)})])
    assert s.map_documents([d])[0].records == [Record("Receipt", {"total": (Value("9"),)})]
    with pytest.raises(ConfigError, match="field 'tip' is not a field of record type 'Receipt'"):
        s.map_documents([Document("a", "x", records=[Record("bill", {"tip": (Value("1"),)})])])
    assert s.map_documents([Document("a", "x", records=[Record("Invoice", {})])], strict=False)[0].records == []


# ---------------------------------------------------------------------------------------------- normalising
def test_normalize_reads_each_type_with_its_options():
    date, money = RT.field("date"), RT.field("total")
    assert normalize(date, "02/12/2017") == ("2017-12-02", None)  # DMY: 2 December
    mdy = date.model_copy(update={"date_order": "MDY"})
    assert normalize(mdy, "02/12/2017") == ("2017-02-12", None)
    assert normalize(date, "25 Dec 2018") == ("2018-12-25", None)
    assert normalize(date, "not a date") is None
    assert normalize(money, "RM9.00") == ("9.00", "MYR")
    assert normalize(money.model_copy(update={"currency": None}), "USD 1,234.50") == ("1234.50", "USD")
    assert normalize(RT.field("count"), "3") == (3, None) and normalize(RT.field("count"), "2.5") is None
    assert normalize(RT.field("count"), 4.0) == (4, None)
    assert normalize(RT.field("paid_by_card"), "Yes") == (True, None)
    assert normalize(RT.field("paid_by_card"), False) == (False, None)
    assert normalize(RT.field("kind"), "FOOD") == ("food", None) and normalize(RT.field("kind"), "fuel") is None


# ------------------------------------------------------------------------------------------------ grounding
def test_grounding_gives_each_alignment_and_counts_what_is_not_in_the_text():
    from smallext.teachers.grounding import GroundingStats

    stats = GroundingStats()
    rec = ground_record(TEXT, RT, {
        "company": "BOOK TA .K (TAMAN DAYA) SDN BHD",   # OCR noise: fuzzy
        "date": "2018-12-25",                           # ISO in the reply, DMY in the text: normalized
        "total": "RM9.00",                              # found exactly, means 9.00: normalized
        "count": 3, "paid_by_card": False, "kind": "stationery", "summary": "A clay purchase.",
        "items": ["KF MODELLING CLAY", "kf  modelling\nclay", "GLUE STICK"]}, "t", stats)
    company, = rec.get("company")
    assert (company.value, company.text, company.alignment) == (
        "BOOK TA .K (TAMAN DAYA) SDN BHD", "BOOK TA .K(TAMAN DAYA) SDN BND", "fuzzy")
    date, = rec.get("date")
    assert (date.value, TEXT[date.start:date.end], date.alignment) == ("2018-12-25", "25/12/2018", "normalized")
    total, = rec.get("total")
    assert (total.value, total.text, total.currency, total.alignment) == ("9.00", "RM9.00", "MYR", "normalized")
    count, = rec.get("count")
    assert (count.value, TEXT[count.start:count.end], count.alignment) == (3, "3", "exact")
    items = rec.get("items")
    assert [(v.value, v.alignment) for v in items] == [
        ("KF MODELLING CLAY", "exact"), ("kf  modelling\nclay", "fuzzy"), ("GLUE STICK", None)]
    assert items[2].start is None  # not in the text: kept, no offsets
    assert [v.start for v in rec.get("paid_by_card") + rec.get("kind") + rec.get("summary")] == [None] * 3
    assert list(rec.fields) == [f.name for f in RT.fields]
    assert (stats.values, stats.values_exact, stats.values_fuzzy, stats.values_normalized, stats.values_ungrounded,
            stats.values_not_extractive) == (10, 2, 2, 2, 1, 3)


def test_a_repeated_string_takes_the_occurrence_nearest_the_other_values_and_conflicts_are_counted():
    from smallext.teachers.grounding import GroundingStats

    text = "SUBTOTAL 10.00\n" + "x\n" * 40 + "DATE 01/02/2019\nTOTAL 10.00"
    stats = GroundingStats()
    rec = ground_record(text, RT, {"date": "01/02/2019", "total": ["10.00", "12.00"]}, None, stats)
    assert rec.get("total")[0].start == text.rindex("10.00")  # beside the date, not the subtotal
    assert len(rec.get("total")) == 1 and stats.values_conflict == 1


# --------------------------------------------------------------------------------------- the task's reply
def test_reply_json_schema_is_typed_nullable_and_bounded():
    jsonschema = pytest.importorskip("jsonschema")
    task = RecordTask(SCHEMA)
    js = task.json_schema(TEXT)
    assert js["properties"]["records"]["maxItems"] == 1  # max_records: 1
    good = {"records": [{"type": "Receipt", "fields": {"company": "X", "date": None, "total": "RM9.00", "count": 3,
                                                       "paid_by_card": None, "kind": "food", "items": ["a"],
                                                       "summary": None}}]}
    jsonschema.validate(good, js)
    for bad in ({**good["records"][0], "type": "Invoice"}, {"type": "Receipt", "fields": {"company": "X"}},
                {"type": "Receipt", "fields": {**good["records"][0]["fields"], "kind": "fuel"}},
                {"type": "Receipt", "fields": {**good["records"][0]["fields"], "count": "three"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"records": [bad]}, js)
    two = Schema.model_validate({"name": "s", "record_types": [
        {"name": "A", "definition": "d", "fields": [{"name": "x", "description": "d"}]},
        {"name": "B", "definition": "d", "fields": [{"name": "y", "type": "number", "description": "d"}]}]})
    js2 = RecordTask(two).json_schema("a text of 300 characters " * 12)  # bounds the records at 1 + 300 // 120
    jsonschema.validate({"records": [{"type": "B", "fields": {"y": 2.5}}, {"type": "A", "fields": {"x": None}}]}, js2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"records": [{"type": "B", "fields": {"x": "a"}}]}, js2)
    assert "Receipt: A shop receipt." in task.system and "kind (one of the choices (food | stationery))" in task.system


def test_a_cut_off_reply_keeps_its_complete_records():
    reply = json.dumps({"records": [{"type": "Receipt", "fields": {"total": "RM9.00"}},
                                    {"type": "Receipt", "fields": {"total": "10.00", "items": ["a", "b"]}},
                                    {"type": "Receipt", "fields": {"company": "BOOK TA"}}]})
    cut = reply[:reply.rindex("BOOK")]
    p = parse_record_reply("Here you go:\n" + cut)
    assert p.truncated and p.error and [r["fields"] for r in p.items["records"]] == [
        {"total": "RM9.00"}, {"total": "10.00", "items": ["a", "b"]}]
    whole = parse_record_reply(f"```json\n{reply}\n```")
    assert not whole.truncated and whole.error is None and len(whole.items["records"]) == 3
    assert parse_record_reply('{"entities": []}').error == 'the reply has no "records" list'


def test_few_shot_reply_is_the_gold_as_written():
    d = Document.from_dict(ISSUE_EXAMPLE)
    reply = json.loads(RecordTask(SCHEMA).reply_for(d))
    assert reply["records"][0]["fields"] == {"company": "BOOK TA .K (TAMAN DAYA) SDN BHD", "date": "25/12/2018",
                                             "total": "RM9.00", "count": None, "paid_by_card": False, "kind": None,
                                             "items": [], "summary": None}


def test_long_documents_are_read_in_overlapping_windows_and_merged():
    task = RecordTask(SCHEMA, window_chars=60, overlap_chars=20)
    text = "\n".join(f"line {i:02d} of the receipt" for i in range(12))
    wins = [(w.offset, w.text) for w in task.windows(text)]
    assert len(wins) > 2 and wins[0][0] == 0 and all(text[o:o + len(w)] == w for o, w in wins)
    assert all(wins[i + 1][0] < wins[i][0] + len(wins[i][1]) for i in range(len(wins) - 1))  # they overlap
    assert wins[-1][0] + len(wins[-1][1]) == len(text)
    # a table's header is repeated in every later window, and what is grounded in it maps back to it
    table = "model | dataset | F1\n" + "\n".join(f"m{i} | d{i} | 0.{i:02d}" for i in range(30))
    doc = Document("t", table, meta={"header": [0, 20]})
    later = task.windows(table, [doc])[1:]
    assert later and all(w.text.startswith("model | dataset | F1\n") and w.prefix == (0, 20) for w in later)
    w = later[-1]
    assert w.to_whole(8, 15) == (8, 15)  # "dataset" in the repeated header
    at = w.text.index("m29")
    assert table[slice(*w.to_whole(at, at + 3))] == "m29"
    a = Record("Receipt", {"total": (Value("9.00"),), "date": (Value("2018-12-25"),)})
    b = Record("Receipt", {"total": (Value("9.0"),), "company": (Value("X"),)})
    c = Record("Receipt", {"total": (Value("12.00"),)})
    merged, n = merge_records([[a], [b, c]])
    assert n == 1 and [sorted(r.fields) for r in merged] == [["company", "date", "total"], ["total"]]


# ------------------------------------------------------------------------------------------------ evaluation
def _doc(i, *records):
    return Document(f"d{i}", TEXT, records=list(records))


def test_evaluation_against_hand_computed_counts():
    v = Value
    gold = [_doc(0, Record("Receipt", {"company": (v("ACME SDN BHD"),), "date": (v("2018-12-25", "25/12/2018"),),
                                       "total": (v("9.00"),)})),
            _doc(1, Record("Receipt", {"company": (v("B"),), "total": (v("1.00"),)}),
                 Record("Receipt", {"company": (v("C"),), "total": (v("2.00"),)}))]
    pred = [_doc(0, Record("Receipt", {"company": (v("acme  sdn bhd"),), "date": (v("2018-12-25"),),
                                       "total": (v("9.0", "RM9.0"),)})),
            _doc(1, Record("Receipt", {"company": (v("C"),), "total": (v("2.00"),)}),  # order swapped
                 Record("Receipt", {"company": (v("B"),), "total": (v("3.00"),)}))]
    r = Evaluation.model_validate(evaluate(gold, pred, schema=SCHEMA, n_boot=0)).records
    # normalized: doc 0: 3/3 items; doc 1: company B, C, total 2.00 right, 3.00 vs 1.00 wrong -> tp 6 fp 1 fn 1
    m = r.fields.micro
    assert (m.tp, m.fp, m.fn) == (6, 1, 1) and m.f1 == pytest.approx(6 / 7)
    assert r.fields.per_field["Receipt.total"].tp == 2 and r.fields.per_field["Receipt.total"].fn == 1
    # records (Hungarian): doc 0 all agree; doc 1 C matches C, B's total differs -> tp 2, fp 1, fn 1
    assert (r.records.micro.tp, r.records.micro.fp, r.records.micro.fn) == (2, 1, 1)
    # protocol: strings as written: date "2018-12-25" != "25/12/2018", "RM9.0" != "9.00" -> 2 fewer
    p = r.protocol.fields.micro
    assert (p.tp, p.fp, p.fn) == (4, 3, 3) and r.protocol.records.micro.tp == 1
    assert r.grounding_precision == 1.0 and r.values == 0
    ev = evaluate(gold, pred, schema=SCHEMA, n_boot=0)
    assert ev["selection"] == {"kind": "records", "score": pytest.approx(6 / 7)}


def test_grounding_precision_checks_offsets_against_their_text():
    ok = Value("9.00", "RM9.00", TEXT.index("RM9.00"), TEXT.index("RM9.00") + 6, "normalized")
    off = Value("B", None, 0, 1, None)  # TEXT[0:1] is "B": covered
    wrong = Value("Z", None, 1, 2, None)  # TEXT[1:2] is "O": not covered
    d = _doc(0, Record("Receipt", {"total": (ok,), "company": (off,), "items": (wrong,)}))
    r = Evaluation.model_validate(evaluate([_doc(0)], [d], schema=SCHEMA, n_boot=0)).records
    assert r.grounding_precision == pytest.approx(2 / 3) and r.values == 3


# ------------------------------------------------------------------------------------------ SROIE, real files
@needs_data
def test_sroie_reader_on_the_real_receipts():
    from smallext.datasets import load

    train, dev, test = (load(f"sroie:{s}") for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (450, 50, 126)
    assert test[0].id == "sroie:test:500" and test[-1].id == "sroie:test:625"
    first = load("sroie:train")[0]
    rec, = first.records
    assert rec.get("company")[0].value == "BOOK TA .K (TAMAN DAYA) SDN BHD"
    assert first.text[rec.get("company")[0].start:rec.get("company")[0].end] == "BOOK TA .K(TAMAN DAYA) SDN BND"
    assert rec.get("date")[0].value == "2018-12-25" and rec.get("total")[0].value == "9.00"
    address = rec.get("address")[0]
    assert "\n" in first.text[address.start:address.end] and address.alignment == "fuzzy"
    start, end, *box = first.meta["lines"][1]
    assert first.text[start:end] == "BOOK TA .K(TAMAN DAYA) SDN BND" and box == [50, 82, 440, 121]
    grounded = [v for d in test for _, v in d.records[0].values() if v.grounded]
    assert len(grounded) >= 500  # of 504 key values; the rest kept without offsets
    for d in test:
        for _, v in d.records[0].values():
            if v.alignment == "exact":
                assert d.text[v.start:v.end] == v.surface


# --------------------------------------------------------------------------------- a real llama.cpp teacher
@needs_data
@pytest.mark.slow
def test_llamacpp_teacher_fills_records(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs the llm extra (llama-cpp-python)")
    from smallext.datasets import load
    from smallext.models import install
    from smallext.teachers import load_teacher
    from smallext.teachers.annotate import annotate

    install("smollm2-135m")
    schema = load_schema(REPO / "schemas" / "sroie.yaml")
    docs = [d.unlabelled() for d in load("sroie:test")[:2]]
    teacher = load_teacher("llamacpp:smollm2-135m", schema, threads=2)
    assert teacher.task.name == "records"
    res = annotate(docs, teacher, tmp_path / "out.jsonl", store=tmp_path / "s.sqlite", progress=False)
    assert res["documents"] == 2 and res["calls_this_run"] == 2  # one receipt per call
    from smallext.io.jsonl import read_jsonl

    out = read_jsonl(tmp_path / "out.jsonl")
    assert [d.id for d in out] == [d.id for d in docs]
    for d in out:  # whatever the small model wrote is grounded or kept, never with wrong offsets
        assert len(d.records) <= 1
        for _, v in (r for rec in d.records for r in rec.values()):
            if v.alignment == "exact":
                assert d.text[v.start:v.end] == v.surface
    again = annotate(docs, teacher, tmp_path / "out.jsonl", store=tmp_path / "s.sqlite", progress=False)
    assert again["calls_this_run"] == 0


# ----------------------------------------------------------------------------------------------- ensembles
def test_an_ensemble_votes_per_field():
    from smallext.kinds.records.vote import RecordVote

    at = TEXT.index("RM9.00")
    grounded = Value("9.00", "RM9.00", at, at + 6, "normalized", currency="MYR")
    members = [
        Record("Receipt", {"total": (Value("9.0"),), "date": (Value("2018-12-25"),),
                           "items": (Value("A"), Value("B"))}),
        Record("Receipt", {"total": (grounded,), "items": (Value("A"), Value("B"))}),
        Record("Receipt", {"total": (Value("10.00"),), "date": (Value("2018-12-26"),), "items": (Value("A"),)})]
    vote = RecordVote()
    for r in members:
        vote.add(_doc(0, r), 1.0)
    kept, = vote.decide("d0", [], 3.0, False, "ensemble")
    assert kept.get("total") == (replace_score(grounded, 0.6667),)  # 2 of 3 (9.0 = 9.00); the grounded instance
    assert "date" not in kept.fields  # 1 vote each
    assert [(v.value, v.score) for v in kept.get("items")] == [("A", 1.0), ("B", 0.6667)]
    assert kept.score == 1.0 and kept.source == "ensemble"
    union, = vote.decide("d0", [], 3.0, True, "ensemble")
    assert [v.value for v in union.get("date")] == ["2018-12-25"]  # a single field keeps its best value
    lone = RecordVote()
    lone.add(_doc(1, Record("Receipt", {"total": (Value("1.00"),)})), 1.0)
    lone.add(_doc(1), 1.0)
    lone.add(_doc(1), 1.0)
    assert lone.decide("d1", [], 3.0, False, "e") == []  # one member of three proposed it


def replace_score(v: Value, score: float) -> Value:
    from dataclasses import replace

    return replace(v, score=score)


def test_evaluate_cli_scores_records_and_writes_the_section(tmp_path):
    from typer.testing import CliRunner

    from smallext.cli import app
    from smallext.io.jsonl import write_jsonl

    gold = [_doc(0, Record("Receipt", {"total": (Value("9.00"),), "company": (Value("ACME"),)}))]
    pred = [_doc(0, Record("Receipt", {"total": (Value("9.0"),), "company": (Value("ACNE"),)}))]
    write_jsonl(gold, tmp_path / "g.jsonl")
    write_jsonl(pred, tmp_path / "p.jsonl")
    schema = tmp_path / "s.yaml"
    schema.write_text(yaml.safe_dump(SCHEMA.model_dump(by_alias=True, exclude_defaults=True)))
    r = CliRunner().invoke(app, ["evaluate", "--gold", str(tmp_path / "g.jsonl"), "--pred", str(tmp_path / "p.jsonl"),
                                 "--schema", str(schema), "--json", str(tmp_path / "ev.json"), "--n-boot", "0"])
    assert r.exit_code == 0, r.output
    assert "Record field scores" in r.output and "Entity-level" not in r.output and "record F1 0.0000" in r.output
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert set(ev["records"]) == {"fields", "records", "protocol", "grounding_precision", "values"}
    assert ev["records"]["fields"]["micro"]["f1"] == 0.5 and set(ev["records"]["fields"]) == {"micro", "macro",
                                                                                               "per_field"}
    assert ev["records"]["protocol"]["fields"]["micro"]["f1"] == 0.0  # "9.0" is not the string "9.00"
    assert "entities" not in ev and ev["selection"]["kind"] == "records"
