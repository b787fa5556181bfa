"""The task seam: what to ask an LLM and how to read its answer, apart from who answers (the backend).

A :class:`Task` (the spacy-llm task/model split) owns everything that depends on the kind of output:

- the prompt (:meth:`Task.messages`, from the schema and retrieved shots) and the reply budget;
- the JSON schema a constrained backend holds the reply to (:meth:`Task.json_schema`);
- the parser (:meth:`Task.parse`, tolerant of prose around the JSON and of a reply cut off mid-way);
- grounding of the parsed reply onto the text (:meth:`Task.ground`: strings to character spans, with
  their alignment, and each other kind's items: relations between them);
- joining several short documents into one call's text and splitting the grounded result back to them
  (:meth:`Task.join`, :meth:`Task.split`).

:class:`~smallext.teachers.llm.LLMTeacher` only sends messages, caches replies and hands the reply to its
task; the backends only turn messages into replies. A new kind of output (relations, records) is a new
``Task`` subclass in that kind's package (``kinds/<kind>/task.py``), named by the kind's ``task`` part
(:mod:`smallext.kinds`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from smallext.doc import LAYERS, Document, Span
from smallext.schema import Schema
from smallext.teachers.grounding import Alignment, GroundingStats

ReplyFormat = Literal["list", "pairs", "grouped"]
"""How a reply lists what it found (the entity task's formats, :mod:`smallext.kinds.entities.task`): ``list`` of
objects, ``pairs`` of strings, or ``grouped`` under each type; a task that has one format takes ``list``."""

__all__ = ["FewShotTask", "ReplyFormat", "Window", "Grounded", "ParsedReply", "Task", "chunk_documents",
           "read_json_object"]


@dataclass(frozen=True)
class Window:
    """A part of a call's text asked about on its own.

    Attributes:
        offset: where the part starts in the whole text (characters).
        text: what the model is shown: ``prefix`` (when given) then the part.
        prefix: ``(start, end)`` of a stretch of the whole text repeated before the part (a table's header), or
            None; ``text`` then begins with ``whole[start:end] + "\n"``.
    """

    offset: int
    text: str
    prefix: tuple[int, int] | None = None

    def to_whole(self, start: int, end: int) -> tuple[int, int]:
        """Offsets in :attr:`text` as offsets in the whole text (the repeated prefix maps back to where it is)."""
        if self.prefix is None:
            return start + self.offset, end + self.offset
        lead = self.prefix[1] - self.prefix[0] + 1
        if end <= lead:
            return start + self.prefix[0], end + self.prefix[0]
        return max(start - lead, 0) + self.offset, end - lead + self.offset


@dataclass
class ParsedReply:
    """A parsed reply.

    Attributes:
        entities: ``[{"text", "type"}, ...]`` in the model's order.
        items: the other kinds' parsed items by their reply key, for tasks that ask for them (the relation task:
            ``{"relations": [{"head", "type", "tail"}, ...]}``, the texts of the arguments).
        truncated: the JSON was cut off; what was complete before the cut is kept.
        error: ``None`` when the reply is usable; else why not (the caller decides whether to retry).
    """

    entities: list[dict]
    truncated: bool = False
    error: str | None = None
    items: dict[str, list[dict]] = field(default_factory=dict)


@dataclass
class Grounded:
    """A reply grounded in the text it was asked about.

    Attributes:
        spans: character spans into that text, sorted by offset, each with its ``alignment``.
        stats: grounding statistics (see :class:`~smallext.teachers.grounding.GroundingStats`).
        alignments: what happened to each returned entity, in the model's order.
        layers: the other kinds' grounded items by document field (``{"relations": [...]}``, indices into
            ``spans`` for a span-dependent layer).
    """

    spans: list[Span]
    stats: GroundingStats
    alignments: list[Alignment] = field(default_factory=list)
    layers: dict[str, list] = field(default_factory=dict)


class Task(ABC):
    """What an LLM teacher asks for, and how its replies become spans (see the module docstring).

    Attributes:
        name: the task's name: the name of its kind of output (:mod:`smallext.kinds`).
        schema: what to extract.
        shots: few-shot examples per prompt (0: zero-shot).
    """

    name: str = "task"
    schema: Schema
    shots: int = 0
    joins: bool = True
    """Whether several short documents may share one call (:meth:`join`); a task that reads one document at a time
    (records) sets it False."""

    def prepare(self, texts: Sequence[str]) -> list[int]:
        """Prepare the prompts of many future calls at once (retrieve their shots in one batch), and return the
        order to send them in (indices into ``texts``; by default as given)."""
        return list(range(len(texts)))

    @abstractmethod
    def messages(self, text: str) -> list[dict[str, str]]:
        """Chat messages asking about ``text``."""

    @abstractmethod
    def json_schema(self, text: str | None = None) -> dict:
        """JSON Schema of a valid reply (bounded in size when ``text`` is given)."""

    @abstractmethod
    def max_tokens(self, text: str) -> int:
        """The reply budget for ``text``, in tokens."""

    @abstractmethod
    def parse(self, reply: str) -> ParsedReply:
        """Read a reply; never raises (a reply that cannot be used comes back with ``error`` set)."""

    @abstractmethod
    def ground(self, text: str, parsed: ParsedReply, *, source: str | None = None) -> Grounded:
        """Locate the parsed reply in ``text``: spans (with ``source``) and the other kinds' items, with
        statistics."""

    def windows(self, text: str, docs: Sequence[Document] = ()) -> list[Window]:
        """The parts of ``text`` (the call's text, :meth:`join` of ``docs``) asked about in separate calls; by
        default the whole text in one call. A task that returns more than one part defines :meth:`merge`."""
        return [Window(0, text)]

    def merge(self, text: str, parts: Sequence[tuple[Window, Grounded]]) -> Grounded:
        """One result on ``text`` from the results grounded in each of its :meth:`windows`.

        Raises:
            NotImplementedError: the task does not read texts in windows.
        """
        raise NotImplementedError(f"{type(self).__name__} does not read texts in windows")

    def join(self, docs: Sequence[Document]) -> str:
        """The text of one call about several documents: their texts joined by newlines."""
        return "\n".join(d.text for d in docs)

    def split(self, docs: Sequence[Document], grounded: Grounded) -> tuple[list[Document], GroundingStats]:
        """Split a result grounded in :meth:`join`'s text back to its documents.

        A span that crosses a document boundary belongs to no document: it is dropped and counted in
        ``stats.crossing`` (and no longer in ``stats.spans``); an item of a span-dependent layer (a relation)
        between spans of two documents, or with a dropped argument, is dropped too (its layer's
        :meth:`~smallext.doc.Layer.follow`). Returns ``(documents with their labels, corrected statistics)``.

        Raises:
            ValueError: ``grounded`` has items of a layer that does not hang on spans (such a task splits them
                itself, by overriding this method).
        """
        stats = replace(grounded.stats, more=dict(grounded.stats.more))
        out: list[Document] = []
        owned = 0
        pos = 0
        for d in docs:
            lo, hi = pos, pos + len(d.text)
            mine, local = [], {}  # local: span index in the joined text -> index within this document
            for i, s in enumerate(grounded.spans):
                if lo <= s.start and s.end <= hi:
                    local[i] = len(mine)
                    mine.append(replace(s, start=s.start - lo, end=s.end - lo))
            layers = {}
            for f, items in grounded.layers.items():
                if not LAYERS[f].on_spans:
                    raise ValueError(f"{type(self).__name__}.split cannot split {f!r}, which does not hang on spans")
                layers[f] = LAYERS[f].follow(items, local)
            out.append(d.unlabelled().with_spans(mine, **layers))
            owned += len(local)
            pos = hi + 1
        crossing = len(grounded.spans) - owned
        stats.crossing += crossing
        stats.spans -= crossing
        return out, stats

    def describe(self) -> dict[str, Any]:
        """Facts for reports and the model card."""
        return {"task": self.name, "shots": self.shots}


class FewShotTask(Task):
    """A task whose prompt is a system message, few-shot turns retrieved per input, and the input.

    Subclasses set ``system`` (the system message), ``selector`` (a
    :class:`~smallext.teachers.shots.ShotSelector`, or None), ``shots``, ``shot_groups`` and ``_shots`` (a dict,
    the prefetched shots by text), and define :meth:`reply_for` (the ideal reply of a labelled example).
    """

    system: str
    selector: Any = None
    shot_groups: int = 0

    @abstractmethod
    def reply_for(self, doc: Document) -> str:
        """The ideal reply for a labelled example (a few-shot turn)."""

    def prepare(self, texts: Sequence[str]) -> list[int]:
        """Retrieve the shots of many future prompts at once (see :meth:`ShotSelector.select_many`); with
        ``shot_groups``, group the prompts and return them in group order (see the class docstring)."""
        if not self.shots:
            return list(range(len(texts)))
        if self.shot_groups:
            shots, order = self.selector.select_groups(texts, self.shots, self.shot_groups)
            self._shots.update(zip(texts, shots, strict=True))
            return order
        todo = [t for t in dict.fromkeys(texts) if t not in self._shots]
        self._shots.update(zip(todo, self.selector.select_many(todo, self.shots), strict=True))
        return list(range(len(texts)))

    def messages(self, text: str) -> list[dict[str, str]]:
        """Chat messages for one input text (shots retrieved for it, or prefetched)."""
        msgs = [{"role": "system", "content": self.system}]
        if self.shots:
            shots = self._shots.get(text)
            for ex in shots if shots is not None else self.selector.select(text, self.shots):
                msgs += [{"role": "user", "content": ex.text},
                         {"role": "assistant", "content": self.reply_for(ex)}]
        msgs.append({"role": "user", "content": text})
        return msgs


def read_json_object(text: str) -> tuple[str | None, Any, str | None]:
    """The JSON value at the first ``{`` of a model reply (prose or code fences around it are ignored).

    Returns:
        ``(body, value, error)``: ``body`` is the reply from that ``{`` on (None when there is none);
        ``value`` the decoded JSON, or None with ``error`` saying why (cut off at ``max_tokens``, invalid),
        so that a parser can salvage the complete items of ``body``.
    """
    start = text.find("{")
    if start < 0:
        return None, None, "no JSON object in the reply"
    body = text[start:]
    try:
        return body, json.JSONDecoder().raw_decode(body)[0], None
    except json.JSONDecodeError as e:
        return body, None, f"invalid or truncated JSON ({e.msg} at character {e.pos})"


def chunk_documents(docs: Sequence[Document], max_chars: int) -> list[list[Document]]:
    """Group consecutive documents into chunks of at most ``max_chars`` characters of text (a longer
    document is a chunk of its own). ``max_chars <= 0`` gives one document per chunk."""
    chunks: list[list[Document]] = []
    size = 0
    for d in docs:
        if chunks and max_chars > 0 and size + len(d.text) + 1 <= max_chars:
            chunks[-1].append(d)
            size += len(d.text) + 1
        else:
            chunks.append([d])
            size = len(d.text)
    return chunks
