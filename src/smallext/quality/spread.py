"""The spread of an LLM teacher's replies over prompt variants: how sure it is of each span.

CoAnnotating (Li et al., EMNLP 2023) measures an LLM's uncertainty by the disagreement of its answers to several
variants of the prompt. Here the variants list the schema's entity types in other orders
(``prompt_variant`` 1..V of the LLM teacher options); a span's **support** is the share of the V+1 label sets
(the given labels and the V variants' replies) that contain it. Each variant costs a teacher call per chunk, so
the spread is computed only for the documents asked for; the support then lowers the confidence of their spans
in :func:`smallext.quality.errors.find_label_errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smallext.doc import Document

__all__ = ["reply_spread"]


SpanKey = tuple[str, int, int, str]


def reply_spread(docs: Sequence[Document], teacher: str, schema, options: dict[str, Any] | None = None, *,
                 variants: int = 2, store: str | Path, progress: bool = False) -> dict[SpanKey, float]:
    """Annotate ``docs`` with ``variants`` prompt variants of the LLM ``teacher`` (through the SQLite ``store``,
    so a re-run repeats no call) and return each given span's support, ``(doc id, start, end, label) -> share``
    in [0, 1], over the given labels and the variants' replies.

    Raises:
        ConfigError: ``teacher`` is not an LLM teacher (it has no prompt to vary).
    """
    from smallext.errors import ConfigError
    from smallext.teachers import load_teacher, option_fields
    from smallext.teachers.annotate import annotate

    if "prompt_variant" not in option_fields(teacher):
        raise ConfigError(f"teacher {teacher!r} has no prompt to vary: the spread needs an LLM teacher")
    votes: dict[SpanKey, int] = {(d.id, *s.key): 1 for d in docs for s in d.spans}
    for k in range(1, variants + 1):
        t = load_teacher(teacher, schema, {**(options or {}), "prompt_variant": k})
        try:
            out = annotate(docs, t, None, store=Path(store).with_suffix(f".variant{k}.sqlite"), progress=progress)
        finally:
            t.close()
        for d in out["documents_out"]:
            for s in d.spans:
                key = (d.id, *s.key)
                if key in votes:
                    votes[key] += 1
    return {key: n / (variants + 1) for key, n in votes.items()}
