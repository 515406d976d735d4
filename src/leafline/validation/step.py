"""The SageMaker Pipeline's validation step: leafline's validator inside a processing job, on local copies.

SageMaker Processing downloads the transform's input, its output and model.tar.gz under
/opt/ml/processing/input/ and, when the job ends, uploads /opt/ml/processing/output/validation/ (the
report, which the Pipeline's condition reads). What the validator needs from the transform request
(formats, filters, threshold) travels as the job's arguments: Processing caps each argument and
environment value at 256 characters, which a whole request would not fit.

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


def request_from_arguments(arguments: Sequence[str], root: Path = ROOT) -> dict[str, Any]:
    """A CreateTransformJob request over the local copies: what the validator reads formats and paths from."""
    parser = argparse.ArgumentParser(prog="python3 -m leafline.validation.step", add_help=False)
    for flag, _ in _FLAGS:
        parser.add_argument(flag)
    values = vars(parser.parse_args(list(arguments)))
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
    root = Path(environ.get("LEAFLINE_PROCESSING_ROOT") or ROOT)
    try:
        report = _validate(list(sys.argv[1:] if argv is None else argv), root)
    except (LeaflineError, ServingError) as exc:
        print(f"validation step: {exc}", file=sys.stderr)
        return 2
    totals = report.data["totals"]
    print(f"validation {'PASSED' if report.passed else 'FAILED'}: {totals['output_records']:,} output records")
    for reason in report.failures:
        print(f"  failed {reason}")
    return 0


def _validate(arguments: list[str], root: Path) -> Any:
    from leafline.errors import UsageError
    from leafline.serving.model_source import extract_archive
    from leafline.validation.spec import ValidationSpec
    from leafline.validation.validate import validate_output

    archives = sorted((root / INPUTS["model"]).glob("*.tar.gz"))
    if not archives:
        raise UsageError(f"no model archive in {root / INPUTS['model']}")
    with tempfile.TemporaryDirectory(prefix="leafline-model-") as model_dir:
        extract_archive(archives[0], Path(model_dir))
        spec = ValidationSpec.from_request(request_from_arguments(arguments, root), model_dir=Path(model_dir))
        report = validate_output(spec)
    report.write(root / REPORT_DIR / REPORT_FILE)
    return report


if __name__ == "__main__":
    sys.exit(main())
