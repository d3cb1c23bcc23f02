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
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .redact import redact, register_secret

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.deepseek.com"
DEFAULT_MODEL = "deepseek-chat"
KEY_ENV = ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY")


class LLMError(RuntimeError):
    """The LLM could not answer; ``kind`` is one of auth, not_found, rate_limit, server, timeout,
    deadline, connection, bad_request, unavailable."""

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
    raw_text: str | None = None     # the model's text before a post-step (LocalLLMService), else None


def clip_message(text: str, max_chars: int) -> str:
    """``text`` cut to about ``max_chars``: its head and tail with a marker between (a very long
    message or reply then still fits the window beside the turns around it)."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    marker = " [...] "
    keep = max(max_chars - len(marker), 2)
    head = (keep * 2) // 3
    return text[:head] + marker + text[len(text) - (keep - head):]


def window(messages: Sequence[dict[str, str]], max_messages: int, max_chars: int,
           max_message_chars: int | None = None) -> list[dict[str, str]]:
    """The most recent messages that fit ``max_messages`` and ``max_chars``, starting on a user turn
    (so the window never opens with an orphan assistant reply).

    Each message is first clipped to ``max_message_chars`` (default: a quarter of ``max_chars``), so
    one very long reply or message costs at most that much: the oldest turns are dropped to make room,
    never the whole history."""
    per = int(max_message_chars) if max_message_chars else max(1, int(max_chars) // 4)
    out: list[dict[str, str]] = []
    total = 0
    for m in reversed(list(messages)):
        content = clip_message(m.get("content") or "", per)
        if len(out) >= max_messages or total + len(content) > max_chars:
            break
        out.append({**m, "content": content})
        total += len(content)
    out.reverse()
    while out and out[0].get("role") != "user":
        out.pop(0)
    return out


class LLMService:
    """A thin, testable wrapper around ``openai.OpenAI(...).chat.completions.create(stream=True)``."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, model: str | None = None,
                 timeout_s: float = 20.0, max_retries: int = 3, backoff_s: float = 1.0,
                 max_backoff_s: float = 20.0, temperature: float = 0.7, max_tokens: int = 400,
                 history_messages: int = 20, history_chars: int = 12000,
                 sleep: Callable[[float], None] = time.sleep, connect_timeout_s: float = 5.0,
                 deadline_s: float = 45.0, chars_per_token: float = 8.0, max_user_chars: int = 8000):
        self._api_key = api_key or None
        register_secret(self._api_key)
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
        # Bounded time: connect and per-read timeouts, and one deadline for the whole reply (retries
        # and a server that trickles tokens included). Bounded size: a reply is cut at about
        # max_tokens * chars_per_token characters, whatever the server sends.
        self.connect_timeout_s = float(connect_timeout_s)
        self.deadline_s = float(deadline_s)
        self.chars_per_token = float(chars_per_token)
        self.max_user_chars = int(max_user_chars)
        self.request_extra: dict[str, Any] = {}   # extra request fields (e.g. stop sequences)

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
                                         timeout=self._timeout(self.deadline_s), max_retries=0)
        return self._client

    def build_messages(self, system: str, history: Sequence[dict[str, str]], user: str,
                       examples: Sequence[dict[str, str]] = ()) -> list[dict[str, str]]:
        """System prompt, then ``examples`` (a fixed example exchange, never windowed away), then the
        windowed history and the user message."""
        past = window(history, max(self.history_messages, 0), self.history_chars)
        return [{"role": "system", "content": system}, *examples, *past,
                {"role": "user", "content": clip_message(user, self.max_user_chars)}]

    @property
    def max_reply_chars(self) -> int:
        """The longest reply kept (about ``max_tokens`` tokens, generously counted)."""
        return int(self.max_tokens * self.chars_per_token)

    def _timeout(self, remaining: float):
        import httpx

        read = max(0.05, min(self.timeout_s, remaining))
        return httpx.Timeout(read, connect=max(0.05, min(self.connect_timeout_s, remaining)))

    def _redact(self, text: str) -> str:
        return redact(text, [self._api_key] if self._api_key else [])

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
        if isinstance(exc, _DeadlineExceeded):
            return LLMError(f"no reply within the {self.deadline_s:g} s deadline", kind="deadline")
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(f"the LLM server did not answer within {self.timeout_s:g} s", kind="timeout")
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(f"cannot reach the LLM server at {self.base_url}", kind="connection")
        if status is not None and status >= 500:
            return LLMError(f"LLM server error ({status})", kind="server", status=status)
        if status is not None:
            return LLMError(self._redact(f"LLM request refused ({status}): {_short(exc)}"), kind="bad_request",
                            status=status)
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
    def stream(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
               extra: dict[str, Any] | None = None) -> Reply:
        """Send ``messages`` and stream the reply; returns the whole :class:`Reply`.

        Raises :class:`LLMError` only when nothing arrived (after retries, within ``deadline_s``). A
        stream that breaks after the first token, passes the deadline or grows past
        :attr:`max_reply_chars` returns what arrived with ``interrupted=True`` and the reason in
        ``error``. Error texts never hold the key (:func:`emokit.chat.redact.redact`).
        """
        client = self._get_client()
        t0 = time.perf_counter()
        deadline = t0 + self.deadline_s
        attempt = 0
        while True:
            chunks: list[str] = []
            usage: dict[str, Any] = {}
            first: float | None = None
            finish: str | None = None
            size = 0
            guard = _Watchdog(deadline - time.perf_counter())
            try:
                if guard.remaining <= 0:
                    raise _DeadlineExceeded()
                stream = client.chat.completions.create(
                    model=self.model, messages=messages, stream=True, temperature=self.temperature,
                    max_tokens=self.max_tokens, timeout=self._timeout(guard.remaining), **{**self.request_extra, **(extra or {})})
                guard.arm(stream)
                for event in _until(stream, deadline):
                    extra = getattr(event, "model_extra", None) or {}
                    if extra.get("timings"):   # llama.cpp: prompt/cache/generation token counts and speed
                        usage["timings"] = extra["timings"]
                    if not event.choices:
                        continue
                    choice = event.choices[0]
                    piece = getattr(choice.delta, "content", None) or ""
                    if piece:
                        if first is None:
                            first = time.perf_counter() - t0
                        if size + len(piece) > self.max_reply_chars:
                            piece = piece[: self.max_reply_chars - size]
                            chunks.append(piece)
                            if on_token is not None and piece:
                                on_token(piece)
                            guard.close()
                            return Reply(cut_at_sentence("".join(chunks)), interrupted=True, attempts=attempt + 1,
                                         finish_reason="length",
                                         error=f"reply cut at {self.max_reply_chars} characters "
                                               f"(max_tokens={self.max_tokens})",
                                         latency_s=time.perf_counter() - t0, first_token_s=first)
                        size += len(piece)
                        chunks.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                guard.close()
                if guard.fired:
                    raise _DeadlineExceeded()
                text = "".join(chunks)
                if finish is None and text:
                    # The server closed the stream without a finish reason: keep what arrived.
                    return Reply(text, interrupted=True, attempts=attempt + 1, error="stream ended early",
                                 latency_s=time.perf_counter() - t0, first_token_s=first)
                if finish is None and not text:
                    raise LLMError("the LLM stream ended before any token", kind="connection")
                if finish == "length":  # ran into max_tokens: end on the last whole sentence
                    text = cut_at_sentence(text)
                return Reply(text, attempts=attempt + 1, finish_reason=finish,
                             latency_s=time.perf_counter() - t0, first_token_s=first, usage=usage)
            except Exception as exc:  # noqa: BLE001 - classified below
                guard.close()
                if guard.fired and not isinstance(exc, LLMError):
                    exc = _DeadlineExceeded()
                err = exc if isinstance(exc, LLMError) else self._classify(exc)
                if chunks:  # broken midway (or past the deadline): keep the partial reply
                    why = (f"deadline of {self.deadline_s:g} s reached after {len(chunks)} chunks"
                           if isinstance(exc, _DeadlineExceeded)
                           else f"stream broken after {len(chunks)} chunks ({type(exc).__name__})")
                    log.warning("LLM %s", why)
                    return Reply("".join(chunks), interrupted=True, attempts=attempt + 1, error=why,
                                 latency_s=time.perf_counter() - t0, first_token_s=first)
                retryable = err.kind in ("rate_limit", "server", "timeout", "connection")
                delay = self._retry_after(exc, attempt) if retryable else 0.0
                out_of_time = time.perf_counter() + delay >= deadline
                if not retryable or attempt >= self.max_retries or out_of_time:
                    if retryable:
                        why = "the deadline" if out_of_time and attempt < self.max_retries else "retries"
                        err = LLMError(f"{err} (gave up after {attempt + 1} attempts, "
                                       f"{time.perf_counter() - t0:.1f} s: {why})", kind=err.kind,
                                       status=err.status)
                    raise LLMError(self._redact(str(err)), kind=err.kind, status=err.status) from None
                log.info("LLM %s; retry %d/%d in %.2f s", err.kind, attempt + 1, self.max_retries, delay)
                self._sleep(delay)
                attempt += 1

    def chat(self, system: str, history: Sequence[dict[str, str]], user: str,
             on_token: Callable[[str], None] | None = None, examples: Sequence[dict[str, str]] = (),
             slot: str | None = None) -> Reply:
        """``slot``: which conversation this is (the persona key); a remote server ignores it, the
        local one keeps one llama.cpp slot (one cached prefix) per persona."""
        return self.stream(self.build_messages(system, history, user, examples), on_token=on_token)


class _DeadlineExceeded(Exception):
    """The whole reply took longer than ``deadline_s``."""


_END = object()


def _until(stream: Any, deadline: float):
    """The stream's events, read by a helper thread, until ``deadline`` (``perf_counter`` time): a
    server that trickles tokens, or a socket read that blocks, cannot hold the caller past it (the
    helper thread ends at the next chunk or read timeout, after the stream is closed)."""
    import queue

    q: queue.Queue = queue.Queue(maxsize=256)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for ev in stream:
                if not put(ev):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            put(exc)

    threading.Thread(target=pump, daemon=True, name="llm-stream").start()
    try:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise _DeadlineExceeded()
            try:
                item = q.get(timeout=remaining)
            except queue.Empty:
                raise _DeadlineExceeded() from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _Watchdog:
    """Closes a stream's HTTP response when the turn's deadline passes, so a server that trickles one
    token every 20 s (no read timeout ever fires) cannot hold the turn past it."""

    def __init__(self, remaining: float):
        self.remaining = remaining
        self.fired = False
        self._timer: threading.Timer | None = None
        self._stream: Any = None

    def arm(self, stream: Any) -> None:
        self._stream = stream
        self._timer = threading.Timer(max(self.remaining, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            self._stream.close()
        except Exception:  # noqa: BLE001 - best effort: the reader then sees a closed stream
            pass

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stream is not None and not self.fired:
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001
                pass
            self._stream = None
_SENTENCE_END = re.compile(r"[.!?。！？…](?:[\"'”’)\]]*)(?=\s|$)|[。！？]")


def cut_at_sentence(text: str) -> str:
    """``text`` up to its last complete sentence (English or Chinese punctuation); the text itself
    when no sentence ends in it."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[:ends[-1]].rstrip() if ends else text.rstrip()


def _short(exc: Exception) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return msg[:200]

