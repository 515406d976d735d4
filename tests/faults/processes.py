"""Processes for the kill tests: start one, read its output with a deadline, find and await its children."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.transform.helpers import FAKE_CONTAINER

DEADLINE_S = 60.0


def children(pid: int) -> set[int]:
    """PIDs whose parent is pid (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, already dead and waiting to be reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)  # polling interval; the deadline bounds the wait


class Command:
    """A `python -m leafline ...` process whose stdout lines are read by a thread (so waits have deadlines)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None,
                 python: tuple[str, ...] = ("-m", "leafline")) -> None:  # fmt: skip
        self.process = subprocess.Popen([sys.executable, *python, *args], cwd=cwd, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.errors: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(stream, stream is self.process.stdout), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, is_stdout: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            (self.output if is_stdout else self.errors).append(line)
            if is_stdout:
                self.lines.put(line)
        if is_stdout:
            self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def expect(self, pattern: str, timeout: float = DEADLINE_S) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout:g} s: {self.text()}") from None
            if line is None:
                code = self.process.wait(timeout)
                raise AssertionError(f"exited with {code} before printing {pattern!r}: {self.text()}")
            found = re.search(pattern, line)
            if found:
                return found

    def wait(self, timeout: float = DEADLINE_S) -> int:
        """The exit code, once the process has ended and all its output is read."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    def text(self) -> str:
        return "".join(self.output) + "".join(self.errors)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, 9)
        self.wait()


# `python -c` this, then leafline's arguments: the command with tests' fake container as every instance.
WITH_FAKE_CONTAINER = (
    "import sys; import leafline.tools.image.engine_choice as choice; "
    f"choice.serve_command_for = lambda engine, image, environ=None: {FAKE_CONTAINER!r}; "
    "from leafline.cli import main; sys.exit(main(sys.argv[1:]))"
)


def start_local_aws(
    state: Path | None, started: list[Command], cwd: Path | None = None, **options: Any
) -> tuple[Command, str]:
    where = ["--state-dir", str(state)] if state is not None else []
    command = Command(["local-aws", "--port", "0", *where], cwd or (state.parent if state else Path.cwd()), **options)
    started.append(command)
    return command, command.expect(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
