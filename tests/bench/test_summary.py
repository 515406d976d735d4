"""The bench's summary of one model's rounds: the server overhead comes from same-round pairs."""

from __future__ import annotations

import pytest
from bench.__main__ import _summarise
from bench.load import LoadResult

BASELINE = "baseline (Flask+gunicorn+pandas)"


def _run(rows_per_s: float, rows_per_cpu_s: float = 1.0) -> LoadResult:
    return LoadResult(concurrency=2, requests=10, seconds=4.0, rows_per_s=rows_per_s, p50_ms=10.0,
                      rows_per_cpu_s=rows_per_cpu_s)  # fmt: skip


def test_the_overhead_pairs_each_round_with_the_limit_measured_right_after_it() -> None:
    """The machine runs twice as fast in round 2: both sides of that round's pair move with it. Medians
    taken apart (95k served against a 100k limit) would claim 5%; the rounds' pairs say 10%."""
    leafline = [_run(90.0, 45.0), _run(180.0, 90.0), _run(95.0, 47.5)]
    report = {
        "servers": {"leafline": {"runs": {1: leafline, 2: leafline, 4: leafline}},
                    BASELINE: {"runs": {c: [_run(30.0)] * 3 for c in (1, 2, 4)}}},
        "in_process_runs": {1: [100.0, 200.0, 100.0], 2: [100.0, 200.0, 100.0]},
        "in_process_cpu_runs": {1: [50.0, 100.0, 50.0], 2: [50.0, 100.0, 50.0]},
        "parquet_runs": {name: {1: [_run(50.0)] * 3, 2: [_run(50.0)] * 3} for name in ("leafline", BASELINE)},
        "emulator_runs": [{"mct": 2, "rows": 10, "files": 1, "transform_rows_per_s": 80.0,
                           "end_to_end_rows_per_s": 60.0}] * 3,
    }  # fmt: skip
    summary = _summarise(report)
    assert summary["overhead_vs_in_process_c2"] == pytest.approx(0.10)
    assert summary["cpu_per_row_vs_in_process_c2"] == pytest.approx(50.0 / 45.0 - 1)
    assert summary["in_process_rows_per_s"] == {1: 100.0, 2: 100.0}
    assert "in_process_runs" not in summary and "in_process_cpu_runs" not in summary
