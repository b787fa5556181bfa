"""Label quality: agreement figures against hand-computed cases and the reference libraries, the alt-test on
cases with a known outcome, cross-fitting that never scores a document with a model that saw it, planted label
errors flagged with their kind, and repair."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from conftest import REPO, needs_data
from smallext.doc import Document, Span
from smallext.errors import SmallextError

TEXT = "Ada met Bob in Rome ."  # tokens: Ada met Bob in Rome .


def doc(*spans, id="d", text=TEXT):
    return Document(id, text, [Span(a, b, lab) for a, b, lab in spans])


# ------------------------------------------------------------------------------------------------ agreement
def test_token_labels_and_hand_computed_kappa():
    from smallext.quality.agreement import cohen_kappa, token_labels

    a = [doc((0, 3, "PER"), (8, 11, "PER"), (15, 19, "LOC"))]
    b = [doc((0, 3, "PER"), (15, 19, "PER"))]
    assert token_labels(a[0]) == ["PER", "O", "PER", "O", "LOC", "O"]
    assert token_labels(b[0]) == ["PER", "O", "O", "O", "PER", "O"]
    # 6 tokens; observed agreement 4/6; a: PER 2/6, LOC 1/6, O 3/6; b: PER 2/6, O 4/6
    p_o, p_e = 4 / 6, (2 / 6) * (2 / 6) + (3 / 6) * (4 / 6)
    k = cohen_kappa(a, b)
    assert k["overall"] == pytest.approx((p_o - p_e) / (1 - p_e))
    assert k["per_type"]["LOC"] is not None and k["per_type"]["LOC"] == pytest.approx(0.0)  # b never says LOC
    assert cohen_kappa([doc()], [doc()])["overall"] is None  # all O on both sides: undefined, not 1 or 0


@needs_data
def test_agreement_matches_sklearn_and_krippendorff_on_real_data():
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    from smallext.datasets import load
    from smallext.quality.agreement import agreement, token_labels
    from test_evaluate import perturb

    gold = load("conll2003:test")[:400]
    a, b = perturb(gold, 11), perturb(gold, 12)
    res = agreement({"gold": gold, "a": a, "b": b})
    flat = {n: [t for d in docs for t in token_labels(d)] for n, docs in {"gold": gold, "a": a, "b": b}.items()}
    assert res["kappa"]["gold|a"]["overall"] == pytest.approx(cohen_kappa_score(flat["gold"], flat["a"]))
    values = sorted(set(flat["gold"]) | set(flat["a"]) | set(flat["b"]))
    data = np.array([[values.index(x) for x in flat[n]] for n in ("gold", "a", "b")], dtype=float)
    assert res["alpha"]["overall"] == pytest.approx(krippendorff.alpha(reliability_data=data,
                                                                      level_of_measurement="nominal"))
    assert 0.6 < res["alpha"]["overall"] < 0.95  # the perturbation makes real disagreements
    assert res["spans"]["a"]["micro"]["f1"] < 1 and res["documents"] == 400
    with pytest.raises(SmallextError, match="different text"):
        agreement({"gold": gold[:1], "x": [gold[0].replace(text=gold[0].text + " !")]})


# ------------------------------------------------------------------------------------------------- alt-test
def _humans(gold, n, seed):
    from test_evaluate import perturb

    return {f"h{k}": perturb(gold, seed + k) for k in range(n)}


@needs_data
def test_alt_test_known_outcomes():
    """An LLM that copies an annotator passes; one that drops half of a good annotator's spans, and one that labels
    at random, do not (three simulated annotators, each the gold with realistic errors, Calderon et al. style)."""
    from smallext.datasets import load
    from smallext.quality.alttest import alt_test

    gold = load("conll2003:dev")[:300]
    gold = [d for d in gold if d.spans][:120]
    humans = _humans(gold, 3, 40)
    copy = alt_test(humans, humans["h1"], epsilon=0.15)
    assert copy["passed"] and copy["winning_rate"] == 1.0 and copy["advantage_probability"] > 0.8
    rng = random.Random(3)
    half = [d.with_spans([s for s in d.spans if rng.random() < 0.5]) for d in gold]
    dropped = alt_test(humans, half, epsilon=0.15)
    assert not dropped["passed"] and dropped["winning_rate"] == 0.0
    labels = sorted({s.label for d in gold for s in d.spans})
    noise = [d.with_spans([Span(t[0], t[1], rng.choice(labels)) for t in (d.tokens or []) if rng.random() < 0.2])
             for d in gold]
    random_llm = alt_test(humans, noise, epsilon=0.15)
    assert not random_llm["passed"] and random_llm["advantage_probability"] < dropped["advantage_probability"]
    assert {r["test"] for r in copy["humans"].values()} <= {"t", "constant"}
    small = alt_test({k: v[:20] for k, v in humans.items()}, half[:20], epsilon=0.15)  # under 30: Wilcoxon
    assert {r["test"] for r in small["humans"].values()} <= {"wilcoxon", "constant"}
    with pytest.raises(SmallextError, match="two human"):
        alt_test({"h0": humans["h0"]}, half)


def test_benjamini_yekutieli_by_hand_and_against_scipy():
    from scipy.stats import false_discovery_control

    from smallext.quality.alttest import benjamini_yekutieli

    # m = 3, H = 1 + 1/2 + 1/3 = 11/6; thresholds k/m * q/H = 0.00909 k
    assert benjamini_yekutieli([0.005, 0.015, 0.5]) == [True, True, False]
    assert benjamini_yekutieli([0.0095, 0.5, 0.02]) == [False, False, False]  # 0.0095 > 0.00909
    assert benjamini_yekutieli([0.026, 0.001, 0.9]) == [False, True, False]
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.06, size=rng.integers(1, 8)).tolist()
        assert benjamini_yekutieli(p, 0.05) == (false_discovery_control(p, method="by") <= 0.05).tolist()


# ------------------------------------------------------------------------------------------ label errors
@needs_data
@pytest.mark.slow
def test_crossfit_never_scores_a_document_with_a_model_that_saw_it():
    from smallext.datasets import load
    from smallext.quality.errors import crossfit
    from smallext.students.options import StudentOptions

    docs = load("conll2003:train")[:45]
    docs += [docs[3].replace(id="copy-of-3")]  # the same text under another id goes to the same fold
    fit = crossfit(docs, ["PER", "ORG", "LOC", "MISC"], StudentOptions(epochs=1, layers=1, threads=2), folds=3)
    assert len(fit.probs) == len(docs) and set(fit.folds) == {0, 1, 2}
    for d, k, p in zip(docs, fit.folds, fit.probs, strict=True):
        assert d.id not in fit.trained_on[k]
        assert p.probs.shape == (len(p.words), 9)
    assert fit.folds[3] == fit.folds[-1]
    assert all(len(t) + fit.folds.count(k) == len(docs) for k, t in enumerate(fit.trained_on))


COUNTRIES = {"Germany", "France", "Britain", "Russia", "China", "Japan", "Italy", "Spain", "Iraq", "Israel", "Iran",
             "Pakistan", "India", "Australia", "Canada", "Turkey", "Poland", "Sweden", "Belgium", "Netherlands"}


def plant_errors(docs):
    """Copies of ``docs`` with four errors planted in four documents, one of each kind: a country relabelled PER
    (type), a country's label removed (missing), a two-word person cut to its first word (boundary), and 'said'
    labelled ORG (spurious). Returns ``(documents, {document id: (kind, start, end)})``."""
    out, planted = list(docs), {}
    for i, d in enumerate(docs):
        text = [d.span_text(s) for s in d.spans]
        kinds = {k for k, _, _ in planted.values()}
        if "type" not in kinds and any(t in COUNTRIES for t in text):
            s = next(s for s in d.spans if d.span_text(s) in COUNTRIES)
            out[i] = d.with_spans([replace(x, label="PER") if x == s else x for x in d.spans])
            planted[d.id] = ("type", s.start, s.end)
        elif "missing" not in kinds and any(t in COUNTRIES for t in text):
            s = next(s for s in d.spans if d.span_text(s) in COUNTRIES)
            out[i] = d.with_spans([x for x in d.spans if x != s])
            planted[d.id] = ("missing", s.start, s.end)
        elif "boundary" not in kinds and any(s.label == "PER" and t.count(" ") == 1
                                             for s, t in zip(d.spans, text, strict=True)):
            s = next(s for s, t in zip(d.spans, text, strict=True) if s.label == "PER" and t.count(" ") == 1)
            out[i] = d.with_spans([replace(x, end=d.text.index(" ", x.start)) if x == s else x for x in d.spans])
            planted[d.id] = ("boundary", s.start, s.end)
        elif "spurious" not in kinds and " said " in d.text:
            a = d.text.index(" said ") + 1
            out[i] = d.with_spans([*d.spans, Span(a, a + 4, "ORG")])
            planted[d.id] = ("spurious", a, a + 4)
        if len(planted) == 4:
            return out, planted
    raise AssertionError("could not plant four errors")


@needs_data
@pytest.mark.slow
def test_planted_errors_are_flagged_with_their_kind(tmp_path):
    from smallext.datasets import load
    from smallext.quality.errors import label_errors, read_flags, write_flags
    from smallext.schema import load_schema
    from smallext.students.options import StudentOptions

    schema = load_schema(REPO / "schemas" / "conll2003.yaml")
    docs, planted = plant_errors(schema.map_documents(load("conll2003:train")[:500]))
    flags, fit = label_errors(docs, schema, StudentOptions(epochs=3, layers=3, threads=2, seed=1), folds=3)
    assert [f.score for f in flags] == sorted((f.score for f in flags), reverse=True)  # worst first
    for doc_id, (kind, start, end) in planted.items():
        mine = [f for f in flags if f.id == doc_id and f.start < end and start < f.end]
        best = max(mine, key=lambda f: f.score)
        assert best.kind == kind and best.score >= 0.5, (kind, [(f.kind, round(f.score, 2), f.text) for f in mine])
        if kind == "type":
            assert best.suggestion == {"start": start, "end": end, "label": "LOC"}
        if kind in ("missing", "boundary"):
            assert (best.suggestion["start"], best.suggestion["end"]) == (start, end)
        if kind == "spurious":
            assert best.suggestion is None
    write_flags(flags, tmp_path / "flags.jsonl")
    assert [f.to_dict() for f in read_flags(tmp_path / "flags.jsonl")] == [f.to_dict() for f in flags]


def test_repair_drops_fixes_adds_and_weighs():
    from smallext.kinds.relations import Relation
    from smallext.quality.errors import Flag
    from smallext.quality.repair import QualityOptions, repair

    d = Document("d", TEXT, [Span(0, 3, "ORG"), Span(8, 11, "PER"), Span(15, 19, "LOC"), Span(4, 7, "ORG")],
                 relations=[Relation(0, 2, "in"), Relation(1, 2, "in")])
    flags = [Flag("d", 0, 3, "ORG", "type", 0.95, "Ada", {"start": 0, "end": 3, "label": "PER"}),
             Flag("d", 4, 7, "ORG", "spurious", 0.9, "met"),
             Flag("d", 8, 11, "PER", "spurious", 0.2, "Bob"),
             Flag("d", 15, 19, "LOC", "boundary", 0.85, "Rome", {"start": 15, "end": 21, "label": "LOC"}),
             Flag("d", 20, 21, "MISC", "missing", 0.95, ".", {"start": 20, "end": 21, "label": "MISC"}),
             Flag("d", 12, 14, "LOC", "missing", 0.7, "in", {"start": 12, "end": 14, "label": "LOC"})]
    (out,), changes = repair([d], flags, QualityOptions(drop_above=0.8, fix_above=0.8, add_above=0.9))
    assert [(out.span_text(s), s.label, s.score) for s in out.spans] == [
        ("Ada", "PER", 0.95), ("Bob", "PER", 0.8), ("Rome .", "LOC", 0.85)]  # "." overlaps the moved Rome
    assert [(out.span_text(out.spans[r.head]), out.span_text(out.spans[r.tail])) for r in out.relations] == [
        ("Ada", "Rome ."), ("Bob", "Rome .")]
    assert (changes["dropped"], changes["retyped"], changes["reshaped"], changes["added"]) == (1, 1, 1, 0)
    assert changes["per_type"] == {"LOC": {"reshaped": 1}, "ORG": {"dropped": 1, "retyped": 1}}
    (plain,), _ = repair([d], flags, QualityOptions(weight=False, drop_above=1.01, fix_above=1.01, add_above=0.0))
    assert [s.score for s in plain.spans if s.source is None] == [None, None, None, None]
    added = [(plain.span_text(s), s.label) for s in plain.spans if s.source == "quality"]
    assert added == [("in", "LOC"), (".", "MISC")]
