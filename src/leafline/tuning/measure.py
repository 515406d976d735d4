"""Measure the real server on a model: rows/s and resident memory per payload size and concurrency.

One `serve` process per concurrency level (its peak memory starts fresh), payload sizes in increasing
order (so each peak is attributable), keep-alive clients as Batch Transform uses, a warm-up request per
client before each timed point. Time-based: each point runs for a fixed number of seconds.
Parquet and Arrow payloads (SplitType None) are one object each: rows filling the payload size, written as
the columnar file a nightly export would be.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from leafline.processes.server import ServerProcess
from leafline.transform.invoker import InvocationSettings, Invoker
from leafline.tuning.profile import Point

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MB = 2**20
Build = Callable[[int], tuple[bytes, int]]  # payload MB -> (body, rows)


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


def columnar_payload(
    matrix: npt.NDArray[np.float64], names: Sequence[str], payload_mb: int, fmt: str
) -> tuple[bytes, int]:
    """As many rows of `matrix` (cycled when it has fewer) as fit in payload_mb MB once written as one
    Parquet file (snappy, as Spark writes) or Arrow IPC stream, with the model's feature names. Cycled rows
    are written without dictionary encoding, which would store each repeat in a byte or two where real
    rows, mostly distinct, take their full width."""
    limit = payload_mb * MB
    probe = min(len(matrix), 5000)
    rows = max(1, int(probe * limit / len(_columnar(matrix[:probe], names, fmt, dictionary=False))))
    while True:
        body = _columnar(_cycled(matrix, rows), names, fmt, dictionary=rows <= len(matrix))
        if len(body) <= limit or rows == 1:
            return body, rows
        rows = max(1, int(rows * limit / len(body) * 0.99))


def _cycled(matrix: npt.NDArray[np.float64], rows: int) -> npt.NDArray[np.float64]:
    import numpy as np

    return matrix[np.arange(rows) % len(matrix)]


def _columnar(matrix: npt.NDArray[np.float64], names: Sequence[str], fmt: str, dictionary: bool) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from leafline.serving.media import PARQUET

    table = pa.table([pa.array(matrix[:, i], from_pandas=True) for i in range(matrix.shape[1])], names=list(names))
    if fmt == PARQUET:
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy", use_dictionary=dictionary)
        return sink.getvalue()
    stream = pa.BufferOutputStream()
    with pa.ipc.new_stream(stream, table.schema) as writer:
        writer.write_table(table)
    return bytes(stream.getvalue())


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
    content_type: str = "text/csv",
    build: Build | None = None,
) -> list[Point]:
    """build: the payload of each size (default: sample lines packed as MultiRecord packs them)."""
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
                body, rows = build(payload_mb) if build else payload_of(sample_lines, payload_mb)
                rate = _run_point(server.port, body, rows, concurrency, seconds, content_type)
                point = Point(payload_mb, concurrency, rate, resident_mb(server.pid, "VmHWM"), idle)
                points.append(point)
                if report is not None:
                    report(point)
    return points


def _run_point(port: int, body: bytes, rows: int, concurrency: int, seconds: float, content_type: str) -> float:
    settings = InvocationSettings(timeout_s=120, max_retries=0, content_type=content_type, accept="text/csv")
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
