"""The CSV readers a team would pick instead of leafline's, timed in the baseline's own venv (the newest
releases): pandas.read_csv (the baseline server's reader), polars.read_csv and duckdb's read_csv, each on
one thread, each reading the batch into a float64 matrix as a scoring server must.

Run by bench/parse_stage.py as `<baseline venv python> bench/other_readers.py ROUNDS FILE...`; it prints
{file: {reader: [seconds per round]}} as JSON. Standard library and those three packages only: it does not
import bench or leafline, which the baseline venv does not have.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # read before polars is imported: its pool's size


def _readers(path: str, columns: int) -> dict[str, Callable[[bytes], Any]]:
    import duckdb
    import numpy as np
    import pandas as pd
    import polars as pl

    names = [f"c{i}" for i in range(columns)]
    connection = duckdb.connect()
    connection.execute("SET threads TO 1")
    types = "{" + ", ".join(f"'{n}': 'DOUBLE'" for n in names) + "}"
    sql = f"SELECT * FROM read_csv('{path}', header = false, auto_detect = false, delim = ',', columns = {types})"

    def with_duckdb(_: bytes) -> Any:  # duckdb reads the file; the others the bytes a request holds
        arrays = connection.execute(sql).fetchnumpy()
        return np.column_stack([np.ma.filled(arrays[n].astype(np.float64), np.nan) for n in names])

    schema = dict.fromkeys(names, pl.Float64)
    return {
        "pandas.read_csv (C engine)": lambda body: pd.read_csv(
            io.BytesIO(body), header=None, names=names, dtype="float64", engine="c"
        ).to_numpy(),
        "polars.read_csv (1 thread)": lambda body: pl.read_csv(body, has_header=False, schema=schema).to_numpy(),
        "duckdb read_csv (1 thread)": with_duckdb,
    }


def main(argv: list[str]) -> int:
    rounds, paths = int(argv[0]), argv[1:]
    bodies = {path: Path(path).read_bytes() for path in paths}
    readers = {path: _readers(path, bodies[path].split(b"\n", 1)[0].count(b",") + 1) for path in paths}
    times: dict[str, dict[str, list[float]]] = {path: {name: [] for name in readers[path]} for path in paths}
    for _ in range(rounds):
        for path, body in bodies.items():
            for name, read in readers[path].items():
                started = time.perf_counter()
                read(body)
                times[path][name].append(time.perf_counter() - started)
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
