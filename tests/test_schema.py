from pathlib import Path

import pytest

from conftest import REPO, needs_data
from smallext.datasets import DATASETS, describe, load
from smallext.doc import Document, Span
from smallext.errors import ConfigError
from smallext.schema import load_schema

SCHEMAS = sorted((REPO / "schemas").glob("*.yaml"))


def test_every_registered_dataset_has_a_schema():
    names = {p.name for p in SCHEMAS}
    assert {info.schema for info in DATASETS.values()} <= names


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_shipped_schemas_are_valid_and_precise(path):
    s = load_schema(path)
    for t in s.entity_types:
        assert len(t.definition) > 10, f"{t.name}: definition too short to guide an LLM"
        assert t.examples, f"{t.name}: needs at least one example"
    for d in s.examples():
        for span in d.spans:
            text = d.span_text(span)
            assert text == text.strip() and text, f"{d.id}: example span {text!r} has stray whitespace"


@needs_data
@pytest.mark.parametrize("name", list(DATASETS))
def test_schema_labels_cover_dataset_labels(name):
    if "dev" not in DATASETS[name].files:
        pytest.skip(f"{name} has no dev split ({', '.join(DATASETS[name].files)})")
    schema = load_schema(REPO / "schemas" / DATASETS[name].schema)
    docs = load(name, "dev")
    mapped = schema.map_documents(docs)  # raises on an unknown label
    assert describe(mapped)["entities"] == describe(docs)["entities"]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, field",
    [
        ("name: x\nentity_types:\n  - name: A\n", "entity_types.0.definition"),
        ("name: x\nentity_types: []\n", "entity_types"),
        ("name: x\nentity_types:\n  - {name: A, definition: d, colour: red}\n", "entity_types.0.colour"),
        ("name: x\nentity_types:\n  - {name: A, definition: d}\n  - {name: B, definition: d, aliases: [a]}\n",
         "already used"),
        ("name: x\nentity_types:\n  - name: A\n    definition: d\n    examples:\n"
         "      - {text: abc, spans: [{start: 1, end: 9, label: A}]}\n", "entity_types.0.examples.0"),
        ("name: x\nentity_types:\n  - name: A\n    definition: d\n    examples:\n"
         "      - {text: abc, spans: [{start: 0, end: 1, label: Z}]}\n", "unknown entity type 'Z'"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path, text, field):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_schema(p)
    assert str(p) in str(e.value) and field in str(e.value)


def test_aliases_map_labels(tmp_path):
    s = load_schema(REPO / "schemas" / "conll2003.yaml")
    assert s.resolve_label("person") == "PER" and s.resolve_label("Organization") == "ORG"
    assert s.resolve_label("ANIMAL") is None
    doc = Document("d", "Ada in Rome", [Span(0, 3, "person"), Span(7, 11, "ANIMAL")])
    with pytest.raises(ConfigError, match="'ANIMAL'"):
        s.map_documents([doc])
    assert s.map_documents([doc], strict=False)[0].entities() == [(0, 3, "PER", "Ada")]
    j = tmp_path / "s.json"
    j.write_text('{"name": "j", "entity_types": [{"name": "A", "definition": "d"}]}')
    assert load_schema(j).labels == ["A"]


def test_schema_guidelines_are_stated_once_in_the_prompt(tmp_path):
    from smallext.kinds.entities.task import EntityTask

    p = write(tmp_path, "name: x\nguidelines: [Mark every mention.]\nentity_types:\n"
                        "  - {name: A, definition: first, guidelines: [A only.]}\n  - {name: B, definition: second}\n")
    system = EntityTask(load_schema(p)).system
    assert system.count("Mark every mention.") == 1 and system.count("A only.") == 1
    assert system.index("Mark every mention.") < system.index("- A: first") < system.index("A only.")
    assert "Rules for every type" not in EntityTask(load_schema(p), guidelines=False).system
    with pytest.raises(ConfigError, match="guidelines"):
        load_schema(write(tmp_path, "name: x\nguidelines: Mark.\nentity_types:\n  - {name: A, definition: d}\n"))


def test_shipped_schemas_state_shared_guidelines_at_the_top():
    # a guideline written under several types belongs in the schema's own guidelines (the prompt says it once)
    for path in SCHEMAS:
        s = load_schema(path)
        per_type = [g for t in s.entity_types for g in t.guidelines]
        assert len(per_type) == len(set(per_type)), f"{path.name}: a guideline is repeated under several types"


def test_every_section_is_optional_but_one_type_is_required(tmp_path):
    """A schema needs a type in at least one section; relation types still need the entity types they name."""
    import pytest
    import yaml

    from smallext.errors import ConfigError
    from smallext.schema import load_schema

    def write(data):
        p = tmp_path / "s.yaml"
        p.write_text(yaml.safe_dump(data), encoding="utf-8")
        return p

    with pytest.raises(ConfigError, match="at least one type"):
        load_schema(write({"name": "empty"}))
    with pytest.raises(ConfigError, match="at least one type"):
        load_schema(write({"name": "empty", "entity_types": [], "relation_types": []}))
    with pytest.raises(ConfigError, match=r"relation_types\.0\.head\.0: 'PER' is not an entity type"):
        load_schema(write({"name": "r", "relation_types": [{"name": "Knows", "definition": "d", "head": ["PER"],
                                                            "tail": ["PER"]}]}))
    with pytest.raises(ConfigError, match="form_types: not a field or section"):
        load_schema(write({"name": "x", "entity_types": [{"name": "PER", "definition": "d"}], "form_types": []}))
    only_records = load_schema(write({"name": "r", "record_types": [{"name": "Receipt", "definition": "d",
                                                                      "fields": [{"name": "total", "type": "money",
                                                                                  "description": "d"}]}]}))
    assert only_records.entity_types == [] and only_records.record_types[0].fields[0].type == "money"
