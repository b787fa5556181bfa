"""``smallext init`` (:func:`smallext.pipeline.init.write_starter`): the starter schema and distill config load as
they are, keep their comments, and never replace a file without ``force``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smallext import cli
from smallext.errors import ConfigError
from smallext.models import MODELS
from smallext.pipeline.config import load_config
from smallext.pipeline.init import DEFAULT_TEACHER, PLACEHOLDER, write_starter
from smallext.schema import load_schema

runner = CliRunner()


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A working folder with a corpus file, as the current directory (the config's paths are relative to it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "texts.txt").write_text("Ada Lovelace worked with Charles Babbage in London.\n", encoding="utf-8")
    return tmp_path


def check_loads(folder: str, entity_types: list[str], relation_types: list[str] = ()) -> None:
    """The written files load with the loaders distill uses, and say what to edit."""
    cfg = load_config(f"{folder}/distill.yaml")
    assert cfg.schema_path == f"{folder}/schema.yaml" and cfg.output == f"{folder}/run"
    assert cfg.dev is None and cfg.test is None and cfg.gold_examples == 0 and cfg.quality is None
    schema = load_schema(cfg.schema_path)  # the path in the config resolves from the folder distill runs in
    assert schema.labels == entity_types and [r.name for r in schema.relation_types] == list(relation_types)
    assert all(PLACEHOLDER in t.definition for t in [*schema.entity_types, *schema.relation_types])
    for r in schema.relation_types:
        assert r.head == entity_types and r.tail == entity_types


def test_written_files_load_as_they_are_and_keep_their_comments(here):
    files = write_starter("proj", ["PER", "ORG", "yes", "null"], "texts.txt", relation_types=["Work_For"])
    assert (files.schema, files.config) == (Path("proj/schema.yaml"), Path("proj/distill.yaml"))
    check_loads("proj", ["PER", "ORG", "yes", "null"], ["Work_For"])  # names YAML would read as true/None stay
    cfg = load_config(files.config)
    assert cfg.corpus == "texts.txt" and cfg.teacher == DEFAULT_TEACHER
    assert cfg.teacher.partition(":")[2] in MODELS  # a local teacher `smallext models install` knows
    assert cfg.teacher_options.shots == 0  # typed as the teacher kind's options
    schema_text, config_text = files.schema.read_text(), files.config.read_text()
    assert schema_text.startswith("# smallext schema") and f"Replace every text marked {PLACEHOLDER}" in schema_text
    assert re.search(r"\n  aliases: \[\] +# other names of this label", schema_text)
    assert re.search(r"\n  head: \[PER, ORG, 'yes', 'null'\] +# entity types allowed as the head", schema_text)
    assert config_text.startswith("# smallext distill config")
    assert "Run: smallext distill proj/distill.yaml" in config_text
    for key in ("corpus", "teacher_options", "dev", "test", "gold_examples", "student"):
        line = next(x for x in config_text.splitlines() if x.startswith(f"{key}:"))
        assert " # " in line, key  # every key a user sets says what it is
    assert files.next_steps[0].startswith(f"edit {files.schema}") and files.next_steps[-1] == (
        f"smallext distill {files.config}")
    assert sorted(p.name for p in (here / "proj").iterdir()) == ["distill.yaml", "schema.yaml"]  # no temporary


def test_existing_files_are_never_replaced_without_force(here):
    write_starter("proj", ["PER"], "texts.txt")
    (here / "proj" / "schema.yaml").write_text("mine\n")
    (here / "proj" / "distill.yaml").unlink()
    with pytest.raises(ConfigError, match=r"proj/schema.yaml exists; .*--force"):
        write_starter("proj", ["LOC"], "texts.txt")
    assert (here / "proj" / "schema.yaml").read_text() == "mine\n"
    assert not (here / "proj" / "distill.yaml").exists()  # nothing written: not even the missing file
    files = write_starter("proj", ["LOC"], "texts.txt", force=True)
    assert load_schema(files.schema).labels == ["LOC"] and load_config(files.config).corpus == "texts.txt"


@pytest.mark.parametrize(("args", "message"), [
    ((["PER", "two words"], "texts.txt"), r"entity_types: 'two words' is not a type name"),
    ((["PER", "per"], "texts.txt"), r"entity_types: 'per' is given twice"),
    (([], "texts.txt"), r"entity_types: name at least one"),
    ((["PER"], "missing.txt"), r"corpus: 'missing.txt' is neither an existing file nor a registered dataset"),
    ((["PER"], "texts.txt", {"teacher": "nope:x"}), r"teacher: unknown teacher 'nope:x'"),
    ((["PER"], "texts.txt", {"teacher": "llamacpp:no-such-model"}), r"teacher: 'no-such-model' is neither a GGUF"),
    ((["PER"], "texts.txt", {"teacher": "llamacpp:qwen2.5-coder-1.5b", "relation_types": ["PER"]}),
     r"relation_types: 'per' is also an entity type"),
])
def test_bad_answers_are_errors_naming_the_answer_and_write_nothing(here, args, message):
    *positional, options = args if isinstance(args[-1], dict) else (*args, {})
    with pytest.raises(ConfigError, match=message):
        write_starter("proj", *positional, **options)
    assert not (here / "proj").exists()


def test_a_dataset_corpus_and_another_teacher(here):
    files = write_starter(here / "abs", ["algorithm"], "crossner-ai:dev", teacher="openai:gpt-4o-mini@http://x/v1")
    cfg = load_config(files.config)  # an absolute folder gives absolute paths
    assert cfg.corpus == "crossner-ai:dev" and cfg.teacher == "openai:gpt-4o-mini@http://x/v1"
    assert load_schema(cfg.schema_path).labels == ["algorithm"] and cfg.output == str(here / "abs" / "run")
    assert not any("models install" in s for s in files.next_steps)


def test_cli_from_flags(here):
    r = runner.invoke(cli.app, ["init", "--entity-types", "PER, ORG,LOC", "--relation-types", "Work_For",
                                "--corpus", "texts.txt", "--out", "proj"])
    assert r.exit_code == 0, r.output
    check_loads("proj", ["PER", "ORG", "LOC"], ["Work_For"])
    assert "wrote proj/schema.yaml and proj/distill.yaml" in r.output and PLACEHOLDER in r.output
    assert "smallext distill proj/distill.yaml" in r.output
    r = runner.invoke(cli.app, ["init", "--entity-types", "PER", "--corpus", "texts.txt", "--out", "proj"])
    assert r.exit_code == 1 and "proj/schema.yaml exists" in r.output  # one line, no traceback
    r = runner.invoke(cli.app, ["init", "--entity-types", "PER", "--corpus", "texts.txt", "--out", "proj", "--force"])
    assert r.exit_code == 0, r.output
    check_loads("proj", ["PER"])


def test_cli_asks_for_missing_answers_at_a_terminal_only(here, monkeypatch):
    r = runner.invoke(cli.app, ["init", "--entity-types", "PER", "--out", "proj"])
    assert r.exit_code == 1 and "--corpus is required (stdin is not a terminal" in r.output
    assert not (here / "proj").exists()
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    # entity types, relation types (none), corpus, teacher (the default), folder
    r = runner.invoke(cli.app, ["init"], input="PER,LOC\n\ntexts.txt\n\nasked\n")
    assert r.exit_code == 0, r.output
    assert "Entity types" in r.output and f"Teacher [{DEFAULT_TEACHER}]" in r.output
    check_loads("asked", ["PER", "LOC"])
    assert load_config("asked/distill.yaml").teacher == DEFAULT_TEACHER
    r = runner.invoke(cli.app, ["init", "--entity-types", "ORG", "--corpus", "texts.txt", "--teacher", "gold"],
                      input="\n.\n")  # only the missing answers are asked: relation types, folder
    assert r.exit_code == 0, r.output
    assert "Entity types" not in r.output and "Folder [.]" in r.output
    cfg = load_config("distill.yaml")
    assert cfg.schema_path == "schema.yaml" and cfg.teacher == "gold" and load_schema(cfg.schema_path).labels == ["ORG"]

