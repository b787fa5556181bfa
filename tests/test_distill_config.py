"""The distill config's checks that need no data: ``dev`` set to the gold example pool with ``gold_examples`` is an
error at load (issue 25: the gold examples were each left out as dev documents, and only a log line showed it)."""

from __future__ import annotations

import pytest
import yaml

from smallext.errors import ConfigError
from smallext.pipeline.config import load_config, same_source


def write_config(tmp_path, **over):
    cfg = {"schema": "schemas/crossner-ai.yaml", "corpus": "crossner-ai:dev", "teacher": "llamacpp:qwen2.5-coder-1.5b",
           "teacher_options": {"shots": 0, "examples": "crossner-ai:train"}, "dev": "crossner-ai:train",
           "test": "crossner-ai:test", "gold_examples": 100, "output": str(tmp_path / "run")}
    cfg.update(over)
    path = tmp_path / "distill.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_dev_set_to_the_gold_example_pool_is_an_error_naming_file_fields_and_the_fix(tmp_path, monkeypatch):
    path = write_config(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert message.startswith(f"{path}: fields dev and gold_examples: ")
    assert "teacher_options.examples: crossner-ai:train" in message and "gold_examples: 100" in message
    assert "separate gold set" in message and "dev: null" in message  # what to change
    with pytest.raises(ConfigError, match="fields dev and gold_examples"):  # any N > 0
        load_config(write_config(tmp_path, gold_examples=1))
    # the same pool written another way: a split alias; a file, relative and absolute
    with pytest.raises(ConfigError, match="fields dev and gold_examples"):
        load_config(write_config(tmp_path, dev="conll2003:validation", teacher_options={"examples": "conll2003:dev"}))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="fields dev and gold_examples"):
        load_config(write_config(tmp_path, dev="pool.jsonl",
                                 teacher_options={"examples": str(tmp_path / "pool.jsonl")}))
    load_config(write_config(tmp_path, dev="pool.jsonl", teacher_options={"examples": "other.jsonl"}))


def test_the_valid_variants_load(tmp_path):
    cfg = load_config(write_config(tmp_path, dev=None))  # a held-out share of the silver data judges the epochs
    assert cfg.dev is None and cfg.gold_examples == 100 and cfg.example_pool == "crossner-ai:train"
    cfg = load_config(write_config(tmp_path, dev="crossner-ai:test"))  # a separate gold dev set
    assert cfg.dev == "crossner-ai:test" and cfg.gold_examples == 100
    cfg = load_config(write_config(tmp_path, gold_examples=0))  # the pool as dev, no gold examples (the demo's)
    assert cfg.dev == "crossner-ai:train" and cfg.gold_examples == 0
    cfg = load_config(write_config(tmp_path, teacher="gold", teacher_options={}))  # a kind without a pool
    assert cfg.example_pool is None


def test_same_source_compares_datasets_by_split_and_files_by_path(tmp_path, monkeypatch):
    assert same_source("conll2003", "conll2003:test") and same_source("conll2003:testb", "conll2003:test")
    assert not same_source("conll2003:train", "conll2003:dev") and not same_source("conll2003:dev", "wnut17:dev")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text("", encoding="utf-8")
    assert same_source("a.jsonl", tmp_path / "a.jsonl") and not same_source("a.jsonl", "b.jsonl")
