"""``smallext init``: write a commented starter schema and distill config, the way ``spacy init config`` does.

:func:`write_starter` writes two files into a folder:

================  =========================================================================================
``schema.yaml``   the entity types named (and relation types, if any), each with a placeholder definition
                  marked :data:`PLACEHOLDER` that the user replaces, and comments on every field
``distill.yaml``  a distill config (:mod:`smallext.pipeline.config`) naming that schema, the corpus and the
                  teacher, with the other keys at their defaults and commented
================  =========================================================================================

Both load as they are (:func:`~smallext.schema.load_schema`, :func:`~smallext.pipeline.config.load_config`):
they are validated before anything is written, and each is written through a temporary file renamed into place
(:func:`~smallext.io.atomic.atomic_write`). Paths inside the config are written as given (``out``, ``corpus``),
so a relative one is relative to the folder ``smallext distill`` runs from, as in every distill config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from smallext.datasets import is_dataset_spec
from smallext.errors import ConfigError, field_problems
from smallext.io.atomic import atomic_write

__all__ = ["CONFIG_FILE", "DEFAULT_TEACHER", "PLACEHOLDER", "SCHEMA_FILE", "StarterFiles", "config_yaml", "schema_yaml",
           "write_starter"]

SCHEMA_FILE = "schema.yaml"
"""The schema's file name in the folder."""
CONFIG_FILE = "distill.yaml"
"""The distill config's file name in the folder."""
DEFAULT_TEACHER = "llamacpp:qwen2.5-coder-1.5b"
"""The teacher when none is named: the local GGUF model that ``smallext models install`` fetches."""
PLACEHOLDER = "EDIT ME"
"""The marker in every placeholder text of the starter schema (each type's definition, the description)."""


@dataclass(frozen=True)
class StarterFiles:
    """What :func:`write_starter` wrote.

    Attributes:
        schema: the schema file.
        config: the distill config file.
        next_steps: what to do before and to run the distillation, one command or instruction each.
    """

    schema: Path
    config: Path
    next_steps: list[str] = field(default_factory=list)


def write_starter(out: str | Path, entity_types: list[str], corpus: str, *, teacher: str = DEFAULT_TEACHER,
                  relation_types: list[str] | None = None, name: str | None = None,
                  force: bool = False) -> StarterFiles:
    """Write ``OUT/schema.yaml`` and ``OUT/distill.yaml``, a commented starter schema and distill config.

    Args:
        out: the folder (created if missing).
        entity_types: entity type names (labels), e.g. ``["PER", "ORG", "LOC"]``; each gets a placeholder
            definition containing :data:`PLACEHOLDER`, to be replaced (the teacher's prompt is made of them).
        corpus: the unlabelled text: an existing file (``.txt`` one document per line, ``.jsonl``, ...) or a
            registered dataset (``NAME:SPLIT``), written into the config as given.
        teacher: a teacher spec (``llamacpp:NAME|PATH.gguf``, ``openai:MODEL@URL``, ...; see
            :mod:`smallext.teachers.registry`).
        relation_types: relation type names; each may link any two of the entity types until ``head`` and
            ``tail`` are narrowed.
        name: the schema's name (default: the folder's name).
        force: replace files that exist; without it an existing file is an error and nothing is written.

    Returns:
        The two paths and the next steps (:class:`StarterFiles`).

    Raises:
        ConfigError: a type name that is empty, has white space or is given twice (names ``entity_types`` or
            ``relation_types``); a corpus that is neither a file nor a registered dataset (``corpus``); an unknown
            teacher (``teacher``); an existing file without ``force`` (names the file).
    """
    out = Path(out)
    entities = _names(entity_types, "entity_types")
    relations = _names(relation_types or [], "relation_types")
    if not entities:
        raise ConfigError("entity_types: name at least one entity type (e.g. PER,ORG,LOC)")
    clash = sorted({n.lower() for n in entities} & {n.lower() for n in relations})
    if clash:
        raise ConfigError(f"relation_types: {clash[0]!r} is also an entity type; give it another name")
    corpus = str(corpus).strip()
    if not corpus or not (Path(corpus).exists() or is_dataset_spec(corpus)):
        raise ConfigError(f"corpus: {corpus!r} is neither an existing file nor a registered dataset (NAME:SPLIT)")
    teacher = teacher.strip()
    _check_teacher(teacher)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} is a file, not a folder")
    name = name or _slug(out.resolve().name)
    paths = {"schema": out / SCHEMA_FILE, "config": out / CONFIG_FILE}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} exists; choose another folder, or pass --force (force=True) to "
                          "replace it")
    schema_text = schema_yaml(name, entities, relations)
    config_text = config_yaml(paths["schema"], corpus, teacher, out / "run")
    _validate(schema_text, config_text, paths)  # both load as they are, or nothing is written
    for key, text in (("schema", schema_text), ("config", config_text)):
        with atomic_write(paths[key]) as f:
            f.write(text)
    return StarterFiles(paths["schema"], paths["config"], _next_steps(paths, teacher))


def schema_yaml(name: str, entity_types: list[str], relation_types: list[str]) -> str:
    """The starter schema's text (YAML with comments) for these type names (see :func:`write_starter`)."""
    lines = [
        "# smallext schema: what to extract. Written by `smallext init`; edit it before you distil.",
        f"# Replace every text marked {PLACEHOLDER}: the teacher's prompt is made of the definitions and guidelines,",
        "# so say what each type means in your text, what counts and what does not. Fields: docs/schemas.md.",
        f"name: {_scalar(name)}",
        f"description: {_scalar(f'{PLACEHOLDER}: one sentence on the text and what is extracted from it.')}",
        "# rules for every type, stated once in the teacher's prompt",
        "guidelines:",
        "- " + _scalar("Mark the shortest span that names the entity: no leading articles, no trailing punctuation."),
        "entity_types:",
    ]
    for t in entity_types:
        lines += [
            f"- name: {_scalar(t)}",
            "  definition: " + _scalar(f"{PLACEHOLDER}: what {t} means in this text, what counts and what does not."),
            _commented("  guidelines: []", "rules for this type alone, e.g. 'Titles such as Mr. are not part of "
                                           "the span.'"),
            _commented("  aliases: []", "other names of this label (a dataset's tags, a teacher's types); any case"),
            _commented("  examples: []", "worked examples: - {text: ..., spans: [{start: 0, end: 8, label: ...}]}"),
            _commented("", "(character offsets, end-exclusive; an example lists all its spans)"),
        ]
    if relation_types:
        allowed = _scalar(entity_types)
        lines += ["# relations between two entities of a document; with them, every step extracts relations too",
                  "relation_types:"]
        for r in relation_types:
            lines += [
                f"- name: {_scalar(r)}",
                "  definition: " + _scalar(f"{PLACEHOLDER}: how the head (first entity) relates to the tail "
                                           "(second entity), e.g. the head works for the tail."),
                _commented(f"  head: {allowed}", "entity types allowed as the head: keep only those that fit"),
                _commented(f"  tail: {allowed}", "entity types allowed as the tail"),
                _commented("  symmetric: false", "true: the same fact either way round (scored in either direction)"),
            ]
    return "\n".join(lines) + "\n"


def config_yaml(schema: Path, corpus: str, teacher: str, output: Path) -> str:
    """The starter distill config's text (YAML with comments; see :func:`write_starter`)."""
    c = _commented
    lines = [
        "# smallext distill config. Written by `smallext init`. Run: smallext distill "
        + _posix(schema.parent / CONFIG_FILE),
        "# Paths are relative to the folder you run smallext from. Every key: docs/schemas.md and",
        "# smallext.pipeline.config.DistillConfig.",
        f"schema: {_scalar(_posix(schema))}",
        c(f"corpus: {_scalar(corpus)}", "unlabelled text: a .txt file (one document per line), .jsonl, or NAME:SPLIT"),
        c("corpus_limit: null", "N: only the first N documents (a first try: the local teacher does ~0.3 a second)"),
        f"teacher: {_scalar(teacher)}",
        c("teacher_options: {}", "the teacher kind's options (smallext annotate --help lists them by kind), e.g."),
        c("", "{shots: 4, examples: my-gold.jsonl} for few-shot prompts from a gold pool"),
        c("dev: null", "a gold set that judges the student's epochs; null: a held-out share of the silver"),
        c("", "data (holdout). It must not be teacher_options.examples when gold_examples > 0"),
        c("test: null", "a gold set: the report scores teacher and student on it"),
        c("teacher_test_limit: null", "N: score the teacher on the first N test documents only (it is slow)"),
        c("gold_examples: 0", "N > 0: the student also trains on N gold documents of teacher_options.examples"),
        c("student: {base_model: minilm, epochs: 10}", "smallext train --help lists the options (layers: 3 is faster)"),
        c("quality: null", "{}: find and repair the teacher's label errors before training (the quality stage)"),
        f"output: {_scalar(_posix(output))}",
    ]
    return "\n".join(lines) + "\n"


def _commented(text: str, comment: str, column: int = 26) -> str:
    """``text`` with ``# comment`` after it, from ``column`` on where the text is shorter."""
    return f"{text.ljust(column - 1)} # {comment}"


def _names(names: list[str], where: str) -> list[str]:
    out: list[str] = []
    for raw in names:
        n = str(raw).strip()
        if not n or re.search(r"\s", n):
            raise ConfigError(f"{where}: {raw!r} is not a type name (a label without spaces, e.g. PER)")
        if n.lower() in {m.lower() for m in out}:
            raise ConfigError(f"{where}: {n!r} is given twice")
        out.append(n)
    return out


def _check_teacher(teacher: str) -> None:
    from smallext.models import MODELS
    from smallext.teachers.registry import teacher_options

    try:
        teacher_options(teacher, {}, where="teacher_options")
    except ConfigError as e:
        raise ConfigError(f"teacher: {e}") from None
    kind, _, arg = teacher.partition(":")
    if kind == "llamacpp" and not (arg in MODELS or Path(arg).suffix == ".gguf" or Path(arg).is_file()):
        raise ConfigError(f"teacher: {arg!r} is neither a GGUF file nor an installable model ({', '.join(MODELS)})")


def _validate(schema_text: str, config_text: str, paths: dict[str, Path]) -> None:
    """Both texts as their loaders would read them; a failure here is a defect of this module, not of the input."""
    from smallext.pipeline.config import DistillConfig
    from smallext.schema import Schema

    try:
        Schema.model_validate(yaml.safe_load(schema_text))
    except ValidationError as e:
        raise ConfigError(f"{paths['schema']}: {field_problems(e)}") from None
    try:
        DistillConfig.model_validate(yaml.safe_load(config_text))
    except ValidationError as e:
        raise ConfigError(f"{paths['config']}: {field_problems(e)}") from None


def _next_steps(paths: dict[str, Path], teacher: str) -> list[str]:
    from smallext.models import MODELS, model_path

    steps = [f"edit {paths['schema']}: replace every {PLACEHOLDER} (definitions, description)"]
    kind, _, arg = teacher.partition(":")
    if kind == "llamacpp" and arg in MODELS:
        try:
            model_path(arg)
        except ConfigError:
            steps.append(f"smallext models install {arg}")
    steps.append(f"smallext distill {paths['config']}")
    return steps


def _scalar(value: str | list[str]) -> str:
    """``value`` (a string, or a list of them in flow style) on one line of YAML that reads back as the same
    value (quoted where YAML would read it otherwise: ``yes``, ``null``, ``1``, ``a: b``, ``a,b`` in a list)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _posix(path: Path) -> str:
    return path.as_posix()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "starter"
