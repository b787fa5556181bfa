import pytest

from smallext.doc import Document, Relation, Span
from smallext.errors import DocumentError


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
        {"k": [1, 2]}, [(0, 5), (6, 8), (9, 11), (12, 18)], [Relation(0, 1, "located_in")],
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
