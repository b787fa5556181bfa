"""The one table of teacher kinds: spec prefix -> options model + loader.

A teacher spec is ``KIND:ARGUMENT`` (``gold`` takes none). Each kind declares its options as one pydantic
model; the CLI flags (:mod:`smallext.cli`), the distill config (``teacher_options``) and
:func:`load_teacher` all validate against it, so an option exists in one place. A new teacher kind is a
module with a :class:`~smallext.teachers.base.Teacher`, an options model and a loader
``load(argument, schema, options, load_member) -> Teacher``, plus one :class:`TeacherKind` line in
:data:`TEACHERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from smallext.errors import ConfigError, field_problems
from smallext.teachers.base import Teacher
from smallext.teachers.ensemble import EnsembleOptions, load_ensemble, split_ensemble
from smallext.teachers.gold import GoldOptions, load_gold
from smallext.teachers.llm import LlamaCppOptions, OpenAIOptions, load_llamacpp, load_openai
from smallext.teachers.model import ModelOptions, load_model_teacher
from smallext.teachers.rules import RulesOptions, load_rules_teacher
from smallext.teachers.spacy_pipeline import SpacyOptions, load_spacy

__all__ = ["TEACHERS", "TeacherKind", "load_teacher", "option_fields", "teacher_options"]


@dataclass(frozen=True)
class TeacherKind:
    """A registered kind of teacher.

    Attributes:
        name: the spec prefix (``llamacpp``).
        options: its pydantic options model (extra keys forbidden, except an ensemble's members' options).
        load: ``load(argument, schema, options, load_member) -> Teacher``.
        spec: how a spec of this kind is written, for help texts.
        help: what it is, one line.
        takes_argument: whether a spec needs ``:ARGUMENT``.
    """

    name: str
    options: type[BaseModel]
    load: Callable[..., Teacher]
    spec: str
    help: str
    takes_argument: bool = True


TEACHERS: dict[str, TeacherKind] = {k.name: k for k in [
    TeacherKind("llamacpp", LlamaCppOptions, load_llamacpp, "llamacpp:NAME|PATH.gguf",
                "a GGUF model run in-process (an installed name: smallext models install)"),
    TeacherKind("openai", OpenAIOptions, load_openai, "openai:MODEL[@BASE_URL]",
                "an OpenAI-compatible server (key from OPENAI_API_KEY or api_key_env)"),
    TeacherKind("spacy", SpacyOptions, load_spacy, "spacy:PIPELINE", "a spaCy pipeline, types mapped to the schema"),
    TeacherKind("rules", RulesOptions, load_rules_teacher, "rules:FILE.yaml", "gazetteers and regular expressions"),
    TeacherKind("model", ModelOptions, load_model_teacher, "model:DIR", "a trained smallext student"),
    TeacherKind("ensemble", EnsembleOptions, load_ensemble, "ensemble:SPEC1,SPEC2,...", "per-span voting"),
    TeacherKind("gold", GoldOptions, load_gold, "gold", "copies gold labels (experiments only)",
                takes_argument=False),
]}


def _kind(spec: str) -> tuple[TeacherKind, str]:
    name, _, arg = spec.partition(":")
    if name not in TEACHERS:
        raise ConfigError(f"unknown teacher {spec!r}; expected one of: {', '.join(k.spec for k in TEACHERS.values())}")
    kind = TEACHERS[name]
    if kind.takes_argument and not arg:
        raise ConfigError(f"teacher spec {spec!r} needs an argument after '{name}:' ({kind.spec})")
    return kind, arg


def _members(spec: str) -> list[str]:
    return split_ensemble(spec.partition(":")[2], list(TEACHERS))


def option_fields(spec: str) -> set[str]:
    """The option names a teacher spec accepts (an ensemble: its own and its members')."""
    kind, _ = _kind(spec)
    fields = set(kind.options.model_fields)
    if kind.name == "ensemble":
        for m in _members(spec):
            fields |= option_fields(m)
    return fields


def _set_values(options: BaseModel) -> dict[str, Any]:
    """The options set in a model (an ensemble's members' options included), as values, not dumped."""
    names = [*type(options).model_fields, *(options.model_extra or {})]
    return {k: getattr(options, k) for k in names if k in options.model_fields_set}


def teacher_options(spec: str, options: BaseModel | Mapping[str, Any] | None = None, *, where: str = "",
                    **more: Any) -> BaseModel:
    """Validate options for a teacher spec against its kind's model.

    Args:
        spec: the teacher spec.
        options: a mapping of option names, or an options model. A model of the spec's kind is taken as it
            is (it was validated when it was made; an ensemble's members' options, which its own model lets
            through, are checked again); of any other model, the fields set are validated.
        where: a prefix for field names in errors (``teacher_options``).
        **more: further options (they override ``options``; with a model, the result is that model updated
            and validated again).

    Raises:
        ConfigError: an option the kind (or, for an ensemble, no member) knows not, or a bad value; the
            message names the field.
    """
    kind, _ = _kind(spec)
    opts = options if isinstance(options, kind.options) and not more else None
    if opts is not None and kind.name != "ensemble":
        return opts
    raw = {**(_set_values(options) if isinstance(options, BaseModel) else (options or {})), **more}
    prefix = f"{where}." if where else ""
    unknown = sorted(set(raw) - option_fields(spec))
    if unknown:
        raise ConfigError(f"field {prefix}{unknown[0]}: not an option of teacher {spec!r} "
                          f"(options: {', '.join(sorted(option_fields(spec)))})")
    try:
        opts = opts if opts is not None else kind.options.model_validate(raw)
        if kind.name == "ensemble":  # each member validates the options its kind knows
            for m in _members(spec):
                teacher_options(m, {k: v for k, v in raw.items() if k in option_fields(m)}, where=where)
        return opts
    except ValidationError as e:
        raise ConfigError(field_problems(e, where)) from None


class _MemberLoader:
    """Loads an ensemble's members, each with the options its kind knows."""

    kinds = tuple(TEACHERS)

    def __call__(self, spec: str, schema, options: BaseModel) -> Teacher:
        fields = option_fields(spec)
        return load_teacher(spec, schema, {k: v for k, v in _set_values(options).items() if k in fields})


def load_teacher(spec: str, schema, options: BaseModel | Mapping[str, Any] | None = None, **more: Any) -> Teacher:
    """Build a teacher from its spec string and options.

    Args:
        spec: ``KIND:ARGUMENT`` (see :data:`TEACHERS`).
        schema: a :class:`~smallext.schema.Schema` or a path to one.
        options: the kind's options: a mapping, or its options model, which is used as it is (as a distill
            config's ``teacher_options`` is); see :func:`teacher_options`.
        **more: options as keyword arguments (``shots=4``).

    Raises:
        ConfigError: unknown kind, missing model or file, or bad options (the field is named).
    """
    from smallext.schema import load_schema

    schema = load_schema(schema)
    kind, arg = _kind(spec)
    opts = teacher_options(spec, options, **more)
    return kind.load(arg, schema, opts, _MemberLoader())
