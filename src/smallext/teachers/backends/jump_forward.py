"""Jump-forward decoding: the characters of a JSON reply that its schema leaves no choice about are
appended without asking the model for them one token at a time.

In a reply such as ``{"entities": [{"text": "SVM", "type": "algorithm"}]}`` only the entity text, the
first characters of the type and the choice between ``,`` and ``]`` come from the model; the keys, quotes
and separators are fixed by the JSON schema, and so is the rest of a type name once its first characters
single it out. :class:`JumpForward` follows the reply character by character in the canonical layout of
``json.dumps`` (separators ``", "`` and ``": "``, no newlines, keys in schema order) and says which
characters are forced next; the batch engine evaluates their tokens together with the next decoding step
(one forward pass for several tokens) instead of generating them one per step. A reply that leaves the
canonical layout (a newline, say: the grammar allows it) simply stops being helped.

Supported schemas: objects whose properties are all required, arrays (``items`` or fixed ``prefixItems``),
strings and string enums, nested freely. :func:`supports` says whether a schema qualifies.

The matcher also notices a repetition loop, the way small models fail on long lists: an array item written
for the ``max_repeats + 1``-th time (``{"text": "classifier", "type": "product"}`` listed eleven times for a
sentence that names it twice). :meth:`JumpForward.truncated` then gives the reply cut after that item and
closed, so the engine can stop decoding there.

Source: jump-forward decoding with a compressed finite-state machine, SGLang (Zheng et al., 2024,
"SGLang: Efficient Execution of Structured Language Model Programs", NeurIPS 2024, section 4).
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator

_Matcher = Generator[str, str, None]


class _Deviation(Exception):
    """The reply left the canonical layout."""


def supports(schema: dict) -> bool:
    """Whether :class:`JumpForward` can follow replies to ``schema`` (a JSON Schema as a dict)."""
    if "enum" in schema:
        return all(isinstance(v, str) for v in schema["enum"]) and len(schema["enum"]) > 0
    kind = schema.get("type")
    if kind == "string":
        return True
    if kind == "object":
        props = schema.get("properties") or {}
        return bool(props) and set(schema.get("required", [])) == set(props) and all(
            supports(p) for p in props.values())
    if kind == "array":
        if "prefixItems" in schema:
            return all(supports(p) for p in schema["prefixItems"])
        return isinstance(schema.get("items"), dict) and supports(schema["items"])
    return False


class JumpForward:
    """Follows one reply to a JSON schema and gives the characters forced next.

    Args:
        schema: the reply's JSON Schema (must satisfy :func:`supports`).
        max_repeats: an array item identical (character for character) to this many earlier items of the
            same array marks a repetition loop; ``None``: never.

    Attributes:
        done: the reply's JSON value is complete.
        off: the reply left the canonical layout; nothing more is forced.
        loop_at: characters of the reply up to the end of the item that marked a repetition loop, or ``None``.

    Raises:
        ValueError: the schema is not supported.
    """

    def __init__(self, schema: dict, max_repeats: int | None = None) -> None:
        if not supports(schema):
            raise ValueError("jump-forward decoding supports objects with all properties required, arrays, "
                             "strings and string enums")
        self.done = False
        self.off = False
        self._ahead = ""  # forced characters handed back with :meth:`unread`, still to come from the model
        self.max_repeats = max_repeats
        self.loop_at: int | None = None
        self._loop_close: str | None = None
        self._read: list[str] = []  # every character the matchers have read
        self._closers: list[str | None] = []  # per open container: what closes it now (None: it cannot close)
        self._gen = self._value(schema, None)
        self._hint = next(self._gen)

    def feed(self, text: str) -> None:
        """Advance over characters the model produced (or that were forced)."""
        if self._ahead and not self.off:
            n = len(os.path.commonprefix([text, self._ahead]))
            if n < min(len(text), len(self._ahead)):
                self.off = True
                return
            self._ahead, text = self._ahead[n:], text[n:]
        for ch in text:
            if self.off:
                return
            if self.done:
                self.off = not ch.isspace()
                continue
            try:
                self._read.append(ch)
                self._hint = self._gen.send(ch)
            except StopIteration:
                self.done, self._hint = True, ""
            except _Deviation:
                self.off, self._hint = True, ""

    def forced(self) -> str:
        """The characters that must come next (possibly ``""``), taken as produced: the caller emits them
        (or hands the end back with :meth:`unread`)."""
        if self._ahead:
            return ""
        out = []
        while self._hint and not self.off and not self.done:
            hint = self._hint
            out.append(hint)
            self.feed(hint)
        return "".join(out)

    def truncated(self) -> str | None:
        """The reply cut after the item that marked a repetition loop and closed (valid JSON), or ``None``
        when there is no loop or the containers open there cannot be closed yet (required keys to come)."""
        if self.loop_at is None or self._loop_close is None:
            return None
        return "".join(self._read[: self.loop_at]) + self._loop_close

    def unread(self, text: str) -> None:
        """Hand back the end of the last :meth:`forced` text: the model is to produce it after all.

        The batch engine leaves a forced text's last token to the model, because the model may write those
        characters merged with the next ones into one token (``' [{"'`` rather than ``' ['`` then ``'{"'``),
        and a token boundary it would not have made throws it off.
        """
        self._ahead = text + self._ahead

    # ------------------------------------------------------------ matchers
    # Each matcher is a generator: it yields the literal forced at its position ("" when the model chooses)
    # and receives the next character. ``first`` is a character already read by the caller.
    def _value(self, schema: dict, first: str | None) -> _Matcher:
        if "enum" in schema:
            return self._enum(schema["enum"], first)
        kind = schema["type"]
        if kind == "string":
            return self._string(first)
        if kind == "object":
            return self._object(schema, first)
        return self._array(schema, first)

    def _lit(self, s: str, first: str | None) -> _Matcher:
        i = 0
        if first is not None:
            if first != s[0]:
                raise _Deviation
            i = 1
        while i < len(s):
            if (yield s[i:]) != s[i]:
                raise _Deviation
            i += 1

    def _string(self, first: str | None) -> _Matcher:
        yield from self._lit('"', first)
        while True:
            c = yield ""
            if c == "\\":
                yield ""
            elif c == '"':
                return

    def _enum(self, values: list[str], first: str | None) -> _Matcher:
        # JSON-encoded with their quotes, the values are prefix-free: the enum ends when one is complete
        cands = [json.dumps(v) for v in values]
        got = first or ""
        while True:
            match = [c for c in cands if c.startswith(got)]
            if not match:
                raise _Deviation
            if got in match:
                return
            got += yield os.path.commonprefix(match)[len(got):]

    def _object(self, schema: dict, first: str | None) -> _Matcher:
        yield from self._lit("{", first)
        props = schema["properties"]
        self._closers.append(None)
        for i, (key, sub) in enumerate(props.items()):
            yield from self._lit((", " if i else "") + json.dumps(key) + ": ", None)
            self._closers[-1] = "}" if i == len(props) - 1 else None  # closable once in its last value
            yield from self._value(sub, None)
        self._closers.pop()
        yield from self._lit("}", None)

    def _array(self, schema: dict, first: str | None) -> _Matcher:
        yield from self._lit("[", first)
        if "prefixItems" in schema:
            self._closers.append(None)
            for i, sub in enumerate(schema["prefixItems"]):
                if i:
                    yield from self._lit(", ", None)
                yield from self._value(sub, None)
            self._closers.pop()
            yield from self._lit("]", None)
            return
        self._closers.append("]")
        seen: dict[str, int] = {}
        c = yield ""
        start = len(self._read) - 1  # the item's first character, already read
        while c != "]":
            yield from self._value(schema["items"], c)
            self._item_done(seen, start)
            c = yield ""
            if c == "]":
                break
            if c != ",":
                raise _Deviation
            yield from self._lit(" ", None)
            start, c = len(self._read), None
        self._closers.pop()

    def _item_done(self, seen: dict[str, int], start: int) -> None:
        item = "".join(self._read[start:])
        seen[item] = seen.get(item, 0) + 1
        if self.max_repeats is not None and self.loop_at is None and seen[item] > self.max_repeats:
            self.loop_at = len(self._read)
            closers = self._closers[::-1]
            self._loop_close = None if None in closers else "".join(closers)  # type: ignore[arg-type]
