"""The format stage on its own: 13.7k scores (and K=3 multiclass rows) to CSV and JSON with leafline's
encoder against pyarrow's CSV writer, in MB of output per second on one thread (one core)."""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from leafline.serving import encoding
from leafline.serving.media import CSV, JSON

ROWS = 13_731  # the 6 MB CSV mini-batch's records
ROUNDS = 15


def _pyarrow_csv(predictions: np.ndarray) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = predictions.reshape(len(predictions), -1).T
    table = pa.table({f"c{i}": col for i, col in enumerate(columns)})
    out = io.BytesIO()
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
    return out.getvalue()


def _writers() -> dict[str, Callable[[np.ndarray], bytes]]:
    return {
        "leafline CSV": lambda p: encoding.encode(p, CSV),
        "leafline JSON": lambda p: encoding.encode(p, JSON),
        "pyarrow.csv": _pyarrow_csv,
    }


def bench_format(rounds: int = ROUNDS) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    inputs = {"binary": rng.random(ROWS), "multiclass K=3": rng.dirichlet(np.ones(3), ROWS)}
    encoding.warm_up()
    report: dict[str, Any] = {}
    for kind, predictions in inputs.items():
        report[kind] = {}
        for name, write in _writers().items():
            size = len(write(predictions))
            runs = []
            for _ in range(rounds):
                started = time.perf_counter()
                write(predictions)
                runs.append(time.perf_counter() - started)
            seconds = statistics.median(runs)
            report[kind][name] = {"bytes": size, "ms": seconds * 1e3, "mb_per_s": size / seconds / 1e6}
    return report


def format_table(report: dict[str, Any]) -> str:
    names = list(next(iter(report.values())))
    lines = [f"| format stage, 1 thread, {ROWS:,} rows | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for kind, by in report.items():
        cells = [f"{by[n]['ms']:.2f} ms, {by[n]['mb_per_s']:.0f} MB/s" for n in names]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    print(format_table(bench_format()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
