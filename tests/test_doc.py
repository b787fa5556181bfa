import pytest

from smallext.doc import Document, Span
from smallext.errors import DocumentError
from smallext.kinds.relations import Relation


def test_span_text_and_sorting():
    d = Document("d1", "Ada Lovelace met Charles Babbage.", [Span(17, 32, "PER"), Span(0, 12, "PER", 0.9, "t")])
    assert [d.span_text(s) for s in d.spans] == ["Ada Lovelace", "Charles Babbage"]
    assert d.entities()[0] == (0, 12, "PER", "Ada Lovelace")


@pytest.mark.parametrize("span", [Span(5, 5, "X"), Span(3, 2, "X"), Span(-1, 2, "X"), Span(0, 99, "X"), Span(0, 1, "")])
def test_invalid_span_names_document(span):
    with pytest.raises(DocumentError, match="doc-7"):
        Document("doc-7", "short text", [span])


def test_overlapping_spans_allowed_in_model():
    d = Document("d", "New York City", [Span(0, 8, "LOC"), Span(0, 13, "LOC")])
    assert len(d.spans) == 2


def test_json_round_trip_keeps_everything():
    d = Document(
        "x", "Paris is in France", [Span(0, 5, "LOC", 0.5, "gold"), Span(12, 18, "LOC")],
        {"k": [1, 2]}, [(0, 5), (6, 8), (9, 11), (12, 18)], relations=[Relation(0, 1, "located_in")],
    )
    assert Document.from_dict(d.to_dict()) == d


@pytest.mark.parametrize(
    "obj, msg",
    [
        ({"text": "a"}, "'id'"),
        ({"id": "a"}, "'text'"),
        ({"id": "a", "text": "abc", "spans": [{"start": "0", "end": 1, "label": "X"}]}, "integers"),
        ({"id": "a", "text": "abc", "spans": [{"start": 0, "end": 1}]}, "label"),
        ({"id": "a", "text": "abc", "bogus": 1}, "bogus"),
        ({"id": "a", "text": "abc", "relations": [{"head": 0, "tail": 1, "label": "r"}]}, "relation"),
    ],
)
def test_from_dict_errors(obj, msg):
    with pytest.raises(DocumentError, match=msg):
        Document.from_dict(obj)


def test_relations_follow_their_spans_when_spans_arrive_unsorted():
    """Defect: construction sorted the spans but left relation indices pointing at the old positions."""
    text = "Paris is the capital of France ."
    d = Document("d", text, [Span(24, 30, "LOC"), Span(0, 5, "LOC")], relations=[Relation(1, 0, "capital_of")])
    head, tail = d.spans[d.relations[0].head], d.spans[d.relations[0].tail]
    assert (d.span_text(head), d.span_text(tail)) == ("Paris", "France")
    with pytest.raises(DocumentError, match="refers to span"):
        Document("d", text, [Span(24, 30, "LOC"), Span(0, 5, "LOC")], relations=[Relation(2, 0, "r")])


def test_map_spans_keeps_relations_and_drops_those_that_lose_an_argument():
    from dataclasses import replace

    text = "Ada met Bob in Rome ."
    d = Document("d", text, [Span(0, 3, "PER"), Span(8, 11, "PER"), Span(15, 19, "LOC")],
                 relations=[Relation(0, 2, "in"), Relation(1, 2, "in"), Relation(0, 1, "met")])

    def edit(s):  # drop Ada; move Bob's span to the end of the sorted list (a label sorting last, longer span)
        return None if s.start == 0 else replace(s, start=15, end=20, label="ZZZ") if s.start == 8 else s

    m = d.map_spans(edit)
    assert [(m.spans[r.head].label, r.label, m.span_text(m.spans[r.tail])) for r in m.relations] == [
        ("ZZZ", "in", "Rome")]
    assert [s.label for s in m.spans] == ["LOC", "ZZZ"]  # Rome [15, 19) now sorts before [15, 20)
    assert d.with_spans(d.spans, relations=d.relations).relations == d.relations


def test_replacing_spans_never_drops_relations_silently():
    """Defect (issue 24): ``with_spans(spans)`` dropped every relation when its second argument was left out (the
    escalation and ``model:`` teacher bugs). Now it refuses, names what it would drop, and the explicit ways work:
    ``relations=[]`` drops on purpose, ``unlabelled()`` says so by its name, ``with_labels_of`` takes all labels."""
    text = "Ada met Bob in Rome ."
    d = Document("d", text, [Span(0, 3, "PER"), Span(8, 11, "PER"), Span(15, 19, "LOC")],
                 relations=[Relation(0, 2, "in")], meta={"k": 1})
    with pytest.raises(DocumentError, match="would drop its 1 relations"):
        d.with_spans(d.spans)
    assert d.with_spans(d.spans[:1], relations=[]).relations == []
    bare = d.unlabelled(why="x")
    assert (bare.spans, bare.relations, bare.meta) == ([], [], {"k": 1, "why": "x"})
    other = Document("e", text, [Span(8, 11, "PER"), Span(15, 19, "LOC")], relations=[Relation(0, 1, "in")])
    took = bare.with_labels_of(other)
    assert (took.id, took.spans, took.relations, took.meta) == ("d", other.spans, other.relations, bare.meta)
    with pytest.raises(DocumentError, match="text"):
        d.with_labels_of(Document("e", "other text"))
    with pytest.raises(DocumentError, match="unknown field"):
        Document("d", text, forms=[])


def test_schema_mapping_keeps_relations():
    """Defect: Schema.map_documents went through with_spans, which dropped every relation on the way to training
    and evaluation."""
    from conftest import REPO
    from smallext.schema import load_schema

    schema = load_schema(REPO / "schemas" / "conll2003.yaml")
    d = Document("d", "Ada works for Acme in Rome .", [Span(22, 26, "location"), Span(0, 3, "person"),
                                                      Span(14, 18, "organization")],
                 relations=[Relation(1, 2, "Work_For"), Relation(2, 0, "Based_In")])
    (m,) = schema.map_documents([d])
    assert [s.label for s in m.spans] == ["PER", "ORG", "LOC"]
    assert [(m.span_text(m.spans[r.head]), r.label, m.span_text(m.spans[r.tail])) for r in m.relations] == [
        ("Ada", "Work_For", "Acme"), ("Acme", "Based_In", "Rome")]


def test_span_alignment_round_trips_and_is_checked():
    d = Document("d", "Paris", [Span(0, 5, "LOC", 0.9, "t", "fuzzy")])
    assert d.to_dict()["spans"][0]["alignment"] == "fuzzy" and Document.from_dict(d.to_dict()) == d
    with pytest.raises(DocumentError, match="alignment"):
        Document.from_dict({"id": "d", "text": "Paris", "spans": [{"start": 0, "end": 5, "label": "LOC",
                                                                   "alignment": "guessed"}]})


def test_non_overlapping_keeps_the_first_by_priority():
    from smallext.doc import non_overlapping

    items = [(0, 5, "a"), (3, 8, "b"), (8, 9, "c"), (0, 9, "d")]
    assert non_overlapping(items, lambda x: (x[0], x[1]), lambda x: x[2]) == [(0, 5, "a"), (8, 9, "c")]
    longest = non_overlapping(items, lambda x: (x[0], x[1]), lambda x: -(x[1] - x[0]))
    assert longest == [(0, 9, "d")]
