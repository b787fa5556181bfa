"""The typed contracts of a packaged student: its ``config.json`` (:class:`StudentConfig`), the model card's facts
(:class:`ModelCard`, :class:`TrainingFacts`) and what :func:`~smallext.students.train.train_student` returns
(:class:`TrainSummary`). Torch-free: the :class:`~smallext.students.extractor.Extractor` reads them.

``config.json`` is one JSON object. Its core keys (window sizes, casing, base model, training facts, schema, card)
are fields of :class:`StudentConfig`; each student head (:mod:`smallext.students.head`) adds its own keys beside
them (the entity tagger ``tags`` and ``entity_types``, the relation head ``relation_types`` and
``relation_threshold``), declared by the head's own pydantic model and read with :meth:`StudentConfig.entries`.
That keeps the file of format ``smallext-student/1`` exactly as earlier releases wrote it. Its ``format`` is
checked on load (:func:`read_config`): a version this release does not know is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smallext.errors import ConfigError

__all__ = ["FORMAT", "FORMATS", "EpochRow", "ModelCard", "StudentConfig", "TrainSummary", "TrainingFacts",
           "read_config"]

FORMAT = "smallext-student/1"
"""The format this release writes into ``config.json``."""
FORMATS = (FORMAT,)
"""The formats this release reads."""

E = TypeVar("E", bound=BaseModel)


class EpochRow(BaseModel):
    """One epoch of training: its mean loss (an exponential moving average over the steps), the seconds since
    training began and, with a dev set, each head's dev score (``dev_f1`` of the entity tagger, ``dev_relation_f1``
    of the relation head: the keys the heads name)."""

    model_config = ConfigDict(extra="allow")
    epoch: int
    loss: float
    seconds: float | None = None
    dev_f1: float | None = None

    def score(self, key: str) -> float | None:
        """The dev score a head recorded under ``key`` (None when absent)."""
        value = getattr(self, key, None) if key in type(self).model_fields else (self.model_extra or {}).get(key)
        return None if value is None else float(value)


class TrainingFacts(BaseModel):
    """How the student was trained (``config.json``'s ``training``): its options, the best epoch, the history, and
    counts (``train_documents``, ``train_windows``, ``train_seconds`` and those the heads add: ``train_spans``,
    ``train_relations``...)."""

    model_config = ConfigDict(extra="allow")
    config: dict[str, Any] = Field(default_factory=dict, description="the StudentOptions, dumped")
    best_epoch: int
    history: list[EpochRow] = Field(default_factory=list)
    train_documents: int | None = None
    train_windows: int | None = None
    train_seconds: float | None = None

    def fact(self, key: str) -> Any:
        """A count a head added (``train_spans``), or None."""
        return (self.model_extra or {}).get(key)


class ModelCard(BaseModel):
    """The facts of a model card that are not in the model itself (``config.json``'s ``card``).

    Attributes:
        training_data: what it was trained on, in words.
        teacher: who labelled the training data (None: gold labels).
        scores: evaluation results by name (``"dev (int8 ONNX)"``), slimmed (:func:`smallext.evaluate.slim`).
        notes: lines for the card's Notes section.

    Other keys are kept and listed as they are under "Other facts".
    """

    model_config = ConfigDict(extra="allow")
    training_data: str | None = None
    teacher: str | None = None
    scores: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def dump(self) -> dict[str, Any]:
        """The JSON form (fields left unset are left out, as earlier releases wrote it)."""
        return self.model_dump(exclude_unset=True)


class StudentConfig(BaseModel):
    """A packaged student's ``config.json`` (see the module docstring): the one model its writer
    (:func:`smallext.students.export.package`) and its readers use.

    The heads' keys are extra fields (:attr:`model_extra`), each head reading its own with :meth:`entries`.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    format: str = FORMAT
    max_length: int
    stride: int
    casing: bool
    pad_id: int = 0
    base_model: str
    base_model_path: str | None = None
    parameters: int | None = None
    created: str | None = None
    training: TrainingFacts
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    card: ModelCard = Field(default_factory=ModelCard)

    def entries(self, model: type[E]) -> E:
        """The keys a head owns, as its own model (``model`` ignores the keys of other heads).

        Raises:
            ValidationError: they are missing or invalid (:func:`read_config` turns it into a ConfigError).
        """
        return model.model_validate(self.model_extra or {})

    def dump(self) -> dict[str, Any]:
        """The JSON object of ``config.json``."""
        out = self.model_dump(by_alias=True, exclude={"training", "card"})
        out["training"] = self.training.model_dump(exclude_unset=True)
        out["training"]["history"] = [r.model_dump(exclude_unset=True) for r in self.training.history]
        out["card"] = self.card.dump()
        return out


def read_config(model_dir: str | Path) -> StudentConfig:
    """Read and check a packaged model's ``config.json``.

    Raises:
        ConfigError: the file is not valid JSON, its ``format`` is one this release does not read (the message
            names the file and the version found), or a key is missing or invalid.
    """
    path = Path(model_dir) / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    found = raw.get("format")
    if found not in FORMATS:
        raise ConfigError(f"{path}: format {found!r} is not one this smallext reads ({', '.join(FORMATS)}): it was "
                          "packaged by a newer or a different smallext; upgrade smallext, or train and package the "
                          "model again")
    try:
        return StudentConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{path}: {_first_error(e)}") from None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"


class TrainSummary(BaseModel):
    """What :func:`~smallext.students.train.train_student` returns: the packaged model's directory and its
    evaluation results (:func:`smallext.evaluate.evaluate`; None where there was no such set)."""

    model_config = ConfigDict(extra="forbid")
    model_dir: str
    dev_torch: dict[str, Any] | None = None
    dev_int8: dict[str, Any] | None = None
    test_int8: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        """Deprecated: ``summary["dev_int8"]`` (the dict of earlier releases); use the attributes."""
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)
