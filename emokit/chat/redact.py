"""Keep API keys and bearer tokens out of every message, log, session file, transcript and artifact.

:func:`redact` replaces each registered secret (the LLM key, registered by
:class:`emokit.chat.llm.LLMService`) and anything that looks like a credential (``Bearer <token>``,
``sk-...`` keys, ``api_key=...`` / ``"Authorization": "..."`` pairs) with ``[REDACTED]``. Once a
secret is registered, :func:`install_log_redaction` makes every log record redacted at creation
(a log-record factory), so a library that logs a request or an error body cannot write the key to a
log either. Session files and transcripts pass through :func:`redact` when they are written.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Iterable

MASK = "[REDACTED]"
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_MIN_SECRET = 6   # shorter "keys" (tests' "x") would redact ordinary words

_PATTERNS = [
    # Authorization: Bearer <token>  /  bearer <token>
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{6,}"), r"\1" + MASK),
    # OpenAI/DeepSeek-style keys
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), MASK),
    # "authorization": "...", api_key=..., x-api-key: ...  (JSON, headers, query strings)
    (re.compile(r"(?i)([\"']?(?:authorization|api[_-]?key|x-api-key|access[_-]?token)[\"']?\s*[:=]\s*[\"']?)"
                r"(?!\[REDACTED\])[^\s\"',;&}]{4,}"), r"\1" + MASK),
]


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` (and, once installed, every log record) masks it."""
    if secret and len(secret) >= _MIN_SECRET:
        with _LOCK:
            _SECRETS.add(secret)
        install_log_redaction()


def redact(text: Any, secrets: Iterable[str] = ()) -> Any:
    """``text`` with every known secret and credential-looking token replaced by ``[REDACTED]``.
    Non-strings are returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    with _LOCK:
        known = set(_SECRETS)
    known.update(s for s in secrets if s and len(s) >= _MIN_SECRET)
    for s in sorted(known, key=len, reverse=True):
        if s in text:
            text = text.replace(s, MASK)
    for pat, rep in _PATTERNS:
        text = pat.sub(rep, text)
    return text


def redact_obj(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """:func:`redact` applied to every string inside nested dicts, lists and tuples."""
    secrets = tuple(secrets)
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, dict):
        return {k: redact_obj(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v, secrets) for v in obj)
    return obj


_installed = False


def install_log_redaction() -> None:
    """Wrap the log-record factory once, so every record's message is redacted when it is created."""
    global _installed
    with _LOCK:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is the logger's problem, not ours
            return record
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if redact(str(exc)) != str(exc):  # a traceback would print the key: keep the type only
                record.exc_info = None
                record.msg = f"{record.msg} ({type(exc).__name__}: {redact(str(exc))})"
        return record

    logging.setLogRecordFactory(factory)
