"""A student head: what one kind of output adds to the student over its shared encoder.

Every student is one encoder (:mod:`smallext.students.model`) with one head per kind of output it predicts: the
entity tagger (:mod:`smallext.kinds.entities.head`: token classification, constrained Viterbi decoding), which
every student has, and the relation classifier (:mod:`smallext.kinds.relations.head`) when the schema has relation
types. A :class:`Head` says, for its kind:

* **training**: its parameters over the encoder's states (:meth:`Head.module`), its training targets from the
  documents (:meth:`Head.targets`, one per window), its loss (:meth:`Head.loss`), its counts for the model card
  (:meth:`Head.facts`) and its dev score (:meth:`Head.dev_score`; the best epoch has the best sum of them);
* **export**: the files it adds to the packaged model (:meth:`Head.export`: its ONNX graph, its weights) and its
  keys in ``config.json`` (:meth:`Head.entries`, a pydantic model of its own; see
  :mod:`smallext.students.package`), and its lines in the model card;
* **extraction**: what it runs (:meth:`Head.load_runtime` from the package, :meth:`Head.torch_runtime` from a torch
  model) and how it decodes its outputs into the Document's field (:meth:`Head.decode`).

The trainer, the exporter and the :class:`~smallext.students.extractor.Extractor` loop over
:func:`student_heads`, which finds each head through the kinds registry (a kind's ``head`` part,
``smallext.kinds.<kind>.head:HEAD``, imported on first use): no module of :mod:`smallext.students` imports a kind's
package, so the kinds may import the student.
Importing this module never imports torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.students.package import StudentConfig

if TYPE_CHECKING:
    from smallext.students.features import EncodedText, Window
    from smallext.students.options import StudentOptions

__all__ = ["DevScore", "Decoding", "Head", "head_class", "student_heads", "student_kinds"]

def student_kinds() -> list[str]:
    """The kinds of output with a student head (a ``head`` part, :mod:`smallext.kinds`), in the order the heads
    run: registration order, so a head runs after those of the kinds it requires (relations decode between the
    entity tagger's spans)."""
    from smallext.kinds import KINDS

    return [k.name for k in KINDS.values() if k.has("head")]


@dataclass(frozen=True)
class DevScore:
    """A head's score on the dev set after an epoch: ``key`` in the history row (``dev_f1``), its value, and a
    short name for the progress bar (``""`` for the entity tagger, ``"rel"``)."""

    key: str
    value: float
    short: str = ""


@dataclass
class Decoding:
    """One prediction pass that the heads fill in turn (:func:`smallext.students.decode.predict_documents`).

    Attributes:
        docs: the documents so far (inputs with their labels removed; each head puts in its field).
        encoded: their word pieces.
        logits: (n_pieces, n_tags) tag logits of each text's pieces (each from the window that owns it).
        hidden: (n_pieces, H) encoder states of each text's pieces, when a head reads them (else None).
        source: the ``source`` of what is predicted.
        extras: what a head returns besides the documents (the entity tagger's ``word_probs``).
    """

    docs: list[Document]
    encoded: Sequence[EncodedText]
    logits: list[np.ndarray]
    hidden: list[np.ndarray] | None
    source: str | None
    extras: dict[str, Any] = field(default_factory=dict)


class Head(ABC):
    """One kind of output's part of the student (see the module docstring).

    Class attributes:
        kind: the kind of output (the package under :mod:`smallext.kinds`), also the head's name.
        attribute: the name of its module in the student (its parameters' prefix in the state dict), or None.
        reads_hidden: whether decoding reads the encoder's states (the packaged ``model.onnx``'s ``hidden``).
        entries_model: the pydantic model of its keys in ``config.json``.
    """

    kind: ClassVar[str]
    attribute: ClassVar[str | None] = None
    reads_hidden: ClassVar[bool] = False
    entries_model: ClassVar[type[BaseModel]]

    # ---- which heads a student has

    @classmethod
    @abstractmethod
    def from_schema(cls, schema: Any, options: StudentOptions) -> Head | None:
        """The head for a student of ``schema`` (a :class:`~smallext.schema.Schema`, or an object with the
        attributes the head reads), or None when the schema declares nothing of its kind."""

    @classmethod
    @abstractmethod
    def from_entries(cls, entries: BaseModel, config: StudentConfig) -> Head | None:
        """The head of a packaged student from its keys in ``config.json`` (``entries``, an instance of
        :attr:`entries_model`), or None when they declare nothing of its kind."""

    @classmethod
    def from_config(cls, config: StudentConfig) -> Head | None:
        """The head of a packaged student (None when its config declares nothing of this kind).

        Raises:
            ConfigError: its keys are missing or invalid.
        """
        try:
            entries = config.entries(cls.entries_model)
        except ValidationError as e:
            err = e.errors()[0]
            raise ConfigError(f"the {cls.kind} head's key {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        return cls.from_entries(entries, config)

    @abstractmethod
    def entries(self) -> BaseModel:
        """Its keys in ``config.json`` (an instance of :attr:`entries_model`)."""

    # ---- training (torch)

    def module(self, hidden_size: int, dropout: float) -> Any:
        """A new ``torch.nn.Module`` with its parameters over encoder states of width ``hidden_size``, set on the
        student as :attr:`attribute`; None when it has none beyond the student's own (the default)."""
        return None

    def targets(self, docs: Sequence[Document], encoded: Sequence[EncodedText], wins: Sequence[Window]
                ) -> list[Any] | None:
        """Its training targets: one item per window of ``wins`` (cut from ``encoded``, the word pieces of
        ``docs``), or None when it has nothing to learn from them."""
        return None

    @abstractmethod
    def loss(self, model: Any, hidden: Any, targets: Sequence[Any], rng: np.random.Generator) -> Any:
        """Its loss (a torch scalar) on one batch, or None when the batch has nothing for it.

        Args:
            model: the student (:class:`~smallext.students.model.TokenClassifier`).
            hidden: (B, T, H) the encoder's states of the batch's windows.
            targets: the batch's windows' items of :meth:`targets`.
            rng: the training's random generator (shared: same seed, same draws).
        """

    def facts(self, docs: Sequence[Document], targets: list[Any] | None) -> dict[str, int]:
        """Counts for the model card's training facts (``train_spans``...)."""
        return {}

    @abstractmethod
    def evaluate_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`smallext.evaluate.evaluate` for its output (its labels...)."""

    @abstractmethod
    def dev_score(self, result: dict[str, Any]) -> DevScore | None:
        """Its score in a dev :func:`~smallext.evaluate.evaluate` result, or None."""

    # ---- export

    def export(self, model: Any, folder: Path) -> None:  # noqa: B027 (optional, not abstract)
        """Write the files it adds to the packaged model into ``folder`` (its ONNX graph, its weights); nothing
        by default."""

    def card_title(self) -> list[str]:
        """The type names the model card's title lists."""
        return []

    def card_lines(self, config: StudentConfig) -> list[str]:
        """Its lines in the model card's first list."""
        return []

    # ---- extraction

    def load_runtime(self, model_dir: Path, session_options: Any) -> Any:
        """What decoding runs beyond the encoder, from the packaged model (an onnxruntime session...), or None.

        Raises:
            ConfigError: a file it needs is missing.
        """
        return None

    def torch_runtime(self, model: Any) -> Any:
        """What decoding runs beyond the encoder, from a torch student (no grad), or None."""
        return None

    @abstractmethod
    def decode(self, step: Decoding, runtime: Any) -> None:
        """Put its predictions into ``step.docs`` (replacing each document), from ``step``'s encoder outputs and
        ``runtime`` (:meth:`load_runtime` or :meth:`torch_runtime`)."""


def head_class(kind: str) -> type[Head]:
    """The head of ``kind``: its ``head`` part (``smallext.kinds.<kind>.head:HEAD``), imported on first use.

    Raises:
        KeyError: no registered kind of that name has a head.
    """
    from smallext.kinds import KINDS

    return KINDS[kind].load("head")


def student_heads(source: Any, options: StudentOptions | None = None) -> list[Head]:
    """The heads of a student, in :func:`student_kinds` order.

    Args:
        source: a packaged student's :class:`~smallext.students.package.StudentConfig`, or the schema to train a
            student for (a :class:`~smallext.schema.Schema`, or an object with the attributes the heads read).
        options: the student's options (for a schema; default :class:`StudentOptions`).

    Raises:
        ConfigError: a head's keys in the config are missing or invalid.
    """
    heads: list[Head] = []
    if isinstance(source, StudentConfig):
        for kind in student_kinds():
            h = head_class(kind).from_config(source)
            if h is not None:
                heads.append(h)
        return heads
    if options is None:
        from smallext.students.options import StudentOptions

        options = StudentOptions()
    for kind in student_kinds():
        h = head_class(kind).from_schema(source, options)
        if h is not None:
            heads.append(h)
    return heads


def evaluate_options(heads: Sequence[Head]) -> dict[str, Any]:
    """The heads' :meth:`Head.evaluate_options`, merged."""
    out: dict[str, Any] = {}
    for h in heads:
        out.update(h.evaluate_options())
    return out
