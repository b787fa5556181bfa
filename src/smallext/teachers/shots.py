"""Few-shot example selection by embedding similarity (all-MiniLM-L6-v2 sentence embeddings).

The k pool examples whose embeddings have the highest cosine similarity with the input are chosen (Liu et
al. 2022, "What Makes Good In-Context Examples for GPT-3?"), and ordered least similar first so the closest
example sits next to the input. Embeddings come from ``sentence-transformers``.

Encoding a pool (all 14,041 CoNLL-2003 training sentences take ~2 minutes on 2 CPU cores) is done once:
the embeddings are kept in ``$SMALLEXT_HOME/embeddings`` (default ``~/.cache/smallext/embeddings``), keyed
by a SHA-256 of the encoder and the pool's texts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smallext.doc import Document


class ShotSelector:
    """Retrieve labelled examples similar to an input.

    Args:
        pool: labelled Documents (schema examples and/or a small gold set). Exact duplicates of an input
            text are never returned for it (no leaking the answer).
        model: a sentence-transformers model name or directory (default: the offline MiniLM package).
        batch_size: encoding batch size.
    """

    def __init__(self, pool: Sequence[Document], model: str | None = None, batch_size: int = 128) -> None:
        from sentence_transformers import SentenceTransformer

        from smallext.students.base import resolve_base_model

        seen, uniq = set(), []
        for d in pool:
            if d.text.strip() and d.text not in seen:
                seen.add(d.text)
                uniq.append(d)
        self.pool = uniq
        name = model or resolve_base_model("minilm")
        self.encoder = SentenceTransformer(name, device="cpu")
        self.batch_size = batch_size
        self.embeddings = self._pool_embeddings(str(name), [d.text for d in uniq])

    def _pool_embeddings(self, name: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        h = hashlib.sha256("\x00".join([name, *texts]).encode("utf-8")).hexdigest()[:24]
        home = os.environ.get("SMALLEXT_HOME")
        path = (Path(home) if home else Path.home() / ".cache" / "smallext") / "embeddings" / f"{h}.npy"
        if path.is_file():
            try:
                emb = np.load(path)
                if emb.shape[0] == len(texts):
                    return emb
            except (OSError, ValueError):
                pass  # unreadable cache file: encode again
        emb = self.encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, emb)
        os.replace(tmp, path)  # never a half-written cache file
        return emb

    def select(self, text: str, k: int) -> list[Document]:
        """The ``k`` most similar pool examples, least similar first."""
        return self.select_many([text], k)[0]

    def select_many(self, texts: Sequence[str], k: int) -> list[list[Document]]:
        """:meth:`select` for many inputs, encoded in batches (one list of ``k`` examples per input).

        Annotation runs call this once for all their prompts before any LLM call: encoding on the side while
        llama.cpp decodes would make the two compete for the same cores.
        """
        if k <= 0 or not self.pool:
            return [[] for _ in texts]
        out: list[list[Document]] = []
        for lo in range(0, len(texts), 256):
            block = list(texts[lo: lo + 256])
            q = self.encoder.encode(block, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
            sims = q @ self.embeddings.T
            for text, row in zip(block, sims, strict=True):
                order = np.argsort(-row, kind="stable")
                chosen = [i for i in order[: k + 1] if self.pool[i].text != text][:k]
                out.append([self.pool[i] for i in reversed(chosen)])
        return out

    def select_groups(self, texts: Sequence[str], k: int, group_size: int, seed: int = 0
                      ) -> tuple[list[list[Document]], list[int]]:
        """Shots shared by groups of similar texts: the texts are clustered by k-means on their embeddings into
        about ``len(texts) / group_size`` groups (scikit-learn ``KMeans``); each group gets the ``k`` pool
        examples nearest its centroid (never one whose text is in the group), least similar first.

        Returns:
            ``(shots of each text, order)``: the texts' indices group by group (the groups in order of their
            first text), so that the calls of a group can be sent together.
        """
        if k <= 0 or not self.pool or not texts:
            return [[] for _ in texts], list(range(len(texts)))
        from sklearn.cluster import KMeans

        q = self.encoder.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        n_groups = max(1, min(len(texts), round(len(texts) / max(1, group_size))))
        labels = KMeans(n_groups, n_init=4, random_state=seed).fit_predict(q) if n_groups > 1 else np.zeros(
            len(texts), dtype=int)
        shots: list[list[Document]] = [[] for _ in texts]
        first: dict[int, int] = {}
        for i, g in enumerate(labels.tolist()):
            first.setdefault(g, i)
        for g in first:
            members = np.flatnonzero(labels == g)
            centre = q[members].mean(axis=0)
            inside = {texts[i] for i in members}
            order = np.argsort(-(self.embeddings @ centre), kind="stable")
            chosen = [j for j in order[: k + len(inside)] if self.pool[j].text not in inside][:k]
            group_shots = [self.pool[j] for j in reversed(chosen)]
            for i in members:
                shots[i] = group_shots
        order = [i for g in sorted(first, key=first.get) for i in np.flatnonzero(labels == g).tolist()]
        return shots, order
