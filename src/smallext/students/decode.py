"""Decoding word-level tag probabilities into character spans, and the runtime-agnostic predict loop.

Decoding keeps only valid IOB2 sequences: ``I-X`` may follow only ``B-X`` or ``I-X``. Among valid
sequences it picks the one with the highest sum of log-probabilities (Viterbi, 1967, over a first-order
constraint lattice whose transition scores are 0 for allowed and -inf for forbidden moves). A span's score
is the mean probability of its chosen tags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smallext.doc import Document, Span
from smallext.students.features import EncodedText, Window, encode, pad_batch, windows
from smallext.students.head import Decoding

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
"""A model call: padded batch arrays -> logits of shape (B, T, n_tags) as float32."""


def allowed_transitions(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start_ok (L,), trans_ok (L, L))`` boolean masks of the IOB2 constraints; ``trans_ok[i, j]`` says
    whether tag ``j`` may follow tag ``i``."""
    n = len(tags)
    start_ok = np.array([not t.startswith("I-") for t in tags])
    trans_ok = np.ones((n, n), dtype=bool)
    for j, t in enumerate(tags):
        if t.startswith("I-"):
            typ = t[2:]
            trans_ok[:, j] = [p in (f"B-{typ}", f"I-{typ}") for p in tags]
    return start_ok, trans_ok


def viterbi(log_probs: np.ndarray, start_ok: np.ndarray, trans_ok: np.ndarray) -> np.ndarray:
    """Best valid tag path. ``log_probs`` is (n_words, L); returns (n_words,) tag ids."""
    n, L = log_probs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    trans = np.where(trans_ok, 0.0, -np.inf)
    score = np.where(start_ok, log_probs[0], -np.inf)
    back = np.zeros((n, L), dtype=np.int64)
    for i in range(1, n):
        cand = score[:, None] + trans  # (prev, cur)
        back[i] = cand.argmax(axis=0)
        score = cand[back[i], np.arange(L)] + log_probs[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def spans_from_path(
    path: np.ndarray, probs: np.ndarray, words: np.ndarray, tags: Sequence[str], source: str | None = None
) -> list[Span]:
    """Character spans from a valid IOB2 word path; ``words`` is (n_words, 2) character offsets."""
    spans: list[Span] = []
    names = [tags[k] for k in path.tolist()]
    i, n = 0, len(names)
    while i < n:
        t = names[i]
        if t == "O":
            i += 1
            continue
        inside = f"I-{t[2:]}"
        j = i + 1
        while j < n and names[j] == inside:
            j += 1
        score = float(probs[np.arange(i, j), path[i:j]].mean())
        spans.append(Span(int(words[i, 0]), int(words[j - 1, 1]), t[2:], round(score, 4), source))
        i = j
    return spans


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def gather_pieces(
    encoded: Sequence[EncodedText], wins: Sequence[Window], run: Runner, batch_size: int = 32, pad_id: int = 0,
    max_batch_pieces: int | None = None,
) -> list[np.ndarray]:
    """Run the model over all windows and stitch, for each text, the outputs of every word piece from the window
    that owns it. Returns (n_pieces, D) arrays of ``run``'s outputs, one per text.

    Windows are sorted by length and batched: at most ``batch_size`` windows and at most
    ``max_batch_pieces`` padded pieces per call (default ``batch_size * 64``), which bounds memory when
    windows are long.
    """
    order = sorted(range(len(wins)), key=lambda k: len(wins[k].ids))
    budget = max_batch_pieces or batch_size * 64
    batches: list[list[Window]] = []
    for k in order:
        w = wins[k]
        if batches and len(batches[-1]) < batch_size and len(w.ids) * (len(batches[-1]) + 1) <= budget:
            batches[-1].append(w)
        else:
            batches.append([w])
    pieces: list[np.ndarray | None] = [None] * len(encoded)
    for batch in batches:
        out = run(pad_batch(batch, pad_id))
        for w, lg in zip(batch, out, strict=True):
            enc = encoded[w.text_index]
            if pieces[w.text_index] is None:
                pieces[w.text_index] = np.zeros((len(enc.ids), lg.shape[-1]), dtype=np.float32)
            a, b = w.own_start, w.own_end
            if b > a:
                pieces[w.text_index][a:b] = lg[1 + a - w.start : 1 + b - w.start]
    return [p if p is not None else np.zeros((0, 1), np.float32) for p in pieces]


def predict_word_probs(
    encoded: Sequence[EncodedText], wins: Sequence[Window], run: Runner, batch_size: int = 32, pad_id: int = 0,
    max_batch_pieces: int | None = None, transform: Callable[[np.ndarray], np.ndarray] | None = softmax,
) -> list[np.ndarray]:
    """Run the model over all windows (:func:`gather_pieces`) and keep, for each text, the outputs of each word's
    first piece. Returns (n_words, L) arrays. ``transform`` turns the piece outputs into what is kept (softmax of
    logits; None keeps ``run``'s outputs as they are, e.g. hidden states (n_words, D))."""
    out = []
    for enc, pp in zip(encoded, gather_pieces(encoded, wins, run, batch_size, pad_id, max_batch_pieces), strict=True):
        if not len(enc.first_piece):
            out.append(np.zeros((0, 1)))
            continue
        first = pp[enc.first_piece]
        out.append(first if transform is None else transform(first))
    return out


def decode_words(
    word_probs: np.ndarray, words: np.ndarray, tags: Sequence[str], constraints=None, source: str | None = None
) -> list[Span]:
    """Constrained decoding of one text's (n_words, L) probabilities into spans."""
    if len(words) == 0:
        return []
    path = best_path(word_probs, constraints if constraints is not None else allowed_transitions(tags))
    return spans_from_path(path, word_probs, words, tags, source)


def best_path(word_probs: np.ndarray, constraints: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The most probable valid IOB2 tag path (n_words,) of (n_words, L) probabilities (n_words >= 1);
    ``constraints`` is :func:`allowed_transitions` of the tags."""
    start_ok, trans_ok = constraints
    path = word_probs.argmax(axis=1)
    # the most probable tag of each word, when it forms a valid sequence, is already the best valid path
    # (the usual case); Viterbi is needed only where it breaks the IOB2 constraints
    if not (start_ok[path[0]] and trans_ok[path[:-1], path[1:]].all()):
        path = viterbi(np.log(np.clip(word_probs, 1e-9, 1.0)), start_ok, trans_ok)
    return path


@dataclass(frozen=True)
class WordProbs:
    """A student's tag probabilities for each word of one document.

    Attributes:
        words: (n_words, 2) int array of each word's character offsets ``[start, end)`` in the text (the
            tokenizer's words: whitespace and punctuation split; every predicted span starts and ends on them).
        probs: (n_words, n_tags) float32 array; row ``i`` is word ``i``'s distribution over ``tags``
            (softmax of its first word piece's logits; rows sum to 1).
        tags: the tag names, IOB2 (``["O", "B-T1", "I-T1", ...]``).
    """

    words: np.ndarray
    probs: np.ndarray
    tags: tuple[str, ...]


def predict_documents(
    docs: Sequence[Document], tokenizer, special: tuple[int, int], run: Runner, heads: Sequence[tuple[Any, Any]], *,
    n_logits: int, max_length: int, stride: int, batch_size: int = 32, pad_id: int = 0, source: str | None = None,
    with_probs: bool = False,
) -> list[Document] | tuple[list[Document], list[WordProbs]]:
    """The prediction loop that training (torch) and the extractor (onnxruntime) share: encode the texts, run
    ``run`` over their windows, and let each head decode its output into the documents, in turn.

    Args:
        docs: the documents (their existing labels are replaced: spans and every layer).
        tokenizer: the model's fast tokenizer; ``special``: its ``(cls_id, sep_id)``.
        run: the model call (:data:`Runner`): the tag logits (B, T, ``n_logits``) or, when a head reads the
            encoder's states (:attr:`~smallext.students.head.Head.reads_hidden`), the logits and the states side
            by side, (B, T, n_logits + H).
        heads: ``(head, runtime)`` pairs (:mod:`smallext.students.head`), the entity tagger first.
        max_length, stride: window size and overlap in word pieces; batch_size: windows per call.
        source: the predictions' ``source``.
        with_probs: also return each document's :class:`WordProbs` (the entity tagger's; computed anyway).

    Returns:
        One Document per input, in input order; with ``with_probs``, ``(documents, word probabilities)``.
    """
    encoded = encode(tokenizer, [d.text for d in docs])
    wins = windows(encoded, special[0], special[1], max_length, stride)
    raw = gather_pieces(encoded, wins, run, batch_size, pad_id)
    hidden = [r[:, n_logits:] for r in raw] if any(h.reads_hidden for h, _ in heads) else None
    step = Decoding([d.unlabelled() for d in docs], encoded, [r[:, :n_logits] for r in raw], hidden, source)
    for head, runtime in heads:
        head.decode(step, runtime)
    return (step.docs, step.extras["word_probs"]) if with_probs else step.docs
