"""A small scripted OpenAI-compatible server on 127.0.0.1 (tests, benchmark, offline demos).

``POST /v1/chat/completions`` (and ``/chat/completions``) answers from a script of behaviours, one
per request, then ``default``:

- ``"ok"``: a normal reply (streamed as SSE with chunked transfer encoding, or one JSON body)
- ``"429"`` / ``"500"`` / ``"401"`` / ``"404"``: that HTTP error with an OpenAI-style error body
- ``"slow"``: sleeps ``slow_s`` before answering (client timeouts)
- ``"cut"``: streams a few chunks, then drops the connection mid-body (no final chunk, no [DONE])
- ``"hang"``: reads the request and never answers (until the server stops)
- ``"trickle"``: streams one word every ``trickle_s`` seconds, ``trickle_words`` of them
- ``"huge"``: streams a reply of ``huge_chars`` characters, ignoring ``max_tokens``
- ``"echo_headers"``: a 400 whose error message echoes every request header, Authorization included
  (a misconfigured proxy: the key-leak test)

The reply text is ``reply_fn(messages)`` (default: a short echo ending with a question). It binds an
ephemeral port, serves from a daemon thread, records each request (headers minus Authorization, plus
whether the bearer token matched ``expect_key``), and stops itself after ``lifetime_s`` at the latest.
Use it as a context manager.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

ReplyFn = Callable[[list[dict[str, Any]]], str]


def echo_reply(messages: list[dict[str, Any]]) -> str:
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    said = last.split("USER:", 1)[-1].strip() if "USER:" in last else last.strip()
    return f"I hear you: {said[:80]}. What feels most important about that right now?"


class FakeOpenAIServer:
    def __init__(self, script: Iterable[str] = (), default: str = "ok", reply_fn: ReplyFn = echo_reply,
                 expect_key: str | None = None, slow_s: float = 2.0, chunk_words: int = 3,
                 chunk_delay_s: float = 0.0, lifetime_s: float = 120.0, trickle_s: float = 20.0,
                 trickle_words: int = 50, huge_chars: int = 5_000_000):
        self.script = list(script)
        self.default = default
        self.reply_fn = reply_fn
        self.expect_key = expect_key
        self.slow_s = slow_s
        self.chunk_words = chunk_words
        self.chunk_delay_s = chunk_delay_s
        self.lifetime_s = lifetime_s
        self.trickle_s = trickle_s
        self.trickle_words = trickle_words
        self.huge_chars = huge_chars
        self.stopped = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FakeOpenAIServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        t = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        timer = threading.Timer(self.lifetime_s, self.stop)
        timer.daemon = True
        timer.start()
        self._threads = [t]
        self._timer = timer
        return self

    def stop(self) -> None:
        self.stopped.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def next_behaviour(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:  # clients that hang up are normal here
        pass


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, etype: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": etype, "code": status}}, headers)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._error(404, "not found", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        auth = self.headers.get("Authorization", "")
        behaviour = owner.next_behaviour()
        with owner._lock:
            owner.requests.append({
                "path": self.path, "behaviour": behaviour, "body": body,
                "key_ok": (auth == f"Bearer {owner.expect_key}") if owner.expect_key else None,
                "headers": {k: v for k, v in self.headers.items() if k.lower() != "authorization"},
            })
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._error(404, f"no route {self.path}", "not_found")
        if owner.expect_key and auth != f"Bearer {owner.expect_key}":
            return self._error(401, "Incorrect API key provided", "authentication_error")
        if behaviour in ("429", "500", "502", "503", "401", "404"):
            status = int(behaviour)
            headers = {"Retry-After": "0"} if status == 429 else None
            etype = {429: "rate_limit_error", 401: "authentication_error", 404: "not_found"}.get(status, "server_error")
            return self._error(status, f"scripted {status}", etype, headers)
        if behaviour == "echo_headers":
            echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
            return self._error(400, f"bad request, headers were: {echoed}", "invalid_request_error")
        if behaviour == "hang":
            owner.stopped.wait(owner.lifetime_s)
            return
        if behaviour == "slow":
            time.sleep(owner.slow_s)
        text = owner.reply_fn(body.get("messages") or [])
        if behaviour == "huge":
            text = ("la " * (owner.huge_chars // 3 + 1))[: owner.huge_chars]
        elif behaviour == "trickle":
            text = " ".join(f"w{i}" for i in range(owner.trickle_words))
        model = body.get("model", "fake-model")
        if not body.get("stream"):
            return self._json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        step = 1 if behaviour == "trickle" else (4096 if behaviour == "huge" else owner.chunk_words)
        words = text.split(" ")
        pieces = [" ".join(words[i:i + step]) + (" " if i + step < len(words) else "")
                  for i in range(0, len(words), step)]
        delay = owner.trickle_s if behaviour == "trickle" else owner.chunk_delay_s
        cut_after = max(1, len(pieces) // 2) if behaviour == "cut" else None
        try:
            self._chunk(_sse(model, {"role": "assistant", "content": ""}, None))
            for i, piece in enumerate(pieces):
                if cut_after is not None and i == cut_after:
                    self.wfile.flush()
                    self.close_connection = True
                    # drop the socket mid-body: no terminating chunk, no [DONE]
                    import socket

                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._chunk(_sse(model, {"content": piece}, None))
                if delay and owner.stopped.wait(delay):
                    return
            self._chunk(_sse(model, {}, "stop"))
            self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _sse(model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    event = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(event)}\n\n".encode()
