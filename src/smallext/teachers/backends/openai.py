"""Any OpenAI-compatible chat-completions server: OpenAI, vLLM, Ollama, llama.cpp server.

Uses the official ``openai`` client, whose retry policy gives timeouts and retries with exponential backoff
(with jitter) on connection errors, timeouts, HTTP 408, 409, 429 and 5xx. Concurrency (how many calls run at
once) is bounded by the caller (the annotation driver) to ``concurrency``.
"""

from __future__ import annotations

import os
import time

from smallext.errors import ConfigError
from smallext.teachers.backends import Reply

RESPONSE_FORMATS = ("json_object", "json_schema", "json_object_schema", "none")


class OpenAIBackend:
    """An OpenAI-compatible server.

    Args:
        model: the server's model name.
        base_url: e.g. ``http://127.0.0.1:8080/v1``; None: the OpenAI API.
        api_key: the key; default from the environment variable ``api_key_env``.
        api_key_env: environment variable holding the key (default ``OPENAI_API_KEY``).
        timeout: seconds per attempt.
        max_retries: retries after the first attempt (exponential backoff).
        concurrency: calls in flight at once.
        response_format: ``json_object`` (plain JSON mode), ``json_schema`` (OpenAI structured outputs),
            ``json_object_schema`` (llama.cpp server: JSON mode with a schema), or ``none``.

    Raises:
        ConfigError: an unknown response format.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 4,
        response_format: str = "json_object",
    ) -> None:
        import openai

        if response_format not in RESPONSE_FORMATS:
            raise ConfigError(f"response_format must be one of {RESPONSE_FORMATS}, got {response_format!r}")
        self.model = model
        self.base_url = base_url
        self.concurrency = max(1, concurrency)
        self.response_format = response_format
        key = api_key or os.environ.get(api_key_env) or ("none" if base_url else None)
        if key is None:
            raise ConfigError(f"no API key: set {api_key_env} (or pass --api-key-env NAME)")
        self._openai = openai
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def close(self) -> None:
        """Close the HTTP client's connection pool; the backend cannot answer after."""
        self.client.close()

    def _format(self, json_schema):
        if self.response_format == "none" or json_schema is None:
            return {}
        if self.response_format == "json_object":
            return {"response_format": {"type": "json_object"}}
        if self.response_format == "json_object_schema":
            return {"response_format": {"type": "json_object", "schema": json_schema}}
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "entities", "schema": json_schema, "strict": False}}}

    def complete(self, messages, *, json_schema=None, max_tokens=512) -> Reply:
        t0 = time.perf_counter()
        try:
            out = self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.0, max_tokens=max_tokens,
                **self._format(json_schema),
            )
        except self._openai.APIError as e:
            return Reply("", latency_s=time.perf_counter() - t0, error=f"{type(e).__name__}: {e}")
        except ValueError as e:  # a body that is not JSON
            return Reply("", latency_s=time.perf_counter() - t0, error=f"malformed response: {e}")
        if not out.choices:
            return Reply("", latency_s=time.perf_counter() - t0, error="the response has no choices")
        choice = out.choices[0]
        usage = out.usage
        return Reply(
            choice.message.content or "",
            getattr(usage, "prompt_tokens", 0) or 0,
            getattr(usage, "completion_tokens", 0) or 0,
            choice.finish_reason,
            time.perf_counter() - t0,
        )
