"""From raw text to model inputs and back: word pieces, character offsets, casing features, windows.

This module is torch-free: training (from Documents) and inference (from any text) share it, so both see
exactly the same word pieces.

* Text is split into word pieces by the base model's fast tokenizer (``tokenizers``), whose offset mapping
  ties each piece to character offsets in the original text. Words are the tokenizer's pre-tokenized words
  (whitespace and punctuation split), so a span always starts and ends on a word boundary.
* Each word gets one label, carried by its first piece (IOB2 over word pieces; continuation pieces are
  ignored in the loss, the usual first-sub-token scheme of Devlin et al. 2019, sec. 5.3).
* Casing: the encoders we can install are uncased, so each word gets a casing class
  (:data:`CASING_CLASSES`), spread to all of its pieces; the model adds a learned embedding of it.
* Long texts are cut into overlapping windows of word pieces (``max_length`` with ``stride`` pieces of
  overlap); each piece takes its prediction from the window where it sits furthest from an edge, so nothing
  is ever truncated.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from smallext.doc import Span

CASING_CLASSES = ("pad", "lower", "initial", "upper", "mixed", "digit", "punct")
IGNORE = -100


@functools.lru_cache(maxsize=1 << 16)
def casing_class(word: str) -> int:
    """Casing class id of a word (index into :data:`CASING_CLASSES`).

    ``lower`` (all letters lower case), ``initial`` (first letter upper, rest lower: "Paris", "A"),
    ``upper`` (two or more letters, all upper: "NATO"), ``mixed`` (other mixes, or letters with digits:
    "iPhone", "McDonald", "B52"), ``digit`` (digits, no letters: "1996", "3-0"), ``punct`` (neither).
    """
    letters = [c for c in word if c.isalpha()]
    has_digit = any(c.isdigit() for c in word)
    if not letters:
        return 5 if has_digit else 6
    if has_digit:
        return 4
    if all(c.islower() for c in letters):
        return 1
    if all(c.isupper() for c in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and all(not c.isupper() for c in letters[1:]):
        return 2
    return 4


def bio_labels(entity_types: Sequence[str]) -> list[str]:
    """IOB2 tag set: ``["O", "B-T1", "I-T1", "B-T2", ...]``."""
    return ["O"] + [f"{p}-{t}" for t in entity_types for p in ("B", "I")]


@dataclass
class EncodedText:
    """One text as word pieces.

    Attributes:
        ids: word-piece ids, no special tokens; shape (n_pieces,).
        offsets: (n_pieces, 2) character offsets of each piece in the text.
        case_ids: (n_pieces,) casing class of the word each piece belongs to.
        word_of_piece: (n_pieces,) index of the piece's word.
        first_piece: (n_words,) index of each word's first piece.
        words: (n_words, 2) character offsets of each word.
    """

    ids: np.ndarray
    offsets: np.ndarray
    case_ids: np.ndarray
    word_of_piece: np.ndarray
    first_piece: np.ndarray
    words: np.ndarray
    word_labels: np.ndarray | None = field(default=None)  # (n_words,) tag ids, for training
    word_weights: np.ndarray | None = field(default=None)  # (n_words,) loss weights, for training


def encode(tokenizer, texts: Sequence[str]) -> list[EncodedText]:
    """Encode texts with a ``tokenizers.Tokenizer`` (no truncation, no special tokens).

    Pieces with empty offsets (nothing in the text) are dropped.
    """
    out = []
    for text, enc in zip(texts, tokenizer.encode_batch(list(texts), add_special_tokens=False), strict=True):
        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        wids = np.asarray([-1 if w is None else w for w in enc.word_ids], dtype=np.int64)
        keep = (offs[:, 1] > offs[:, 0]) & (wids >= 0)
        ids_a = np.asarray(enc.ids, dtype=np.int64)[keep]
        offs_a, raw_w = offs[keep], wids[keep]
        n = len(raw_w)
        # words renumbered 0..n-1 in order of appearance: a new word starts where the word id changes
        new_word = np.ones(n, dtype=bool)
        new_word[1:] = raw_w[1:] != raw_w[:-1]
        first = np.flatnonzero(new_word)
        last = np.append(first[1:] - 1, n - 1) if n else first
        words_a = np.stack([offs_a[first, 0], offs_a[last, 1]], axis=1) if n else np.zeros((0, 2), np.int64)
        word_of_piece = np.cumsum(new_word) - 1
        word_case = np.asarray([casing_class(text[s:e]) for s, e in words_a.tolist()], dtype=np.int64)
        out.append(
            EncodedText(
                ids_a, offs_a, word_case[word_of_piece] if n else np.zeros(0, np.int64),
                word_of_piece, first.astype(np.int64), words_a,
            )
        )
    return out


def word_tags(words: np.ndarray, spans: Sequence[Span], tag_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray,
                                                                                          int, int]:
    """IOB2 tag ids of words from character spans: ``(labels (n_words,), weights (n_words,), spans labelled,
    spans that did not start/end on word boundaries)``.

    ``words`` is (n_words, 2) character offsets. A word belongs to a span when it overlaps it; the first such
    word gets ``B-``. A span's ``score`` (when present) becomes the weight of its words. Spans whose type is
    not in ``tag_index`` are ignored, and a word already claimed by an earlier span keeps it (overlaps cannot
    be expressed in IOB2).
    """
    n = len(words)
    labels = np.zeros(n, dtype=np.int64)
    weights = np.ones(n, dtype=np.float32)
    starts, ends = words[:, 0], words[:, 1]
    used = misaligned = 0
    for sp in sorted(spans, key=lambda s: s.key):
        b = tag_index.get(f"B-{sp.label}")
        if b is None:
            continue
        idx = np.nonzero((starts < sp.end) & (ends > sp.start))[0]
        if len(idx) == 0 or labels[idx].any():
            continue
        if starts[idx[0]] != sp.start or ends[idx[-1]] != sp.end:
            misaligned += 1
        labels[idx[0]] = b
        labels[idx[1:]] = b + 1
        if sp.score is not None:
            weights[idx] = sp.score
        used += 1
    return labels, weights, used, misaligned


def label_words(enc: EncodedText, spans: Sequence[Span], tag_index: dict[str, int]) -> tuple[int, int]:
    """Set ``enc.word_labels`` / ``enc.word_weights`` from character spans (see :func:`word_tags`).

    Returns:
        ``(spans labelled, spans that did not start/end on word boundaries)``.
    """
    enc.word_labels, enc.word_weights, used, misaligned = word_tags(enc.words, spans, tag_index)
    return used, misaligned


@dataclass
class Window:
    """A slice of one text's word pieces, ready for the model (special tokens added).

    Attributes:
        text_index: which text it came from.
        start, end: the piece range ``[start, end)`` of the text it covers.
        own_start, own_end: the sub-range whose predictions this window supplies.
        ids, case_ids: (end - start + 2,) with [CLS] and [SEP].
        labels, weights: (end - start + 2,) piece labels (IGNORE except first pieces) and loss weights.
    """

    text_index: int
    start: int
    end: int
    own_start: int
    own_end: int
    ids: np.ndarray
    case_ids: np.ndarray
    labels: np.ndarray | None = None
    weights: np.ndarray | None = None


def windows(
    encoded: Sequence[EncodedText], cls_id: int, sep_id: int, max_length: int = 256, stride: int = 64
) -> list[Window]:
    """Cut each text into windows of at most ``max_length`` pieces (special tokens included) that overlap
    by ``stride`` pieces. Every piece is owned by exactly one window (the midpoint of each overlap splits
    ownership). An empty text gives one window with no pieces.

    Raises:
        ValueError: ``stride`` must be smaller than ``max_length - 2``, which must be positive.
    """
    size = max_length - 2
    if size <= 0 or not (0 <= stride < size):
        raise ValueError(f"need 0 <= stride < max_length - 2, got max_length={max_length}, stride={stride}")
    step = size - stride
    out = []
    for ti, enc in enumerate(encoded):
        n = len(enc.ids)
        bounds = [(0, min(size, n))]
        while bounds[-1][1] < n:
            s = bounds[-1][0] + step
            bounds.append((s, min(s + size, n)))
        pieces = piece_labels(enc) if enc.word_labels is not None else None
        for k, (s, e) in enumerate(bounds):
            own_s = 0 if k == 0 else (s + bounds[k - 1][1]) // 2
            own_e = n if k == len(bounds) - 1 else (bounds[k + 1][0] + e) // 2
            w = Window(
                ti, s, e, own_s, own_e,
                np.concatenate([[cls_id], enc.ids[s:e], [sep_id]]).astype(np.int64),
                np.concatenate([[0], enc.case_ids[s:e], [0]]).astype(np.int64),
            )
            if pieces is not None:
                w.labels, w.weights = window_labels(pieces, w)
            out.append(w)
    return out


def piece_labels(enc: EncodedText) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, weights)`` (n_pieces,) of a labelled text (:func:`label_words`): each word's tag and weight on its
    first piece, :data:`IGNORE` and 0 on the others."""
    n = len(enc.ids)
    labels = np.full(n, IGNORE, dtype=np.int64)
    labels[enc.first_piece] = enc.word_labels
    weights = np.zeros(n, dtype=np.float32)
    weights[enc.first_piece] = enc.word_weights
    return labels, weights


def window_labels(pieces: tuple[np.ndarray, np.ndarray], w: Window) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, weights)`` (len(w.ids),) of window ``w`` from its text's :func:`piece_labels`: a piece is trained
    on only in the window that owns it; [CLS] and [SEP] are ignored."""
    labels, weights = pieces
    s, e = w.start, w.end
    lab = labels[s:e].copy()
    lab[: max(0, w.own_start - s)] = IGNORE
    lab[max(0, w.own_end - s) :] = IGNORE
    return (np.concatenate([[IGNORE], lab, [IGNORE]]),
            np.concatenate([[0.0], weights[s:e], [0.0]]).astype(np.float32))


def pad_batch(batch: Sequence[Window], pad_id: int = 0) -> dict[str, np.ndarray]:
    """Stack windows into int64 arrays ``input_ids``, ``attention_mask``, ``case_ids`` of shape (B, T)
    (and ``labels`` (B, T) int64, ``weights`` (B, T) float32 when the windows have labels)."""
    t = max(len(w.ids) for w in batch)
    b = len(batch)
    ids = np.full((b, t), pad_id, dtype=np.int64)
    mask = np.zeros((b, t), dtype=np.int64)
    case = np.zeros((b, t), dtype=np.int64)
    labels = np.full((b, t), IGNORE, dtype=np.int64) if batch[0].labels is not None else None
    weights = np.zeros((b, t), dtype=np.float32) if batch[0].labels is not None else None
    for i, w in enumerate(batch):
        n = len(w.ids)
        ids[i, :n], mask[i, :n], case[i, :n] = w.ids, 1, w.case_ids
        if labels is not None:
            labels[i, :n], weights[i, :n] = w.labels, w.weights
    out = {"input_ids": ids, "attention_mask": mask, "case_ids": case}
    if labels is not None:
        out["labels"], out["weights"] = labels, weights
    return out
