"""Relations end to end: readers, schema, evaluation, the relation task's parsing and grounding, the relation
student (training, ONNX parity), extraction and serving."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import DATA, REPO, needs_data
from smallext.doc import Document, Span
from smallext.errors import ConfigError, FormatError
from smallext.evaluate import evaluate
from smallext.io.spert import bilou_chunks, read_spert
from smallext.kinds.relations import Relation
from smallext.kinds.relations.schema import relation_labels, relation_type
from smallext.kinds.relations.scorer import relation_keys
from smallext.schema import Schema, load_schema

CONLL04 = REPO / "schemas" / "conll04.yaml"
SCIERC = REPO / "schemas" / "scierc.yaml"

_NUM = r"\s*([\d,]+)\s*\|"


def _num(s: str) -> int:
    return int(s.replace(",", ""))


def _types(cell: str) -> dict[str, int]:
    return {t: _num(n) for t, n in re.findall(r"([A-Za-z][\w-]*) ([\d,]+)", cell)}


def _provenance_rows(dataset: str) -> list[list[str]]:
    text = (DATA / dataset / "PROVENANCE.md").read_text(encoding="utf-8")
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| train") or line.startswith("| dev") or line.startswith("| test")]


@needs_data
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_conll04_counts_match_provenance(split):
    from smallext.datasets import describe, load

    row = next(r for r in _provenance_rows("conll04") if r[0] == f"{split} (SpERT split)")
    _, _, sents, toks, ents, per_type, rels, per_rel = row
    got = describe(load("conll04", split))
    assert (got["documents"], got["tokens"], got["entities"], got["relations"]) == (
        _num(sents), _num(toks), _num(ents), _num(rels))
    assert got["per_type"] == _types(per_type) and got["per_relation_type"] == _types(per_rel)


@needs_data
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_scierc_counts_match_provenance(split):
    from smallext.datasets import describe, load

    row = next(r for r in _provenance_rows("scierc") if r[0] == split)
    _, abstracts, sents, toks, ents, per_type, rels, per_rel, _clusters = row
    sentences = describe(load("scierc", split))
    abstract_docs = load("scierc", split, group_documents=True)
    assert sentences["documents"] == _num(sents) and len(abstract_docs) == _num(abstracts)
    for got in (sentences, describe(abstract_docs)):
        assert (got["tokens"], got["entities"], got["relations"]) == (_num(toks), _num(ents), _num(rels))
        assert got["per_type"] == _types(per_type) and got["per_relation_type"] == _types(per_rel)


@needs_data
def test_a_relation_reads_back_as_its_arguments_text():
    from smallext.datasets import load

    doc = load("conll04", "test")[1]  # "PERUGIA , Italy ( AP )"
    got = {(doc.span_text(doc.spans[r.head]), r.label, doc.span_text(doc.spans[r.tail])) for r in doc.relations}
    assert got == {("PERUGIA", "Located_In", "Italy"), ("AP", "OrgBased_In", "PERUGIA"), ("AP", "OrgBased_In", "Italy")}
    abstract = load("scierc", "test", group_documents=True)[0]
    assert abstract.meta["sentences"] == len(abstract.meta["sentence_offsets"]) > 1
    for r in abstract.relations:  # SciERC relations never cross a sentence
        h, t = abstract.spans[r.head], abstract.spans[r.tail]
        inside = [k for k, (a, b) in enumerate(abstract.meta["sentence_offsets"]) if a <= h.start and t.end <= b or
                  a <= t.start and h.end <= b]
        assert inside


def test_bilou_chunks():
    assert bilou_chunks(["B-Org", "L-Org", "O", "U-Loc", "B-Peop", "I-Peop", "L-Peop", "U-Loc"]) == [
        (0, 2, "Org"), (3, 4, "Loc"), (4, 7, "Peop"), (7, 8, "Loc")]
    assert bilou_chunks(["B-Org", "I-Org", "O"]) == [(0, 2, "Org")]  # read as BIO when not closed
    with pytest.raises(ValueError, match="X-Org"):
        bilou_chunks(["X-Org"])


def test_spert_reader_names_the_sentence_of_a_bad_relation(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([{"tokens": ["A", "B"], "tags": ["U-Peop", "O"], "orig_id": 7,
                              "relations": [{"head": 0, "tail": 3, "type": "Kill"}]}]))
    with pytest.raises(FormatError, match=r"bad.json: sentence 0 \(orig_id 7\).*entity 0 or 3"):
        read_spert(p)


def test_schema_rejects_a_relation_argument_that_is_not_an_entity_type(tmp_path):
    base = {"name": "s", "entity_types": [{"name": "PER", "definition": "a person"},
                                          {"name": "ORG", "definition": "an organisation"}]}
    good = {**base, "relation_types": [{"name": "Work_For", "definition": "works for", "head": ["PER"],
                                        "tail": ["ORG"]}]}
    assert relation_labels(load_schema(_write(tmp_path / "ok.yaml", good))) == ["Work_For"]
    bad = {**base, "relation_types": [{"name": "Work_For", "definition": "works for", "head": ["PER"],
                                       "tail": ["Company"]}]}
    with pytest.raises(ConfigError, match=r"bad.yaml.*relation_types\.0\.tail\.0.*'Company' is not an entity type"):
        load_schema(_write(tmp_path / "bad.yaml", bad))
    ex = {**good, "relation_types": [{**good["relation_types"][0], "examples": [
        {"text": "Ann at Acme", "spans": [{"start": 0, "end": 3, "label": "PER"}, {"start": 7, "end": 11,
                                                                                  "label": "ORG"}],
         "relations": [{"head": 0, "tail": 1, "label": "Lives_In"}]}]}]}
    with pytest.raises(ConfigError, match=r"relation_types\.0\.examples\.0\.relations\.0\.label"):
        load_schema(_write(tmp_path / "ex.yaml", ex))


def _write(path, data):
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_relation_schemas_allow_every_gold_relation():
    for path in (CONLL04, SCIERC):
        schema = load_schema(path)
        assert schema.relation_types and all(ex.relations for r in schema.relation_types for ex in r.examples)
        for d in schema.examples():  # examples are checked: spans inside their text, relations between them
            for r in d.relations:
                assert relation_type(schema, r.label).allows(d.spans[r.head].label, d.spans[r.tail].label)
    if DATA is not None:
        from smallext.datasets import load

        for name, path in (("conll04", CONLL04), ("scierc", SCIERC)):
            schema = load_schema(path)
            for d in schema.map_documents(load(name, "train")):
                for r in d.relations:
                    allowed = relation_type(schema, r.label).allows(d.spans[r.head].label, d.spans[r.tail].label)
                    assert allowed, (d.id, r)


# ---- evaluation -------------------------------------------------------------------------------------------------

def _doc(spans, relations, doc_id="d"):
    return Document(doc_id, "Ann works for Acme in Rome and Bob too .", [Span(*s) for s in spans],
                    relations=[Relation(*r) for r in relations])


ANN, ACME, ROME, BOB = (0, 3, "PER"), (14, 18, "ORG"), (22, 26, "LOC"), (31, 34, "PER")


def test_relation_scores_strict_and_boundaries_by_hand():
    gold = _doc([ANN, ACME, ROME, BOB], [(0, 1, "Work_For"), (1, 2, "Based_In"), (3, 1, "Work_For")])
    pred = _doc([ANN, (14, 18, "LOC"), ROME, (31, 38, "PER")],  # Acme mistyped, Bob's boundary wrong
                [(0, 1, "Work_For"), (1, 2, "Based_In"), (3, 1, "Work_For"), (2, 0, "Based_In")])
    res = evaluate([gold], [pred], n_boot=0)["relations"]
    s, b = res["strict"], res["boundaries"]
    # strict: every predicted relation touches the mistyped Acme or Bob's wrong span, or is wrong: 0 of 4
    assert (s["micro"]["tp"], s["micro"]["fp"], s["micro"]["fn"]) == (0, 4, 3)
    # boundaries: Acme's type no longer matters -> 2 right (Ann-Acme, Acme-Rome); Bob's span still wrong
    assert (b["micro"]["tp"], b["micro"]["fp"], b["micro"]["fn"]) == (2, 2, 1)
    assert b["per_type"]["Work_For"]["tp"] == 1 and b["per_type"]["Based_In"] == {
        "precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "tp": 1, "fp": 1, "fn": 0, "support": 1}


def test_symmetric_relations_match_in_either_direction_and_others_do_not():
    gold = _doc([ANN, BOB], [(0, 1, "Sibling")])
    pred = _doc([ANN, BOB], [(1, 0, "Sibling")])
    assert evaluate([gold], [pred], n_boot=0)["relations"]["strict"]["micro"]["f1"] == 0.0
    res = evaluate([gold], [pred], n_boot=0, symmetric=["Sibling"])["relations"]
    assert res["strict"]["micro"]["f1"] == res["boundaries"]["micro"]["f1"] == 1.0
    assert relation_keys(pred, "strict", ["Sibling"]) == relation_keys(gold, "strict", ["Sibling"])


def test_no_relations_on_either_side_gives_no_relation_scores_unless_asked():
    gold = _doc([ANN], [])
    assert "relations" not in evaluate([gold], [gold], n_boot=0)
    asked = evaluate([gold], [gold], n_boot=0, relation_labels=["Work_For"])["relations"]["strict"]
    assert asked["per_type"]["Work_For"]["support"] == 0 and asked["micro"]["f1"] == 0.0


def _spert_score(gold_docs, pred_docs, with_types: bool):
    """SpERT's evaluator (Eberts & Ulges 2020, spert/evaluator.py ``_score`` and ``_convert_by_setting``), as its
    authors wrote it: tuples per sentence, the union of gold and predicted tuples flattened into label vectors
    (0 where absent) and scored with scikit-learn's micro precision/recall/F1 over the relation types."""
    from sklearn.metrics import precision_recall_fscore_support as prfs

    def tuples(d):
        out = []
        for r in d.relations:
            h, t = d.spans[r.head], d.spans[r.tail]
            out.append(((h.start, h.end, h.label if with_types else "Entity"),
                        (t.start, t.end, t.label if with_types else "Entity"), r.label))
        return out

    gt_flat, pred_flat, types = [], [], set()
    for g, p in zip(gold_docs, pred_docs, strict=True):
        sg, sp = tuples(g), tuples(p)
        for s in set(sg) | set(sp):
            gt_flat.append(s[2] if s in sg else 0)
            pred_flat.append(s[2] if s in sp else 0)
            types.add(s[2])
    return prfs(gt_flat, pred_flat, labels=list(types), average="micro", zero_division=0)[:3]


# ---- the relation task ------------------------------------------------------------------------------------------

def test_relation_reply_parses_and_salvages_a_cut_off_reply():
    from smallext.kinds.relations.task import parse_relation_reply

    full = ('Sure: {"entities": [{"text": "Ann", "type": "Peop"}, {"text": "Acme", "type": "Org"}], '
            '"relations": [{"head": "Ann", "type": "Work_For", "tail": "Acme"}, '
            '{"head": 3, "type": "x", "tail": "y"}]}')
    p = parse_relation_reply(full)
    assert p.error is None and len(p.entities) == 2
    assert p.items["relations"] == [{"head": "Ann", "type": "Work_For", "tail": "Acme"}]
    cut = parse_relation_reply(full[: full.index(', {"head": 3')] + ', {"head": "A')
    assert cut.truncated and cut.items["relations"] == [{"head": "Ann", "type": "Work_For", "tail": "Acme"}]


def test_relations_are_grounded_to_the_replys_entities_and_bad_ones_counted():
    from smallext.kinds.relations.task import RelationTask
    from smallext.teachers.tasks.base import ParsedReply

    task = RelationTask(load_schema(CONLL04))
    text = "Ann of Boston works for Acme ; Ann 's sister lives in Boston ."
    parsed = ParsedReply(
        [{"text": "Ann", "type": "Peop"}, {"text": "Boston", "type": "Loc"}, {"text": "Acme", "type": "Org"}],
        items={"relations": [{"head": "Ann", "type": "Work_For", "tail": "acme"},   # fuzzy; the Ann closest to Acme
                             {"head": "Ann", "type": "Live_In", "tail": "Boston"},  # closest occurrences: first two
                             {"head": "Bob", "type": "Work_For", "tail": "Acme"},   # Bob is no entity: ungrounded
                             {"head": "Acme", "type": "Work_For", "tail": "Ann"},   # Org -> Peop: breaks the schema
                             {"head": "Ann", "type": "Married_To", "tail": "Acme"}]})  # unknown type
    g = task.ground(text, parsed, source="t")
    got = [(text[g.spans[r.head].start:g.spans[r.head].end], g.spans[r.head].start, r.label,
            text[g.spans[r.tail].start:g.spans[r.tail].end], g.spans[r.tail].start) for r in g.layers["relations"]]
    assert got == [("Ann", 31, "Work_For", "Acme", 24), ("Ann", 0, "Live_In", "Boston", 7)]
    st = g.stats
    assert (st.relations, st.relations_kept, st.relations_ungrounded, st.relations_type_error,
            st.relations_unknown_type) == (5, 2, 1, 1, 1)


@needs_data
def test_the_ideal_reply_of_every_dev_sentence_grounds_back_to_its_gold():
    """Prompt shots and grounding agree: the reply we would teach (``reply_for``) of each CoNLL04 dev sentence,
    parsed and grounded, gives back its gold relations (up to sentences where one string is two entities)."""
    from smallext.datasets import load
    from smallext.kinds.relations.task import RelationTask

    schema = load_schema(CONLL04)
    task = RelationTask(schema)
    docs = schema.map_documents(load("conll04", "dev"))
    same = 0
    for d in docs:
        g = task.ground(d.text, task.parse(task.reply_for(d)))
        got = Document(d.id, d.text, g.spans, **g.layers)
        same += relation_keys(got) == relation_keys(d)
    assert same >= 0.95 * len(docs), f"{same} of {len(docs)}"  # 223 of 231: the rest name one string twice


def test_relation_json_schema_bounds_replies():
    from smallext.kinds.relations.task import RelationTask

    task = RelationTask(load_schema(CONLL04))
    js = task.json_schema("Ann works for Acme in Rome .")
    rel = js["properties"]["relations"]
    assert js["required"] == ["entities", "relations"] and rel["maxItems"] >= 2
    assert rel["items"]["properties"]["type"]["enum"] == ["Work_For", "Kill", "Live_In", "Located_In", "OrgBased_In"]
    assert "Work_For: The person (head)" in task.system and "head: Peop; tail: Org" in task.system
    with pytest.raises(ValueError, match="relation_types"):
        RelationTask(load_schema(REPO / "schemas" / "conll2003.yaml"))


def test_llm_teacher_picks_the_relation_task_for_a_relation_schema():
    from smallext.teachers.llm import LLMOptions, _task

    assert _task(load_schema(CONLL04), LLMOptions()).name == "relations"
    assert _task(load_schema(REPO / "schemas" / "conll2003.yaml"), LLMOptions()).name == "entities"


# ---- the relation student ---------------------------------------------------------------------------------------

# (the relation_student fixture is in conftest.py: the spaCy component tests use the same student)


@needs_data
@pytest.mark.slow
def test_a_tiny_relation_student_beats_predicting_no_relations(relation_student):
    from smallext.datasets import load
    from smallext.students.extractor import Extractor

    _, out, _, schema = relation_student
    dev = schema.map_documents(load("conll04", "dev"))
    pred = Extractor.load(out, threads=2).extract(dev)
    assert sum(len(d.relations) for d in pred) > 0
    res = evaluate(dev, pred, n_boot=0)["relations"]
    assert res["strict"]["micro"]["f1"] > 0.15, res["strict"]["micro"]
    # ours agrees with SpERT's scorer on these real predictions, in both settings
    for setting, with_types in (("strict", True), ("boundaries", False)):
        p, r, f = _spert_score(dev, pred, with_types)
        m = res[setting]["micro"]
        assert (m["precision"], m["recall"], m["f1"]) == (pytest.approx(p), pytest.approx(r), pytest.approx(f))
    # every predicted relation respects the schema and points at spans of its document
    for d in pred:
        for rel in d.relations:
            assert relation_type(schema, rel.label).allows(d.spans[rel.head].label, d.spans[rel.tail].label)
            assert 0.5 <= rel.score <= 1.0


@needs_data
@pytest.mark.slow
def test_onnx_relation_scores_match_torch(relation_student):
    """The packaged student (fp32 ONNX encoder + relation.onnx, no torch) gives the torch model's relations and
    scores; the int8 model stays close."""
    from smallext.datasets import load
    from smallext.students.extractor import Extractor
    from smallext.students.train import predict

    res, out, fp32, schema = relation_student
    docs = schema.map_documents(load("conll04", "test"))[:120]
    torch_pred = predict(res.model, res.tokenizer, res.tags, docs, heads=res.heads)
    onnx_pred = Extractor.load(out, threads=2, onnx_file=str(fp32)).extract(docs)
    n = 0
    for a, b in zip(torch_pred, onnx_pred, strict=True):
        assert [s.key for s in a.spans] == [s.key for s in b.spans]
        assert [(r.head, r.tail, r.label) for r in a.relations] == [(r.head, r.tail, r.label) for r in b.relations]
        assert np.allclose([r.score for r in a.relations], [r.score for r in b.relations], atol=2e-3)
        n += len(a.relations)
    assert n > 0
    int8 = Extractor.load(out, threads=2).extract(docs)
    assert evaluate(docs, int8, n_boot=0)["relations"]["strict"]["micro"]["f1"] == pytest.approx(
        evaluate(docs, onnx_pred, n_boot=0)["relations"]["strict"]["micro"]["f1"], abs=0.05)


@needs_data
@pytest.mark.slow
def test_extract_and_serve_return_relations(relation_student, tmp_path):
    from fastapi.testclient import TestClient

    from smallext.io import read_jsonl
    from smallext.serve.app import create_app
    from smallext.students.extractor import extract_file

    _, out, _, _ = relation_student
    src = tmp_path / "in.txt"
    src.write_text("John Smith , a spokesman for Ford Motor Co. in Detroit , said on Monday .\n"
                   "PERUGIA , Italy ( AP )\n")
    assert extract_file(out, src, tmp_path / "out.jsonl", threads=2) == 2
    written = read_jsonl(tmp_path / "out.jsonl")
    assert any(d.relations for d in written)
    raw = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all("relations" in r for r, d in zip(raw, written, strict=True) if d.relations)
    with TestClient(create_app(out, threads=2)) as client:
        body = client.post("/extract", json={"texts": src.read_text().splitlines()}).json()
        metadata = client.get("/metadata").json()
        openapi = client.get("/openapi.json").json()
    rels = [r for d in body["documents"] for r in d["relations"]]
    assert rels and all(set(r) == {"head", "tail", "label", "head_text", "tail_text", "score"} for r in rels)
    for d, w in zip(body["documents"], written, strict=True):
        assert [(r["head"], r["tail"], r["label"]) for r in d["relations"]] == [
            (r.head, r.tail, r.label) for r in w.relations]
        for r in d["relations"]:
            assert d["spans"][r["head"]]["text"] == r["head_text"]
    assert metadata["relation_types"] == [r.name for r in load_schema(CONLL04).relation_types]
    assert "RelationOut" in openapi["components"]["schemas"]


def test_schema_relation_labels_are_mapped_by_alias():
    schema = Schema.model_validate({"name": "s", "entity_types": [{"name": "PER", "definition": "p"}],
                                    "relation_types": [{"name": "Sibling", "definition": "s", "head": ["PER"],
                                                        "tail": ["PER"], "symmetric": True,
                                                        "aliases": ["sibling_of"]}]})
    d = Document("d", "Ann and Bob", [Span(0, 3, "PER"), Span(8, 11, "PER")], relations=[Relation(0, 1, "SIBLING_OF")])
    assert schema.map_documents([d])[0].relations[0].label == "Sibling"
    with pytest.raises(ConfigError, match="relation label 'Spouse'"):
        schema.map_documents([Document("d", "Ann and Bob", d.spans, relations=[Relation(0, 1, "Spouse")])])


@needs_data
@pytest.mark.slow
def test_a_relation_student_as_a_teacher_keeps_its_relations(relation_student):
    """Defect (issue 24): ``model:DIR`` as a teacher dropped every relation a relation student predicts (0 of 168 on
    new text). The teacher now returns what the student extracts: the same spans and relations, its source."""
    from smallext.datasets import load
    from smallext.students.extractor import Extractor
    from smallext.teachers import load_teacher

    _, out, _, schema = relation_student
    docs = schema.map_documents(load("conll04", "dev"))[:80]
    direct = Extractor.load(out, threads=2).extract([d.unlabelled() for d in docs])
    taught = list(load_teacher(f"model:{out}", schema, {"threads": 2}).annotate(docs))
    assert sum(len(d.relations) for d in direct) > 0
    for d, t, p in zip(docs, taught, direct, strict=True):
        assert (t.id, t.meta) == (d.id, d.meta)
        assert [s.key for s in t.spans] == [s.key for s in p.spans]
        assert [(r.head, r.tail, r.label, r.score) for r in t.relations] == [
            (r.head, r.tail, r.label, r.score) for r in p.relations]
        assert {x.source for x in [*t.spans, *t.relations]} <= {f"model:{out}"}


def test_escalation_keeps_the_second_passs_relations(tmp_path):
    """Defect (issue 24): an escalated document took the second pass's spans and lost its relations
    (``d.with_spans(again[d.id].spans)``); the others keep the first pass's labels, relations included."""
    from smallext.quality.escalate import escalate
    from smallext.teachers.base import ChunkResult, Teacher

    class Second(Teacher):
        spec = "second"

        def annotate_chunk(self, docs, cache):
            res = ChunkResult()
            res.docs = [d.with_spans([Span(*ANN), Span(*ACME)], relations=[Relation(0, 1, "Work_For", 0.9, "second")])
                        for d in docs]
            return res

    first = [_doc([ANN, ROME], [(0, 1, "Live_In")], doc_id=f"d{i}") for i in range(5)]
    out, info = escalate(first, {"d3": 0.9, "d1": 0.5}, Second(), share=0.2, store=tmp_path / "e.sqlite")
    assert info["documents"] == 1
    assert [(r.label, out[3].span_text(out[3].spans[r.head])) for r in out[3].relations] == [("Work_For", "Ann")]
    assert [d.relations for d in out[:3] + out[4:]] == [d.relations for d in first[:3] + first[4:]]


def test_an_ensemble_votes_on_relations():
    """A relation is kept when a majority proposes it with the same two argument spans and label."""
    from smallext.teachers.base import ChunkResult, Teacher
    from smallext.teachers.ensemble import EnsembleTeacher
    from smallext.teachers.store import MemoryCache

    class Fixed(Teacher):
        def __init__(self, name, relations):
            self.spec, self.relations = name, relations

        def annotate_chunk(self, docs, cache):
            res = ChunkResult()
            res.docs = [d.with_spans([Span(*ANN), Span(*ACME), Span(*ROME)],
                                     relations=[Relation(*r) for r in self.relations]) for d in docs]
            return res

    members = [Fixed("a", [(0, 1, "Work_For"), (1, 2, "Based_In")]), Fixed("b", [(0, 1, "Work_For")]),
               Fixed("c", [(0, 1, "Work_For"), (2, 1, "Based_In")])]
    doc = _doc([], [])
    (majority,) = EnsembleTeacher(members, "majority").annotate_chunk([doc], MemoryCache()).docs
    assert [(r.head, r.tail, r.label, r.score) for r in majority.relations] == [(0, 1, "Work_For", 1.0)]
    (union,) = EnsembleTeacher(members, "union").annotate_chunk([doc], MemoryCache()).docs
    assert sorted((r.head, r.tail, r.label) for r in union.relations) == [
        (0, 1, "Work_For"), (1, 2, "Based_In"), (2, 1, "Based_In")]


@needs_data
def test_cli_evaluate_scores_relations(tmp_path):
    from typer.testing import CliRunner

    from smallext.cli import app
    from smallext.datasets import load
    from smallext.io import write_jsonl

    gold = load("conll04", "test")
    pred = [d.replace(relations=[r for r in d.relations if r.label != "Kill"]) for d in gold]  # Kill forgotten
    write_jsonl(pred, tmp_path / "pred.jsonl")
    r = CliRunner().invoke(app, ["evaluate", "--gold", "conll04:test", "--pred", str(tmp_path / "pred.jsonl"),
                                 "--schema", str(CONLL04), "--n-boot", "50", "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    rel = json.loads((tmp_path / "s.json").read_text())["relations"]["strict"]
    assert rel["micro"]["fn"] == 47 and rel["micro"]["fp"] == 0 and rel["per_type"]["Kill"]["recall"] == 0.0
    assert "Relation scores" in r.output and "strict" in r.output


def test_candidate_pairs_follow_the_schema_and_the_window():
    from smallext.kinds.relations.head import RelationSpec, candidate_pairs, decode_relations, distance_bucket

    spec = RelationSpec.from_types(
        [{"name": "Work_For", "head": ["PER"], "tail": ["ORG"]},
         {"name": "Sibling", "head": ["PER"], "tail": ["PER"], "symmetric": True}], ["PER", "ORG", "LOC"],
        max_length=12)
    spans = [Span(0, 3, "PER"), Span(5, 8, "ORG"), Span(10, 13, "LOC"), Span(15, 18, "PER"), Span(40, 43, "ORG")]
    pieces = [(0, 1), (2, 3), (4, 5), (6, 7), (20, 21)]
    pairs = candidate_pairs(spans, pieces, spec)
    # PER->ORG and PER<->PER only; no LOC; the ORG 20 pieces away is out of the window
    assert pairs == [(0, 1), (0, 3), (3, 0), (3, 1)]
    probs = np.array([[0.9, 0.1], [0.2, 0.7], [0.1, 0.6], [0.3, 0.2]], np.float32)
    types = [(0, 1), (0, 0), (0, 0), (0, 1)]
    rels = decode_relations(probs, pairs, types, spec)
    # Work_For where allowed and likely; Sibling once although both directions passed, the more probable one
    assert [(r.head, r.tail, r.label, r.score) for r in rels] == [(0, 1, "Work_For", 0.9), (0, 3, "Sibling", 0.7)]
    assert distance_bucket(0, True) != distance_bucket(0, False)
    assert distance_bucket(-1, True) != distance_bucket(0, True)
    assert distance_bucket(100, True) == distance_bucket(33, True)
