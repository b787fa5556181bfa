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

    Attributes:
        done: the reply's JSON value is complete.
        off: the reply left the canonical layout; nothing more is forced.

    Raises:
        ValueError: the schema is not supported.
    """

    def __init__(self, schema: dict) -> None:
        if not supports(schema):
            raise ValueError("jump-forward decoding supports objects with all properties required, arrays, "
                             "strings and string enums")
        self.done = False
        self.off = False
        self._ahead = ""  # forced characters handed back with :meth:`unread`, still to come from the model
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
        for i, (key, sub) in enumerate(schema["properties"].items()):
            yield from self._lit((", " if i else "") + json.dumps(key) + ": ", None)
            yield from self._value(sub, None)
        yield from self._lit("}", None)

    def _array(self, schema: dict, first: str | None) -> _Matcher:
        yield from self._lit("[", first)
        if "prefixItems" in schema:
            for i, sub in enumerate(schema["prefixItems"]):
                if i:
                    yield from self._lit(", ", None)
                yield from self._value(sub, None)
            yield from self._lit("]", None)
            return
        c = yield ""
        if c == "]":
            return
        yield from self._value(schema["items"], c)
        while True:
            c = yield ""
            if c == "]":
                return
            if c != ",":
                raise _Deviation
            yield from self._lit(" ", None)
            yield from self._value(schema["items"], None)
