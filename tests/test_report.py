"""The report of a distill run from its ``metrics.json`` (typed: :class:`smallext.report.Metrics`), each kind of
output's section from its package (``kinds/<kind>/report.py``), and files written by earlier releases.

``data/metrics-48478fe.json`` and ``data/report-48478fe.md`` were written by commit 48478fe (before the
evaluation result had sections) for the CoNLL04 relation run of ``test_distill_with_a_relation_schema``
(SmolLM2-135M teacher, 8 corpus sentences, a 2-layer student, 1 epoch); only the run's paths were shortened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smallext.evaluate import Evaluation, TypeScores
from smallext.kinds import KINDS
from smallext.report import Metrics, per_type_table, render_html, render_markdown, write_report

DATA = Path(__file__).parent / "data"


def _old() -> dict:
    return json.loads((DATA / "metrics-48478fe.json").read_text(encoding="utf-8"))


def _evaluations(m: dict) -> list[dict]:
    t = m["test"]
    return [t["teacher"]["scores"], t["student"]["scores"], t["student"]["scores_on_teacher_sample"], t["agreement"]]


def test_the_metrics_of_an_earlier_release_render_the_report_it_wrote(tmp_path):
    old = _old()
    assert all("entities" not in e and "selection" not in e for e in _evaluations(old))  # written before sections
    md = render_markdown(old)
    assert md == (DATA / "report-48478fe.md").read_text(encoding="utf-8")
    assert "## Relations" in md and "| Work_For |" in md and "## F1 per entity type" in md
    page = render_html(old, md)
    assert page.count("data:image/png;base64,") == 2 and "<h2>Relations</h2>" in page
    assert write_report(old, tmp_path)[0].read_text(encoding="utf-8") == md


def test_metrics_read_and_written_again_keep_their_shape():
    """Validated and dumped, a metrics.json is the same JSON, key for key and in the same order, but for the
    ``entities`` section and ``selection`` each evaluation result of an earlier release gains; dumped again, the
    same (today's files are written by the model's dump)."""
    old = _old()
    m = Metrics.model_validate(old)
    assert m.test.student.scores.entities.micro.f1 == old["test"]["student"]["scores"]["micro"]["f1"]
    assert m.test.student.scores.relations.strict.micro.tp == old["test"]["student"]["scores"]["relations"][
        "strict"]["micro"]["tp"]
    assert m.config.schema_path == old["config"]["schema"] and m.annotation.spans == old["annotation"]["spans"]
    dumped = json.loads(json.dumps(m.model_dump(), default=str))
    for e in _evaluations(dumped):
        assert e.pop("entities") == {k: e[k] for k in ("micro", "macro", "per_type", "support")}
        assert e.pop("selection") == {"kind": "entities", "score": e["micro"]["f1"]}
    assert json.dumps(dumped, indent=2) == json.dumps(old, indent=2)  # the same keys in the same order
    today = json.dumps(m.model_dump(), indent=2, default=str)
    assert json.dumps(Metrics.model_validate(json.loads(today)).model_dump(), indent=2, default=str) == today


def test_metrics_missing_a_field_the_report_reads_are_refused_naming_it():
    old = _old()
    del old["test"]["student"]["timing"]["documents_per_s"]
    with pytest.raises(ValueError, match=r"test\.student\.timing\.documents_per_s"):
        Metrics.model_validate(old)


def test_each_kind_writes_its_own_report_section(monkeypatch):
    """The entities and relations sections come from the kinds' ``report`` parts: with the relations kind out of
    the registry the report has no relations section (and its scores are kept, untyped, in the metrics)."""
    md = render_markdown(_old())
    assert md.index("## F1 per entity type") < md.index("## Relations")
    monkeypatch.delitem(KINDS, "relations")
    m = Metrics.model_validate(_old())
    assert isinstance(m.test.student.scores.section("relations"), dict)
    without = render_markdown(m)
    assert "## Relations" not in without and "## F1 per entity type" in without
    assert without.split("## F1 per entity type")[0] == md.split("## F1 per entity type")[0]


def test_the_per_type_table_lists_every_type_of_either_side():
    def s(f1: float, support: int) -> TypeScores:
        return TypeScores(precision=f1, recall=f1, f1=f1, tp=0, fp=0, fn=support, support=support)

    assert per_type_table("type", {"LOC": s(0.5, 3)}, {"LOC": s(0.25, 4), "PER": s(1.0, 2)}) == [
        "| type | teacher | student | support |", "|---|---|---|---|",
        "| LOC | 0.500 | 0.250 | 4 |", "| PER | - | 1.000 | 2 |"]
    assert per_type_table("relation type", {"Kill": s(0.0, 5)}, {}, ("teacher (strict)", "student (strict)"))[
        0] == "| relation type | teacher (strict) | student (strict) | support |"


def test_an_evaluation_in_the_metrics_is_the_typed_result():
    e = Metrics.model_validate(_old()).test.agreement
    assert isinstance(e, Evaluation) and e.selection.kind == "entities" and e.entities.micro.ci95 == [0.0, 0.0]


def test_the_reasons_for_the_configuration_are_listed_in_the_report():
    m = _old()
    m["config"]["notes"] = ["Teacher without shots: 0.570 against 0.535 with 4 shots per group."]
    md = render_markdown(m)
    head, _, rest = md.partition("## Why this configuration\n\n")
    assert rest.startswith("- Teacher without shots: 0.570 against 0.535 with 4 shots per group.\n")
    assert "## Test:" in rest and "## Test:" not in head  # before the scores, after the run's facts
    assert "## Why this configuration" not in render_markdown(_old())
