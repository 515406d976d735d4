"""The HTTP edge: routes, body limits and status codes. Scoring itself lives in `scoring`.

A thread per connection (ThreadingHTTPServer) is enough because the heavy work — CSV parsing in
pyarrow and prediction in native code — releases the GIL; a semaphore bounds in-flight requests to the
configured concurrency, so memory stays bounded whatever the client does.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from leafline.serving.errors import InvalidInputError, PayloadTooLargeError, ServingError
from leafline.serving.jsonlog import log_event
from leafline.serving.profiling import Profiler
from leafline.serving.scoring import Scorer

_DRAIN_LIMIT = 256 * 2**20  # read and drop at most this much of an oversized body to answer 413 cleanly
_READ_CHUNK = 2**20


@dataclass
class ServingState:
    """What handlers share: set once the model is loaded, read by every request."""

    concurrency: int
    cpus: int = 1
    profiler: Profiler | None = None
    scorer: Scorer | None = None
    payload_limit: int | None = None  # bytes; None = no limit
    execution_parameters: dict[str, Any] = field(default_factory=dict)
    slots: threading.Semaphore = field(init=False)
    _in_flight: int = field(init=False, default=0)
    _count_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.concurrency)

    def enter(self) -> int:
        """Count a request in; returns the native threads it may use: the cores shared by the requests
        in flight now, so a lone request uses every core and a full house uses one each."""
        with self._count_lock:
            self._in_flight += 1
            return max(1, self.cpus // self._in_flight)

    def leave(self) -> None:
        with self._count_lock:
            self._in_flight -= 1

    def ready(self, scorer: Scorer, payload_limit: int | None, execution_parameters: dict[str, Any]) -> None:
        self.payload_limit = payload_limit
        self.execution_parameters = execution_parameters
        self.scorer = scorer  # last: /ping turns 200 only when everything else is in place


class ScoringHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: ServingState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
    # of the headers on a keep-alive connection (measured: 1 MB payloads took 60 ms instead of 15 ms).
    disable_nagle_algorithm = True
    server: ScoringHTTPServer
    server_version = "leafline"
    sys_version = ""

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        if url.path == "/ping":
            self._reply(200 if state.scorer else 503, b"")
        elif url.path == "/execution-parameters":
            if state.scorer is None:
                self._reply(503, b"model not loaded yet\n", "text/plain")
            else:
                self._reply(200, json.dumps(state.execution_parameters).encode(), "application/json")
        elif state.profiler and url.path == "/debug/stats":
            self._reply(200, json.dumps(state.profiler.snapshot()).encode(), "application/json")
        elif state.profiler and url.path == "/debug/profile":
            seconds = _float_param(url.query, "seconds", 10.0)
            self._reply(200, state.profiler.profile_for(seconds).encode(), "text/plain")
        else:
            self._reply(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/invocations":
            self._discard_body()
            self._reply(404, b"not found\n", "text/plain")
            return
        started = time.perf_counter()
        state = self.server.state
        fields: dict[str, Any] = {
            "content_type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
        }
        try:
            if state.scorer is None:
                raise _NotReady()
            with state.slots:
                body = self._read_body(state.payload_limit)
                fields["bytes_in"] = len(body)
                scorer = state.scorer
                threads = state.enter()
                try:
                    scored = (state.profiler.run if state.profiler else _call)(
                        lambda: scorer.score(
                            body, self.headers.get("Content-Type"), self.headers.get("Accept"), threads
                        )
                    )
                finally:
                    state.leave()
        except _NotReady:
            self._discard_body()
            self._log(503, started, fields, error="model not loaded yet")
            self._reply(503, b"model not loaded yet\n", "text/plain")
        except ServingError as exc:
            self._log(exc.status, started, fields, error=exc.message)
            self._reply(exc.status, exc.message.encode() + b"\n", "text/plain")
        except Exception as exc:  # a bug must not leak a traceback to the client, nor stop the server
            self.close_connection = True
            self._log(500, started, fields, error=repr(exc), traceback=traceback.format_exc())
            self._reply(500, b"internal error while scoring; see the server log\n", "text/plain")
        else:
            # Logged before the reply is sent, so a client that has its answer also finds the log line.
            if state.profiler:
                state.profiler.record(scored.rows, scored.stages_ms)
            self._log(200, started, fields, rows=scored.rows, bytes_out=len(scored.body), ms=scored.stages_ms)
            timing = ", ".join(f"{stage};dur={ms:.2f}" for stage, ms in scored.stages_ms.items())
            self._reply(200, scored.body, scored.content_type, {"Server-Timing": timing})

    def _read_body(self, limit: int | None) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw_length.isdigit():
            self.close_connection = True
            raise InvalidInputError(f"Content-Length {raw_length!r} is not a number")
        length = int(raw_length)
        if limit is not None and length > limit:
            self._drain(length)
            raise PayloadTooLargeError(
                f"payload of {length} bytes exceeds MaxPayloadInMB ({limit // 2**20} MB = {limit} bytes)"
            )
        return self.rfile.read(length)

    def _read_chunked(self, limit: int | None) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                raise InvalidInputError("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if limit is not None and total > limit:
                self.close_connection = True
                raise PayloadTooLargeError(f"chunked payload exceeds MaxPayloadInMB ({limit} bytes)")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after each chunk

    def _drain(self, length: int) -> None:
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(_READ_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)

    def _discard_body(self) -> None:
        raw = self.headers.get("Content-Length", "0").strip()
        if raw.isdigit():
            self._drain(int(raw))
        elif self.headers.get("Transfer-Encoding"):
            self.close_connection = True

    def _reply(
        self, status: int, body: bytes, content_type: str | None = None, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _log(self, status: int, started: float, fields: dict[str, Any], **more: Any) -> None:
        total = round((time.perf_counter() - started) * 1e3, 3)
        if "ms" in more:
            more["ms"] = {k: round(v, 3) for k, v in more["ms"].items()} | {"total": total}
        else:
            more["ms"] = {"total": total}
        log_event("invocation", status=status, **fields, **more)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib access log: every request already gets a JSON line."""


class _NotReady(Exception):
    pass


def _call(work: Any) -> Any:
    return work()


def _float_param(query: str, name: str, default: float) -> float:
    try:
        return float(parse_qs(query).get(name, [default])[0])
    except ValueError:
        return default
