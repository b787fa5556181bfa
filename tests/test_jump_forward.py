"""Jump-forward decoding: which characters of a JSON reply its schema forces."""

import json
from pathlib import Path

import pytest

from smallext.kinds.entities.task import EntityTask
from smallext.schema import load_schema
from smallext.teachers.backends.jump_forward import JumpForward, supports

LABELS = ["person", "product", "programming language", "field"]
LIST = EntityTask(load_schema(Path(__file__).resolve().parents[1] / "schemas" / "crossner-ai.yaml")).json_schema()
ITEM = {"type": "object", "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": LABELS}},
        "required": ["text", "type"]}
SCHEMA = {"type": "object", "properties": {"entities": {"type": "array", "items": ITEM}}, "required": ["entities"]}


def drive(jf: JumpForward, target: str, step: int = 3) -> tuple[str, int]:
    """Play a model that writes ``target`` ``step`` characters at a time; returns the reply and the number of
    characters the model had to write."""
    out, written = jf.forced(), 0
    while not jf.done:
        assert target.startswith(out), (out, target)
        piece = target[len(out): len(out) + step]
        assert piece, f"stuck at {out!r}"
        jf.feed(piece)
        out, written = out + piece, written + len(piece)
        out += jf.forced()
    return out, written


@pytest.mark.parametrize("entities", [[], [["SVM", "field"]],
                                      [["Ada \"the\" Lovelace", "person"], ["Python", "programming language"],
                                       ["ImageNet", "product"], ["x", "person"]]])
def test_canonical_list_reply_is_followed_to_the_end(entities):
    target = json.dumps({"entities": [{"text": t, "type": y} for t, y in entities]})
    reply, written = drive(JumpForward(SCHEMA), target)
    assert reply == target
    # the model writes the entity texts and enough of each type to tell it apart, little else (3-character
    # pieces spill a little over into forced text)
    assert written <= sum(len(json.dumps(t)) + 8 for t, _ in entities) + 3
    assert written <= 0.6 * len(target)


def test_pairs_reply():
    schema = {"type": "object", "properties": {"entities": {"type": "array", "items": {
        "type": "array", "prefixItems": [{"type": "string"}, {"type": "string", "enum": LABELS}]}}},
        "required": ["entities"]}
    target = json.dumps({"entities": [["SVM", "field"], ["Ada", "person"]]})
    assert drive(JumpForward(schema), target)[0] == target


def test_forced_characters_step_by_step():
    jf = JumpForward(SCHEMA)
    assert jf.forced() == '{"entities": ['
    jf.feed('{"')
    assert jf.forced() == 'text": "'
    jf.feed('SVM",')
    assert jf.forced() == ' "type": "'
    jf.feed("p")  # person, product, programming language: no choice made yet
    assert jf.forced() == ""
    jf.feed("ro")  # product or programming language
    assert jf.forced() == ""
    jf.feed("g")
    assert jf.forced() == 'ramming language"}'
    jf.feed(",")
    assert jf.forced() == ' {"text": "'
    jf.feed('a\\"b"')  # an escaped quote does not end the string
    assert jf.forced() == ', "type": "'
    jf.feed('field"')
    assert jf.forced() == "}"
    jf.feed("]")
    assert jf.forced() == "}" and jf.done


def test_a_reply_off_the_canonical_layout_is_left_alone():
    jf = JumpForward(SCHEMA)
    jf.forced()
    jf.feed("\n  ")  # the grammar allows whitespace; jump-forward stops helping
    assert jf.off and jf.forced() == ""
    jf.feed('{"text": "a", "type": "field"}]}')
    assert jf.forced() == "" and not jf.done
    done = JumpForward({"type": "string"})
    done.feed('"a"')
    assert done.done
    done.feed(" x")
    assert done.off


def test_supported_schemas():
    assert supports(LIST) and supports(SCHEMA)
    grouped = {"type": "object", "properties": {t: {"type": "array", "items": {"type": "string"}} for t in LABELS},
               "additionalProperties": False}
    assert not supports(grouped)  # optional keys: their order is the model's choice
    assert not supports({"type": "integer"})
    with pytest.raises(ValueError, match="jump-forward"):
        JumpForward(grouped)


def test_unread_characters_must_come_from_the_model():
    jf = JumpForward(SCHEMA)
    assert jf.forced() == '{"entities": ['
    jf.unread(" [")  # the engine left the last token, ' [', to the model
    assert jf.forced() == ""
    jf.feed(' [{"')  # the model wrote it merged with the next characters
    assert not jf.off and jf.forced() == 'text": "'
    jf.unread(' "')
    jf.feed(" ")  # part of it
    assert not jf.off and jf.forced() == ""
    jf.feed('"SVM",')
    assert not jf.off and jf.forced() == ' "type": "'
    other = JumpForward(SCHEMA)
    other.forced()
    other.unread(" [")
    other.feed("\n")  # something else than what was handed back
    assert other.off


def _entities(*pairs: tuple[str, str]) -> list[dict]:
    return [{"text": t, "type": y} for t, y in pairs]


def test_a_repetition_loop_is_cut_after_the_item_that_repeats_too_often():
    loop = _entities(("SVM", "field"), ("Ada", "person")) + _entities(("Ada", "person")) * 5
    jf = JumpForward(SCHEMA, max_repeats=2)
    reply = json.dumps({"entities": loop})
    fed = 0
    while jf.truncated() is None:
        jf.feed(reply[fed])
        fed += 1
    # the third "Ada" is the cut; what came before is kept and the reply is closed as valid JSON
    assert json.loads(jf.truncated()) == {"entities": loop[:4]}
    assert fed == jf.loop_at == len(json.dumps({"entities": loop[:4]})) - 2
    # as often as allowed, or never asked: no cut
    for max_repeats, items in ((2, loop[:3]), (None, loop)):
        quiet = JumpForward(SCHEMA, max_repeats=max_repeats)
        quiet.feed(json.dumps({"entities": items}))
        assert quiet.done and quiet.loop_at is None and quiet.truncated() is None
    # identical text with another type is another item
    mixed = JumpForward(SCHEMA, max_repeats=1)
    mixed.feed(json.dumps({"entities": _entities(("Ada", "person"), ("Ada", "product"))}))
    assert mixed.done and mixed.truncated() is None


def test_a_loop_cannot_be_cut_while_required_keys_are_still_to_come():
    schema = {"type": "object", "properties": {"entities": {"type": "array", "items": {"type": "string"}},
                                               "note": {"type": "string"}}, "required": ["entities", "note"]}
    jf = JumpForward(schema, max_repeats=1)
    jf.feed('{"entities": ["a", "a", "a"], "note": "x"}')
    assert jf.loop_at is not None and jf.truncated() is None and jf.done
    pairs = {"type": "object", "properties": {"entities": {"type": "array", "items": {
        "type": "array", "prefixItems": [{"type": "string"}, {"type": "string", "enum": LABELS}]}}},
        "required": ["entities"]}
    jf = JumpForward(pairs, max_repeats=1)
    jf.feed('{"entities": [["a", "field"], ["a", "field"], ["b", "field"]]}')
    assert json.loads(jf.truncated()) == {"entities": [["a", "field"], ["a", "field"]]}
