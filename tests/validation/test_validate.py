"""The validator over real emulator outputs: it passes a good output and fails each corruption, saying where."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leafline.cli import main
from leafline.transform.job import ModelSource, run_transform_job
from leafline.validation.checker import Reservoir
from leafline.validation.spec import ValidationSpec
from leafline.validation.validate import ValidationReport, validate_output
from tests.transform.helpers import request


def features_csv(rows: int, seed: int, shift: float = 0.0) -> bytes:
    x = np.random.default_rng(seed).normal(loc=shift, size=(rows, 6))
    return ("\n".join(",".join(repr(float(v)) for v in row) for row in x) + "\n").encode()


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, binary_model_dir: Path) -> Path:
    """A good job: in/ (two files, one in a subfolder) and out/ as the emulator wrote them."""
    root = tmp_path_factory.mktemp("scored")
    (root / "in" / "sub").mkdir(parents=True)
    (root / "in" / "a.csv").write_bytes(features_csv(1000, 1))
    (root / "in" / "sub" / "b.csv").write_bytes(features_csv(300, 2))
    result = run_transform_job(request((root / "in").as_uri(), (root / "out").as_uri()), ModelSource(binary_model_dir))
    assert result.status == "Completed"
    return root


@pytest.fixture
def job(scored: Path, tmp_path: Path) -> Path:
    """A private copy of the good job, to corrupt."""
    shutil.copytree(scored, tmp_path / "job")
    return tmp_path / "job"


def validate(job: Path, model_dir: Path | None, **options: Any) -> ValidationReport:
    spec = ValidationSpec((job / "in").as_uri(), (job / "out").as_uri(), model_dir=model_dir, sample=2000, **options)
    return validate_output(spec)


def check(report: ValidationReport, name: str) -> dict[str, Any]:
    return next(c for c in report.data["checks"] if c["name"] == name)


def edit_lines(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    path.write_text("".join(line + "\n" for line in change(path.read_text().splitlines())))


def failed(report: ValidationReport) -> list[str]:
    return [c["name"] for c in report.data["checks"] if c["status"] == "failed"]


def test_a_good_output_passes_and_is_summarised(job: Path, binary_model_dir: Path) -> None:
    report = validate(job, binary_model_dir)

    assert report.passed, report.failures
    assert report.data["totals"] == {"files": 2, "input_records": 1300, "output_records": 1300}
    assert report.data["rescoring"]["similarity"] == 1.0
    assert report.data["rescoring"]["sampled"] == 1300
    column = report.data["scores"]["columns"][0]
    assert sum(column["histogram"]["counts"]) == 1300
    assert column["histogram"]["edges"][0] == 0.0 and column["histogram"]["edges"][-1] == 1.0
    assert 0.0 <= column["quantiles"]["0.5"] <= 1.0
    assert check(report, "drift")["status"] == "skipped"


def test_a_missing_out_file_fails_naming_it(job: Path, binary_model_dir: Path) -> None:
    (job / "out" / "sub" / "b.csv.out").unlink()

    report = validate(job, binary_model_dir)

    assert failed(report) == ["outputs_present"]
    assert "sub/b.csv has no .out (expected sub/b.csv.out)" in check(report, "outputs_present")["reason"]


def test_a_truncated_file_fails_the_record_count(job: Path, binary_model_dir: Path) -> None:
    out = job / "out" / "a.csv.out"
    out.write_bytes(out.read_bytes()[: out.stat().st_size // 2])  # cut mid-line, as an interrupted upload would

    report = validate(job, binary_model_dir)

    assert "record_counts" in failed(report)
    assert "output records for 1000 input records" in check(report, "record_counts")["reason"]


@pytest.mark.parametrize(
    ("change", "first_bad_record"),
    [
        (lambda lines: lines[:4] + lines[5:] + lines[-1:], 5),  # one record lost, the last one doubled: a shift
        (lambda lines: [*lines[:2], lines[6], *lines[3:6], lines[2], *lines[7:]], 3),  # records 3 and 7 swapped
    ],
    ids=["shifted", "swapped"],
)
def test_shifted_or_swapped_records_fail_rescoring_at_the_first_wrong_record(
    job: Path, binary_model_dir: Path, change: Callable[[list[str]], list[str]], first_bad_record: int
) -> None:
    edit_lines(job / "out" / "a.csv.out", change)

    report = validate(job, binary_model_dir)

    assert failed(report) == ["rescoring"]
    rescoring = check(report, "rescoring")
    assert rescoring["problems"][0]["record"] == first_bad_record
    assert "LightGBM gives" in rescoring["problems"][0]["message"]


@pytest.mark.parametrize(
    ("value", "name", "message"),
    [
        ("nan", "finite", "not finite: nan"),
        ("inf", "finite", "not finite: inf"),
        ("1.5", "range", "1.5 outside [0, 1]"),
        ("-0.25", "range", "-0.25 outside [0, 1]"),
        ("0.1,0.2", "columns", "2 score columns, expected 1"),
        ("abc", "parse", "not a number: 'abc'"),
        ("", "parse", "an empty line"),
    ],
)
def test_a_bad_value_fails_its_check_naming_file_and_record(
    job: Path, binary_model_dir: Path, value: str, name: str, message: str
) -> None:
    edit_lines(job / "out" / "sub" / "b.csv.out", lambda lines: [*lines[:41], value, *lines[42:]])

    report = validate(job, binary_model_dir)

    assert name in failed(report)
    problem = check(report, name)["problems"][0]
    assert problem["file"].endswith("out/sub/b.csv.out")
    assert problem["record"] == 42
    assert message in problem["message"]


def test_an_out_file_without_input_fails(job: Path, binary_model_dir: Path) -> None:
    shutil.copy(job / "out" / "a.csv.out", job / "out" / "stale.csv.out")

    report = validate(job, binary_model_dir)

    assert failed(report) == ["no_stray_outputs"]
    assert "stale.csv.out" in check(report, "no_stray_outputs")["reason"]


def test_without_a_model_the_structure_is_still_checked(job: Path) -> None:
    edit_lines(job / "out" / "a.csv.out", lambda lines: [*lines[:9], "0.1,0.2", *lines[10:]])

    report = validate(job, None)

    assert failed(report) == ["columns"]
    assert check(report, "rescoring")["status"] == "skipped"
    assert check(report, "range")["status"] == "skipped"


def test_thresholded_outputs_must_be_labels_that_match_lightgbm(tmp_path: Path, binary_model_dir: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(features_csv(200, 3))
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(), Environment={"PREDICTION_THRESHOLD": "0.5"})
    assert run_transform_job(req, ModelSource(binary_model_dir)).status == "Completed"
    spec = ValidationSpec.from_request(req, model_dir=binary_model_dir, sample=500)

    good = validate_output(spec)
    edit_lines(tmp_path / "out" / "a.csv.out", lambda lines: ["0.7", *lines[1:]])
    bad = validate_output(spec)

    assert good.passed, good.failures
    assert set(good.data["scores"]["columns"][0]["quantiles"].values()) <= {0.0, 1.0}
    assert "range" in failed(bad)
    assert "0.7 outside labels 0, 1" in check(bad, "range")["problems"][0]["message"]


def test_multiclass_outputs_have_k_columns_summing_to_one(tmp_path: Path, multiclass_model_dir: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(features_csv(100, 4))
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri())
    assert run_transform_job(req, ModelSource(multiclass_model_dir)).status == "Completed"
    spec = ValidationSpec.from_request(req, model_dir=multiclass_model_dir)

    good = validate_output(spec)
    edit_lines(tmp_path / "out" / "a.csv.out", lambda lines: ["0.5,0.5,0.5", *lines[1:]])
    bad = validate_output(spec)

    assert good.passed, good.failures
    assert len(good.data["scores"]["columns"]) == 3
    assert "with each row summing to 1" in check(bad, "range")["problems"][0]["message"]


def test_joined_outputs_must_carry_their_own_input_columns(tmp_path: Path, binary_model_dir: Path) -> None:
    features = features_csv(100, 5).decode().splitlines()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("".join(f"id-{i},{line}\n" for i, line in enumerate(features)))
    processing = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(), DataProcessing=processing)
    assert run_transform_job(req, ModelSource(binary_model_dir)).status == "Completed"
    spec = ValidationSpec.from_request(req, model_dir=binary_model_dir)

    good = validate_output(spec)
    edit_lines(tmp_path / "out" / "a.csv.out", lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])
    bad = validate_output(spec)

    assert good.passed, good.failures
    assert good.data["rescoring"]["similarity"] == 1.0
    problem = check(bad, "join_alignment")["problems"][0]
    assert problem["record"] == 2
    assert "column 1 is 'id-2' but the input record has 'id-1'" in problem["message"]


def test_drift_against_the_previous_report(tmp_path: Path, binary_model_dir: Path) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, shift in (("monday", 0.0), ("tuesday", 0.0), ("wednesday", 2.5)):
        (tmp_path / name / "in").mkdir(parents=True)
        (tmp_path / name / "in" / "a.csv").write_bytes(features_csv(2000, 6 + len(runs), shift))
        req = request((tmp_path / name / "in").as_uri(), (tmp_path / name / "out").as_uri())
        assert run_transform_job(req, ModelSource(binary_model_dir)).status == "Completed"
        runs[name] = req
    monday = validate_output(ValidationSpec.from_request(runs["monday"], model_dir=binary_model_dir))

    def later(name: str) -> ValidationReport:
        spec = ValidationSpec.from_request(runs[name], model_dir=binary_model_dir, previous_report=monday.data,
                                           max_psi=0.25)  # fmt: skip
        return validate_output(spec)

    tuesday, wednesday = later("tuesday"), later("wednesday")

    assert tuesday.passed and tuesday.data["drift"]["psi"] < 0.1
    assert failed(wednesday) == ["drift"]
    assert wednesday.data["drift"]["psi"] > 0.25


def test_the_sample_is_deterministic_and_covers_small_files() -> None:
    def sample(seed: str, size: int, n: int) -> list[int]:
        reservoir = Reservoir(size, seed)
        for number in range(1, n + 1):
            reservoir.offer(number, b"", [0.0])
        return sorted(item[0] for item in reservoir.items)

    assert sample("a.csv", 50, 10_000) == sample("a.csv", 50, 10_000)
    assert sample("a.csv", 50, 10_000) != sample("b.csv", 50, 10_000)
    assert sample("a.csv", 100, 40) == list(range(1, 41))
    picks = sample("a.csv", 2000, 100_000)
    assert len(picks) == 2000 and 35_000 < float(np.mean(picks)) < 65_000  # spread over the whole file


def test_cli_writes_the_report_and_exits_by_verdict(
    job: Path, binary_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["validate", "--input", (job / "in").as_uri(), "--output", (job / "out").as_uri(),
            "--model-dir", str(binary_model_dir), "--report", str(job / "report.json")]  # fmt: skip

    passed = main(args)
    good = json.loads((job / "report.json").read_text())
    edit_lines(job / "out" / "a.csv.out", lambda lines: lines[:-1])
    capsys.readouterr()
    failed_code = main(args)
    printed = capsys.readouterr().out

    assert passed == 0 and good["passed"] is True and good["schema"] == "leafline.validation/1"
    assert failed_code == 1
    assert "validation FAILED" in printed
    assert "failed  record_counts: 1 problem(s); first:" in printed
    assert "999 output records for 1000 input records" in printed


def test_cli_takes_paths_relative_to_the_working_directory(
    job: Path, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(job)
    shutil.copytree(binary_model_dir, "model")
    Path("request.json").write_text(json.dumps(request("file://in/", "file://out/")))

    by_flags = main(["validate", "--input", "in/", "--output", "./out", "--model-dir", "model", "--report", "a.json"])
    by_request = main(["validate", "--request", "request.json", "--model-dir", "model", "--previous-report", "a.json",
                       "--report", "reports/b.json"])  # fmt: skip
    capsys.readouterr()

    assert (by_flags, by_request) == (0, 0)
    first, second = (json.loads((job / name).read_text()) for name in ("a.json", "reports/b.json"))
    assert (first["input"], first["output"]) == (f"{job}/in/", f"{job}/out")
    assert (second["input"], second["output"]) == ((job / "in").as_uri() + "/", (job / "out").as_uri() + "/")
    assert first["passed"] and second["passed"] and second["drift"]["psi"] == 0.0
