"""The validator over a real emulator job on Parquet input: it counts rows as records, re-scores a sample
from the Parquet values, and fails a wrong score or a missing row, saying where."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leafline.transform.job import ModelSource, run_transform_job
from leafline.validation.spec import ValidationSpec
from leafline.validation.validate import ValidationReport, validate_output
from tests.transform.helpers import request

PARQUET_INPUT = {"ContentType": "application/x-parquet", "SplitType": "None"}


def _parquet(rows: int, seed: int) -> bytes:
    x = np.random.default_rng(seed).normal(size=(rows, 6))
    x[np.random.default_rng(seed).random(size=x.shape) < 0.1] = np.nan
    table = pa.table({"id": pa.array(range(rows)), **{f"Column_{i}": pa.array(x[:, i], from_pandas=True)
                                                    for i in range(6)}})  # fmt: skip
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=250)
    return sink.getvalue()


def _request(root: Path) -> dict[str, Any]:
    return request((root / "in").as_uri(), (root / "out").as_uri(), TransformInput=PARQUET_INPUT)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, binary_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("parquet-scored")
    (root / "in" / "dt=1").mkdir(parents=True)
    (root / "in" / "part-0.parquet").write_bytes(_parquet(1000, 1))
    (root / "in" / "dt=1" / "part-1.parquet").write_bytes(_parquet(300, 2))
    result = run_transform_job(_request(root), ModelSource(binary_model_dir))
    assert result.status == "Completed", result.describe.get("FailureReason")
    return root


@pytest.fixture
def job(scored: Path, tmp_path: Path) -> Path:
    shutil.copytree(scored, tmp_path / "job")
    return tmp_path / "job"


def _validate(job: Path, model_dir: Path | None) -> ValidationReport:
    return validate_output(ValidationSpec.from_request(_request(job), model_dir=model_dir, sample=2000))


def _check(report: ValidationReport, name: str) -> dict[str, Any]:
    return next(c for c in report.data["checks"] if c["name"] == name)


def test_a_good_parquet_output_passes_counting_rows_and_rescoring_them(job: Path, binary_model_dir: Path) -> None:
    report = _validate(job, binary_model_dir)

    assert report.passed, report.failures
    assert report.data["totals"] == {"files": 2, "input_records": 1300, "output_records": 1300}
    assert report.data["rescoring"]["sampled"] == 1300 and report.data["rescoring"]["similarity"] == 1.0


def test_parquet_rows_are_counted_without_a_model_too(job: Path) -> None:
    report = _validate(job, None)

    assert report.data["totals"] == {"files": 2, "input_records": 1300, "output_records": 1300}
    assert _check(report, "rescoring")["status"] == "skipped"


def test_a_wrong_score_fails_rescoring_at_its_row(job: Path, binary_model_dir: Path) -> None:
    out = job / "out" / "part-0.parquet.out"
    lines = out.read_text().splitlines()
    lines[41] = repr(1.0 - float(lines[41]))
    out.write_text("\n".join(lines) + "\n")

    report = _validate(job, binary_model_dir)

    rescoring = _check(report, "rescoring")
    assert rescoring["status"] == "failed"
    assert rescoring["problems"][0]["record"] == 42
    assert "LightGBM gives" in rescoring["problems"][0]["message"]


def test_a_missing_row_fails_the_record_count(job: Path, binary_model_dir: Path) -> None:
    out = job / "out" / "dt=1" / "part-1.parquet.out"
    out.write_text("".join(line + "\n" for line in out.read_text().splitlines()[:-1]))

    report = _validate(job, binary_model_dir)

    assert "299 output records for 300 input records" in _check(report, "record_counts")["reason"]
