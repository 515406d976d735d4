"""The Pipeline's validation step as SageMaker Processing runs it: `python3 -m leafline.validation.step` over
/opt/ml/processing, importing leafline only from the files the image's Dockerfile copies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from leafline.model.packaging import build_archive
from leafline.transform.job import ModelSource, run_transform_job
from leafline.validation import step as validation_step
from tests.pipeline.conftest import ROOT
from tests.transform.helpers import request
from tests.validation.test_validate import features_csv


def image_tree(target: Path) -> Path:
    """/opt/program as the Dockerfile builds it: every `COPY src/leafline/...` line, nothing else."""
    dockerfile = (ROOT / "inference_image" / "Dockerfile").read_text().replace("\\\n", " ")
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] != ["COPY"] or not words[1].startswith("src/leafline"):
            continue
        *sources, destination = words[1:]
        for source in sources:
            path, into = ROOT / source, target / destination.removeprefix("/opt/program/")
            if path.is_dir():  # as in Docker, a directory's contents land in the destination
                shutil.copytree(path, into, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            else:
                into = into / path.name if destination.endswith("/") else into
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, into)
    return target


@pytest.fixture(scope="module")
def processing(tmp_path_factory: pytest.TempPathFactory, binary_model_dir: Path) -> Path:
    """/opt/ml/processing after SageMaker's downloads: the job's input, its scores and model.tar.gz."""
    root = tmp_path_factory.mktemp("processing")
    data, scores = root / "input" / "data", root / "input" / "scores"
    (data / "day").mkdir(parents=True)
    (data / "a.csv").write_bytes(features_csv(800, 1))
    (data / "day" / "b.csv").write_bytes(features_csv(300, 2))
    result = run_transform_job(request(data.as_uri(), scores.as_uri()), ModelSource(binary_model_dir))
    assert result.status == "Completed"
    (root / "input" / "model").mkdir()
    build_archive(binary_model_dir, root / "input" / "model" / "model.tar.gz")
    return root


def run_step(root: Path, program: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    # -S: no site processing, so the editable install's path to src/ is not there; only the image's files are.
    path = f"{program}:{sysconfig.get_paths()['purelib']}"
    return subprocess.run([sys.executable, "-S", "-m", "leafline.validation.step", *arguments], text=True,
                          capture_output=True, env={"PYTHONPATH": path, "LEAFLINE_PROCESSING_ROOT": str(root),
                                                    "AWS_EC2_METADATA_DISABLED": "true"},
                          timeout=120, check=False)  # fmt: skip


ARGUMENTS = ["--content-type", "text/csv", "--split-type", "Line", "--accept", "text/csv", "--threshold", ""]


def test_the_step_validates_inside_the_image_layout_and_writes_the_report(processing: Path, tmp_path: Path) -> None:
    program = image_tree(tmp_path / "program")
    root = tmp_path / "processing"
    shutil.copytree(processing, root)
    done = run_step(root, program, *ARGUMENTS)

    assert done.returncode == 0, done.stderr
    assert "validation PASSED: 1,100 output records" in done.stdout
    report = json.loads((root / validation_step.REPORT_DIR / validation_step.REPORT_FILE).read_text())
    assert report["passed"] is True and report["totals"]["files"] == 2


def test_failed_scores_still_give_a_report_for_the_condition_step(processing: Path, tmp_path: Path) -> None:
    root = tmp_path / "processing"
    shutil.copytree(processing, root)
    scores = root / "input" / "scores" / "a.csv.out"
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join([*lines[:10], "2.5", *lines[11:]]) + "\n")  # a probability out of range
    done = run_step(root, image_tree(tmp_path / "program"), *ARGUMENTS)

    assert done.returncode == 0, done.stderr
    report = json.loads((root / validation_step.REPORT_DIR / validation_step.REPORT_FILE).read_text())
    assert report["passed"] is False
    assert re.search(r"failed .*a\.csv\.out.* 11", done.stdout), done.stdout


def test_nothing_to_validate_fails_the_step_with_the_reason(processing: Path, tmp_path: Path) -> None:
    root = tmp_path / "processing"
    shutil.copytree(processing, root)
    (root / "input" / "model" / "model.tar.gz").unlink()
    done = run_step(root, image_tree(tmp_path / "program"), *ARGUMENTS)

    assert done.returncode == 2
    assert f"validation step: no model archive in {root / 'input' / 'model'}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_processing_root_relative_to_the_working_directory_works(
    processing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(processing, tmp_path / "processing")
    monkeypatch.chdir(tmp_path)

    code = validation_step.main(ARGUMENTS, {"LEAFLINE_PROCESSING_ROOT": "processing"})

    assert code == 0, capsys.readouterr().err
    root = tmp_path / "processing"
    report = json.loads((root / validation_step.REPORT_DIR / validation_step.REPORT_FILE).read_text())
    assert report["passed"] is True and report["input"] == (root / "input" / "data").as_uri() + "/"


RECORD = ["--record-run-id", "exec-7", "--record-run-date", "2026-11-20", "--record-project", "leafline-demo",
          "--record-experiment", "exp-1", "--record-model-package",
          "arn:aws:sagemaker:sa-east-1:123456789012:model-package/leafline-demo/3", "--record-approval", "Approved",
          "--record-transform-job", "lf-exec-7", "--record-instance-type", "ml.m5.xlarge",
          "--record-instance-count", "1", "--record-settings", "MaxConcurrentTransforms=4,MaxPayloadInMB=2",
          "--record-output", "s3://b/p/scoring/2026-11-20/output/",
          "--record-report", "s3://b/p/scoring/2026-11-20/validation/report.json",
          "--record-link", "arn:aws:sagemaker:sa-east-1:123456789012:pipeline/p/execution/exec-7"]  # fmt: skip


def test_the_step_writes_the_pipeline_runs_record_where_processing_uploads_it(processing: Path, tmp_path: Path) -> None:
    root = tmp_path / "processing"
    shutil.copytree(processing, root)

    # No AWS here: DescribeTransformJob cannot be called, so the record goes without the job's times.
    done = run_step(root, image_tree(tmp_path / "program"), *ARGUMENTS, *RECORD)

    assert done.returncode == 0, done.stderr
    assert "cannot describe transform job lf-exec-7" in done.stdout
    record = json.loads((root / validation_step.RECORD_DIR / "exec-7.json").read_text())
    assert (root / validation_step.RUN_DIR / "run.json").read_text() == (
        root / validation_step.RECORD_DIR / "exec-7.json").read_text()  # fmt: skip
    assert (record["schema"], record["status"], record["trigger"]) == ("leafline.run/2", "succeeded", "pipeline")
    assert (record["model_package"]["version"], record["model_package"]["approval"]) == (3, "Approved")
    assert record["settings"]["MaxPayloadInMB"] == {"value": 2, "source": "pipeline parameter"}
    assert record["totals"]["rows"] == 1100 and record["totals"]["bytes_out"] > 0
    assert record["links"]["pipeline_execution"].endswith("/execution/exec-7")
    assert record["transform_job"]["duration_s"] is None and record["cost"] is None
    assert record["validation"]["passed"] is True and sum(record["scores"]["histogram"]["counts"]) == 1100


@pytest.mark.parametrize(("option", "value"), [("--record-run-id", "../../escaped"), ("--record-run-date", "../x")])
def test_the_step_refuses_a_run_record_the_dashboard_would_refuse(
    processing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    root = tmp_path / "processing"
    shutil.copytree(processing, root)
    given = dict(zip(RECORD[::2], RECORD[1::2], strict=True)) | {option: value, "--record-transform-job": ""}
    given["--record-runs-index"] = str(tmp_path / "runs")

    code = validation_step.main([*ARGUMENTS, *(word for pair in given.items() for word in pair)],
                                {"LEAFLINE_PROCESSING_ROOT": str(root)})  # fmt: skip

    assert code == 2
    assert f"{option.removeprefix('--record-').replace('-', '_')}: text {value!r} is not a" in capsys.readouterr().err
    assert not (root / validation_step.RECORD_DIR).exists() and not (tmp_path / "runs").exists()
