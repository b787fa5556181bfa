"""The distill config: one YAML file naming the schema, corpus, teacher (with its options), student and sets.

Config (YAML; keys are the interface)::

    schema: schemas/crossner-ai.yaml
    corpus: crossner-ai:dev            # unlabelled text: a dataset or files; any labels in it are ignored
    teacher: llamacpp:qwen2.5-coder-1.5b
    teacher_options: {shots: 8, examples: crossner-ai:train}   # the teacher kind's options model
    dev: null                          # optional gold dev set; without one, part of the silver data is held out
    test: crossner-ai:test             # optional gold test set
    student: {base_model: minilm, epochs: 10}    # StudentOptions; layers: N keeps the encoder's first N layers
    gold_examples: 0                   # N > 0: the student also trains on N gold documents of the example pool
                                       # (teacher_options.examples); dev must then be another set, or null
    quality: {drop_above: 0.8, add_above: 0.9, rounds: 1}   # optional: find and repair label errors first
    review: {budget: 25, rounds: 2, strategy: mnlp}         # optional: a person reviews what the student doubts
    engine: local                      # ray: the annotate stage runs in shards on Ray (smallext.scale), and the
                                       # student's throughput is measured on Ray too
    ray_address: null                  # with engine: ray, a running cluster (default $RAY_ADDRESS, else local)
    output: runs/crossner-ai

``teacher_options`` are validated against the options model of the teacher's kind
(:func:`smallext.teachers.teacher_options`; an ensemble takes its members' options too) and ``student``
against :class:`~smallext.students.options.StudentOptions`: the same models the CLI flags come from. Both are
typed once, at load: ``cfg.teacher_options`` is that kind's options model (``cfg.teacher_options.shots``), and
it goes to :func:`~smallext.teachers.load_teacher` as it is.

``gold_examples`` > 0 with ``dev`` naming the same gold pool as ``teacher_options.examples`` (the same dataset
split, or the same file) is an error: every gold example would also be a dev document, and the student leaves
dev documents out of its training data, so none would be added. Name a separate gold dev set, or ``dev: null``
(a held-out share of the silver data judges the epochs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from smallext.datasets import is_dataset_spec, parse_spec
from smallext.errors import ConfigError, DatasetError, field_problems
from smallext.quality.repair import QualityOptions
from smallext.quality.review import ReviewOptions
from smallext.students.options import StudentOptions
from smallext.teachers.registry import teacher_options

__all__ = ["DistillConfig", "load_config", "same_source"]


class DistillConfig(BaseModel):
    """A distillation run (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_path: str = Field(alias="schema")
    corpus: str | list[str]
    teacher: str
    teacher_options: dict[str, Any] | BaseModel = Field(
        default_factory=dict, description="the teacher kind's options: a mapping in the file, its options model "
                                          "once loaded (smallext.teachers.teacher_options)")
    dev: str | None = None
    test: str | None = None
    student: StudentOptions = Field(default_factory=StudentOptions)
    output: str
    corpus_limit: int | None = Field(None, ge=1, description="use only the first N corpus documents")
    holdout: float = Field(0.1, gt=0, lt=0.5, description="share of silver data held out when dev is null")
    teacher_test_limit: int | None = Field(None, ge=1, description="evaluate the teacher on at most N test docs")
    measure_documents: int = Field(200, ge=10, description="documents timed for throughput and latency")
    gold_examples: int = Field(0, ge=0, description="add up to N gold documents of teacher_options.examples "
                                                    "(the few-shot pool) to the student's training data")
    quality: QualityOptions | None = Field(None, description="find label errors by cross-fitting and repair the "
                                                             "labels before training (smallext.quality)")
    review: ReviewOptions | None = Field(None, description="rounds of active learning with a reviewer before "
                                                           "training (smallext.quality.review)")
    engine: Literal["local", "ray"] = Field("local", description="where the annotate stage runs: this process, "
                                                                 "or shards on Ray (smallext.scale); with ray the "
                                                                 "evaluate stage also measures the student's "
                                                                 "throughput on Ray")
    ray_address: str | None = Field(None, description="with engine: ray, the cluster's address (default "
                                                      "$RAY_ADDRESS, else a local Ray)")
    notes: list[str] = Field(default_factory=list, description="why the configuration is what it is (the evidence "
                                                               "for each choice): listed in the report")

    @field_validator("teacher_options", mode="plain")
    @classmethod
    def _mapping_or_model(cls, options: Any) -> dict[str, Any] | BaseModel:
        if isinstance(options, BaseModel):
            return options
        if isinstance(options, Mapping):
            return dict(options)
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")

    @model_validator(mode="after")
    def _typed_teacher_options(self) -> DistillConfig:
        # after the fields, so that their errors come first, as the teacher's kind is then known; a ConfigError
        # here reaches load_config inside pydantic's ValidationError (see _config_error)
        self.teacher_options = teacher_options(self.teacher, self.teacher_options, where="teacher_options")
        return self

    @model_validator(mode="after")
    def _gold_examples_apart_from_dev(self) -> DistillConfig:
        # after _typed_teacher_options (pydantic runs after-validators in the order they are defined), which
        # gives example_pool; the training stage leaves out of the gold examples every document whose text is
        # in the dev set (smallext.pipeline.stages.student_data), so with the pool as dev none would train
        pool = self.example_pool
        if self.gold_examples and self.dev is not None and isinstance(pool, (str, Path)) \
                and same_source(self.dev, pool):
            raise ConfigError(
                f"fields dev and gold_examples: dev ({self.dev}) is the gold example pool "
                f"(teacher_options.examples: {pool}), so each of the gold_examples: {self.gold_examples} documents "
                "would also be a dev document and is left out of training: none would be added. Set dev to a "
                "separate gold set, or dev: null (the holdout share of the silver data then judges the epochs), "
                "or gold_examples: 0")
        return self

    @field_serializer("teacher_options")
    def _options_as_written(self, options: BaseModel | dict[str, Any], info: SerializationInfo) -> dict[str, Any]:
        # the options set, as in the config file (metrics.json's "config" reads as the file did)
        if isinstance(options, BaseModel):
            return options.model_dump(mode=info.mode, exclude_unset=True)
        return options

    def teacher_opts(self) -> BaseModel:
        """The same as ``teacher_options`` (typed at load); kept for callers of the earlier API."""
        return self.teacher_options  # type: ignore[return-value]

    @property
    def example_pool(self) -> Any:
        """``teacher_options.examples``, the teacher's gold pool of few-shot examples (a dataset, a file or
        documents), or None, also for a kind that has no such option."""
        return getattr(self.teacher_options, "examples", None)

    @property
    def corpus_specs(self) -> list[str]:
        return self.corpus if isinstance(self.corpus, list) else [self.corpus]


def load_config(path: str | Path | dict | DistillConfig) -> DistillConfig:
    """Read and validate a distill config; relative paths are resolved against the current directory.

    Raises:
        ConfigError: missing file, bad YAML, a field error (named, e.g. ``student.epochs`` or
            ``teacher_options.shots``), or ``gold_examples`` > 0 with ``dev`` the gold example pool (fields
            ``dev`` and ``gold_examples``; see the module docstring).
    """
    if isinstance(path, DistillConfig):
        return path
    if isinstance(path, dict):
        data, where = path, "config"
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings")
    try:
        return DistillConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_config_error(e) or field_problems(e)}") from None
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def same_source(a: str | Path, b: str | Path) -> bool:
    """Whether two document specs (see :func:`smallext.datasets.load_documents`) read the same documents: the
    same registered dataset and split (``conll2003:dev`` and ``conll2003:validation``; a bare name is its test
    split), or the same file (relative paths against the current directory, links followed). Nothing is read."""
    return _source_key(a) == _source_key(b)


def _source_key(spec: str | Path) -> tuple[str, str]:
    spec = str(spec)
    if is_dataset_spec(spec):
        try:
            return "dataset", ":".join(parse_spec(spec))
        except DatasetError:  # an unknown split: load_documents reports it when the stage runs
            return "dataset", spec
    return "file", str(Path(spec).resolve())


def _config_error(e: ValidationError) -> ConfigError | None:
    """The ConfigError a validator raised (``teacher_options``: it names its own fields), which pydantic wraps
    as a value error; None for other errors."""
    errors = e.errors()
    error = errors[0].get("ctx", {}).get("error") if len(errors) == 1 else None
    return error if isinstance(error, ConfigError) else None
