"""The kinds of output smallext extracts, one package each, and their one registry (see :mod:`.base`).

=============  =====================================================================================
``entities``   :mod:`smallext.kinds.entities`: typed spans of the text (the document's ``spans``)
``relations``  :mod:`smallext.kinds.relations`: directed, typed links between two entities
=============  =====================================================================================

A new kind is a package here (its ``__init__`` defines ``KIND``, a :class:`~smallext.kinds.base.Kind`) and one
line in :data:`_REGISTERED` below.
"""

from __future__ import annotations

from importlib import import_module

from smallext.doc import register_layer
from smallext.kinds.base import Kind
from smallext.schema import Schema, register_section

__all__ = ["KINDS", "Kind", "kinds_of", "register"]

KINDS: dict[str, Kind] = {}
"""Kind name -> :class:`~smallext.kinds.base.Kind`, in registration order (a kind after those it requires)."""


def register(kind: Kind) -> Kind:
    """Add ``kind`` to :data:`KINDS`, its section to every schema and its layer to every document.

    Raises:
        ValueError: the name is taken, or a kind it requires is not registered before it.
    """
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise ValueError(f"kind {kind.name!r} is already registered")
    missing = [r for r in kind.requires if r not in KINDS]
    if missing:
        raise ValueError(f"kind {kind.name!r} requires {', '.join(missing)}, registered before it")
    if kind.section.field != "entity_types":
        register_section(kind.section)
    if kind.layer is not None:
        register_layer(kind.layer)
    KINDS[kind.name] = kind
    return kind


def kinds_of(schema: Schema) -> list[Kind]:
    """The registered kinds ``schema`` declares (at least one type in their section), in registration order."""
    return [k for k in KINDS.values() if k.declared(schema)]


_REGISTERED = (
    "smallext.kinds.entities",
    "smallext.kinds.relations",
)
"""The registration lines: one module per kind, each defining ``KIND``."""

for _module in _REGISTERED:
    register(import_module(_module).KIND)
