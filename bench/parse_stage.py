"""The CSV parse stage on its own: MB/s per core of leafline's decoder against pyarrow's reader, on the
standard workload's rows written with 9 and with 17 significant digits (as real exports are: Spark, or
pandas' shortest round trip), each cut to the largest whole-record batch of 6 MB (MaxPayloadInMB).

Run alone with `python -m bench.parse_stage`; `make bench` runs it too. Each reader parses each batch
in turn, one thread, interleaved rounds; the median time is reported (one thread: MB/s per core). The
readers a team would pick instead (pandas, polars, duckdb: their newest releases) run right after, in the
baseline's own venv on the same bytes (bench/other_readers.py), when that venv is there.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import workload
from leafline import samples

DIGITS = (9, 17)
ROUNDS = 15
NATIVE = "leafline (native reader)"
PYARROW = "pyarrow.csv.read_csv (1 thread)"
OTHER_READERS = Path(__file__).with_name("other_readers.py")


def batch(digits: int) -> bytes:
    """The standard workload's rows (the same seed), written with `digits` significant digits, missing
    values as empty fields, cut to whole records within the payload."""
    rows = workload.batch().count(b"\n")
    x = samples.features(rows, seed=1)
    lines = [",".join("" if math.isnan(v) else f"{v:.{digits}g}" for v in row) + "\n" for row in x.tolist()]
    kept, size = [], 0
    for line in lines:
        if size + len(line) > workload.PAYLOAD_BYTES:
            break
        kept.append(line)
        size += len(line)
    return "".join(kept).encode()


def _readers(num_features: int) -> dict[str, Callable[[bytes], Any]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from leafline.serving import native_csv
    from leafline.serving.decoding import decode_csv

    names = [f"c{i}" for i in range(num_features)]
    read = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=4 * 2**20)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()))
    readers: dict[str, Callable[[bytes], Any]] = {
        NATIVE: lambda body: decode_csv(body, num_features, threads=1),
        "leafline before (pyarrow path)": lambda body: decode_csv(body, num_features, threads=1, native=False),
        PYARROW: lambda body: pacsv.read_csv(pa.py_buffer(body), read_options=read, convert_options=convert),
    }
    if native_csv.unavailable_reason():
        print(f"  note: {native_csv.unavailable_reason()}", flush=True)
    return readers


def _other_readers(bodies: dict[int, bytes], rounds: int, python: Path) -> dict[int, dict[str, list[float]]]:
    """Seconds per round of pandas', polars' and duckdb's readers on the same bytes, from `python`'s venv."""
    with tempfile.TemporaryDirectory() as folder:
        paths = {digits: Path(folder) / f"batch-{digits}-digits.csv" for digits in bodies}
        for digits, path in paths.items():
            path.write_bytes(bodies[digits])
        done = subprocess.run(
            [str(python), str(OTHER_READERS), str(rounds), *map(str, paths.values())],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    times = json.loads(done.stdout)
    return {digits: times[str(path)] for digits, path in paths.items()}


def bench_parse(rounds: int = ROUNDS, other_python: Path | None = None) -> dict[int, Any]:
    """other_python: the baseline venv's python, to time the other readers too (None: leafline's and pyarrow's)."""
    bodies = {digits: batch(digits) for digits in DIGITS}
    readers = _readers(samples.NUM_FEATURES)
    times: dict[int, dict[str, list[float]]] = {d: {name: [] for name in readers} for d in DIGITS}
    for _ in range(rounds):
        for digits, body in bodies.items():
            for name, reader in readers.items():
                started = time.perf_counter()
                reader(body)
                times[digits][name].append(time.perf_counter() - started)
    if other_python is not None and other_python.exists():
        for digits, by_reader in _other_readers(bodies, rounds, other_python).items():
            times[digits].update(by_reader)
    report: dict[int, Any] = {}
    for digits, body in bodies.items():
        medians = {name: statistics.median(runs) for name, runs in times[digits].items()}
        report[digits] = {
            "bytes": len(body),
            "rows": body.count(b"\n"),
            "ms": {name: m * 1e3 for name, m in medians.items()},
            "mb_per_s": {name: len(body) / m / 1e6 for name, m in medians.items()},
        }
    return report


def parse_table(report: dict[int, Any]) -> str:
    names = list(next(iter(report.values()))["ms"])
    lines = [
        "| CSV parse stage, 1 thread | " + " | ".join(names) + " | native / pyarrow's | native / fastest other |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for digits, data in report.items():
        rates = data["mb_per_s"]
        cells = [f"{data['ms'][n]:.1f} ms, {rates[n]:.0f} MB/s" for n in names]
        others = [rates[n] for n in names if not n.startswith("leafline")]
        ratios = f"{rates[NATIVE] / rates[PYARROW]:.2f}x | {rates[NATIVE] / max(others):.2f}x"
        batch_name = f"{digits} significant digits ({data['bytes'] / 2**20:.2f} MB, {data['rows']:,} rows)"
        lines.append(f"| {batch_name} | " + " | ".join(cells) + f" | {ratios} |")
    return "\n".join(lines)


def main() -> int:
    from bench import baseline_env

    report = bench_parse(other_python=baseline_env.VENV / "bin" / "python")
    print(parse_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
