"""The kinds of output smallext extracts, one package each, and their one registry (see :mod:`.base`).

=============  =====================================================================================
``entities``   :mod:`smallext.kinds.entities`: typed spans of the text (the document's ``spans``)
``relations``  :mod:`smallext.kinds.relations`: directed, typed links between two entities
``records``    :mod:`smallext.kinds.records`: filled-in forms, typed fields grounded to character offsets
=============  =====================================================================================

A new kind is a package here (its ``__init__`` defines ``KIND``, a :class:`~smallext.kinds.base.Kind`) and one
line in :data:`_REGISTERED` below.
"""

from __future__ import annotations

from importlib import import_module

from smallext.doc import register_layer
from smallext.kinds.base import Kind
from smallext.schema import Schema, register_section

__all__ = ["KINDS", "Kind", "kinds_of", "register", "unregister"]

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


def unregister(name: str) -> Kind:
    """Take the kind called ``name`` out of :data:`KINDS`, its section out of every schema and its layer out of every
    document built after this (what proves a kind is a plug-in: everything else works without it).

    Raises:
        KeyError: no such kind.
        ValueError: another registered kind requires it.
    """
    kind = KINDS[name]
    needed = [k.name for k in KINDS.values() if name in k.requires]
    if needed:
        raise ValueError(f"kind {name!r} is required by {', '.join(needed)}")
    from smallext.doc import LAYERS
    from smallext.schema import SECTIONS

    SECTIONS.pop(kind.section.field, None)
    if kind.layer is not None:
        LAYERS.pop(kind.layer.field, None)
    return KINDS.pop(name)


def kinds_of(schema: Schema) -> list[Kind]:
    """The registered kinds ``schema`` declares (at least one type in their section), in registration order."""
    return [k for k in KINDS.values() if k.declared(schema)]


_REGISTERED = (
    "smallext.kinds.entities",
    "smallext.kinds.relations",
    "smallext.kinds.records",
)
"""The registration lines: one module per kind, each defining ``KIND``."""

for _module in _REGISTERED:
    register(import_module(_module).KIND)
