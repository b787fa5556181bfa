"""MlTables' attribute-level scores (smallext.kinds.records.tables_eval): hand-computed cells from the authors'
code (schema-to-json, src/schema2json/tasks/mltables.py), gold against gold and a perturbed copy on the real test
split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from smallext.doc import Document
from smallext.kinds.records.document import Record, Value
from smallext.kinds.records.tables_eval import cell_counts, mltables_scores, process_eval_string, record_cell, word_f1

ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "schema-to-json" / "data" / "mltables.zip"


def test_process_eval_string_and_word_f1():
    assert process_eval_string(r"BERT-base \cite{devlin} (ours)") == "bert base ours"
    assert process_eval_string("Data Stat.") == "data stat."
    assert process_eval_string(r"\ref{tab:1} top\_1") == "top _1"  # the backslash goes, the escaped _ stays
    assert word_f1("a b c", "a b") == pytest.approx(0.8)
    assert word_f1("", "") == 0


def test_cells_by_hand():
    gold = {"type": "Result", "task": "image classification", "metric": ["accuracy", "acc"], "model": "ResNet-50"}
    pred = {"type": "Result", "task": "classification", "metric": "acc", "test data/set": "ImageNet"}
    # type TP; task word F1 2/3 >= 0.25 TP; metric "acc" is a gold name TP; model missing FN; test data FP
    assert cell_counts(gold, pred) == (3, 1, 1)
    # exact match: "classification" is not "image classification"
    assert cell_counts(gold, pred, "exact_match") == (2, 2, 2)
    # the threshold: word F1 of "classification" vs "image classification" is 2/3
    assert cell_counts(gold, pred, threshold=0.7) == (2, 2, 2)
    # another type: type FP+FN; shared attribute names are still compared (model)
    hp = {"type": "Hyper-parameter/Architecture", "model": "ResNet 50", "parameter/architecture name": "depth"}
    assert cell_counts(gold, hp) == (1, 2, 3)
    # unmatched cells: every valid attribute, type included
    assert cell_counts(gold, None) == (0, 0, 4) and cell_counts(None, pred) == (0, 4, 0)
    assert cell_counts({"type": "Other"}, {"type": "Other"}) == (1, 0, 0)
    # an attribute that processing empties fails against itself (their word F1 of two empty strings is 0)
    assert cell_counts({"type": "Other", "task": "--"}, {"type": "Other", "task": "--"}) == (1, 1, 1)
    with pytest.raises(ValueError, match="unknown metric"):
        cell_counts(gold, pred, "bleu")


def test_settings_by_hand():
    gold = {"type": "Result", "experimental settings": [("shots", "5"), ("depth range", "[0.5, 10]"), ("k", "2")]}
    # two of three entries paired: P 2/2, R 2/3, F1 0.8 >= 0.5 -> TP
    two = {"type": "Result", "experimental settings": [("shots", "5"), ("depth range", "0.5 to 10")]}
    assert cell_counts(gold, two) == (2, 0, 0)
    # one of three: P 1/2, R 1/3, F1 0.4 -> FP + FN
    one = {"type": "Result", "experimental settings": [("shots", "5"), ("seed", "1")]}
    assert cell_counts(gold, one) == (1, 1, 1)
    # exact match compares the gold's words with the prediction's characters: the same entries fail
    assert cell_counts(gold, dict(gold), "exact_match") == (1, 1, 1)
    # a pair needs a word F1 strictly above the threshold: "a b c d" vs "a x y z" is exactly 0.25
    g = {"type": "Result", "model settings": [("a", "b c d")]}
    assert cell_counts(g, {"type": "Result", "model settings": [("a", "x y z")]}) == (1, 1, 1)


def _doc(doc_id, records, meta=None):
    return Document(doc_id, "0.91 | 0.85 | 12 | 0.91", meta=meta or {}, records=records)


def _cell(value, start, rtype="Result", **fields):
    vs = {"value": (Value(value, start=start, end=start + len(value)) if start is not None else Value(value),)}
    vs.update({k: tuple(Value(x) for x in (v if isinstance(v, list) else [v])) for k, v in fields.items()})
    return Record(rtype, vs)


def test_tables_by_hand():
    gold = [_doc("t1", [_cell("0.91", 0, task="QA", metric="EM"), _cell("0.85", 7, task="QA", metric="F1"),
                        _cell("12", 14, "DataStat", dataset="SQuAD", attribute="size")],
                 {"alternatives": [[1, "metric", ["F1", "F1 score"]]]}),
            _doc("t2", [_cell("0.91", 19, task="NER", metric="F1")])]
    pred = [_doc("t1", [
        _cell("0.91", 0, task="QA", metric="EM"),                    # 3 TP
        _cell("0.85", None, task="QA", metric="F1 score"),          # no offsets: by value; 3 TP (an alternative)
        _cell("12", 14, "Other"),                                   # Other: type FP+FN, dataset FN, attribute FN
        _cell("0.91", 19, task="QA")])]                             # no gold cell there, value taken: 2 FP
    s = mltables_scores(gold, pred)
    assert s["per_table"]["t1"] == {"tp": 6, "fp": 3, "fn": 3}
    assert s["per_table"]["t2"] == {"tp": 0, "fp": 0, "fn": 3}
    assert (s["tp"], s["fp"], s["fn"]) == (6, 3, 6)
    assert s["micro"]["precision"] == pytest.approx(6 / 9) and s["micro"]["recall"] == pytest.approx(6 / 12)
    # macro: table 2 has P = R = F1 = 0, and counts
    assert s["macro"]["precision"] == pytest.approx((6 / 9 + 0) / 2)
    assert s["macro"]["f1"] == pytest.approx((2 * (6 / 9) * (6 / 9) / (12 / 9)) / 2)
    with pytest.raises(ValueError, match="not among the gold"):
        mltables_scores(gold, [_doc("t9", [])])


def test_record_cell_maps_names():
    r = _cell("3", 0, "HyperParameter", model="BERT", parameter="layers")
    assert record_cell(r) == {"type": "Hyper-parameter/Architecture", "model": "BERT",
                              "parameter/architecture name": "layers"}
    r = _cell("3", 0, "Result", experimental_settings=["depth range: [0.5, 10]", "seed"])
    assert record_cell(r)["experimental settings"] == [("depth range", "[0.5, 10]"), ("seed", "")]
    assert record_cell(Record("Table", {})) == {"type": "Other"}
    assert record_cell(Record("Table", {}), gold=True) == {"type": "Table"}


@pytest.fixture(scope="module")
def test_split():
    if not ZIP.exists():
        pytest.skip(f"MlTables not found at {ZIP} (../shared/data)")
    from smallext.io.schema_to_json import read_mltables

    return read_mltables(ZIP, split="test")


def test_gold_against_gold_is_perfect(test_split):
    s = mltables_scores(test_split, test_split)
    assert s["tables"] == 68 and s["tp"] == 13279 and s["fp"] == s["fn"] == 0
    assert s["micro"]["f1"] == 1.0 and s["macro"]["f1"] == 1.0
    # exact match: their settings comparison (words against characters) fails each of the 1,316 settings
    settings = sum(1 for d in test_split for r in d.records for f in r.fields if f.endswith("settings")
                   or f == "dataset_features")
    e = mltables_scores(test_split, test_split, metric="exact_match")
    assert settings == 1316 and e["fp"] == e["fn"] == settings and e["tp"] == 13279 - settings


def test_perturbed_copy_drops_as_expected(test_split):
    pred, dropped_tasks, dropped_cells = [], 0, 0
    for d in test_split:
        recs = []
        for i, r in enumerate(d.records):
            if i % 10 == 0:  # every tenth cell not predicted: each of its valid attributes a FN
                dropped_cells += len(record_cell(r, gold=True))
                continue
            if "task" in r.fields:  # the task left out: one FN per record that had one
                dropped_tasks += 1
                r = replace(r, fields={k: v for k, v in r.fields.items() if k != "task"})
            recs.append(r)
        pred.append(Document(d.id, d.text, meta={}, records=recs))
    s = mltables_scores(test_split, pred)
    assert s["fp"] == 0 and s["fn"] == dropped_tasks + dropped_cells
    assert s["tp"] == 13279 - dropped_tasks - dropped_cells
    assert s["micro"]["precision"] == 1.0 and s["micro"]["recall"] == pytest.approx(s["tp"] / 13279)
