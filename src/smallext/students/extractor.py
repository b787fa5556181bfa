"""Run a packaged student on CPU with onnxruntime. Importing this module never imports torch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smallext.doc import Document
from smallext.errors import ConfigError
from smallext.students.decode import WordProbs, predict_documents, predict_word_probs, softmax
from smallext.students.features import encode, windows
from smallext.students.head import Head, student_heads
from smallext.students.package import StudentConfig, read_config


class Extractor:
    """A packaged student (see :mod:`smallext.students.export`) ready to extract from text.

    Use :meth:`load`; then :meth:`extract` takes strings or Documents and returns Documents with what each of the
    student's heads predicts (:mod:`smallext.students.head`): spans (character offsets, labels, and a score in
    [0, 1]: the mean probability of the span's tags) and, for a student with relation types, relations between them
    (head/tail span indices, a score in [0, 1]: the relation classifier's probability; see
    :mod:`smallext.kinds.relations.head`). :meth:`extract_with_probs` returns each word's tag probabilities beside
    them (for label-error detection and active learning).

    Attributes:
        student_config: the package's ``config.json``
            (:class:`~smallext.students.package.StudentConfig`).
        config: the same as a plain dict (its JSON form; for readers of earlier releases).
        heads: the student's heads, the entity tagger first.
    """

    def __init__(self, model_dir: Path, config: StudentConfig, session, tokenizer, onnx_file: str,
                 heads: Sequence[tuple[Head, Any]]) -> None:
        self.model_dir = model_dir
        self.student_config = config
        self.config: dict[str, Any] = config.dump()
        self.session = session
        self.tokenizer = tokenizer
        self.onnx_file = onnx_file
        self._heads = list(heads)
        self.heads: list[Head] = [h for h, _ in self._heads]
        self.max_length: int = config.max_length
        self.stride: int = config.stride
        self.pad_id: int = config.pad_id
        self._inputs = {i.name for i in session.get_inputs()}
        self._outputs = {o.name for o in session.get_outputs()}
        self._outputs_read = ("logits", "hidden") if any(h.reads_hidden for h in self.heads) else ("logits",)
        from smallext.students.base import special_ids

        self._cls, self._sep = special_ids(tokenizer)
        self.source = f"model:{model_dir.name}"

    def head(self, kind: str) -> Head | None:
        """The head of ``kind`` (``"relations"``), or None when the student has none."""
        return next((h for h in self.heads if h.kind == kind), None)

    @property
    def tags(self) -> list[str]:
        """The entity tagger's IOB2 tags."""
        return self.heads[0].tags

    @property
    def entity_types(self) -> list[str]:
        return self.heads[0].entity_types

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None, onnx_file: str = "model.onnx") -> Extractor:
        """Load a packaged model directory.

        Args:
            model_dir: directory with ``model.onnx``, ``tokenizer.json`` and ``config.json``.
            threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
            onnx_file: which ONNX file of the directory to run (``model.onnx`` is int8), or an absolute path.

        Raises:
            ConfigError: the directory or one of its files is missing or unreadable, or its ``config.json`` is of
                a format this release does not read (:func:`~smallext.students.package.read_config`).
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        onnx_path = Path(onnx_file) if Path(onnx_file).is_absolute() else model_dir / onnx_file
        for p in (model_dir / "config.json", model_dir / "tokenizer.json", onnx_path):
            if not p.is_file():
                raise ConfigError(f"not a smallext model directory: {p} is missing")
        config = read_config(model_dir)
        try:
            heads = student_heads(config)
        except ConfigError as e:
            raise ConfigError(f"{model_dir / 'config.json'}: {e}") from None
        if not heads or heads[0].kind != "entities":
            raise ConfigError(f"{model_dir / 'config.json'}: no entity tagger (tags, entity_types)")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        runtimes = [(h, h.load_runtime(model_dir, opts)) for h in heads]
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(model_dir, config, session, tokenizer, str(onnx_path), runtimes)

    def _run(self, batch: dict[str, np.ndarray], *outputs: str) -> np.ndarray:
        """The model's ``outputs`` (default ``logits``) for a batch, side by side on the last axis, from one encoder
        pass: ``_run(batch, "logits", "hidden")`` is (B, T, n_tags + H)."""
        feed = {k: v for k, v in batch.items() if k in self._inputs}
        out = self.session.run(list(outputs or ("logits",)), feed)
        return out[0] if len(out) == 1 else np.concatenate(out, axis=-1)

    @staticmethod
    def _documents(inputs: Iterable[str | Document] | str | Document) -> list[Document]:
        """Inputs as Documents (texts get ids ``"0"``, ``"1"``...)."""
        if isinstance(inputs, (str, Document)):
            inputs = [inputs]
        return [x if isinstance(x, Document) else Document(str(i), x) for i, x in enumerate(inputs)]

    def extract(
        self, inputs: Iterable[str | Document] | str | Document, *, batch_size: int = 32
    ) -> list[Document]:
        """Extract spans.

        Args:
            inputs: texts and/or Documents (a single one is accepted too). Texts get ids ``"0"``, ``"1"``...;
                Documents keep their id and meta, and their existing spans are replaced.
            batch_size: windows per onnxruntime call; windows are grouped by length to limit padding.

        Returns:
            One Document per input, in input order, spans sorted by offset, ``source`` = ``model:DIR``.
        """
        return self._predict(inputs, batch_size, False)

    def extract_chunks(self, docs: Sequence[Document], *, chunk: int | None = None, batch_size: int = 32
                       ) -> Iterator[Document]:
        """:meth:`extract` over ``docs`` in calls of ``chunk`` documents (default :data:`FILE_CHUNK`), yielding
        them in order: what a batch job over a file runs (the chunk bounds memory; the results depend on it, since
        int8 outputs depend on which documents share a batch)."""
        size = chunk or FILE_CHUNK
        for lo in range(0, len(docs), size):
            yield from self.extract(docs[lo : lo + size], batch_size=batch_size)

    def extract_with_probs(
        self, inputs: Iterable[str | Document] | str | Document, *, batch_size: int = 32
    ) -> tuple[list[Document], list[WordProbs]]:
        """:meth:`extract`, and each document's word-level tag probabilities beside it.

        Returns:
            ``(documents, probabilities)``: the Documents of :meth:`extract` and, for each, a
            :class:`~smallext.students.decode.WordProbs` with its words' character offsets (n_words, 2) and
            their probabilities over :attr:`tags` (n_words, n_tags), rows summing to 1.
        """
        return self._predict(inputs, batch_size, True)

    def dropout_probs(
        self, inputs: Iterable[str | Document] | str | Document, *, samples: int = 10, seed: int = 0,
        rate: float | None = None, batch_size: int = 32,
    ) -> list[np.ndarray]:
        """Word-level tag probabilities under ``samples`` dropout masks on the classifier's input (MC dropout on
        the classification layer, which Shelmanov et al., EACL 2021, found nearly as good as MC dropout in the
        whole network for active learning, at the cost of one encoder pass).

        Args:
            samples: masks per word (T >= 1). rate: dropout probability (default: the student's training
                dropout). seed: the masks' random seed (same seed, same probabilities).

        Returns:
            One array per input of shape (T, n_words, n_tags), rows summing to 1.

        Raises:
            ConfigError: the model was packaged without the ``hidden`` output and ``head.npz`` (a student
                exported before they were added): export it again.
        """
        head_path = self.model_dir / "head.npz"
        if "hidden" not in self._outputs or not head_path.is_file():
            raise ConfigError(f"{self.model_dir}: this student has no 'hidden' output or head.npz (packaged by an "
                              "older smallext); train or export it again to use MC dropout")
        head = np.load(head_path)
        weight, bias = head["weight"], head["bias"]
        p = float(head["dropout"]) if rate is None else rate
        if not 0.0 <= p < 1.0 or (rate is None and p == 0.0):
            raise ConfigError(f"MC dropout needs a dropout rate in (0, 1); {self.model_dir} was trained with "
                              f"{p}: give rate=")
        encoded = encode(self.tokenizer, [d.text for d in self._documents(inputs)])
        wins = windows(encoded, self._cls, self._sep, self.max_length, self.stride)
        vectors = predict_word_probs(encoded, wins, lambda batch: self._run(batch, "hidden"), batch_size,
                                     self.pad_id, transform=None)
        rng = np.random.default_rng(seed)
        out = []
        for e, h in zip(encoded, vectors, strict=True):
            n = len(e.words)
            if n == 0:
                out.append(np.zeros((samples, 0, len(self.tags)), np.float32))
                continue
            keep = (rng.random((samples, n, h.shape[-1])) >= p).astype(np.float32) / (1.0 - p)
            logits = (keep * h[None]) @ weight.T + bias
            out.append(softmax(logits).astype(np.float32))
        return out

    def _predict(self, inputs, batch_size: int, with_probs: bool):
        docs = self._documents(inputs)
        if not docs:
            return ([], []) if with_probs else []
        return predict_documents(docs, self.tokenizer, (self._cls, self._sep),
                                 lambda b: self._run(b, *self._outputs_read), self._heads, n_logits=len(self.tags),
                                 max_length=self.max_length, stride=self.stride, batch_size=batch_size,
                                 pad_id=self.pad_id, source=self.source, with_probs=with_probs)


FILE_CHUNK = 1024
"""Documents per :meth:`Extractor.extract` call when extracting a file: windows are sorted by length over
the whole chunk, so a bigger chunk pads less (the demo's student on the 431 CrossNER-AI test sentences, 2 threads:
222-227 documents/s in one call against 130-135 in calls of 32), and the chunk bounds memory on large inputs."""


def extract_file(
    model_dir: str | Path,
    input_path: str | Path | None = None,
    out_path: str | Path | None = None,
    *,
    fmt: str | None = None,
    threads: int | None = None,
    batch_size: int = 32,
    chunk: int = FILE_CHUNK,
) -> int:
    """Extract spans from a file (or stdin) and write JSONL (to a file, atomically, or to stdout).

    Args:
        model_dir: packaged model directory.
        input_path: ``.txt`` (one document per line) or ``.jsonl``; ``None`` or ``-`` reads stdin.
        out_path: output JSONL; ``None`` or ``-`` writes stdout.
        fmt: ``text`` or ``jsonl`` (default: from the extension; stdin is ``text``).
        chunk: documents per extraction call (bounds memory on large inputs).

    Returns:
        The number of documents written.

    Raises:
        FormatError: malformed input (file and line named).
    """
    import sys

    from smallext.io import format_from_path, iter_jsonl, read_text
    from smallext.io.jsonl import dumps, write_jsonl

    ex = Extractor.load(model_dir, threads=threads)
    if input_path is None or str(input_path) == "-":
        kind = fmt or "text"
        if kind == "jsonl":
            docs = list(iter_jsonl(sys.stdin, "<stdin>", unique_ids=False))
        else:
            docs = [Document(f"stdin:{i}", line.rstrip("\r\n")) for i, line in enumerate(sys.stdin, 1)]
    else:
        kind = fmt or format_from_path(input_path)
        docs = list(iter_jsonl(input_path)) if kind == "jsonl" else read_text(input_path)

    if out_path is None or str(out_path) == "-":
        n = 0
        for d in ex.extract_chunks(docs, chunk=chunk, batch_size=batch_size):
            sys.stdout.write(dumps(d) + "\n")
            n += 1
        sys.stdout.flush()
        return n
    return write_jsonl(ex.extract_chunks(docs, chunk=chunk, batch_size=batch_size), out_path)
