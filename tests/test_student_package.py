"""The packaged student's contracts (torch-free): config.json as one typed model whose format is checked on load,
the heads it names, the model card written from it, and train_student's summary."""

from __future__ import annotations

import json

import pytest

from smallext.errors import ConfigError
from smallext.students.card import model_card
from smallext.students.head import head_class, student_heads, student_kinds
from smallext.students.package import ModelCard, StudentConfig, TrainSummary, read_config

RELATIONS = [{"name": "Work_For", "head": ["Peop"], "tail": ["Org"], "symmetric": False},
             {"name": "Sibling", "head": ["Peop"], "tail": ["Peop"], "symmetric": True}]


def _old_config(relation_types=()) -> dict:
    """A config.json as smallext wrote it before student heads (export.py at commit 48478fe), every key."""
    return {
        "format": "smallext-student/1",
        "tags": ["O", "B-Peop", "I-Peop", "B-Org", "I-Org"],
        "entity_types": ["Peop", "Org"],
        "max_length": 128,
        "stride": 32,
        "casing": True,
        "pad_id": 0,
        "base_model": "minilm",
        "base_model_path": "/somewhere/all-MiniLM-L6-v2",
        "parameters": 22_700_000,
        "created": "2026-11-30",
        "training": {"config": {"base_model": "minilm", "epochs": 3, "layers": 2, "relation_threshold": 0.4},
                     "best_epoch": 2,
                     "history": [{"epoch": 1, "loss": 1.5, "seconds": 3.0, "dev_f1": 0.25},
                                 {"epoch": 2, "loss": 0.5, "seconds": 6.0, "dev_f1": 0.5, "dev_relation_f1": 0.125}],
                     "train_documents": 10, "train_windows": 10, "train_spans": 31,
                     "train_spans_off_word_boundaries": 0, "train_seconds": 6.1},
        "relation_types": list(relation_types),
        "relation_threshold": 0.4,
        "schema": None,
        "card": {"training_data": "ten sentences", "casing_ablation_dev_f1": {"casing": 0.5},
                 "scores": {"dev (int8 ONNX)": {"micro": {"precision": 0.5, "recall": 0.5, "f1": 0.5},
                                                "documents": 10}}},
    }


def _write(tmp_path, config: dict):
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return d


def test_a_config_written_by_earlier_releases_loads_with_its_heads(tmp_path):
    entity_only = read_config(_write(tmp_path, _old_config()))
    heads = student_heads(entity_only)
    assert [h.kind for h in heads] == ["entities"]  # no relation types: no relation head
    assert heads[0].tags == ["O", "B-Peop", "I-Peop", "B-Org", "I-Org"] and heads[0].entity_types == ["Peop", "Org"]
    assert (entity_only.max_length, entity_only.training.best_epoch, entity_only.card.training_data) == (
        128, 2, "ten sentences")

    cfg = read_config(_write(tmp_path, _old_config(RELATIONS)))
    ent, rel = student_heads(cfg)
    assert rel.kind == "relations" and rel.labels == ["Work_For", "Sibling"] and rel.threshold == 0.4
    assert rel.spec.max_pair_pieces == 126 and rel.spec.symmetric.tolist() == [False, True]
    assert rel.evaluate_options() == {"relation_labels": ["Work_For", "Sibling"], "symmetric": ["Sibling"]}
    # written again, the file keeps every key and value it had
    assert cfg.dump() == _old_config(RELATIONS)


def test_the_model_card_is_written_from_the_typed_config(tmp_path):
    cfg = read_config(_write(tmp_path, _old_config(RELATIONS)))
    card = model_card(cfg, 12.3)
    assert card.startswith("# smallext student: Peop, Org\n")
    assert "`minilm`, its first 2 layers (22.7M parameters)" in card and "Size on disk: 12.3 MB" in card
    assert "best epoch 2 of 3; 10 documents, 31 spans, 6.1 s" in card
    assert "- Relations: Work_For, Sibling, between pairs of predicted entities at most 126 word pieces" in card
    assert "| 1 | 1.5000 | 0.2500 | - |" in card and "| 2 | 0.5000 | 0.5000 | 0.1250 |" in card
    assert "| dev (int8 ONNX) | 0.5000 | 0.5000 | 0.5000 | 10 |" in card
    assert '"casing_ablation_dev_f1"' in card  # other card facts are listed as they are
    assert "Relations:" not in model_card(read_config(_write(tmp_path, _old_config())))


@pytest.mark.parametrize("found", ["smallext-student/2", "smallext-student/0", "something-else/1", None])
def test_an_unknown_or_newer_format_is_refused_naming_the_file_and_the_version(tmp_path, found):
    raw = _old_config()
    if found is None:
        del raw["format"]
    else:
        raw["format"] = found
    d = _write(tmp_path, raw)
    with pytest.raises(ConfigError, match=rf"{d / 'config.json'}: format {found!r} is not one this smallext reads"):
        read_config(d)


def test_the_extractor_refuses_a_newer_format_before_loading_anything(tmp_path):
    from smallext.students.extractor import Extractor

    d = _write(tmp_path, {**_old_config(), "format": "smallext-student/2"})
    (d / "tokenizer.json").write_text("{}")
    (d / "model.onnx").write_bytes(b"not a model")  # never read: the config is checked first
    with pytest.raises(ConfigError, match=r"config\.json: format 'smallext-student/2'"):
        Extractor.load(d)


def test_a_config_missing_a_key_or_a_head_key_names_it(tmp_path):
    raw = _old_config()
    del raw["stride"]
    with pytest.raises(ConfigError, match=r"config\.json: stride: Field required"):
        read_config(_write(tmp_path, raw))
    raw = _old_config()
    del raw["tags"]
    with pytest.raises(ConfigError, match=r"the entities head's key tags: Field required"):
        student_heads(read_config(_write(tmp_path, raw)))
    (tmp_path / "model" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="invalid JSON"):
        read_config(tmp_path / "model")


def test_heads_are_found_by_name_and_follow_the_schema():
    from smallext.schema import Schema
    from smallext.students.options import StudentOptions

    assert student_kinds() == ["entities", "relations"]  # the registry's order: relations after entities
    assert all(head_class(k).kind == k for k in student_kinds())
    entity_types = [{"name": "Peop", "definition": "a person"}, {"name": "Org", "definition": "an organisation"}]
    ents = Schema.model_validate({"name": "s", "entity_types": entity_types})
    assert [h.kind for h in student_heads(ents)] == ["entities"]
    rels = Schema.model_validate({"name": "s", "entity_types": entity_types, "relation_types": [
        {"name": "Work_For", "definition": "works for", "head": ["Peop"], "tail": ["Org"]}]})
    ent, rel = student_heads(rels, StudentOptions(relation_threshold=0.3, max_length=64))
    assert ent.tags == ["O", "B-Peop", "I-Peop", "B-Org", "I-Org"]
    assert (rel.labels, rel.threshold, rel.spec.max_pair_pieces) == (["Work_For"], 0.3, 62)
    # a head's keys in config.json are its own model; together they are the keys earlier releases wrote
    keys = {k: v for h in (ent, rel) for k, v in h.entries().model_dump().items()}
    assert keys == {"tags": ent.tags, "entity_types": ["Peop", "Org"], "relation_threshold": 0.3,
                    "relation_types": [{"name": "Work_For", "head": ["Peop"], "tail": ["Org"], "symmetric": False}]}


def test_the_student_layer_never_imports_a_kind():
    """The heads are found through the kinds registry (a kind's ``head`` part, imported on first use); no module of
    smallext.students imports a kind's package, anywhere in its code, so a kind's head may import the student
    without a cycle."""
    from test_architecture import import_graph

    graph = import_graph()
    assert "smallext.students.head" in graph["smallext.kinds.relations.head"]  # the checker sees the head
    for name, targets in graph.items():
        if name.startswith("smallext.students"):
            assert not [t for t in targets if t.startswith("smallext.kinds.")], name


def test_the_summary_and_the_card_are_typed():
    s = TrainSummary(model_dir="m", dev_int8={"micro": {"f1": 0.5}})
    assert s.dev_int8["micro"]["f1"] == 0.5 and s.test_int8 is None
    assert s["dev_int8"] is s.dev_int8  # the dict access of earlier releases still works
    with pytest.raises(KeyError):
        s["nothing"]
    card = ModelCard.model_validate({"training_data": "x", "notes": ["n"], "casing": 1})
    assert card.dump() == {"training_data": "x", "notes": ["n"], "casing": 1} and card.extra() == {"casing": 1}
    assert StudentConfig.model_validate(_old_config()).card.scores["dev (int8 ONNX)"]["documents"] == 10
