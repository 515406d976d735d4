"""The SageMaker Pipeline's validation step: leafline's validator inside a processing job, on local copies.

SageMaker Processing downloads the transform's input, its output and model.tar.gz under
/opt/ml/processing/input/ and, when the job ends, uploads /opt/ml/processing/output/validation/ (the
report, which the Pipeline's condition reads). What the validator needs from the transform request
(formats, filters, threshold) travels as the job's arguments: Processing caps each argument and
environment value at 256 characters, which a whole request would not fit.

Given --record-run-id, it also writes the run's record (leafline.run/2, trigger "pipeline") into
/opt/ml/processing/output/record/ (uploaded into the runs index) and output/run/run.json (beside the
outputs). The transform job's times come from DescribeTransformJob and the previous run's report (for
drift) from the runs index when the job's role and network allow; without them the record says less.

Runs in leafline's image as `python3 -m leafline.validation.step ARGS`. Exit 0 with a report whether
the scores passed or not (the Pipeline's condition step decides); exit 2, with the reason on stderr,
when there is nothing to validate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path("/opt/ml/processing")
INPUTS = {"data": "input/data", "scores": "input/scores", "model": "input/model"}
REPORT_DIR = "output/validation"
REPORT_FILE = "report.json"  # the Pipeline's PropertyFile; its "passed" decides the run
RECORD_DIR = "output/record"  # uploaded into the runs index, runs/{RunDate}/
RUN_DIR = "output/run"  # uploaded beside the outputs: scoring/{RunDate}/run.json
# What the run record needs to know that the validator does not (values may be pipeline variables).
RECORD_FLAGS = ("--record-run-id", "--record-run-date", "--record-project", "--record-experiment",
                "--record-model-package", "--record-approval", "--record-transform-job", "--record-instance-type",
                "--record-instance-count", "--record-settings", "--record-output", "--record-report",
                "--record-runs-index", "--record-link")  # fmt: skip
_FLAGS = (  # (flag, where the value is in a CreateTransformJob request)
    ("--content-type", ("TransformInput", "ContentType")),
    ("--compression-type", ("TransformInput", "CompressionType")),
    ("--split-type", ("TransformInput", "SplitType")),
    ("--accept", ("TransformOutput", "Accept")),
    ("--assemble-with", ("TransformOutput", "AssembleWith")),
    ("--input-filter", ("DataProcessing", "InputFilter")),
    ("--join-source", ("DataProcessing", "JoinSource")),
    ("--output-filter", ("DataProcessing", "OutputFilter")),
    ("--threshold", ("Environment", "PREDICTION_THRESHOLD")),
)


def step_arguments(transform_request: Mapping[str, Any]) -> list[Any]:
    """The processing job's arguments for the job this request describes (values may be pipeline variables)."""
    arguments: list[Any] = []
    for flag, (section, key) in _FLAGS:
        value = transform_request.get(section, {}).get(key)
        if value is not None:
            arguments += [flag, value]
    return arguments


def parse_arguments(arguments: Sequence[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python3 -m leafline.validation.step", add_help=False)
    for flag in [flag for flag, _ in _FLAGS] + list(RECORD_FLAGS):
        parser.add_argument(flag)
    return vars(parser.parse_args(list(arguments)))


def request_from_arguments(arguments: Sequence[str], root: Path = ROOT) -> dict[str, Any]:
    """A CreateTransformJob request over the local copies: what the validator reads formats and paths from."""
    values = parse_arguments(arguments)
    request: dict[str, Any] = {
        "TransformJobName": "pipeline-validation",
        "ModelName": "pipeline-validation",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": (root / INPUTS["data"]).as_uri() + "/"}}},
        "TransformOutput": {"S3OutputPath": (root / INPUTS["scores"]).as_uri() + "/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }  # fmt: skip
    for flag, (section, key) in _FLAGS:
        value = values[flag.lstrip("-").replace("-", "_")]
        if value is not None:
            request.setdefault(section, {})[key] = value
    return request


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """LEAFLINE_PROCESSING_ROOT moves /opt/ml/processing (tests run the step outside a container)."""
    from leafline.errors import LeaflineError
    from leafline.serving.errors import ServingError

    environ = os.environ if environ is None else environ
    root = Path(environ.get("LEAFLINE_PROCESSING_ROOT") or ROOT).absolute()  # its folders become file:// URIs
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        values = parse_arguments(arguments)
        previous_id, previous = _previous(values)
        report, sha256 = _validate(arguments, root, previous)
        if values["record_run_id"]:
            if report.data.get("drift") is not None:
                report.data["drift"]["previous_run_id"] = previous_id
            _write_record(root, values, report.data, sha256)
    except (LeaflineError, ServingError) as exc:
        print(f"validation step: {exc}", file=sys.stderr)
        return 2
    totals = report.data["totals"]
    print(f"validation {'PASSED' if report.passed else 'FAILED'}: {totals['output_records']:,} output records")
    if values["record_run_id"]:
        print(f"run record: {root / RECORD_DIR} and {root / RUN_DIR / 'run.json'}")
    for reason in report.failures:
        print(f"  failed {reason}")
    return 0


def _validate(arguments: list[str], root: Path, previous: dict[str, Any] | None) -> tuple[Any, str]:
    import hashlib

    from leafline.errors import UsageError
    from leafline.serving.model_source import extract_archive
    from leafline.validation.spec import ValidationSpec
    from leafline.validation.validate import validate_output

    archives = sorted((root / INPUTS["model"]).glob("*.tar.gz"))
    if not archives:
        raise UsageError(f"no model archive in {root / INPUTS['model']}")
    with tempfile.TemporaryDirectory(prefix="leafline-model-") as model_dir:
        extract_archive(archives[0], Path(model_dir))
        sha256 = hashlib.sha256((Path(model_dir) / "model.txt").read_bytes()).hexdigest()
        spec = ValidationSpec.from_request(request_from_arguments(arguments, root), model_dir=Path(model_dir),
                                           previous_report=previous)  # fmt: skip
        report = validate_output(spec)
    report.write(root / REPORT_DIR / REPORT_FILE)
    return report, sha256


def _previous(values: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The previous run's report from the runs index, if this job may read it (else no drift figure)."""
    if not (values["record_runs_index"] and values["record_run_id"]):
        return None, None
    from leafline.runs.index import previous_report
    from leafline.sagemaker.storage import Storage

    try:
        return previous_report(Storage(), values["record_runs_index"], values["record_run_id"])
    except Exception as exc:  # no network or permission: the record goes without a drift figure
        print(f"validation step: no previous run to measure drift against ({type(exc).__name__}: {exc})")
        return None, None


def _describe_job(name: str) -> dict[str, Any]:
    """DescribeTransformJob, when the job's role and network allow; the step runs only after the job Completed."""
    try:
        import boto3

        job: dict[str, Any] = boto3.client("sagemaker").describe_transform_job(TransformJobName=name)
        return job
    except Exception as exc:  # the record then has no times, duration or cost
        print(f"validation step: cannot describe transform job {name} ({type(exc).__name__}: {exc})")
        return {"TransformJobName": name, "TransformJobStatus": "Completed"}


def _write_record(root: Path, values: dict[str, Any], report: dict[str, Any], sha256: str) -> None:
    import json

    from leafline.runs.cost import job_cost
    from leafline.runs.index import record_key
    from leafline.runs.measures import run_totals
    from leafline.runs.record import build_record, parse_record
    from leafline.sagemaker.storage import Storage, join_uri
    from leafline.spec.jobspec import safe_name

    arn = values["record_model_package"] or ""
    version = arn.rsplit("/", 1)[-1]
    settings = dict(pair.split("=", 1) for pair in (values["record_settings"] or "").split(",") if "=" in pair)
    instance_type, count = values["record_instance_type"], int(values["record_instance_count"] or 1)
    run = {"run_id": values["record_run_id"], "run_date": values["record_run_date"], "trigger": "pipeline",
           "project_id": values["record_project"], "experiment_id": values["record_experiment"],
           "model_package": {"arn": arn, "version": int(version) if version.isdigit() else None,
                             "approval": values["record_approval"], "artifact_sha256": sha256},
           "instance_type": instance_type, "instance_count": count,
           "settings": {key: {"value": int(value) if value.isdigit() else value, "source": "pipeline parameter"}
                        for key, value in settings.items()}}  # fmt: skip
    job = _describe_job(values["record_transform_job"]) if values["record_transform_job"] else {}
    data, scores = (root / INPUTS["data"]).as_uri(), (root / INPUTS["scores"]).as_uri()
    record = build_record(
        run=run, job=job, report=report, totals=run_totals(Storage(), data, scores, report),
        cost=job_cost(instance_type or "", count, job, region=os.environ.get("AWS_REGION")),
        links={"pipeline_execution": values["record_link"]} if values["record_link"] else {},
        outputs={"output_uri": values["record_output"], "report_uri": values["record_report"]},
    )  # fmt: skip
    if values["record_runs_index"]:  # RecordError for a run date or id that is not safe in a path
        key = record_key(values["record_run_date"], values["record_run_id"])
        record["outputs"]["record_uri"] = join_uri(values["record_runs_index"], key)
    body = json.dumps(record, indent=2, default=str) + "\n"
    parse_record(body.encode(), "the run record")  # what is written is what the dashboard accepts (run id, date)
    for path in (root / RECORD_DIR / f"{safe_name(values['record_run_id'])}.json", root / RUN_DIR / "run.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


if __name__ == "__main__":
    sys.exit(main())
