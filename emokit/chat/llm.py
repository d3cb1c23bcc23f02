"""The LLM service (report 5.1): any OpenAI-compatible chat-completions server through the OpenAI SDK.

Configuration comes from the environment only (never from papermill parameters, files or logs):

- ``DEEPSEEK_API_KEY`` (or ``EMOKIT_LLM_API_KEY``): the key. Absent: :func:`LLMService.from_env`
  returns a service with ``available == False`` and the chat uses the offline responder.
- ``EMOKIT_LLM_BASE_URL`` (default ``https://api.deepseek.com``) and ``EMOKIT_LLM_MODEL`` (default
  ``deepseek-chat``): point them at vLLM, Ollama (``http://127.0.0.1:11434/v1``), a llama.cpp server ...

Replies stream. Requests that fail with 429, 5xx, a timeout or a dropped connection *before any token
arrived* are retried with exponential backoff (``Retry-After`` honoured up to ``max_backoff_s``); 401
and 404 fail at once with a message saying what to check. A stream that breaks midway keeps what
arrived: :class:`Reply` has ``interrupted=True`` and the partial text, and the caller records exactly
that text in the history, so the history always alternates user/assistant.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.deepseek.com"
DEFAULT_MODEL = "deepseek-chat"
KEY_ENV = ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY")


class LLMError(RuntimeError):
    """The LLM could not answer; ``kind`` is one of auth, not_found, rate_limit, server, timeout,
    connection, bad_request, unavailable."""

    def __init__(self, message: str, kind: str = "error", status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass
class Reply:
    text: str
    interrupted: bool = False
    attempts: int = 1
    finish_reason: str | None = None
    error: str = ""
    latency_s: float = 0.0
    first_token_s: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)


def window(messages: Sequence[dict[str, str]], max_messages: int, max_chars: int) -> list[dict[str, str]]:
    """The most recent messages that fit ``max_messages`` and ``max_chars``, starting on a user turn
    (so the window never opens with an orphan assistant reply)."""
    out: list[dict[str, str]] = []
    total = 0
    for m in reversed(list(messages)):
        n = len(m.get("content") or "")
        if len(out) >= max_messages or (out and total + n > max_chars):
            break
        out.append(m)
        total += n
    out.reverse()
    while out and out[0].get("role") != "user":
        out.pop(0)
    return out


class LLMService:
    """A thin, testable wrapper around ``openai.OpenAI(...).chat.completions.create(stream=True)``."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, model: str | None = None,
                 timeout_s: float = 30.0, max_retries: int = 3, backoff_s: float = 1.0,
                 max_backoff_s: float = 20.0, temperature: float = 0.7, max_tokens: int = 400,
                 history_messages: int = 20, history_chars: int = 12000,
                 sleep: Callable[[float], None] = time.sleep):
        self._api_key = api_key or None
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or DEFAULT_MODEL
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.history_messages = int(history_messages)
        self.history_chars = int(history_chars)
        self._sleep = sleep
        self._client = None

    @classmethod
    def from_env(cls, **kwargs: Any) -> "LLMService":
        key = next((os.environ[k] for k in KEY_ENV if os.environ.get(k)), None)
        return cls(api_key=key, base_url=os.environ.get("EMOKIT_LLM_BASE_URL") or None,
                   model=os.environ.get("EMOKIT_LLM_MODEL") or None, **kwargs)

    @property
    def available(self) -> bool:
        return bool(self._api_key)

    def describe(self) -> dict[str, Any]:
        """What the UI and transcripts may show (never the key)."""
        return {"available": self.available, "base_url": self.base_url, "model": self.model}

    def __repr__(self) -> str:  # the key never appears in a repr, log or traceback
        return f"LLMService(model={self.model!r}, base_url={self.base_url!r}, key={'set' if self.available else 'unset'})"

    def _get_client(self):
        if self._client is None:
            if not self.available:
                raise LLMError("no LLM API key: set DEEPSEEK_API_KEY (and EMOKIT_LLM_BASE_URL / "
                               "EMOKIT_LLM_MODEL for another OpenAI-compatible server)", kind="unavailable")
            import openai

            # Retries are ours (we also need them for streams): the SDK's own are off.
            self._client = openai.OpenAI(api_key=self._api_key, base_url=self.base_url,
                                         timeout=self.timeout_s, max_retries=0)
        return self._client

    def build_messages(self, system: str, history: Sequence[dict[str, str]], user: str) -> list[dict[str, str]]:
        past = window(history, max(self.history_messages, 0), self.history_chars)
        return [{"role": "system", "content": system}, *past, {"role": "user", "content": user}]

    # -- error classification ---------------------------------------------------------------------
    def _classify(self, exc: Exception) -> LLMError:
        import openai

        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.AuthenticationError) or status == 401:
            return LLMError(f"the LLM server rejected the API key (401) at {self.base_url}: check "
                            f"DEEPSEEK_API_KEY (or EMOKIT_LLM_API_KEY)", kind="auth", status=401)
        if isinstance(exc, openai.NotFoundError) or status == 404:
            return LLMError(f"not found (404) at {self.base_url}: check EMOKIT_LLM_BASE_URL (an "
                            f"OpenAI-compatible root, often ending in /v1) and EMOKIT_LLM_MODEL="
                            f"{self.model!r}", kind="not_found", status=404)
        if isinstance(exc, openai.RateLimitError) or status == 429:
            return LLMError("rate limited (429) by the LLM server", kind="rate_limit", status=429)
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(f"the LLM server did not answer within {self.timeout_s:g} s", kind="timeout")
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(f"cannot reach the LLM server at {self.base_url}", kind="connection")
        if status is not None and status >= 500:
            return LLMError(f"LLM server error ({status})", kind="server", status=status)
        if status is not None:
            return LLMError(f"LLM request refused ({status}): {_short(exc)}", kind="bad_request", status=status)
        return LLMError(f"LLM stream failed: {type(exc).__name__}", kind="connection")

    def _retry_after(self, exc: Exception, attempt: int) -> float:
        delay = self.backoff_s * (2 ** attempt)
        resp = getattr(exc, "response", None)
        try:
            ra = float(resp.headers.get("retry-after")) if resp is not None else None
        except (TypeError, ValueError):
            ra = None
        if ra is not None:
            delay = ra
        return max(0.0, min(delay, self.max_backoff_s))

    # -- the call ----------------------------------------------------------------------------------
    def stream(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None) -> Reply:
        """Send ``messages`` and stream the reply; returns the whole :class:`Reply`.

        Raises :class:`LLMError` only when nothing arrived (after retries). A stream that breaks after
        the first token returns the partial text with ``interrupted=True``.
        """
        client = self._get_client()
        t0 = time.perf_counter()
        attempt = 0
        while True:
            chunks: list[str] = []
            first: float | None = None
            finish: str | None = None
            try:
                stream = client.chat.completions.create(
                    model=self.model, messages=messages, stream=True,
                    temperature=self.temperature, max_tokens=self.max_tokens)
                for event in stream:
                    if not event.choices:
                        continue
                    choice = event.choices[0]
                    piece = getattr(choice.delta, "content", None) or ""
                    if piece:
                        if first is None:
                            first = time.perf_counter() - t0
                        chunks.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                text = "".join(chunks)
                if finish is None and text:
                    # The server closed the stream without a finish reason: keep what arrived.
                    return Reply(text, interrupted=True, attempts=attempt + 1, error="stream ended early",
                                 latency_s=time.perf_counter() - t0, first_token_s=first)
                if finish is None and not text:
                    raise LLMError("the LLM stream ended before any token", kind="connection")
                return Reply(text, attempts=attempt + 1, finish_reason=finish,
                             latency_s=time.perf_counter() - t0, first_token_s=first)
            except Exception as exc:  # noqa: BLE001 - classified below
                err = exc if isinstance(exc, LLMError) else self._classify(exc)
                if chunks:  # broken midway: keep the partial reply
                    why = f"stream broken after {len(chunks)} chunks ({type(exc).__name__})"
                    log.warning("LLM %s", why)
                    return Reply("".join(chunks), interrupted=True, attempts=attempt + 1, error=why,
                                 latency_s=time.perf_counter() - t0, first_token_s=first)
                retryable = err.kind in ("rate_limit", "server", "timeout", "connection")
                if not retryable or attempt >= self.max_retries:
                    if retryable:
                        err = LLMError(f"{err} (gave up after {attempt + 1} attempts)", kind=err.kind,
                                       status=err.status)
                    raise err from None
                delay = self._retry_after(exc, attempt)
                log.info("LLM %s; retry %d/%d in %.2f s", err.kind, attempt + 1, self.max_retries, delay)
                self._sleep(delay)
                attempt += 1

    def chat(self, system: str, history: Sequence[dict[str, str]], user: str,
             on_token: Callable[[str], None] | None = None) -> Reply:
        return self.stream(self.build_messages(system, history, user), on_token=on_token)


def _short(exc: Exception) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return msg[:200]

