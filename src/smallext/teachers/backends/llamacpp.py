"""A GGUF model run in-process with llama-cpp-python.

Decoding is greedy (temperature 0). With ``constrained=True`` the reply is constrained to the task's JSON
schema (a llama.cpp grammar). The fixed prompt prefix (instructions and types) is evaluated once and reused.

With ``parallel > 1`` (the default, 4) calls from several threads are decoded together as sequences of one
context (:class:`~smallext.teachers.backends.batching.BatchEngine`, continuous batching): about 2.3 times
the tokens per second of one sequence on 2 CPU cores. ``parallel=1`` uses llama-cpp-python's
``create_chat_completion`` (its prompt cache reuses the longest common prefix with the previous call).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from smallext.errors import ConfigError
from smallext.teachers.backends import Reply


def resolve_gguf(name_or_path: str) -> Path:
    """A GGUF path from an installed model name (``qwen2.5-coder-1.5b``) or a file path.

    Raises:
        ConfigError: neither an installed model nor an existing file.
    """
    p = Path(name_or_path).expanduser()
    if p.suffix == ".gguf" or p.is_file():
        if not p.is_file():
            raise ConfigError(f"GGUF file not found: {p}")
        return p
    from smallext.models import MODELS, model_path

    if name_or_path in MODELS:
        return model_path(name_or_path)
    raise ConfigError(f"{name_or_path!r} is neither a GGUF file nor an installable model ({', '.join(MODELS)})")


def _metadata(path: Path) -> dict[str, str]:
    """The GGUF metadata of ``path``, read without loading the weights (llama.cpp's notices silenced: with the
    vocabulary alone it warns about a training context it has not read)."""
    from llama_cpp import Llama
    from llama_cpp._utils import suppress_stdout_stderr  # pinned llama-cpp-python (constraints.txt)

    with suppress_stdout_stderr(disable=False):
        vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
        try:
            return dict(vocab.metadata)
        finally:
            vocab.close()


class LlamaCppBackend:
    """In-process llama.cpp.

    Args:
        model: installed model name or GGUF path.
        n_ctx: context size in tokens.
        n_threads: CPU threads (default: all cores).
        constrained: constrain replies to the JSON schema.
        seed: sampling seed (decoding is greedy anyway).
        parallel: sequences decoded together (1: one call at a time). A GGUF without a chat template is
            always served one call at a time, with a context of ``n_ctx``. With ``parallel > 1`` the KV cache
            holds ``n_ctx`` tokens for the first sequence plus ``n_ctx / 2`` for each further one, at most
            the model's training context (one KV cache serves all sequences, and llama.cpp warns when it
            is larger than that).
        jump_forward: with ``parallel > 1`` and a JSON schema, append the characters the schema forces
            without decoding them one token at a time (see :mod:`.jump_forward`).
        max_repeats: with ``parallel > 1`` and a JSON schema, end a reply that lists an identical item more
            than this many times (a repetition loop), keeping what came before; ``None``: never.

    Raises:
        ConfigError: the model is not installed or the file does not exist.
    """

    name = "llamacpp"

    def __init__(
        self, model: str, *, n_ctx: int = 4096, n_threads: int | None = None, constrained: bool = True, seed: int = 0,
        parallel: int = 4, jump_forward: bool = True, max_repeats: int | None = 2,
    ) -> None:
        from llama_cpp import Llama

        self.path = resolve_gguf(model)
        self.model = Path(model).name if Path(model).suffix == ".gguf" else model
        self.constrained = constrained
        self.n_ctx = n_ctx
        threads = n_threads or os.cpu_count() or 1
        # the batch engine makes its own context and needs the GGUF's chat template; read the metadata first
        # (vocabulary only, no weights), so that the model's own context is sized for the calls it will serve
        batched = parallel > 1 and bool(_metadata(self.path).get("tokenizer.chat_template"))
        self.llm = Llama(
            model_path=str(self.path), n_ctx=256 if batched else n_ctx, n_threads=threads, seed=seed, verbose=False,
        )
        self.engine = None
        if batched:
            from smallext.teachers.backends.batching import BatchEngine

            kv = n_ctx + (parallel - 1) * n_ctx // 2
            trained = self.llm._model.n_ctx_train()  # 0 when the GGUF does not say
            if trained > 0:
                kv = min(kv, max(n_ctx, trained))
            self.engine = BatchEngine(self.llm, parallel=parallel, n_ctx=kv,
                                      n_threads=threads, jump_forward=jump_forward,
                                      max_repeats=max_repeats)
        self.concurrency = parallel if self.engine is not None else 1

    def close(self) -> None:
        """Stop the batch engine and free the model and its KV cache (about 3 GB for Qwen2.5-1.5B with 16
        sequences); the backend cannot answer after."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.llm.close()

    def complete(self, messages, *, json_schema=None, max_tokens=512) -> Reply:
        if self.engine is not None:
            return self.engine.submit(messages, json_schema if self.constrained else None, max_tokens)
        kw = {}
        if self.constrained and json_schema is not None:
            kw["response_format"] = {"type": "json_object", "schema": json_schema}
        t0 = time.perf_counter()
        try:
            out = self.llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=max_tokens, **kw)
        except (ValueError, RuntimeError) as e:  # e.g. prompt longer than the context
            return Reply("", latency_s=time.perf_counter() - t0, error=f"llama.cpp: {e}")
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Reply(
            choice["message"].get("content") or "",
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
            choice.get("finish_reason"),
            time.perf_counter() - t0,
        )
