"""Stalled and hostile HTTP clients against the real `serve` process (issue 19, cases 7 and 10).

A stalled client must cost no more than the read timeout, hold no concurrency slot and no thread beyond
the pool; a malformed framing header is a 400/413 naming the problem, never a 500 or a hang.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from leafline.processes.server import ServerProcess, http_request
from leafline.serving.connections import ConnectionLimits
from leafline.serving.http_server import ScoringHTTPServer, ServingState

READ_TIMEOUT = 1.0
WORKERS = 4
ROW = b"1,2,3,4,5,6\n"
# Every request must be answered well within this (seconds): the read timeout plus scheduling slack.
BOUND = READ_TIMEOUT + 4.0


@pytest.fixture(scope="module")
def slow_server(binary_model_dir: Path) -> Iterator[ServerProcess]:
    env = {
        "LEAFLINE_READ_TIMEOUT": str(READ_TIMEOUT),
        "LEAFLINE_IDLE_TIMEOUT": "30",
        "LEAFLINE_WORKERS": str(WORKERS),
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "1",
    }
    with ServerProcess(binary_model_dir, env=env) as server:
        yield server


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)
    sock.settimeout(BOUND)
    return sock


def _post_head(length: int | None = None, chunked: bool = False, extra: str = "") -> bytes:
    head = "POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
    return (head + extra + "\r\n").encode("latin-1")  # as HTTP header bytes are decoded


STALLS = {
    "short_body": _post_head(length=100) + ROW,
    "stalled_chunked_body": _post_head(chunked=True) + b"c\r\n" + ROW[:5],
    "declared_large_body_never_sent": _post_head(length=5 * 2**20),
    "unfinished_headers": b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n",
}


def _response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and everything the server sent until it closed or the first response ended."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if not data:
        return 0, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ")[1]), rest


def _score_within_bound(server: ServerProcess) -> float:
    started = time.monotonic()
    status, _, body = server.request("POST", "/invocations", ROW, {"Content-Type": "text/csv"}, timeout=BOUND)
    elapsed = time.monotonic() - started
    assert status == 200 and float(body) > 0
    return elapsed


@pytest.mark.parametrize("kind", list(STALLS))
def test_two_stalled_clients_do_not_delay_a_third(slow_server: ServerProcess, kind: str) -> None:
    with ExitStack() as stack:
        stalled = [stack.enter_context(_connect(slow_server)) for _ in range(2)]
        for sock in stalled:
            sock.sendall(STALLS[kind])
        elapsed = _score_within_bound(slow_server)
        assert elapsed < READ_TIMEOUT, f"the third client waited {elapsed:.2f} s behind two stalled ones"
        for sock in stalled:  # each stalled client is answered (408) or dropped once the read timeout passes
            status, body = _response(sock)
            assert status in (0, 408), body
            if status == 408:
                assert b"LEAFLINE_READ_TIMEOUT" in body


def test_stalled_body_is_answered_408_and_logged(slow_server: ServerProcess) -> None:
    with _connect(slow_server) as sock:
        sock.sendall(STALLS["short_body"])
        started = time.monotonic()
        status, body = _response(sock)
        waited = time.monotonic() - started
    assert status == 408 and b"got 12 of 100 bytes" in body
    assert READ_TIMEOUT * 0.9 <= waited < BOUND
    timeouts = [e for e in slow_server.log_events() if e.get("status") == 408]
    assert timeouts and "LEAFLINE_READ_TIMEOUT" in timeouts[-1]["error"]


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_read_timeout(slow_server: ServerProcess) -> None:
    head = STALLS["unfinished_headers"] * 100
    with _connect(slow_server) as sock:
        started = time.monotonic()
        for sent in range(len(head)):
            sock.sendall(head[sent : sent + 1])
            # Waiting on the socket paces the trickle: readable means the server closed it.
            if select.select([sock], [], [], READ_TIMEOUT / 4)[0] or time.monotonic() - started > BOUND:
                break
        waited = time.monotonic() - started
        assert sock.recv(1) == b"", "the connection is still open"
    assert READ_TIMEOUT * 0.9 <= waited < READ_TIMEOUT + 1.5, f"closed after {waited:.2f} s"


TRICKLES = {
    "content_length_body": (_post_head(length=2000), ROW * 200),
    "chunked_body": (_post_head(chunked=True), b"c\r\n" + ROW + b"\r\n" + b"00000000" * 100),
    "chunk_size_line": (_post_head(chunked=True), b"0" * 1000),
}


@pytest.mark.parametrize("kind", list(TRICKLES))
def test_a_body_trickled_inside_each_read_timeout_is_cut_off_by_its_pace(slow_server: ServerProcess, kind: str) -> None:
    """No gap reaches the read timeout, yet the body falls behind the 500 bytes/s it must average after
    the first read timeout: a 408 naming the pace, well before a trickle of a byte a gap would end."""
    head, body = TRICKLES[kind]
    with _connect(slow_server) as sock:
        sock.sendall(head)
        started = time.monotonic()
        for sent in range(len(body)):
            sock.sendall(body[sent : sent + 1])
            # Waiting on the socket paces the trickle: readable means the server answered or closed.
            if select.select([sock], [], [], READ_TIMEOUT / 4)[0] or time.monotonic() - started > BOUND:
                break
        waited = time.monotonic() - started
        status, answer = _response(sock)
    assert status == 408 and b"too slow" in answer and b"LEAFLINE_MIN_BODY_RATE=500" in answer, answer
    assert READ_TIMEOUT * 0.9 <= waited < READ_TIMEOUT + 1.5, f"answered after {waited:.2f} s"


def test_a_body_that_keeps_its_pace_is_scored_however_slow_its_start(binary_model_dir: Path) -> None:
    """The pace gives a body the read timeout plus a second per min-rate bytes: a client that pauses
    half a read timeout, then sends at its pace, is scored."""
    env = {"LEAFLINE_READ_TIMEOUT": str(READ_TIMEOUT), "LEAFLINE_MIN_BODY_RATE": "24"}
    with ServerProcess(binary_model_dir, env=env) as server, _connect(server) as sock:
        sock.sendall(_post_head(length=len(ROW) * 8))
        for part in range(8):  # 12 bytes every 0.2 s: 60 bytes/s, above the 24 the server asks
            select.select([sock], [], [], READ_TIMEOUT / 2 if part == 0 else 0.2)
            sock.sendall(ROW)
        status, answer = _response(sock)
    assert status == 200 and len(answer.splitlines()) == 8, answer


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_many_idle_connections_cost_no_threads(slow_server: ServerProcess) -> None:
    _score_within_bound(slow_server)  # the native libraries start their thread pools on a first request
    before = _threads(slow_server.pid)
    with ExitStack() as stack:
        idle = [stack.enter_context(_connect(slow_server)) for _ in range(200)]
        stalled = [stack.enter_context(_connect(slow_server)) for _ in range(20)]
        for sock in stalled:
            sock.sendall(STALLS["unfinished_headers"])
        # The server has seen them all once a request on a later connection is answered.
        assert _score_within_bound(slow_server) < READ_TIMEOUT
        during = _threads(slow_server.pid)
        assert len(idle) == 200
    # The pool's threads exist from the start; connections add none.
    assert during <= before, f"{before} threads before, {during} with 220 open connections"


def test_a_keep_alive_connection_serves_requests_one_after_another(slow_server: ServerProcess) -> None:
    with _connect(slow_server) as sock:
        for _ in range(3):
            sock.sendall(_post_head(length=len(ROW)) + ROW)
            status, body = _response(sock)
            assert status == 200 and float(body) > 0
        sock.sendall((_post_head(length=len(ROW)) + ROW) * 2)  # pipelined
        assert _response(sock)[0] == 200
        assert _response(sock)[0] == 200


def _exchange(server: ServerProcess, raw: bytes) -> tuple[int, bytes]:
    with _connect(server) as sock:
        sock.sendall(raw)
        return _response(sock)


@pytest.mark.parametrize(
    ("head", "status", "message"),
    [
        pytest.param(_post_head(extra="Content-Length: \u00b2\r\n"), 400, "Content-Length", id="superscript_two"),
        pytest.param(_post_head(extra="Content-Length: 1\u00b3\r\n"), 400, "Content-Length", id="superscript_three"),
        pytest.param(_post_head(length=-1), 400, "Content-Length '-1'", id="negative"),
        pytest.param(_post_head(extra="Content-Length: +12\r\n"), 400, "Content-Length '+12'", id="plus_sign"),
        pytest.param(_post_head(extra="Content-Length: 1_2\r\n"), 400, "Content-Length '1_2'", id="underscore"),
        pytest.param(_post_head(length=10**30), 413, "exceeds MaxPayloadInMB", id="huge"),
        pytest.param(_post_head(length=12, chunked=True), 400, "both Content-Length and Transfer-Encoding", id="both"),
        pytest.param(
            _post_head(extra="Content-Length: 12\r\nContent-Length: 13\r\n"), 400, "Content-Length", id="two_lengths"
        ),
        pytest.param(_post_head(extra="Transfer-Encoding: gzip\r\n"), 400, "Transfer-Encoding 'gzip'", id="gzip_te"),
        pytest.param(_post_head(chunked=True) + b"-5\r\n", 400, "chunk size '-5'", id="negative_chunk"),
        pytest.param(_post_head(chunked=True) + b"0x5\r\n", 400, "chunk size '0x5'", id="hex_prefix_chunk"),
        pytest.param(_post_head(chunked=True) + b"c\r\n" + ROW + b"XX", 400, "chunk", id="chunk_without_crlf"),
    ],
)
def test_malformed_framing_is_a_4xx_naming_the_problem(
    slow_server: ServerProcess, head: bytes, status: int, message: str
) -> None:
    got, body = _exchange(slow_server, head + ROW)
    assert (got, message in body.decode(errors="replace")) == (status, True), body
    assert _score_within_bound(slow_server) < READ_TIMEOUT  # and the server keeps serving


def test_a_5_mb_line_with_no_payload_limit_is_read_whole(binary_model_dir: Path) -> None:
    env = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "LEAFLINE_READ_TIMEOUT": str(READ_TIMEOUT)}
    long_line = b"1,2,3,4,5," + b"9" * (5 * 2**20) + b"\n"
    with ServerProcess(binary_model_dir, env=env) as server:
        status, _, out = server.request("POST", "/invocations", long_line, {"Content-Type": "text/csv"}, timeout=60)
        assert status == 200, out[:300]
        chunked = _post_head(chunked=True) + b"%x\r\n" % len(long_line) + long_line + b"\r\n0\r\n\r\n"
        assert _exchange(server, chunked)[0] == 200


def test_at_the_connection_limit_the_longest_idle_connection_makes_room() -> None:
    limits = ConnectionLimits(workers=2, read_timeout=READ_TIMEOUT, idle_timeout=30, max_connections=4)
    server = ScoringHTTPServer(("127.0.0.1", 0), ServingState(concurrency=1), limits)
    loop = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    loop.start()
    host, port = server.server_address
    try:
        with ExitStack() as stack:
            idle = [stack.enter_context(socket.create_connection((host, port), timeout=BOUND)) for _ in range(4)]
            for sock in idle:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
                assert _response(sock)[0] == 503  # no model loaded: answered, and the connection kept open
            assert http_request(host, port, "GET", "/ping", timeout=BOUND)[0] == 503
            closed, _, _ = select.select(idle, [], [], BOUND)  # one that waited longest was closed to make room
            assert closed and all(sock.recv(1) == b"" for sock in closed)
    finally:
        server.shutdown()
        server.server_close()
