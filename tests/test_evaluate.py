import random

import pytest

from conftest import needs_data
from smallext.datasets import load
from smallext.doc import Document, Span
from smallext.errors import SmallextError
from smallext.evaluate import evaluate, render_table
from smallext.io.columns import document_tags


def perturb(docs: list[Document], seed: int) -> list[Document]:
    """Realistic prediction errors on token boundaries: drop, relabel, shrink/extend, split, add spurious."""
    rng = random.Random(seed)
    labels = sorted({s.label for d in docs for s in d.spans})
    out = []
    for d in docs:
        toks = d.tokens
        starts = {s: i for i, (s, _) in enumerate(toks)}
        ends = {e: i for i, (_, e) in enumerate(toks)}
        spans = []
        for s in d.spans:
            i, j = starts[s.start], ends[s.end]
            r = rng.random()
            if r < 0.08:
                continue
            if r < 0.16:
                spans.append(Span(s.start, s.end, rng.choice(labels)))
            elif r < 0.22 and j > i:
                spans.append(Span(toks[i + 1][0], s.end, s.label))  # left boundary error
            elif r < 0.26 and j + 1 < len(toks):
                spans.append(Span(s.start, toks[j + 1][1], s.label))  # extend right (may overlap)
            elif r < 0.30 and j > i:
                spans.append(Span(toks[i][0], toks[i][1], s.label))  # split into two adjacent same-type
                spans.append(Span(toks[i + 1][0], s.end, s.label))
            else:
                spans.append(s)
        if rng.random() < 0.1:
            k = rng.randrange(len(toks))
            spans.append(Span(toks[k][0], toks[k][1], rng.choice(labels)))
        # keep predictions expressible as IOB2: drop any span overlapping an earlier one
        kept, last_end = [], -1
        for s in sorted(spans, key=lambda s: s.key):
            if s.start >= last_end:
                kept.append(s)
                last_end = s.end
        out.append(d.with_spans(kept))
    return out


def seqeval_scores(gold, pred):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    y_true = [t for d in gold for t in document_tags(d)[1]]
    y_pred = [t for d in pred for t in document_tags(d)[1]]
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    return precision_score(y_true, y_pred), recall_score(y_true, y_pred), f1_score(y_true, y_pred), report


@needs_data
@pytest.mark.parametrize("name, seed", [("conll2003:test", 1), ("wnut17:test", 2), ("crossner-ai:test", 3)])
def test_agrees_with_seqeval_on_perturbed_real_predictions(name, seed):
    gold = load(name)
    pred = perturb(gold, seed)
    ours = evaluate(gold, pred, n_boot=0)
    p, r, f, report = seqeval_scores(gold, pred)
    assert 0.5 < ours["micro"]["f1"] < 0.95, "the perturbation must make real errors"
    assert ours["micro"]["precision"] == pytest.approx(p, abs=1e-9)
    assert ours["micro"]["recall"] == pytest.approx(r, abs=1e-9)
    assert round(ours["micro"]["f1"], 4) == round(f, 4)
    for t, v in ours["per_type"].items():
        assert v["f1"] == pytest.approx(report[t]["f1-score"], abs=1e-9), t
        assert v["support"] == report[t]["support"], t
    assert ours["macro"]["f1"] == pytest.approx(report["macro avg"]["f1-score"], abs=1e-9)


@needs_data
def test_perfect_predictions_and_bootstrap_interval():
    gold = load("conll2003:test")
    res = evaluate(gold, gold, n_boot=200)
    assert res["micro"]["f1"] == 1.0 and res["micro"]["ci95"] == [1.0, 1.0]
    assert res["support"] == {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}
    noisy = evaluate(gold, perturb(gold, 5), n_boot=300, seed=1)
    lo, hi = noisy["micro"]["ci95"]
    assert lo < noisy["micro"]["f1"] < hi and hi - lo < 0.05
    assert evaluate(gold, perturb(gold, 5), n_boot=300, seed=1)["micro"]["ci95"] == [lo, hi]


def test_strict_match_counts():
    g = [Document("a", "John Smith visited New York", [Span(0, 10, "PER"), Span(19, 27, "LOC")])]
    p = [Document("a", "John Smith visited New York", [Span(0, 4, "PER"), Span(19, 27, "LOC"), Span(11, 18, "X")])]
    res = evaluate(g, p, n_boot=0)
    assert (res["micro"]["tp"], res["micro"]["fp"], res["micro"]["fn"]) == (1, 2, 1)
    assert res["per_type"]["PER"]["recall"] == 0.0 and res["per_type"]["LOC"]["f1"] == 1.0
    assert res["per_type"]["X"]["support"] == 0
    render_table(res)


def test_mismatched_documents_are_errors():
    g = [Document("a", "text one"), Document("b", "text two")]
    with pytest.raises(SmallextError, match="not in the gold"):
        evaluate(g, [Document("zzz", "text one")])
    with pytest.raises(SmallextError, match="differs from the gold text at character 5"):
        evaluate(g, [Document("a", "text ONE"), Document("b", "text two")])
    with pytest.raises(SmallextError, match="no prediction"):
        evaluate(g, [Document("a", "text one")])
    assert evaluate(g, [Document("a", "text one")], subset=True)["documents"] == 1


def test_macro_average_leaves_out_types_absent_from_both_sides():
    """Defect: with ``labels``, a type in neither gold nor predictions counted as an F1 of zero in the macro
    average (the docstring says: types present in gold or predictions)."""
    text = "John Smith visited New York"
    g = [Document("a", text, [Span(0, 10, "PER"), Span(19, 27, "LOC")])]
    p = [Document("a", text, [Span(0, 10, "PER")])]
    plain = evaluate(g, p, n_boot=0)
    named = evaluate(g, p, n_boot=0, labels=["PER", "LOC", "ORG", "MISC"])
    assert plain["macro"]["f1"] == pytest.approx((1.0 + 0.0) / 2)
    assert named["macro"] == plain["macro"]
    assert named["per_type"]["ORG"]["support"] == 0  # still listed, with zero counts
    only = evaluate(g, p, n_boot=0, labels=["PER", "ORG"])  # LOC is ignored on both sides
    assert only["macro"]["f1"] == 1.0 and only["micro"]["f1"] == 1.0


# ---- the typed result: Evaluation ------------------------------------------------------------------------------

def _relation_pair():
    from smallext.kinds.relations import Relation

    text = "Ann works for Acme in Rome ."
    spans = [Span(0, 3, "PER"), Span(14, 18, "ORG"), Span(22, 26, "LOC")]
    gold = Document("a", text, spans, relations=[Relation(0, 1, "Work_For"), Relation(1, 2, "Based_In")])
    pred = Document("a", text, spans[:2] + [Span(22, 26, "ORG")], relations=[Relation(0, 1, "Work_For")])
    return gold, pred


def test_an_evaluation_validates_into_its_typed_form_and_dumps_back_the_same():
    import json

    from smallext.evaluate import Evaluation, TypeScores
    from smallext.kinds.entities.report import EntityScores
    from smallext.kinds.relations.report import RelationScores

    gold, pred = _relation_pair()
    res = evaluate([gold], [pred], n_boot=20)
    ev = Evaluation.model_validate(res)
    assert isinstance(ev.entities, EntityScores) and isinstance(ev.relations, RelationScores)
    assert ev.section("entities") is ev.entities and ev.section("records") is None
    assert list(ev.sections) == ["entities", "relations"]
    assert (ev.entities.micro.tp, ev.entities.micro.fp, ev.entities.micro.fn) == (2, 1, 1)
    assert ev.entities.support == {"LOC": 1, "ORG": 1, "PER": 1} and isinstance(ev.entities.per_type["ORG"], TypeScores)
    assert (ev.relations.strict.micro.tp, ev.relations.strict.micro.fn) == (1, 1)
    assert ev.selection.kind == "entities" and ev.selection.score == res["micro"]["f1"] == ev.entities.micro.f1
    # the dump is the result, key for key and in the same order (the entity alias at the top level first)
    assert json.dumps(ev.model_dump()) == json.dumps(res)
    assert list(res) == ["micro", "macro", "per_type", "support", "documents", "entities", "relations", "selection"]


def test_results_written_before_sections_and_slimmed_ones_still_validate():
    """A result of 48478fe's evaluate (entity scores at the top level only, no selection) and a slimmed one (no
    support tables, as model cards and config.json keep them)."""
    from smallext.evaluate import Evaluation, selection_score, slim

    gold, pred = _relation_pair()
    res = evaluate([gold], [pred], n_boot=0)
    old = {k: res[k] for k in ("micro", "macro", "per_type", "support", "documents", "relations")}
    ev = Evaluation.model_validate(old)
    assert ev.entities.micro == Evaluation.model_validate(res).entities.micro and ev.relations is not None
    assert ev.selection.kind == "entities" and ev.selection.score == selection_score(old) == res["micro"]["f1"]
    assert ev.model_dump() == res  # read once, it is written in today's form: entities and selection added
    thin = Evaluation.model_validate(slim(res))
    assert thin.entities.support is None and "support" not in thin.model_dump()
    assert thin.model_dump() == slim(res)
    with pytest.raises(ValueError, match="micro"):
        Evaluation.model_validate({**res, "entities": {"macro": res["macro"], "per_type": {}}})


def test_a_section_of_a_kind_without_a_model_is_kept_as_it_came():
    from smallext.evaluate import Evaluation

    g = [Document("a", "x", [])]
    res = {**evaluate(g, g, n_boot=0), "topics": {"anything": [1, 2]}}
    ev = Evaluation.model_validate(res)
    assert ev.section("topics") == {"anything": [1, 2]} and ev.model_dump()["topics"] == {"anything": [1, 2]}


def test_each_kind_prints_its_table_for_the_terminal():
    from rich.console import Console

    from smallext.evaluate import Evaluation
    from smallext.kinds import KINDS

    gold, pred = _relation_pair()
    ev = Evaluation.model_validate(evaluate([gold], [pred], n_boot=0))
    console = Console(record=True, width=120)
    for kind in KINDS.values():
        if ev.section(kind.name) is None:  # nothing of that kind in the documents (records)
            continue
        for part in kind.load("table")(ev.section(kind.name), ev.documents):
            console.print(part)
    text = console.export_text()
    assert "Entity-level scores (strict match)" in text
    assert "micro F1 0.6667  (95% CI 0.0000-0.0000, 1 documents)" in text
    assert "Relation scores (strict | boundaries)" in text
    assert "relation micro F1: strict 0.6667, boundaries 0.6667" in text
