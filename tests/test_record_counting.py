"""What one record is, the same for the server, the emulator and the validator (leafline.serving.records),
so no score is lost or shifted. A one-feature model's missing value is an empty CSV line, so there a blank
line is a record; the model is trained on one column of LightGBM's binary example (tests/fixtures/outside).
"""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest

from leafline.model.compiler import compile_model_dir
from leafline.processes.server import ServerProcess
from leafline.serving.records import blank_lines_are_records, count_records
from leafline.transform.job import ModelSource, run_transform_job
from leafline.validation.spec import ValidationSpec
from leafline.validation.validate import validate_output
from tests.test_outside_data import example_data, example_params
from tests.transform.helpers import request

MISSING_AT = (0, 5, 6, 150, -1)  # first, two in a row, the middle, the very last record


@pytest.fixture(scope="module")
def one_feature(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, lightgbm.Booster, np.ndarray]:
    x, y = example_data("binary.train")
    column = x[:, [0]]
    params = {**example_params("binary.train.conf"), "verbose": -1, "num_threads": 1, "deterministic": True}
    booster = lightgbm.train(params, lightgbm.Dataset(column, y), num_boost_round=15)
    directory = tmp_path_factory.mktemp("one-feature")
    booster.save_model(str(directory / "model.txt"))
    assert compile_model_dir(directory).library is not None
    return directory, booster, column[:, 0]


def _input(values: np.ndarray, rows: int) -> tuple[bytes, np.ndarray]:
    """`rows` records, one value each, pandas-style (NaN written as an empty line), with a final newline."""
    x = np.resize(values, rows).astype(np.float64)
    for position in MISSING_AT:
        x[position] = np.nan
    text = "".join(("" if np.isnan(v) else repr(float(v))) + "\n" for v in x)
    return text.encode(), x


def _expected(booster: lightgbm.Booster, x: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(x.reshape(-1, 1), num_threads=1))


def test_the_rule_is_one_feature_csv_without_an_input_filter() -> None:
    assert blank_lines_are_records(1) and blank_lines_are_records(1, "text/csv; charset=utf-8")
    assert not blank_lines_are_records(2) and not blank_lines_are_records(None)
    assert not blank_lines_are_records(1, "application/jsonlines")
    assert not blank_lines_are_records(1, input_filtered=True)
    assert count_records(b"1.5\n\n-2.0\n", True) == 3 and count_records(b"1.5\n\n-2.0\n", False) == 2
    assert count_records(b"1.5\r\n\r\n", True) == 2 and count_records(b"\n", True) == 1
    assert count_records(b"1.5\n\n-2.0", True) == 3 and count_records(b"", True) == 0


def test_the_server_scores_every_line_of_a_one_feature_body(
    one_feature: tuple[Path, lightgbm.Booster, np.ndarray],
) -> None:
    model_dir, booster, values = one_feature
    body, x = _input(values, 400)
    with ServerProcess(model_dir) as server:
        status, _, answer = server.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
        assert status == 200
        lines = answer.decode().splitlines()
        assert len(lines) == 400
        np.testing.assert_allclose([float(v) for v in lines], _expected(booster, x), rtol=0, atol=1e-12)
        status, _, answer = server.request("POST", "/invocations", b"1.5\n\n-2.0\n", {"Content-Type": "text/csv"})
        assert status == 200 and len(answer.decode().splitlines()) == 3
        status, _, answer = server.request("POST", "/invocations", b"\n", {"Content-Type": "text/csv"})
        assert status == 200 and len(answer.decode().splitlines()) == 1  # one record, its value missing


@pytest.mark.parametrize(
    ("split", "strategy", "rows"),
    [("Line", "MultiRecord", 250_000), ("Line", "SingleRecord", 200), ("None", "MultiRecord", 2_000)],
    ids=["multi-record-several-payloads", "single-record", "split-none"],
)
def test_a_job_and_its_validation_keep_every_missing_record(
    one_feature: tuple[Path, lightgbm.Booster, np.ndarray], tmp_path: Path, split: str, strategy: str, rows: int
) -> None:
    model_dir, booster, values = one_feature
    body, x = _input(values, rows)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "night.csv").write_bytes(body)
    out = tmp_path / "out"
    req = request((tmp_path / "in").as_uri() + "/", out.as_uri(), MaxPayloadInMB=1, BatchStrategy=strategy,
                  TransformInput={"SplitType": split})  # fmt: skip

    result = run_transform_job(req, ModelSource(model_dir))

    assert result.status == "Completed", result.describe.get("FailureReason")
    assert result.metrics["records"] == rows
    if strategy == "MultiRecord" and split == "Line":
        assert result.metrics["per_file"][0]["payloads"] > 1
    scores = [float(v) for v in (out / "night.csv.out").read_text().splitlines()]
    np.testing.assert_allclose(scores, _expected(booster, x), rtol=0, atol=1e-12)

    report = validate_output(ValidationSpec.from_request(req, model_dir=model_dir, sample=50))
    assert report.passed, report.data["checks"]
    assert report.data["totals"]["input_records"] == report.data["totals"]["output_records"] == rows


def test_a_joined_one_feature_output_keeps_the_empty_input_field(
    one_feature: tuple[Path, lightgbm.Booster, np.ndarray], tmp_path: Path
) -> None:
    model_dir, booster, values = one_feature
    body, x = _input(values, 300)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "night.csv").write_bytes(body)
    out = tmp_path / "out"
    req = request((tmp_path / "in").as_uri() + "/", out.as_uri(), DataProcessing={"JoinSource": "Input"})

    result = run_transform_job(req, ModelSource(model_dir))

    assert result.status == "Completed", result.describe.get("FailureReason")
    joined = (out / "night.csv.out").read_text().splitlines()
    assert len(joined) == 300 and joined[0].startswith(",") and joined[-1].startswith(",")
    np.testing.assert_allclose([float(r.split(",")[1]) for r in joined], _expected(booster, x), rtol=0, atol=1e-12)
    report = validate_output(ValidationSpec.from_request(req, model_dir=model_dir, sample=50))
    assert report.passed, [(c["name"], c["reason"]) for c in report.data["checks"] if c["status"] != "passed"]


def test_a_multi_feature_model_still_skips_blank_lines(binary_model_dir: Path, tmp_path: Path) -> None:
    rows = np.random.default_rng(4).normal(size=(50, 6))
    lines = [",".join(repr(float(v)) for v in row) for row in rows]
    lines[10:10] = ["", ""]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "night.csv").write_text("\n".join(lines) + "\n\n")
    out = tmp_path / "out"
    req = request((tmp_path / "in").as_uri() + "/", out.as_uri())
    result = run_transform_job(req, ModelSource(binary_model_dir))
    assert result.status == "Completed" and result.metrics["records"] == 50
    report = validate_output(ValidationSpec.from_request(req, model_dir=binary_model_dir, sample=10))
    assert report.passed and report.data["totals"]["input_records"] == 50


def test_a_lone_carriage_return_is_refused_not_answered_with_an_extra_record() -> None:
    """The parser would end a line there, Batch Transform does not: one record sent, two answered."""
    from leafline.serving.decoding import decode_csv
    from leafline.serving.errors import InvalidInputError

    assert decode_csv(b"1,2\r\n3,4\r\n", 2).shape == (2, 2)  # CRLF stays fine
    with pytest.raises(InvalidInputError, match=r"^line 2: a carriage return not followed by a newline"):
        decode_csv(b"1,2\n3,4\r5,6\n", 2)


def test_a_json_lines_record_with_a_raw_line_separator_in_a_string_stays_one_record() -> None:
    from leafline.transform.dataprocessing import RecordCodec

    body = '{"id": "a\u2028b", "features": [1.0]}\n{"id": "c\x85d", "features": [2.0]}\n'.encode()
    assert [r["id"] for r in RecordCodec("application/jsonlines", whole_body=False).decode(body)] == [
        "a\u2028b",
        "c\x85d",
    ]
