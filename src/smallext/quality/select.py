"""Which documents a person should review: selection strategies for a review budget (active learning).

Each strategy gives every candidate document a score (higher: more worth a person's time); the batch is the
``budget`` best, after a diversity step so that it is not ``budget`` near-duplicates.

============  =====================================================================================
strategy      score of a document
============  =====================================================================================
random        none: a uniform sample under the seed (the baseline every other strategy must beat)
errors        the quality stage's document score: the highest error score of its flags
              (:func:`smallext.quality.errors.document_scores`)
entropy       the student's mean token entropy (Settles & Craven, EMNLP 2008)
mnlp          1 minus the maximum normalised log-probability of the best valid tag sequence, as a
              probability: ``1 - exp(log P(y*|x) / n_words)`` (Shen et al., ICLR 2018; Shelmanov et
              al., EACL 2021)
bald          the mutual information between tags and model parameters under MC dropout (Houlsby et
              al. 2011; Gal et al., ICML 2017), dropout on the classifier's input only (Shelmanov et
              al., EACL 2021), averaged over words
disagreement  1 minus the span F1 (strict match) between the given labels (the teacher's) and the
              student's prediction
============  =====================================================================================

Diversity (Zhdanov, "Diverse mini-batch active learning", 2019): the ``diversity * budget`` best-scored
documents are clustered into ``budget`` groups by k-means on their TF-IDF vectors (scikit-learn, weighted by
score), and the best-scored document of each group is taken. Every strategy is deterministic under its seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from smallext.doc import Document
from smallext.errors import ConfigError

__all__ = ["STRATEGIES", "NEEDS_MODEL", "Selection", "score_documents", "select", "diverse_top"]

Strategy = Literal["random", "errors", "entropy", "mnlp", "bald", "disagreement"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
NEEDS_MODEL = frozenset({"entropy", "mnlp", "bald", "disagreement"})
"""Strategies that run the student (a packaged model directory or a loaded Extractor)."""


@dataclass
class Selection:
    """A review batch.

    Attributes:
        documents: the selected documents, best first (their labels as given, for the reviewer to correct).
        scores: ``{document id: score}`` of every candidate (empty for ``random``).
        strategy: the strategy's name; ``seed``: its seed.
    """

    documents: list[Document]
    scores: dict[str, float]
    strategy: str
    seed: int

    def summary(self) -> dict[str, Any]:
        """``{"strategy", "seed", "selected": [ids], "scores": {id: score of the selected}}``."""
        return {"strategy": self.strategy, "seed": self.seed, "selected": [d.id for d in self.documents],
                "scores": {d.id: self.scores.get(d.id) for d in self.documents}}


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis: (..., n_tags) probabilities -> (...)."""
    return -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=-1)


def _span_f1(a: Document, b: Document) -> float:
    x, y = {s.key for s in a.spans}, {s.key for s in b.spans}
    if not x and not y:
        return 1.0
    return 2 * len(x & y) / (len(x) + len(y))


def score_documents(docs: Sequence[Document], strategy: str, *, extractor=None,
                    flags: Iterable[Any] | None = None, samples: int = 10, seed: int = 13) -> dict[str, float]:
    """Each document's score under ``strategy`` (see the module's table); higher is more worth reviewing.

    Args:
        docs: the candidates (with the given labels, for ``disagreement``).
        extractor: a loaded :class:`~smallext.students.extractor.Extractor` (the strategies in
            :data:`NEEDS_MODEL`).
        flags: the quality stage's :class:`~smallext.quality.errors.Flag` list (``errors``); a document
            without flags scores 0.
        samples: dropout masks for ``bald``; seed: their seed.

    Returns:
        ``{document id: score}``; scores of ``entropy`` and ``bald`` are in nats (0 to ln n_tags), the others in
        [0, 1].

    Raises:
        ConfigError: unknown strategy, or its model or flags not given; for ``disagreement``, labels that are
            not the student's entity types (map them through the schema first: aliases would all disagree).
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown selection strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if strategy == "random":
        return {}
    if strategy == "errors":
        if flags is None:
            raise ConfigError("the 'errors' strategy needs the quality stage's flags (smallext quality errors)")
        from smallext.quality.errors import document_scores

        per_doc = document_scores(flags)
        return {d.id: float(per_doc.get(d.id, 0.0)) for d in docs}
    if extractor is None:
        raise ConfigError(f"the {strategy!r} strategy needs the student (--model DIR)")
    if strategy == "bald":
        out = {}
        for d, p in zip(docs, extractor.dropout_probs(docs, samples=samples, seed=seed), strict=True):
            if p.shape[1] == 0:
                out[d.id] = 0.0
                continue
            mutual = _entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0)
            out[d.id] = float(np.clip(mutual, 0.0, None).mean())
        return out
    if strategy == "disagreement":
        unknown = sorted({s.label for d in docs for s in d.spans} - set(extractor.entity_types))
        if unknown:
            raise ConfigError(f"the 'disagreement' strategy compares the labels with the student's, but labels "
                              f"{', '.join(map(repr, unknown))} are not its entity types "
                              f"({', '.join(extractor.entity_types)}): map them through the schema (--schema)")
    predicted, probs = extractor.extract_with_probs(docs)
    if strategy == "disagreement":
        return {d.id: 1.0 - _span_f1(d, p) for d, p in zip(docs, predicted, strict=True)}
    out = {}
    if strategy == "entropy":
        for d, wp in zip(docs, probs, strict=True):
            out[d.id] = float(_entropy(wp.probs).mean()) if len(wp.probs) else 0.0
        return out
    from smallext.students.decode import allowed_transitions, best_path

    constraints = allowed_transitions(extractor.tags)
    for d, wp in zip(docs, probs, strict=True):
        if not len(wp.probs):
            out[d.id] = 0.0
            continue
        path = best_path(wp.probs, constraints)
        logp = np.log(np.clip(wp.probs[np.arange(len(path)), path], 1e-12, 1.0)).mean()
        out[d.id] = float(1.0 - np.exp(logp))
    return out


def diverse_top(docs: Sequence[Document], scores: Mapping[str, float], budget: int, *, diversity: int = 5,
                seed: int = 13) -> list[Document]:
    """The ``budget`` documents to review: the best-scored document of each of ``budget`` k-means clusters of
    the ``diversity * budget`` best-scored ones with a score above 0 (TF-IDF of their words; ``diversity`` 1, or
    no more such documents than ``budget``: the plain top ``budget``). Best first; ties broken by id."""
    ranked = sorted(docs, key=lambda d: (-scores.get(d.id, 0.0), d.id))
    # only documents with a score take part (a zero-score document is no candidate for doubt)
    pool = [d for d in ranked[: diversity * budget] if scores.get(d.id, 0.0) > 0]
    if len(pool) <= budget or diversity <= 1:
        return ranked[:budget]
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        vectors = TfidfVectorizer(sublinear_tf=True).fit_transform([d.text for d in pool])
    except ValueError:  # no words at all (empty or punctuation-only texts)
        return ranked[:budget]
    weights = np.array([max(scores.get(d.id, 0.0), 1e-6) for d in pool])
    clusters = KMeans(n_clusters=budget, n_init=3, random_state=seed).fit_predict(vectors, sample_weight=weights)
    chosen: dict[int, Document] = {}
    for d, c in zip(pool, clusters, strict=True):
        chosen.setdefault(int(c), d)  # pool is sorted best first
    picked = list(chosen.values())
    if len(picked) < budget:  # k-means left clusters empty: fill with the next best
        have = {d.id for d in picked}
        picked += [d for d in pool if d.id not in have][: budget - len(picked)]
    return sorted(picked, key=lambda d: (-scores.get(d.id, 0.0), d.id))


def select(docs: Sequence[Document], budget: int, strategy: str = "random", *, extractor=None,
           flags: Iterable[Any] | None = None, seed: int = 13, diversity: int = 5, samples: int = 10,
           exclude: Iterable[str] = ()) -> Selection:
    """Pick ``budget`` documents for a person to review.

    Args:
        docs: candidate documents (labelled by the teacher); ``exclude``: ids already reviewed.
        budget: documents to pick (>= 1; fewer when fewer candidates remain).
        strategy: one of :data:`STRATEGIES`; extractor, flags, samples: see :func:`score_documents`.
        seed: random seed (``random``'s sample, ``bald``'s masks, k-means).
        diversity: the diversity step's pool, in multiples of ``budget`` (1 turns it off).

    Raises:
        ConfigError: ``budget`` below 1, or see :func:`score_documents`.
    """
    if budget < 1:
        raise ConfigError(f"the review budget must be at least 1, got {budget}")
    skip = set(exclude)
    pool = [d for d in docs if d.id not in skip]
    if strategy == "random":
        rng = np.random.default_rng(seed)
        picked = [pool[i] for i in rng.permutation(len(pool))[:budget]]
        return Selection(picked, {}, strategy, seed)
    scores = score_documents(pool, strategy, extractor=extractor, flags=flags, samples=samples, seed=seed)
    return Selection(diverse_top(pool, scores, budget, diversity=diversity, seed=seed), scores, strategy, seed)


def load_extractor(model: str | Path | None, strategy: str):
    """The packaged student at ``model`` when ``strategy`` needs one (None otherwise).

    Raises:
        ConfigError: the strategy needs a model and none is given.
    """
    if strategy not in NEEDS_MODEL:
        return None
    if model is None:
        raise ConfigError(f"the {strategy!r} strategy needs the student: give --model DIR")
    from smallext.students.extractor import Extractor

    return Extractor.load(model)
