"""Child processes that cannot outlive leafline, however it ends (SIGKILL included).

On Linux each child gets a parent-death signal (prctl PR_SET_PDEATHSIG), set by a tiny guard that then
execs the real command (so the PID is the command's, and nothing runs between fork and exec in this
multi-threaded process). The kernel sends that signal when the *thread* that forked the child ends, not
the process, so every child is forked by one thread that lives as long as the process: servers are
started from pool, job and endpoint threads that come and go.
Elsewhere the command runs unguarded (stopping it is then left to the normal stop paths).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_GUARD = """
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(1, int(sys.argv[2]), 0, 0, 0) != 0:
    sys.exit("leafline: prctl(PR_SET_PDEATHSIG) failed: " + os.strerror(ctypes.get_errno()))
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # leafline died before the signal was set: nobody will stop this process
try:
    os.execvp(sys.argv[3], sys.argv[3:])
except OSError as exc:
    sys.exit(f"leafline: cannot run {sys.argv[3]}: {exc.strerror}")
"""


def spawn(
    argv: Sequence[str], *, death_signal: signal.Signals = signal.SIGKILL, **options: Any
) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv, **options), with `death_signal` sent to the child when this process dies."""
    command = list(argv)
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-S", "-c", _GUARD, str(os.getpid()), str(int(death_signal)), *command]
    return _SPAWNER.run(lambda: subprocess.Popen(command, **options))


class _Spawner:
    """One long-lived thread that forks every child (see the module's docstring for why)."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # not alive in a forked copy of this process
                self._thread = threading.Thread(target=self._serve, name="leafline-spawner", daemon=True)
                self._thread.start()
        answer: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((make, answer))
        return answer.result()

    def _serve(self) -> None:
        while True:
            make, answer = self._requests.get()
            try:
                answer.set_result(make())
            except BaseException as exc:  # handed to the caller, whatever it is
                answer.set_exception(exc)


_SPAWNER = _Spawner()
