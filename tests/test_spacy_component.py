"""The spaCy component (smallext.integrations.spacy): a real trained student in a spaCy pipeline gives the
extractor's spans as doc.ents, batches through the extractor, survives nlp.to_disk + spacy.load, counts the spans
that do not fall on spaCy tokens, and is found through its entry point."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, needs_data

spacy = pytest.importorskip("spacy", reason="needs the spacy extra")
from spacy.tokens import Doc, DocBin  # noqa: E402

from smallext.doc import Document, Span  # noqa: E402
from smallext.errors import ConfigError  # noqa: E402
from smallext.integrations.spacy import SmallextComponent, align_spans, annotate_doc  # noqa: E402
from smallext.kinds.relations import Relation  # noqa: E402


def _texts(n: int = 40) -> list[str]:
    """Real sentences: the first ``n`` CoNLL-2003 test sentences of four words or more, with the space before
    , . ) ' and after ( removed, as a person would write them (so a tokenizer that splits on whitespace only leaves
    punctuation on the words the student predicts, and spaCy's own splits it off)."""
    from smallext.datasets import load

    out = []
    for d in load("conll2003:test")[:200]:
        text = re.sub(r" ([.,)'])", r"\1", d.text).replace("( ", "(")
        if len(text.split()) >= 4:
            out.append(text)
    return out[:n]


def _keys(doc) -> list[tuple[int, int, str]]:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def _strict(doc, document: Document) -> tuple[list[tuple[int, int, str]], int]:
    """The test's own oracle: the spans of ``document`` whose both edges are edges of ``doc``'s tokens, and how many
    are not."""
    starts = {t.idx for t in doc}
    ends = {t.idx + len(t.text) for t in doc}
    on = [s.key for s in document.spans if s.start in starts and s.end in ends]
    return on, len(document.spans) - len(on)


@pytest.fixture(scope="module")
def texts(data):
    return _texts()


@pytest.fixture(scope="module")
def extractor(tiny_student):
    from smallext.students.extractor import Extractor

    return Extractor.load(tiny_student, threads=2)


def _nlp(model, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("smallext", config={"model": str(model), "threads": 2, **config})
    return nlp


# ---- against the extractor ----------------------------------------------------------------------------------------

@needs_data
@pytest.mark.slow
def test_doc_ents_are_the_extractors_spans(tiny_student, extractor, texts):
    """Each text through the pipeline gives the extractor's spans for it (offsets and labels) where both edges are
    spaCy token edges; each other span is counted as misaligned and expanded to the tokens it touches."""
    nlp = _nlp(tiny_student)
    n_spans = n_misaligned = 0
    for text in texts:
        doc = nlp(text)
        pred = extractor.extract([text])[0]
        on_tokens, misaligned = _strict(doc, pred)
        assert doc._.smallext_misaligned == misaligned, text
        assert doc._.smallext_dropped == 0, text
        assert [k for k in _keys(doc) if k in set(on_tokens)] == on_tokens, text
        assert len(doc.ents) == len(pred.spans)
        for ent, s in zip(doc.ents, pred.spans, strict=True):  # a misaligned span covers its characters
            assert ent.label_ == s.label and ent.start_char <= s.start and s.end <= ent.end_char
        group = doc.spans["smallext"]
        assert [(g.start_char, g.end_char) for g in group] == [(e.start_char, e.end_char) for e in doc.ents]
        assert group.attrs["scores"] == [s.score for s in pred.spans]
        assert doc._.relations == []  # an entity-only student
        n_spans += len(pred.spans)
        n_misaligned += misaligned
    assert n_spans >= 20, n_spans  # the comparison is over real predictions
    assert nlp.get_pipe("smallext").misaligned == n_misaligned
    assert nlp.get_pipe("smallext").labels == ("PER", "ORG", "LOC", "MISC")


@needs_data
@pytest.mark.slow
def test_pipe_batches_through_the_extractor(tiny_student, extractor, texts):
    """``nlp.pipe`` makes one extractor call per batch of documents and gives what the extractor gives for that
    batch. With one window per onnxruntime call (``batch_size: 1``) that is what each text gives alone; with more,
    int8 activations are quantized over the whole onnxruntime batch, so a few spans differ (2 of these 40 texts
    with this student), as they do for the extractor itself."""
    nlp = _nlp(tiny_student)
    component: SmallextComponent = nlp.get_pipe("smallext")
    calls = []
    real = component.extractor.extract

    def spy(inputs, **kw):
        calls.append((len(inputs), kw))
        return real(inputs, **kw)

    component.extractor.extract = spy
    piped = list(nlp.pipe(texts, batch_size=16))
    assert calls == [(16, {"batch_size": 32}), (16, {"batch_size": 32}), (len(texts) - 32, {"batch_size": 32})]
    assert [d.text for d in piped] == texts
    batched = [d for lo in range(0, len(texts), 16) for d in extractor.extract(texts[lo : lo + 16])]
    assert all(d._.smallext_misaligned == 0 for d in piped)  # so the entities are the spans themselves
    assert [_keys(d) for d in piped] == [[s.key for s in p.spans] for p in batched]
    assert [d.spans["smallext"].attrs["scores"] for d in piped] == [[s.score for s in p.spans] for p in batched]
    assert sum(len(d.ents) for d in piped) >= 20

    single = _nlp(tiny_student, batch_size=1)
    piped = list(single.pipe(texts, batch_size=16))
    alone = [single(t) for t in texts]
    assert [_keys(d) for d in piped] == [_keys(d) for d in alone]
    assert [d.spans["smallext"].attrs["scores"] for d in piped] == [d.spans["smallext"].attrs["scores"] for d in alone]
    assert [d._.smallext_misaligned for d in piped] == [d._.smallext_misaligned for d in alone]


@needs_data
@pytest.mark.slow
def test_to_disk_and_spacy_load_round_trip_without_the_original_model(tiny_student, texts, tmp_path):
    """The saved pipeline holds a copy of the student: it loads and gives the same entities after the directory
    the config names is gone."""
    model = tmp_path / "student"
    shutil.copytree(tiny_student, model)
    nlp = _nlp(model, alignment_mode="contract", spans_key="preds")
    before = [_keys(d) for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    saved = tmp_path / "pipeline" / "smallext" / "model"
    assert sorted(p.name for p in saved.iterdir()) == sorted(p.name for p in model.iterdir())
    assert (saved / "model.onnx").read_bytes() == (model / "model.onnx").read_bytes()
    shutil.rmtree(model)
    loaded = spacy.load(tmp_path / "pipeline")
    component = loaded.get_pipe("smallext")
    assert loaded.pipe_names == ["smallext"]
    assert loaded.meta["labels"] == {"smallext": ["PER", "ORG", "LOC", "MISC"]}
    assert (component.model_dir, component.alignment_mode, component.spans_key) == (saved, "contract", "preds")
    assert [_keys(d) for d in loaded.pipe(texts)] == before
    assert any(before)
    loaded.to_disk(tmp_path / "pipeline")  # saving a loaded pipeline onto itself keeps its student
    assert [_keys(d) for d in spacy.load(tmp_path / "pipeline").pipe(texts)] == before


@needs_data
@pytest.mark.slow
def test_existing_entities_are_kept_with_overwrite_ents_false(tiny_student, extractor, texts):
    """An entity_ruler's entity stays; the student's spans that overlap it are dropped and counted, the others
    are added."""
    pred = extractor.extract(texts)
    i = next(i for i, d in enumerate(pred) if len(d.spans) >= 2)
    text, first = texts[i], pred[i].spans[0]
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "RULE", "pattern": text[first.start:first.end]}])
    nlp.add_pipe("smallext", config={"model": str(tiny_student), "threads": 2, "overwrite_ents": False})
    doc = nlp(text)
    rule = [e for e in doc.ents if e.label_ == "RULE"]
    assert rule and (rule[0].start_char, rule[0].end_char) == (first.start, first.end)
    overlapping = [s for s in pred[i].spans if any(s.start < e.end_char and e.start_char < s.end for e in rule)]
    assert doc._.smallext_dropped == len(overlapping) >= 1
    assert len(doc.ents) == len(rule) + len(pred[i].spans) - len(overlapping)
    overwritten = _nlp(tiny_student)(text)
    assert "RULE" not in {e.label_ for e in overwritten.ents}


@needs_data
@pytest.mark.slow
def test_a_relation_students_relations_are_doc_relations(relation_student, tmp_path):
    """A relation student's relations, with their arguments as the Doc's entities, in doc._.relations; they
    survive nlp.to_disk + spacy.load and a DocBin with user data."""
    from smallext.datasets import load
    from smallext.students.extractor import Extractor

    _, out, _, schema = relation_student
    texts = [d.text for d in schema.map_documents(load("conll04", "dev"))[:60]]
    ex = Extractor.load(out, threads=2)
    nlp = _nlp(out)
    docs = [nlp(t) for t in texts]
    n = 0
    for doc, pred in zip(docs, [ex.extract([t])[0] for t in texts], strict=True):
        assert _strict(doc, pred)[1] == doc._.smallext_misaligned == 0  # tokenized text: every span aligns
        assert _keys(doc) == [s.key for s in pred.spans]
        got = [(h.start_char, h.end_char, h.label_, label, t.start_char, t.end_char, t.label_, score)
               for h, label, t, score in doc._.relations]
        assert got == [(*pred.spans[r.head].key, r.label, *pred.spans[r.tail].key, r.score) for r in pred.relations]
        assert all(h in doc.ents and t in doc.ents for h, _, t, _ in doc._.relations)
        n += len(got)
    assert n > 0, "the relation student predicted no relation on these sentences"
    relations = [[(h.text, label, t.text) for h, label, t, _ in d._.relations] for d in docs]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [[(h.text, label, t.text) for h, label, t, _ in d._.relations] for d in loaded.pipe(texts, batch_size=1)
            ] == relations
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    back = list(DocBin().from_bytes(data).get_docs(nlp.vocab))
    assert [[(h.text, label, t.text) for h, label, t, _ in d._.relations] for d in back] == relations


# ---- spans that do not fall on spaCy tokens -----------------------------------------------------------------------

@needs_data
@pytest.mark.slow
def test_predictions_inside_tokens_are_counted_and_logged(tiny_student, extractor, texts, caplog):
    """Two tokenizers that split less than the student does: on whitespace only (``Germany,`` is one token), and the
    whole text as one token, where every predicted span has an edge inside it."""
    nlp = _nlp(tiny_student)
    nlp.tokenizer = lambda text: Doc(nlp.vocab, words=text.split(" "))
    pred = extractor.extract(texts)
    expected = 0
    with caplog.at_level(logging.WARNING, logger="smallext.integrations.spacy"):
        for doc, p in zip(nlp.pipe(texts, batch_size=len(texts)), pred, strict=True):
            _, misaligned = _strict(doc, p)
            assert doc._.smallext_misaligned == misaligned
            assert len(doc.ents) + doc._.smallext_dropped == len(p.spans)
            expected += misaligned
    assert expected > 0  # the student split "Germany," where the whitespace tokenizer does not
    assert nlp.get_pipe("smallext").misaligned == expected
    assert [r.getMessage() for r in caplog.records if f"{expected} had an edge inside a spaCy token" in r.getMessage()]

    whole = _nlp(tiny_student, alignment_mode="contract")
    whole.tokenizer = lambda text: Doc(whole.vocab, words=[text])
    text = next(t for t, p in zip(texts, pred, strict=True) if p.spans)
    n = len(extractor.extract([text])[0].spans)
    doc = whole(text)
    assert (doc._.smallext_misaligned, doc._.smallext_dropped, doc.ents) == (n, n, ())
    component = whole.get_pipe("smallext")
    assert (component.misaligned, component.dropped) == (n, n)


def test_alignment_modes_on_a_hand_made_case():
    nlp = spacy.blank("en")
    doc = nlp("Johnson said NewYork, really")  # tokens: Johnson | said | NewYork | , | really
    spans = [Span(0, 7, "PER"), Span(0, 3, "PER"), Span(13, 16, "LOC"), Span(16, 20, "LOC"), Span(8, 9, "X")]
    expand = align_spans(doc, spans, "expand")
    assert expand.misaligned == 4
    assert [(s.text, s.label_) if s is not None else None for s in expand.spans] == [
        ("Johnson", "PER"), ("Johnson", "PER"), ("NewYork", "LOC"), ("NewYork", "LOC"), ("said", "X")]
    contract = align_spans(doc, spans, "contract")
    assert contract.misaligned == 4
    assert [s.text if s is not None else None for s in contract.spans] == ["Johnson", None, None, None, None]
    assert align_spans(doc, [Span(13, 21, "LOC")]).misaligned == 0  # "NewYork," is two whole tokens
    with pytest.raises(ConfigError, match="alignment_mode"):
        align_spans(doc, spans, "strict")
    with pytest.raises(ValueError, match="outside the text"):
        align_spans(doc, [Span(20, 40, "X")])


def test_annotate_doc_counts_what_it_drops_and_keeps_relations_on_entities():
    nlp = spacy.blank("en")
    text = "Ann Lee works at Acme Corp in Oslo"
    # span 3 is inside "Oslo" and contracts to nothing; the relation to it goes with it
    pred = Document("d", text, [Span(0, 3, "PER"), Span(4, 7, "PER"), Span(17, 26, "ORG"), Span(30, 32, "LOC")],
                    relations=[Relation(0, 2, "Work_For", 0.9), Relation(1, 2, "Work_For", 0.8),
                               Relation(2, 3, "OrgBased_In", 0.7)])
    doc = nlp(text)
    done = annotate_doc(doc, pred, alignment_mode="contract")
    assert _keys(doc) == [(0, 3, "PER"), (4, 7, "PER"), (17, 26, "ORG")]
    assert (done.misaligned, done.dropped, done.relations, done.relations_dropped) == (1, 1, 2, 1)
    assert [(h.text, label, t.text, score) for h, label, t, score in doc._.relations] == [
        ("Ann", "Work_For", "Acme Corp", 0.9), ("Lee", "Work_For", "Acme Corp", 0.8)]
    assert all(h in doc.ents and t in doc.ents for h, _, t, _ in doc._.relations)
    doc = nlp(text)
    done = annotate_doc(doc, Document("d", text, [Span(0, 2, "PER"), Span(1, 3, "PER")]), alignment_mode="expand")
    assert (_keys(doc), done.misaligned, done.dropped) == ([(0, 3, "PER")], 2, 1)
    assert [s.text for s in doc.spans["smallext"]] == ["Ann", "Ann"]  # both kept beside doc.ents
    with pytest.raises(ValueError, match="another text"):
        annotate_doc(nlp("other"), pred)


def test_relations_survive_a_docbin_with_user_data():
    nlp = spacy.blank("en")
    text = "Ann works at Acme"
    doc = nlp(text)
    annotate_doc(doc, Document("d", text, [Span(0, 3, "PER"), Span(13, 17, "ORG")],
                               relations=[Relation(0, 1, "Work_For", 0.75)]))
    data = DocBin(store_user_data=True, docs=[doc]).to_bytes()
    back = next(DocBin().from_bytes(data).get_docs(nlp.vocab))
    assert [(h.text, h.label_, label, t.text, t.label_, s) for h, label, t, s in back._.relations] == [
        ("Ann", "PER", "Work_For", "Acme", "ORG", 0.75)]
    assert (back._.smallext_misaligned, back._.smallext_dropped) == (0, 0)


# ---- configuration and errors -------------------------------------------------------------------------------------

def test_a_directory_that_is_not_a_student_is_named(tmp_path):
    nlp = spacy.blank("en")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "config.json")) + " is missing"):
        nlp.add_pipe("smallext", config={"model": str(tmp_path)})
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "config.json"))):
        nlp.add_pipe("smallext", config={"model": str(tmp_path)})
    with pytest.raises(ConfigError, match="'model' is required"):
        nlp.add_pipe("smallext")
    with pytest.raises(ConfigError, match="alignment_mode 'strict'"):
        nlp.add_pipe("smallext", config={"model": str(tmp_path / "nowhere"), "alignment_mode": "strict"})
    nlp.add_pipe("smallext", config={"model": str(tmp_path / "nowhere")})  # spacy.load gives it from_disk
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "nowhere")) + " does not exist"):
        nlp("some text")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "saved" / "model"))):
        nlp.get_pipe("smallext").from_disk(tmp_path / "saved")


def test_the_entry_point_registers_the_factory_without_importing_smallext():
    """In a fresh interpreter that never imports smallext, spaCy finds the factory through the
    ``spacy_factories`` entry point (what ``spacy.load`` of a saved pipeline relies on)."""
    code = "\n".join([
        "import json, sys",
        "from importlib.metadata import entry_points",
        "import spacy",
        "from spacy.language import Language",
        "before = sorted(m for m in sys.modules if m.split('.')[0] == 'smallext')",
        "nlp = spacy.blank('en')",
        "meta = Language.get_factory_meta('smallext')",
        "eps = [e.value for e in entry_points(group='spacy_factories') if e.name == 'smallext']",
        "pipe = nlp.add_pipe('smallext', config={'model': 'not/yet/there'})",
        "print(json.dumps({'before': before, 'has': Language.has_factory('smallext'), 'eps': eps,",
        "                  'defaults': meta.default_config,",
        "                  'class': type(pipe).__module__ + '.' + type(pipe).__name__,",
        "                  'config': nlp.config['components']['smallext']}))",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO / "tests",
                         timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"] == []
    assert got["has"] is True
    assert got["eps"] == ["smallext.integrations.spacy:make_smallext"]
    assert got["class"] == "smallext.integrations.spacy.SmallextComponent"
    assert got["config"] == {"factory": "smallext", **got["defaults"], "model": "not/yet/there"}
    assert got["defaults"] == {"model": None, "threads": None, "batch_size": 32, "overwrite_ents": True,
                               "alignment_mode": "expand", "spans_key": "smallext"}
