"""How many native threads a request gets, against the real server process: cores / requests in flight,
where a request is in flight from its headers on (a body still arriving counts), so two requests at
once never run more threads than cores."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from leafline.processes.server import ServerProcess

CSV = {"Content-Type": "text/csv"}
ROW = b"1,2,3,4,5,6\n"
CORES = len(os.sched_getaffinity(0))

pytestmark = pytest.mark.skipif(CORES < 2, reason="needs 2 cores to tell 1 thread from cores/2")


def _threads(server: ServerProcess) -> list[int]:
    return [e["threads"] for e in server.log_events() if e["event"] == "invocation"]


def test_a_lone_request_gets_every_core(binary_model_dir: Path) -> None:
    with ServerProcess(binary_model_dir) as server:
        status, _, _ = server.request("POST", "/invocations", ROW, CSV)
        assert status == 200
        assert _threads(server) == [CORES]


def test_a_request_shares_the_cores_with_one_whose_body_is_still_arriving(binary_model_dir: Path) -> None:
    with ServerProcess(binary_model_dir) as server:
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        try:
            head = (
                "POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nExpect: 100-continue\r\n"
                f"Content-Length: {2 * len(ROW)}\r\n\r\n"
            )
            slow.sendall(head.encode())
            # The server answers 100 Continue once it has parsed the headers, i.e. when this request is
            # in flight: the second request below is certain to find it there.
            assert slow.recv(64).startswith(b"HTTP/1.1 100")
            slow.sendall(ROW)  # half the body: its worker is reading it
            status, _, _ = server.request("POST", "/invocations", ROW, CSV)
            assert status == 200
            assert _threads(server) == [CORES // 2]
            slow.sendall(ROW)
            assert slow.recv(12).startswith(b"HTTP/1.1 200")
        finally:
            slow.close()
