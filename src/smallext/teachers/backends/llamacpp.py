"""A GGUF model run in-process with llama-cpp-python.

Decoding is greedy (temperature 0). With ``constrained=True`` the reply is constrained to the task's JSON
schema (llama.cpp grammar from ``response_format={"type": "json_object", "schema": ...}``). llama.cpp keeps
the evaluated prompt in its KV cache and re-evaluates only what differs from the previous call, so a fixed
prompt prefix (instructions and types) is paid once.
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


class LlamaCppBackend:
    """In-process llama.cpp.

    Args:
        model: installed model name or GGUF path.
        n_ctx: context size in tokens.
        n_threads: CPU threads (default: all cores).
        constrained: constrain replies to the JSON schema.
        seed: sampling seed (decoding is greedy anyway).
    """

    name = "llamacpp"
    concurrency = 1

    def __init__(
        self, model: str, *, n_ctx: int = 4096, n_threads: int | None = None, constrained: bool = True, seed: int = 0
    ) -> None:
        from llama_cpp import Llama

        self.path = resolve_gguf(model)
        self.model = Path(model).name if Path(model).suffix == ".gguf" else model
        self.constrained = constrained
        self.n_ctx = n_ctx
        self.llm = Llama(
            model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(), seed=seed,
            verbose=False,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False))

    def complete(self, messages, *, json_schema=None, max_tokens=512) -> Reply:
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
