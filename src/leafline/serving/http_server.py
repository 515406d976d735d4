"""The HTTP edge: routes, framing, body limits and status codes. Scoring itself lives in `scoring`.

Connections live in `connections` (an event loop and a fixed pool of workers). The heavy work — CSV
parsing in pyarrow and prediction in native code — releases the GIL; a semaphore bounds requests being
scored to the configured concurrency. A body is read whole, under the read timeout, before its request
takes a slot, so a client that stalls holds a worker for at most the read timeout and never a slot; a
body trickled just inside each read timeout is cut off once it falls behind its pace (`body_pace`).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from leafline.serving.body_pace import BodyPace
from leafline.serving.connections import (
    Connection,
    ConnectionLimits,
    ConnectionServer,
    SocketWriter,
    next_request_within,
)
from leafline.serving.errors import InvalidInputError, PayloadTooLargeError, RequestTimeoutError, ServingError
from leafline.serving.jsonlog import log_event
from leafline.serving.profiling import Profiler
from leafline.serving.scoring import Scored, Scorer

_DRAIN_LIMIT = 256 * 2**20  # read and drop at most this much of an oversized body to answer 413 cleanly
_READ_CHUNK = 2**20
_PREALLOCATE = 8 * 2**20  # covers SageMaker's default 6 MB MaxPayloadInMB in one buffer
_DECIMAL = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() and int() accept '²' and '٣'
_HUGE = 10**19  # any longer Content-Length: larger than every limit (and int() refuses 4,301 digits)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")  # int(x, 16) accepts '0x5', '-5', '1_0' and spaces
_MAX_TRAILERS = 100
_LINGER = 0.02  # seconds a worker waits for a keep-alive connection's next request before the loop takes it


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

    def enter(self) -> None:
        """Count a request in from its headers on: one whose body is still arriving will score soon, and
        counting it only once it scores let two requests at concurrency 2 run 3 threads on 2 cores."""
        with self._count_lock:
            self._in_flight += 1

    def threads(self) -> int:
        """The native threads a request may use: the cores shared by the requests in flight now, so a
        lone request uses every core and a full house uses one each."""
        with self._count_lock:
            return max(1, self.cpus // self._in_flight)

    def leave(self) -> None:
        with self._count_lock:
            self._in_flight -= 1

    def ready(self, scorer: Scorer, payload_limit: int | None, execution_parameters: dict[str, Any]) -> None:
        self.payload_limit = payload_limit
        self.execution_parameters = execution_parameters
        self.scorer = scorer  # last: /ping turns 200 only when everything else is in place


class ScoringHTTPServer(ConnectionServer):
    def __init__(self, address: tuple[str, int], state: ServingState, limits: ConnectionLimits) -> None:
        self.state = state
        super().__init__(address, limits, self._serve_requests)

    def _serve_requests(self, connection: Connection, reader: io.BufferedReader) -> bool:
        """Requests on one connection while each next one follows within the linger; False once it must close."""
        while True:
            handler = _Handler(connection, reader, self)
            handler.handle_one_request()
            if handler.close_connection:
                return False
            if not next_request_within(connection.sock, reader, _LINGER, self.limits.read_timeout):
                return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScoringHTTPServer  # type: ignore[assignment]  # not a socketserver: see connections
    server_version = "leafline"
    sys_version = ""

    def __init__(self, connection: Connection, reader: io.BufferedReader, server: ScoringHTTPServer) -> None:
        """One request: the stdlib's per-request parsing, on a connection the server keeps between requests."""
        self.request = self.connection = connection.sock
        self.client_address = connection.address
        self.server = server
        self.rfile = self._reader = reader  # the stdlib's rfile is typed without peek, which _line uses
        self.wfile = SocketWriter(connection.sock)
        self.close_connection = True
        self._pace = BodyPace(time.monotonic(), server.limits.read_timeout, server.limits.min_body_rate)

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
            scored = self._score(state, started, fields)
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

    def _score(self, state: ServingState, started: float, fields: dict[str, Any]) -> Scored:
        """Read the body, then score it in a slot; counted in flight from here until scored (see enter)."""
        if state.scorer is None:
            raise _NotReady()
        state.enter()
        try:
            body = self._read_body(state.payload_limit)  # before the slot: a slow client holds none
            fields["bytes_in"] = len(body)
            fields["read_ms"] = round((time.perf_counter() - started) * 1e3, 3)  # the client's pace included
            with state.slots:
                scorer = state.scorer
                threads = fields["threads"] = state.threads()  # what the stage times below ran on
                run = state.profiler.run if state.profiler else _call
                scored: Scored = run(
                    lambda: scorer.score(body, self.headers.get("Content-Type"), self.headers.get("Accept"), threads)
                )
                return scored
        finally:
            state.leave()

    def _read_body(self, limit: int | None) -> bytes | bytearray:
        self._start_body()
        try:
            return self._read_framed_body(limit)
        finally:
            self.connection.settimeout(self.server.limits.read_timeout)  # the reply's writes: a stall's bound

    def _start_body(self) -> None:
        limits = self.server.limits
        self._pace = BodyPace(time.monotonic(), limits.read_timeout, limits.min_body_rate)

    def _await_bytes(self, received: int) -> None:
        """Before each body read: it may wait the read timeout, or less when the body's pace deadline is
        nearer; a body already behind its pace is a 408 (and the connection closes)."""
        now = time.monotonic()
        wait = self._pace.next_wait(received, now)
        if wait <= 0:
            self.close_connection = True
            raise RequestTimeoutError(self._pace.behind_message(received, now))
        self.connection.settimeout(wait)

    def _stalled(self, received: int, what: str) -> RequestTimeoutError:
        """The 408 for a read that timed out: behind the pace, or no byte for the whole read timeout."""
        self.close_connection = True
        now = time.monotonic()
        if now >= self._pace.deadline(received):
            return RequestTimeoutError(self._pace.behind_message(received, now))
        return RequestTimeoutError(
            f"{what} stalled: no byte for LEAFLINE_READ_TIMEOUT={self.server.limits.read_timeout:g} s"
        )

    def _read_framed_body(self, limit: int | None) -> bytes | bytearray:
        framing = self._framing()
        if framing is None:
            return self._read_chunked(limit)
        if limit is not None and framing > limit:
            self._drain(framing)
            raise PayloadTooLargeError(
                f"payload of {framing} bytes exceeds MaxPayloadInMB ({limit // 2**20} MB = {limit} bytes)"
            )
        return self._read_exactly(framing, f"{framing} bytes")

    def _framing(self) -> int | None:
        """The body's length, or None for a chunked body; refuses what RFC 9112 lets a server refuse (and closes)."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        problem = None
        if encodings and lengths:
            problem = "both Content-Length and Transfer-Encoding are set; send one of them"
        elif encodings:
            if ",".join(encodings).strip().lower() == "chunked":
                return None
            problem = f"Transfer-Encoding {', '.join(encodings)!r} is not supported; use chunked or Content-Length"
        elif len(lengths) > 1:
            problem = f"{len(lengths)} Content-Length headers ({', '.join(lengths)}); send one"
        elif lengths and not _DECIMAL.fullmatch(lengths[0].strip()):
            problem = f"Content-Length {lengths[0].strip()!r} is not a decimal number of bytes (ASCII digits only)"
        if problem:
            self.close_connection = True  # where this body ends is unknown, so nothing after it can be read
            raise InvalidInputError(problem)
        digits = (lengths[0].strip().lstrip("0") or "0") if lengths else "0"
        return int(digits) if len(digits) < len(str(_HUGE)) else _HUGE

    def _read_exactly(self, length: int, expected: str, received: int = 0) -> bytearray:
        """length bytes, read straight into one buffer (no per-read bytes and no join: ~1.7 ms of CPU less
        per 6 MB body). The buffer starts at most _PREALLOCATE and doubles as bytes arrive, so memory
        follows what arrives rather than what is declared beyond that."""
        buffer = bytearray(min(length, _PREALLOCATE))
        view = memoryview(buffer)
        got = 0
        while got < length:
            if got == len(buffer):
                view.release()
                buffer.extend(bytes(min(len(buffer), length - got)))
                view = memoryview(buffer)
            self._await_bytes(received + got)
            try:
                count = self._reader.readinto1(view[got : got + _READ_CHUNK])  # what arrived: counted if it stalls
            except TimeoutError:
                stalled = self._stalled(received + got, "request body")
                raise RequestTimeoutError(f"{stalled.message} (got {received + got} of {expected})") from None
            except OSError as exc:  # reset by the client: logged as its 400, the answer will not arrive
                self.close_connection = True
                raise InvalidInputError(f"the connection failed after {received + got} of {expected} ({exc})") from None
            if not count:
                self.close_connection = True
                raise InvalidInputError(f"the body ended after {received + got} of {expected} (connection closed)")
            got += count
        view.release()
        return buffer

    def _read_chunked(self, limit: int | None) -> bytes:
        parts: list[bytearray] = []
        total = 0
        while True:
            size = self._chunk_size(total)
            if size == 0:
                self._skip_trailers(total)
                return b"".join(parts)
            total += size
            if limit is not None and total > limit:
                self.close_connection = True
                raise PayloadTooLargeError(f"chunked payload exceeds MaxPayloadInMB ({limit} bytes)")
            parts.append(self._read_exactly(size, f"{total} bytes declared by its chunks so far", total - size))
            if self._line(8, total) not in (b"\r\n", b"\n"):
                raise self._malformed(f"no CRLF after chunk {len(parts)} ({size} bytes)")

    def _chunk_size(self, received: int) -> int:
        line = self._line(1024, received)
        if not line.endswith(b"\n"):
            raise self._malformed("a chunk size line longer than 1024 bytes, or the body ended")
        size = line.split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size):
            raise self._malformed(f"chunk size {size.decode('latin-1')[:20]!r} is not a hexadecimal number")
        return int(size, 16)

    def _skip_trailers(self, received: int) -> None:
        for _ in range(_MAX_TRAILERS):
            if self._line(8192, received) in (b"\r\n", b"\n", b""):
                return
        raise self._malformed(f"more than {_MAX_TRAILERS} trailer lines")

    def _line(self, limit: int, received: int) -> bytes:
        """readline(limit), one arrival at a time, so the body's pace bounds a line trickled byte by byte."""
        line = b""
        while len(line) < limit:
            self._await_bytes(received)
            try:
                ahead = self._reader.peek(1)[: limit - len(line)]  # what has arrived: one recv at most
            except TimeoutError:
                raise self._stalled(received, "chunked body") from None
            if not ahead:
                return line  # the client closed
            end = ahead.find(b"\n")
            line += self.rfile.read(len(ahead) if end < 0 else end + 1)
            if end >= 0:
                break
        return line

    def _malformed(self, detail: str) -> InvalidInputError:
        self.close_connection = True
        return InvalidInputError(f"malformed chunked body: {detail}")

    def _drain(self, length: int) -> None:
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        try:
            self._read_exactly(length, f"{length} bytes")
        except ServingError:
            self.close_connection = True

    def _discard_body(self) -> None:
        self._start_body()
        try:
            framing = self._framing()
        except ServingError:
            return  # _framing closes the connection
        if framing is None:
            self.close_connection = True
        else:
            self._drain(framing)

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

    def log_error(self, format: str, *args: Any) -> None:
        """What the stdlib answers itself (a bad request line, headers too long, a timeout), as JSON."""
        log_event("http_error", level="warning", client=self.client_address[0], error=format % args)


class _NotReady(Exception):
    pass


def _call(work: Any) -> Any:
    return work()


def _float_param(query: str, name: str, default: float) -> float:
    try:
        return float(parse_qs(query).get(name, [default])[0])
    except ValueError:
        return default
