"""The Alternative Annotator Test: may an LLM stand in for the human annotators of a labelling task?

Calderon, Reichart & Dror, "The Alternative Annotator Test for LLM-as-a-Judge" (ACL 2025); reference code
nitaytech/AltTest. Leave one human out at a time; on each document, score how well the LLM and the left-out
human each agree with the remaining humans (here: the mean strict span F1 against each of them, 1.0 when both
have no span); the indicator ``W_llm`` is 1 when the LLM scores at least as high, ``W_h`` when the human does.
For each left-out human, a one-sided paired test of H0: mean(W_h - W_llm) >= epsilon (the LLM is worse by the
cost-benefit margin epsilon or more): Student's t-test, or the Wilcoxon signed-rank test below 30 documents.
The p-values over the humans are corrected by the Benjamini-Yekutieli procedure (FDR q). The **winning rate**
is the share of humans whose H0 is rejected; the LLM passes when it is at least 0.5. The **advantage
probability** is the mean of ``W_llm`` (averaged over the humans), which ranks LLMs.

epsilon: 0.2 for experts, 0.15 for skilled annotators, 0.1 for crowd workers (the paper's rule of thumb).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smallext.doc import Document
from smallext.errors import SmallextError
from smallext.quality.agreement import common_documents

__all__ = ["alt_test", "benjamini_yekutieli", "span_f1"]

MIN_DOCUMENTS_T_TEST = 30


def span_f1(a: Document, b: Document) -> float:
    """Strict span F1 of two annotations of one document (symmetric); 1.0 when neither has a span."""
    ka, kb = {s.key for s in a.spans}, {s.key for s in b.spans}
    if not ka and not kb:
        return 1.0
    return 2 * len(ka & kb) / (len(ka) + len(kb))


def benjamini_yekutieli(p_values: Sequence[float], q: float = 0.05) -> list[bool]:
    """Which hypotheses the Benjamini-Yekutieli step-up procedure rejects at FDR ``q`` (valid under any
    dependence between the tests; Benjamini & Yekutieli, Annals of Statistics 2001)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    thresholds = np.arange(1, m + 1) / m * q / np.sum(1.0 / np.arange(1, m + 1))
    below = np.nonzero(p[order] <= thresholds)[0]
    rejected = np.zeros(m, dtype=bool)
    if len(below):
        rejected[order[: below[-1] + 1]] = True
    return rejected.tolist()


def _one_sided_p(diff: np.ndarray, epsilon: float) -> tuple[float, str]:
    """p-value of H0: mean(diff) >= epsilon against H1: mean(diff) < epsilon, and the test used."""
    from scipy import stats

    shifted = diff - epsilon
    if np.all(shifted == shifted[0]):  # no spread: the answer is certain either way
        return (0.0 if shifted[0] < 0 else 1.0), "constant"
    if len(diff) < MIN_DOCUMENTS_T_TEST:
        return float(stats.wilcoxon(shifted, alternative="less").pvalue), "wilcoxon"
    return float(stats.ttest_1samp(diff, epsilon, alternative="less").pvalue), "t"


def alt_test(humans: Mapping[str, Sequence[Document]], llm: Sequence[Document], *, epsilon: float = 0.15,
             q: float = 0.05) -> dict[str, Any]:
    """Run the alt-test (see the module docstring) on the documents every annotator and the LLM labelled.

    Args:
        humans: at least two human annotators (three or more recommended), name -> documents.
        llm: the LLM's documents.
        epsilon: the cost-benefit margin, in [0, 1).
        q: the false discovery rate of the Benjamini-Yekutieli correction.

    Returns:
        ``{"documents", "epsilon", "q", "humans": {name: {"p_value", "test", "advantage_probability",
        "llm_wins"}}, "winning_rate", "advantage_probability", "passed"}``.

    Raises:
        SmallextError: fewer than two humans, no document in common, or differing texts.
    """
    if len(humans) < 2:
        raise SmallextError("the alt-test needs at least two human annotators (three or more recommended)")
    if "llm" in humans:
        raise SmallextError("a human annotator may not be called 'llm'")
    docs = common_documents({**humans, "llm": llm})
    names = [n for n in docs if n != "llm"]
    per: dict[str, dict[str, Any]] = {}
    for left_out in names:
        rest = [n for n in names if n != left_out]
        w_llm, w_h = [], []
        for i, doc in enumerate(docs["llm"]):
            s_llm = np.mean([span_f1(doc, docs[r][i]) for r in rest])
            s_h = np.mean([span_f1(docs[left_out][i], docs[r][i]) for r in rest])
            w_llm.append(float(s_llm >= s_h))
            w_h.append(float(s_h >= s_llm))
        p, test = _one_sided_p(np.array(w_h) - np.array(w_llm), epsilon)
        per[left_out] = {"p_value": p, "test": test, "advantage_probability": float(np.mean(w_llm))}
    rejected = benjamini_yekutieli([per[n]["p_value"] for n in names], q)
    for n, r in zip(names, rejected, strict=True):
        per[n]["llm_wins"] = bool(r)
    winning = sum(rejected) / len(names)
    return {"documents": len(docs["llm"]), "epsilon": epsilon, "q": q, "humans": per, "winning_rate": winning,
            "advantage_probability": float(np.mean([per[n]["advantage_probability"] for n in names])),
            "passed": winning >= 0.5}
