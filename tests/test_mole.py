"""MOLE+ papers (smallext.io.mole) and MeXtract's per-attribute soft score (smallext.kinds.records.mole_eval):
cases computed by hand from MeXtract's src/type_classes.py and src/schema.py, and the real test parquet."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from smallext.doc import Document
from smallext.errors import FormatError
from smallext.io.mole import field_kind, mole_schema, mole_schemas, parse_user_message, read_mole
from smallext.kinds.records.document import Record, Value
from smallext.kinds.records.mole_eval import attribute_score, mole_scores, paper_scores, rouge1

REPO = Path(__file__).resolve().parents[1]
PARQUET = REPO.parent / "shared" / "data" / "mole" / "MOLE-plus-MeXtract-2025-12" / "datasets" / "sft_test.parquet"


@pytest.mark.parametrize("kind, gold, pred, expected", [
    ("str", "abc", "abd", 1 - 1 / 3),
    ("str", "", "", 1.0),
    ("str", "", "ab", 0.0),
    ("str", "CC BY 4.0", "CC BY 3.0", 1 - 1 / 9),  # an option scored by edit distance, not exact match
    ("url", "https://a.org/x", "https://a.org/y", 1 - 1 / 15),
    ("longstr", "The cat sat.", "the cat", 0.8),  # ROUGE-1: P 2/2, R 2/3
    ("longstr", "", "", 0.0),  # rouge_score gives two empty texts 0
    ("longstr", "日本語のコーパス", "日本語のコーパス", 0.0),  # no a-z0-9 token
    ("float", 100.0, 80.0, 0.8),
    ("float", 5.0, 5.0, 1.0),
    ("float", 0.0, 3.0, 0.0),
    ("int", 4096, 2048, 0.5),
    ("year", 2020, 2018, 0.8),  # |y - 2010|: 10 against 8
    ("year", 2011, 2009, 1.0),  # both 1 year from 2010
    ("year", 2010, 2011, 0.0),
    ("bool", True, False, 0.0),
    ("bool", False, False, 1.0),
    ("list", ["a", "b", "c"], ["a", "c", "d", "e"], 0.5),  # 2 gold items found / max(3, 4)
    ("list", [], [], 1.0),
    ("list", ["a"], [], 0.0),
    ("list[dict]", [{"Name": "x", "Volume": 1.0}], [{"Volume": 1.0, "Name": "x"}, {"Name": "y"}], 0.5),
])
def test_attribute_scores_by_hand(kind, gold, pred, expected):
    assert attribute_score(kind, gold, pred) == pytest.approx(expected)


def test_rouge1_and_unknown_kind():
    assert rouge1("a b a", "a a c") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="unknown kind"):
        attribute_score("date", 1, 2)


SPEC = {"Name": {"answer_type": "str", "answer_min": 1, "answer_max": 5},
        "Year": {"answer_type": "year", "answer_min": 1900, "answer_max": 2025},
        "License": {"answer_type": "str", "answer_min": 1, "answer_max": 1, "options": ["MIT License", "CC0"]},
        "Tasks": {"answer_type": "list[str]", "answer_min": 1, "answer_max": 2},
        "Abstract": {"answer_type": "str", "answer_min": 1, "answer_max": 1000}}


def _paper(fields, **meta):
    rec = Record("Dataset", {k: tuple(Value(x) for x in (v if isinstance(v, list) else [v]))
                             for k, v in fields.items()})
    return Document("p1", "paper", meta={"schema": "en", "input_schema": SPEC, **meta}, records=[rec])


def test_paper_scores_by_hand():
    gold = _paper({"Name": "SQuAD", "Year": 2016, "License": "CC0", "Tasks": ["question answering"],
                   "Abstract": "We present a reading comprehension dataset."},
                  annotations_from_paper={"Name": 1, "Year": 1, "License": 0, "Tasks": 1, "Abstract": 1})
    pred = _paper({"Name": "SQuAD2", "Year": "2018", "License": "MIT License",  # 11 edits from CC0: 0
                   "Tasks": ["question answering", "x", "y"], "Abstract": "a reading comprehension dataset"})
    s = paper_scores(gold, pred)
    expected = {"Name": 1 - 1 / 6, "Year": 1 - 2 / 8, "License": 0.0, "Tasks": 1 / 3,
                "Abstract": 2 * (4 / 4) * (4 / 6) / (1 + 4 / 6)}
    assert s["scores"] == pytest.approx(expected)
    assert s["precision"] == pytest.approx(sum(expected.values()) / 5)
    stated = [expected[k] for k in ("Name", "Year", "Tasks", "Abstract")]
    assert s["recall"] == pytest.approx(sum(stated) / 4)
    p, r = s["precision"], s["recall"]
    assert s["f1"] == pytest.approx(2 * p * r / (p + r))
    # length: Tasks has 3 items (max 2); the others within bounds (an option always passes)
    assert s["length"] == pytest.approx(4 / 5)
    # no prediction: MeXtract's defaults ("" / 2025 / []): only the year earns anything, |2016-2010| vs 15
    empty = paper_scores(gold, None)
    assert empty["scores"] == pytest.approx({"Name": 0, "Year": 1 - 9 / 15, "License": 0, "Tasks": 0, "Abstract": 0})
    agg = mole_scores([gold], [pred])
    assert agg["papers"] == 1 and agg["f1"] == pytest.approx(s["f1"])
    assert agg["per_schema"]["en"]["papers"] == 1 and agg["per_attribute"]["Tasks"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="not among the gold"):
        mole_scores([gold], [Document("p2", "x")])


def test_schema_from_the_message():
    s = mole_schema("en", {**SPEC, "Subsets": {"answer_type": "list[dict[Name, Volume]]", "answer_min": 0,
                                               "answer_max": 3},
                           "Volume": {"answer_type": "float", "answer_min": 0}},
                    {"Name": "The name of the dataset."})
    f = {x.name: x for x in s.record_types[0].fields}
    assert s.name == "mole-en" and s.record_types[0].name == "Dataset"
    assert (f["Name"].type, f["Year"].type, f["License"].type, f["Tasks"].type, f["Abstract"].type) == \
        ("string", "integer", "enum", "string", "text")
    assert f["Tasks"].is_list and f["Subsets"].is_list and f["Subsets"].type == "text"
    assert f["Name"].description.startswith("The name of the dataset.") and f["Volume"].type == "number"
    assert field_kind("Abstract", SPEC["Abstract"], "model") == "str"
    with pytest.raises(ValueError, match="unknown answer_type"):
        field_kind("X", {"answer_type": "date"})


def test_parse_user_message_and_errors(tmp_path):
    msg = ('Schema Name: en\n    Input Schema: {"Name": {"answer_type": "str"}}\n    Paper Text: Hello.\n  \n'
           'Output JSON: ')
    assert parse_user_message(msg) == ("en", {"Name": {"answer_type": "str"}}, "Hello.")
    with pytest.raises(ValueError, match="Schema Name"):
        parse_user_message("Paper Text: x")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"path": ["evals/en/test/x.json"],
                             "chat": [[{"role": "system", "content": "s"}, {"role": "user", "content": msg},
                                       {"role": "assistant", "content": json.dumps({"Year": 2020})}]]}), bad)
    with pytest.raises(FormatError, match=r"row 0: field chat.2.content.Year: not an attribute"):
        read_mole(bad)
    with pytest.raises(FileNotFoundError):
        read_mole(tmp_path / "none.parquet")


@pytest.fixture(scope="module")
def papers():
    if not PARQUET.exists():
        pytest.skip(f"MOLE+ parquet not found at {PARQUET} (../shared/data)")
    return read_mole(PARQUET)


def test_real_papers(papers):
    assert len(papers) == 147
    assert Counter(d.meta["schema"] for d in papers) == {s: 21 for s in ("ar", "en", "fr", "jp", "ru", "multi",
                                                                          "model")}
    assert all(d.meta.get("annotations_from_paper") for d in papers)
    d = papers[0]
    assert d.id == "mole:ar:anetac" and d.text.startswith("ANETAC") and "Output JSON" not in d.text
    assert d.records[0].get("Paper_Link")[0].value == "https://arxiv.org/pdf/1907.03110"
    assert len(read_mole(PARQUET, schema="model")) == 21


def test_shipped_yaml_schemas_match_the_data(papers):
    from smallext.schema import load_schema

    built = mole_schemas(PARQUET)
    assert set(built) == {"ar", "en", "fr", "jp", "ru", "multi", "model"}
    for name, schema in built.items():
        assert load_schema(REPO / "schemas" / f"mole-{name}.yaml").model_dump() == schema.model_dump(), name
    # every gold attribute is a field of its schema
    for d in papers:
        fields = {f.name for f in built[d.meta["schema"]].record_types[0].fields}
        assert set(d.records[0].fields) <= fields


def test_gold_against_gold_and_perturbed(papers):
    s = mole_scores(papers, papers)
    assert s["papers"] == 147 and s["precision"] == s["recall"] == s["f1"] == 1.0
    assert all(v == 1.0 for v in s["per_attribute"].values())
    # the abstract left out of every prediction: it scores 0 (ROUGE-1 of an empty text), one attribute per paper
    pred = [Document(d.id, d.text, meta={}, records=[replace(d.records[0], fields={
        k: v for k, v in d.records[0].fields.items() if k != "Abstract"})]) for d in papers]
    p = mole_scores(papers, pred)
    precision, recall = [], []
    for d in papers:
        n = len(d.meta["input_schema"])
        has = "Abstract" in d.records[0].fields
        precision.append(1 - has / n)
        stated = [a for a in d.meta["input_schema"] if d.meta["annotations_from_paper"].get(a)]
        recall.append(1 - (has and "Abstract" in stated) / len(stated))
    assert p["precision"] == pytest.approx(sum(precision) / 147)
    assert p["recall"] == pytest.approx(sum(recall) / 147)
    assert p["per_attribute"]["Abstract"] == 0.0 and p["per_schema"]["model"]["f1"] == 1.0
