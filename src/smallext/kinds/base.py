"""What a kind of output is: the one seam between the pipeline and entities, relations (and records next).

A :class:`Kind` (a package under :mod:`smallext.kinds`) owns everything that depends on its kind of output:

==================  ====================================================================================
``section``         its schema section (:class:`smallext.schema.Section`: the key, the type model, its checks)
``layer``           its field in :class:`~smallext.doc.Document` and JSON Lines (a :class:`~smallext.doc.Layer`;
                    none for entities, whose items are the document's spans); Parquet columns and DocBin
                    ``user_data`` follow from its JSON form
parts:
``task``            its LLM task (prompt, reply schema, parser, grounding, split): a
                    :class:`~smallext.teachers.tasks.base.Task` class
``vote``            how an ensemble of teachers votes on it
``head``            its student head (training loss, ONNX export, decoding): a
                    :class:`~smallext.students.head.Head`
``student_options`` the head's options (fields added to :class:`~smallext.students.options.StudentOptions`)
``scorer``          its section of the evaluation result (:mod:`smallext.evaluate`); ``primary`` the score that
                    represents the section, ``summary`` its line for a terminal, ``card_rows`` its rows in a
                    model card
``scores``          the pydantic model of its evaluation section (:class:`smallext.evaluate.Evaluation`);
                    ``report`` its section of a distill run's report; ``table`` its table for
                    ``smallext evaluate``
``wire``            its field in the HTTP server's answer and ``/metadata`` (:mod:`smallext.serve.app`)
``labelstudio``     its tags in the labelling config, its results in tasks and exports
                    (:mod:`smallext.io.labelstudio`)
``html``            how its items are drawn on the examples page (:mod:`smallext.visualize`):
                    ``render(doc, other, side) -> Rendered``, the items the other side lacks marked
==================  ====================================================================================

The heavy parts are named by ``"module:attribute"`` strings and imported on first use (:meth:`Kind.load`), so
that the registry stays light and torch-free and no lower layer imports an upper one. The pipeline, the
teacher, the student, ``evaluate``, ``serve`` and the report loop over :func:`smallext.kinds.kinds_of` (the
kinds a schema declares) instead of naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from smallext.doc import Layer
from smallext.schema import Schema, Section

__all__ = ["Kind"]


@dataclass(frozen=True)
class Kind:
    """A kind of output (see the module docstring).

    Attributes:
        name: the kind's name, also its section in the evaluation result (``"entities"``).
        section: its schema section.
        layer: its document field, or None when its items are the spans.
        requires: kinds it builds on (a relation needs entities); a schema declaring it declares them too.
        parts: ``{"task" | "vote" | "head" | "scorer" | ...: "module:attribute"}``, imported by :meth:`load`.
        describe: one line for the documentation and ``smallext kinds``.
    """

    name: str
    section: Section
    layer: Layer | None = None
    requires: tuple[str, ...] = ()
    parts: dict[str, str] = field(default_factory=dict)
    describe: str = ""

    def declared(self, schema: Schema) -> bool:
        """Whether ``schema`` has at least one type in this kind's section."""
        return bool(getattr(schema, self.section.field))

    def has(self, part: str) -> bool:
        """Whether the kind provides ``part`` (a key of :attr:`parts`)."""
        return part in self.parts

    def load(self, part: str) -> Any:
        """The object named by ``parts[part]``, imported on first use.

        Raises:
            KeyError: the kind has no such part (the message names the kind and the parts it has).
        """
        if part not in self.parts:
            raise KeyError(f"kind {self.name!r} has no {part!r} (it has: {', '.join(self.parts) or 'nothing'})")
        module, _, attr = self.parts[part].partition(":")
        return getattr(import_module(module), attr)
