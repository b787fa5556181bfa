import json

import pytest

from smallext.doc import Document, Span
from smallext.kinds.entities.task import EntityTask, parse_grouped_reply, parse_reply, reply_for
from smallext.schema import EntityType, Schema
from smallext.teachers.grounding import find_exact, find_fuzzy, ground
from smallext.teachers.tasks import chunk_documents

SCHEMA = Schema(name="t", entity_types=[
    EntityType(name="PER", definition="people", aliases=["person"]),
    EntityType(name="LOC", definition="places", aliases=["location", "gpe"]),
])


def g(text, ents, **kw):
    return ground(text, ents, SCHEMA.resolve_label, **kw)


def test_repeated_strings_all_or_first():
    text = "Paris is big. I love Paris. Parisian food is not Paris."
    spans, stats, aligns = g(text, [{"text": "Paris", "type": "LOC"}])
    assert [text[s.start:s.end] for s in spans] == ["Paris"] * 3  # "Parisian" is not cut
    assert [s.start for s in spans] == [0, 21, 49]
    first, _, _ = g(text, [{"text": "Paris", "type": "LOC"}], occurrences="first")
    assert [s.start for s in first] == [0]
    assert stats.exact == 1 and aligns[0].status == "exact" and len(aligns[0].spans) == 3


def test_case_and_whitespace_insensitive_fallback():
    text = "BRUSSELS 1996-08-22 : New  York and   the U.S. ."
    spans, stats, aligns = g(text, [
        {"text": "Brussels", "type": "LOC"}, {"text": "new york", "type": "location"}, {"text": "U. S.", "type": "LOC"},
    ])
    assert [text[s.start:s.end] for s in spans] == ["BRUSSELS", "New  York", "U.S."]
    assert [a.status for a in aligns] == ["fuzzy", "fuzzy", "fuzzy"] and stats.fuzzy == 3
    assert all(s.label == "LOC" for s in spans)
    assert find_exact(text, "New  York") == [(22, 31)]


def test_hallucinations_and_unknown_types_are_dropped_and_counted():
    text = "Angela Merkel met Macron in Berlin."
    spans, stats, aligns = g(text, [
        {"text": "Angela Merkel", "type": "PER"},
        {"text": "Emmanuel Macron", "type": "PER"},  # not in the text
        {"text": "Berlin", "type": "CITY"},  # unknown type
        {"text": "", "type": "PER"},
        {"text": "Macron", "type": "person"},
    ])
    assert [(text[s.start:s.end], s.label) for s in spans] == [("Angela Merkel", "PER"), ("Macron", "PER")]
    assert (stats.entities, stats.ungrounded, stats.unknown_type, stats.spans) == (5, 2, 1, 2)
    assert [a.status for a in aligns] == ["exact", "ungrounded", "unknown_type", "ungrounded", "exact"]


def test_overlap_rule_longest_then_first_listed_and_duplicates():
    text = "New York City mayor visited York ."
    spans, stats, _ = g(text, [
        {"text": "York", "type": "LOC"}, {"text": "New York City", "type": "LOC"}, {"text": "New York", "type": "PER"},
        {"text": "York", "type": "PER"},
    ])
    assert [(text[s.start:s.end], s.label) for s in spans] == [("New York City", "LOC"), ("York", "LOC")]
    assert stats.overlap_dropped == 2 and stats.duplicate == 2


def test_never_across_a_newline_and_word_boundaries():
    text = "Ian\nSmith met Brian"
    assert find_fuzzy(text, "Ian Smith") == []
    spans, stats, _ = g(text, [{"text": "ian", "type": "PER"}])
    assert [(s.start, s.end) for s in spans] == [(0, 3)]  # not the "ian" inside "Brian"


def test_parse_reply_is_tolerant():
    ok = parse_reply('Sure! ```json\n{"entities": [{"text": "Paris", "type": "LOC"}, {"text": 3}]}\n```')
    assert ok.entities == [{"text": "Paris", "type": "LOC"}] and ok.error is None
    cut = parse_reply('{"entities": [{"text": "Pa\\"ris", "type": "LOC"}, {"text": "Lon')
    assert cut.truncated and cut.error and cut.entities == [{"text": 'Pa"ris', "type": "LOC"}]
    assert parse_reply("no json here").error
    assert parse_reply('{"items": []}').error


def test_grouped_reply_format():
    ok = parse_grouped_reply('Here: {"PER": ["Ada", "Bo\\"b"], "LOC": ["Paris"], "ORG": "x"}')
    assert ok.error is None and ok.entities == [
        {"text": "Ada", "type": "PER"}, {"text": 'Bo"b', "type": "PER"}, {"text": "Paris", "type": "LOC"}]
    cut = parse_grouped_reply('{"PER": ["Ada", "Bob"], "LOC": ["Par')
    assert cut.truncated and cut.error
    assert cut.entities == [{"text": "Ada", "type": "PER"}, {"text": "Bob", "type": "PER"}]
    assert parse_grouped_reply("[1, 2]").error and parse_grouped_reply("none").error
    doc = Document("d", "Ada met Ada in Paris .", spans=[Span(0, 3, "PER"), Span(8, 11, "PER"), Span(15, 20, "LOC")])
    assert json.loads(reply_for(doc, "grouped")) == {"PER": ["Ada"], "LOC": ["Paris"]}  # each string once
    task = EntityTask(SCHEMA, reply_format="grouped")
    schema = task.json_schema("Ada lives in Paris.")
    assert set(schema["properties"]) == {"PER", "LOC"} and schema["properties"]["PER"]["maxItems"] == 3
    assert "TYPE" in task.system and task.parse('{"LOC": ["Paris"]}').entities == [{"text": "Paris", "type": "LOC"}]
    with pytest.raises(ValueError, match="reply_format"):
        EntityTask(SCHEMA, reply_format="yaml")


def test_pairs_reply_format():
    task = EntityTask(SCHEMA, reply_format="pairs")
    ok = task.parse('{"entities": [["Ada", "PER"], ["Paris", "LOC"], ["x"], [1, "PER"]]}')
    assert ok.error is None and ok.entities == [{"text": "Ada", "type": "PER"}, {"text": "Paris", "type": "LOC"}]
    cut = task.parse('{"entities": [["Ada", "PER"], ["Par')
    assert cut.truncated and cut.entities == [{"text": "Ada", "type": "PER"}]
    doc = Document("d", "Ada met Ada .", spans=[Span(0, 3, "PER"), Span(8, 11, "PER")])
    assert json.loads(reply_for(doc, "pairs")) == {"entities": [["Ada", "PER"], ["Ada", "PER"]]}  # every mention
    item = task.json_schema("Ada lives in Paris.")["properties"]["entities"]["items"]
    assert item["prefixItems"][1]["enum"] == ["PER", "LOC"] and item["minItems"] == item["maxItems"] == 2
    assert '["text", "TYPE"]' in task.system


def test_prompt_and_reply_schema():
    task = EntityTask(SCHEMA)
    msgs = task.messages("Ada lives in Paris.")
    assert msgs[0]["role"] == "system" and "PER: people" in msgs[0]["content"]
    assert msgs[-1] == {"role": "user", "content": "Ada lives in Paris."}
    schema = task.json_schema("Ada lives in Paris.")
    items = schema["properties"]["entities"]
    assert items["items"]["properties"]["type"]["enum"] == ["PER", "LOC"] and items["maxItems"] == 3
    long = "word " * 300
    assert 16 * task.max_entities(long) + 16 <= task.max_tokens(long)


def test_chunking_keeps_order_and_budget():
    docs = [Document(str(i), "x" * n) for i, n in enumerate([100, 100, 250, 500, 10])]
    chunks = chunk_documents(docs, 400)
    assert [[d.id for d in c] for c in chunks] == [["0", "1"], ["2"], ["3"], ["4"]]
    assert [len(c) for c in chunk_documents(docs, 0)] == [1] * 5


@pytest.mark.parametrize("spec, n", [("rules:a.yaml,b.yaml", 1), ("spacy:x,rules:y", 2), ("gold,spacy:z", 2)])
def test_split_ensemble(spec, n):
    from smallext.teachers import TEACHERS
    from smallext.teachers.ensemble import split_ensemble

    assert len(split_ensemble(spec, list(TEACHERS))) == n


def test_the_task_docstring_describes_every_reply_format():
    """Defect: the module said "two reply formats" and described three."""
    from smallext.kinds.entities import task as entities

    assert "Three reply formats" in entities.__doc__ and len(entities.REPLY_FORMATS) == 3
    assert all(f"``{f}``" in entities.__doc__ for f in entities.REPLY_FORMATS)


def test_entity_task_grounds_with_alignment_and_splits_back_to_documents():
    from smallext.teachers.tasks import ParsedReply

    task = EntityTask(SCHEMA)
    docs = [Document("a", "Ada lives in Paris"), Document("b", "PARIS is big")]
    text = task.join(docs)
    parsed = ParsedReply([{"text": "Paris", "type": "LOC"}, {"text": "ada", "type": "PER"},
                          {"text": "Paris\nPARIS", "type": "LOC"}])
    grounded = task.ground(text, parsed, source="t")
    assert [(text[s.start:s.end], s.alignment) for s in grounded.spans] == [("Ada", "fuzzy"), ("Paris\nPARIS", "exact")]
    out, stats = task.split(docs, grounded)
    assert [[(d.span_text(s), s.alignment) for s in d.spans] for d in out] == [[("Ada", "fuzzy")], []]
    assert (stats.crossing, stats.spans, stats.ungrounded) == (1, 1, 0)
    assert grounded.stats.crossing == 0  # split returns corrected statistics and leaves the grounding's alone
