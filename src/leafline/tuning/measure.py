"""Measure the real server on a model: rows/s and resident memory per payload size and concurrency.

One `serve` process per concurrency level (its peak memory starts fresh), payload sizes in increasing
order (so each peak is attributable), keep-alive clients as Batch Transform uses, a warm-up request per
client before each timed point. Time-based: each point runs for a fixed number of seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from leafline.server_process import ServerProcess
from leafline.transform.invoker import InvocationSettings, Invoker
from leafline.tuning.profile import Point

MB = 2**20


def payload_of(sample_lines: Sequence[bytes], payload_mb: int) -> tuple[bytes, int]:
    """Whole sample records, cycled, filling at most payload_mb MB (SageMaker packs MultiRecord the same way)."""
    limit = payload_mb * MB
    parts: list[bytes] = []
    size = rows = 0
    while True:
        line = sample_lines[rows % len(sample_lines)]
        if size + len(line) > limit:
            return b"".join(parts), rows
        parts.append(line)
        size += len(line)
        rows += 1


def resident_mb(pid: int, field: str) -> float:
    """VmRSS or VmHWM (peak) of a process, in MB; 0.0 where /proc is not there."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(
    model_dir: Path,
    sample_lines: Sequence[bytes],
    payload_sizes: Sequence[int],
    concurrencies: Sequence[int],
    seconds: float,
    report: Callable[[Point], None] | None = None,
) -> list[Point]:
    points = []
    for concurrency in sorted(set(concurrencies)):
        sizes = sorted(p for p in set(payload_sizes) if p * concurrency <= 100)
        if not sizes:
            continue
        env = {"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(concurrency),
               "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(max(sizes))}  # fmt: skip
        with ServerProcess(model_dir, env) as server:
            idle = resident_mb(server.pid, "VmRSS")
            for payload_mb in sizes:
                body, rows = payload_of(sample_lines, payload_mb)
                rate = _run_point(server.port, body, rows, concurrency, seconds)
                point = Point(payload_mb, concurrency, rate, resident_mb(server.pid, "VmHWM"), idle)
                points.append(point)
                if report is not None:
                    report(point)
    return points


def _run_point(port: int, body: bytes, rows: int, concurrency: int, seconds: float) -> float:
    settings = InvocationSettings(timeout_s=120, max_retries=0, content_type="text/csv", accept="text/csv")
    invokers = [Invoker(port, settings) for _ in range(concurrency)]
    for invoker in invokers:  # warm-up: connections open, the server's buffers sized for this payload
        invoker.invoke(body)
    counts = [0] * concurrency
    errors: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        try:
            while True:
                invokers[index].invoke(body)
                counts[index] += 1
                if time.perf_counter() >= deadline:
                    return
        except BaseException as exc:  # reported after join: a failed point must not look slow
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for invoker in invokers:
        invoker.close()
    if errors:
        raise errors[0]
    return sum(counts) * rows / elapsed
