"""Closed-loop HTTP load: N clients with keep-alive, each POSTing the same batch for a fixed time."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass

from bench import procinfo


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    seconds: float
    rows_per_s: float
    p50_ms: float
    rows_per_cpu_s: float


def run_load(
    port: int, pid: int, body: bytes, rows: int, concurrency: int, seconds: float, content_type: str = "text/csv"
) -> LoadResult:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    errors: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"status {response.status}")
                break
            with lock:
                latencies.append(time.perf_counter() - started)
        connection.close()

    cpu_before = procinfo.cpu_seconds(pid)
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = procinfo.cpu_seconds(pid) - cpu_before
    if errors:
        raise RuntimeError(f"load at concurrency {concurrency} failed: {errors[0]}")
    total_rows = rows * len(latencies)
    return LoadResult(
        concurrency=concurrency,
        requests=len(latencies),
        seconds=elapsed,
        rows_per_s=total_rows / elapsed,
        p50_ms=statistics.median(latencies) * 1e3,
        rows_per_cpu_s=total_rows / cpu if cpu > 0 else float("nan"),
    )
