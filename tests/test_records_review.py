"""Review of the records kind: one failing case per defect found (each fixed in the source)."""

from __future__ import annotations

import json

from smallext.kinds.records import Record, Value
from smallext.kinds.records.grounding import find_ocr, ground_record
from smallext.kinds.records.normalize import normalize
from smallext.kinds.records.task import RecordTask, merge_records
from smallext.schema import Schema
from smallext.teachers.grounding import GroundingStats
from smallext.teachers.tasks.base import Grounded, Window

SCHEMA = Schema.model_validate({"name": "receipts", "record_types": [{
    "name": "Receipt", "definition": "A shop receipt.", "fields": [
        {"name": "company", "description": "Seller.", "type": "string"},
        {"name": "date", "description": "Date of purchase.", "type": "date", "date_order": "DMY"},
        {"name": "total", "description": "Total paid.", "type": "money", "currency": "MYR"},
        {"name": "count", "description": "Items bought.", "type": "integer"},
        {"name": "score", "description": "A score.", "type": "number"},
        {"name": "items", "description": "Items.", "type": "string", "list": True}]}]})
RT = SCHEMA.record_types[0]
COMPANY = "BOOK TA .K (TAMAN DAYA) SDN BHD"
OCR = "BOOK TA .K(TAMAN DAYA) SDN BND"


# ----------------------------------------------------------------------------------------- sroie reader
def test_sroie_transcript_starting_with_a_quote_stays_one_line(tmp_path):
    """SROIE box files are not CSV-quoted: train receipts 381 and 397 have a transcript starting with '"', which
    csv.reader took as an opening quote and swallowed the next lines (coordinates and all) into one line."""
    from smallext.io.sroie import read_sroie

    (tmp_path / "box").mkdir()
    (tmp_path / "key").mkdir()
    (tmp_path / "box" / "000.csv").write_text(
        '1,2,3,2,3,4,1,4,"EDEEMED WITHIN THREE(3) MONTHS\n'
        '1,5,3,5,3,6,1,6,TOTAL 9.00\n'
        '1,7,3,7,3,8,1,8,""OPTICARE 500X3\n', encoding="utf-8")
    (tmp_path / "key" / "000.json").write_text(json.dumps({"total": "9.00"}), encoding="utf-8")
    doc, = read_sroie(tmp_path)
    assert doc.text.split("\n") == ['"EDEEMED WITHIN THREE(3) MONTHS', "TOTAL 9.00", '""OPTICARE 500X3']
    assert len(doc.meta["lines"]) == 3


# ---------------------------------------------------------------------------------------------- grounding
def test_ocr_match_offsets_survive_case_folding_that_changes_length():
    """find_ocr matched in text.casefold() and used those offsets in the original text: 'ß' folds to 'ss' and
    'İ' to two characters, so the offsets drifted (and past the end of the text: IndexError)."""
    for lead in ("Straße ßßßß 5\n", "İİİİ ŞİŞLİ\n"):
        text = f"{lead}{OCR}\nTOTAL 9.00"
        (a, b), = find_ocr(text, COMPANY)
        assert text[a:b] == OCR


def test_ocr_match_covers_the_whole_value_not_a_part_of_it():
    """With a text shorter than the value, rapidfuzz aligns a part of the value with the whole text (score 100):
    a company name was grounded, 'fuzzy', at 'SDN BHD'."""
    assert find_ocr("SDN BHD", COMPANY) == []
    assert find_ocr("JALAN", "JALAN SAGU 18, TAMAN DAYA") == []
    rec = ground_record("SDN BHD", RT, {"company": COMPANY})
    assert rec.get("company")[0].start is None


def test_a_number_is_not_grounded_inside_a_longer_number():
    """'9' was grounded exactly at the '9' of '9.00', and 3 at the '3' of '3.50' (the word boundary lets a '.'
    through)."""
    text = "SUBTOTAL 10.50\nQTY 3.50\nTOTAL 9.00\nITEMS 3"
    rec = ground_record(text, RT, {"total": "9", "count": 3})
    total, = rec.get("total")
    assert text[total.start:total.end] == "9.00" and total.alignment == "normalized"
    count, = rec.get("count")
    assert count.start == text.rindex("3") and count.alignment == "exact"


def test_a_normalized_amount_does_not_take_the_word_before_it():
    """The amount pattern admits up to three capitals before a number (for RM, USD): 'TAX 6.00' was the grounded
    text of 6.00."""
    text = "GST TAX 6.00\nTOTAL RM9.00"
    total, = ground_record(text, RT, {"total": "RM6.00"}).get("total")
    assert text[total.start:total.end] == "6.00"
    total, = ground_record(text, RT, {"total": "9"}).get("total")
    assert text[total.start:total.end] == "RM9.00"  # a currency before the number stays in the span
    text = "TOTAL: 9.00"
    total, = ground_record(text, RT, {"total": "9"}).get("total")
    assert text[total.start:total.end] == "9.00"  # not " 9.00": the optional space belongs to the currency


# ---------------------------------------------------------------------------------------------- normalising
def test_a_negative_amount_keeps_its_sign():
    """price-parser drops the minus sign: '-9.00' was normalised to 9.00 (a refund read as a payment)."""
    assert normalize(RT.field("total"), "-9.00") == ("-9.00", "MYR")
    assert normalize(RT.field("total"), "RM -5.00") == ("-5.00", "MYR")
    assert normalize(RT.field("count"), "-3") == (-3, None)
    assert normalize(RT.field("score"), "-0.5") == (-0.5, None)


def test_a_decimal_number_is_not_read_as_thousands():
    """price-parser reads a point before exactly three digits as a thousands separator: '0.923' became 923."""
    assert normalize(RT.field("score"), "0.923") == (0.923, None)
    assert normalize(RT.field("score"), "1.234") == (1.234, None)
    assert normalize(RT.field("score"), "1,234.5") == (1234.5, None)
    assert normalize(RT.field("count"), "0.923") is None


def test_non_finite_and_huge_json_numbers_do_not_crash():
    """json.loads accepts NaN and Infinity; int(nan) raised ValueError and int(inf) OverflowError in the middle of
    grounding. A 30-digit integer was rejected as not integral (float comparison)."""
    for x in (float("nan"), float("inf"), float("-inf")):
        assert normalize(RT.field("count"), x) is None
        assert normalize(RT.field("score"), x) is None
    assert normalize(RT.field("count"), 10 ** 30) == (10 ** 30, None)
    stats = GroundingStats()
    ground_record("TOTAL 9.00", RT, {"count": float("nan")}, None, stats)
    assert stats.values_unnormalized == 1


def test_a_nested_object_is_kept_as_json_not_as_python_repr_or_a_digit_read_from_it():
    """A nested object or list where a scalar is expected became its Python repr ("{'name': 'X'}") in a string field,
    and in a number field the digits of the repr were read as the value ({'a': 1} -> 1)."""
    assert normalize(RT.field("count"), {"a": 1}) is None
    assert normalize(RT.field("company"), {"name": "X"}) is None
    stats = GroundingStats()
    rec = ground_record("TOTAL 9.00", RT, {"company": {"name": "X"}, "items": [["a", "b"]]}, None, stats)
    assert rec.get("company")[0].value == '{"name": "X"}' and rec.get("items")[0].value == '["a", "b"]'
    assert rec.get("company")[0].text is None and rec.get("items")[0].text is None  # no Python repr as its text
    assert stats.values_unnormalized == 2


# ------------------------------------------------------------------------------------------------ windows
def test_records_of_one_window_are_not_merged_with_each_other():
    """merge_records merged two records of the same window (the model said two), though a one-window document's
    records are never merged: only a record of a later window joins one of an earlier window."""
    a = Record("Receipt", {"company": (Value("X"),), "total": (Value("9.00"),)})
    b = Record("Receipt", {"company": (Value("X"),)})
    merged, n = merge_records([[a, b]])
    assert n == 0 and merged == [a, b]
    c = Record("Receipt", {"company": (Value("X"),), "date": (Value("2018-12-25"),)})
    merged, n = merge_records([[a, b], [c]])
    assert n == 1 and len(merged) == 2 and set(merged[0].fields) == {"company", "total", "date"}


def test_task_merge_keeps_two_equal_looking_records_of_one_window():
    task = RecordTask(SCHEMA, window_chars=10, overlap_chars=2)
    a = Record("Receipt", {"company": (Value("X"),), "total": (Value("9.00"),)})
    b = Record("Receipt", {"company": (Value("X"),)})
    g1 = Grounded([], GroundingStats(), layers={"records": [a, b]})
    g2 = Grounded([], GroundingStats(), layers={"records": []})
    out = task.merge("x" * 20, [(Window(0, "x" * 10), g1), (Window(8, "x" * 12), g2)])
    assert len(out.layers["records"]) == 2
