"""Run the real scoring server as a child process on 127.0.0.1: for the demo, the benchmark and tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from leafline.errors import LeaflineError
from leafline.processes.child import spawn


class ServerStartError(LeaflineError):
    """The server exited or never answered /ping; the message carries its last log lines."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, lower-cased headers, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def log_events(text: str) -> list[dict[str, Any]]:
    """The server's JSON log lines (other lines, and one still being written, are skipped)."""
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


class ServerProcess:
    """`python -m leafline.serving` with the given environment; stopped (SIGTERM, then SIGKILL) by PID, and
    ended by the kernel if leafline dies first (see leafline.processes.child)."""

    def __init__(
        self,
        model_dir: Path,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.model_dir = model_dir
        self._env = {
            **os.environ,
            "LEAFLINE_MODEL_DIR": str(model_dir),
            "LEAFLINE_HOST": "127.0.0.1",
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            **(env or {}),
        }
        # A custom command (the benchmark's baseline server) may name the chosen port as "{port}".
        self._command = (
            [part.format(port=self.port) for part in command]
            if command
            else [sys.executable, "-m", "leafline.serving", "serve"]
        )
        self._custom = bool(command)
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_seconds = 0.0

    def start(self, timeout: float = 60.0) -> ServerProcess:
        if self.log_path is None:
            import tempfile

            handle, name = tempfile.mkstemp(prefix="leafline-serve-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self._log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        # The default server has nothing to tidy: SIGKILL when leafline dies. Another command (a container
        # engine's `run`) gets SIGTERM, which it forwards to the container it started.
        death = signal.SIGTERM if self._custom else signal.SIGKILL
        self.process = spawn(self._command, death_signal=death, env=self._env, stdout=self._log,
                             stderr=subprocess.STDOUT)  # fmt: skip
        self._wait_ready(timeout)
        self.ready_seconds = time.perf_counter() - self.started_at
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise ServerStartError(f"the server exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                status, _, _ = self.request("GET", "/ping", timeout=2)
            except OSError:
                status = 0
            if status == 200:
                return
            time.sleep(0.02)  # polling interval while the model loads (SageMaker polls too)
        self.stop()
        raise ServerStartError(f"no 200 from /ping within {timeout:g} s: {self.log_tail()}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> tuple[int, dict[str, str], bytes]:
        return http_request("127.0.0.1", self.port, method, path, body, headers, timeout)

    def log_events(self) -> list[dict[str, Any]]:
        assert self.log_path is not None
        return log_events(self.log_path.read_text(errors="replace"))

    def log_tail(self, lines: int = 5) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
