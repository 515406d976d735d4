"""Counters the job updates as it goes, and the one-line progress display for a terminal."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Snapshot:
    files_total: int
    files_done: int
    files_failed: int
    records: int
    payload_bytes: int
    elapsed_s: float

    @property
    def rows_per_s(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0


class JobProgress:
    """Thread-safe counters; `snapshot()` is what the progress line and the metrics read."""

    def __init__(self, files_total: int) -> None:
        self._lock = threading.Lock()
        self._files_total = files_total
        self._files_done = 0
        self._files_failed = 0
        self._records = 0
        self._bytes = 0
        self._started = time.perf_counter()

    def restart_clock(self) -> None:
        self._started = time.perf_counter()

    def add_payload(self, records: int, size: int) -> None:
        with self._lock:
            self._records += records
            self._bytes += size

    def file_finished(self, *, failed: bool) -> None:
        with self._lock:
            self._files_done += 1
            self._files_failed += int(failed)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self._files_total, self._files_done, self._files_failed, self._records, self._bytes,
                            time.perf_counter() - self._started)  # fmt: skip


class ProgressLine:
    """Redraws `files 3/8 · 120,345 records · 210.3k rows/s` on a terminal a few times a second."""

    def __init__(self, progress: JobProgress, stream: TextIO | None = None, interval_s: float = 0.25) -> None:
        self._progress = progress
        self._stream = stream or sys.stderr
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leafline-progress", daemon=True)

    def __enter__(self) -> ProgressLine:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._draw(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw(final=False)

    def _draw(self, *, final: bool) -> None:
        snap = self._progress.snapshot()
        failed = f" ({snap.files_failed} failed)" if snap.files_failed else ""
        line = (
            f"files {snap.files_done}/{snap.files_total}{failed} · {snap.records:,} records · "
            f"{snap.rows_per_s / 1000:,.1f}k rows/s · {snap.elapsed_s:.1f} s"
        )
        self._stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        self._stream.flush()
