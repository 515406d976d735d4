"""`leafline validate`: build the spec from flags (and optionally the job's request), validate, report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.sagemaker.request import load_request
from leafline.sagemaker.storage import absolute_location
from leafline.validation.spec import ValidationSpec


def run_validate_command(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {
        "model_dir": args.model_dir,
        "sample": args.sample,
        "min_similarity": args.min_similarity,
        "max_psi": args.max_psi,
        "previous_report": _previous(args.previous_report),
    }
    if args.threshold is not None:
        overrides["threshold"] = args.threshold
    # Locations relative to the working directory are made absolute once: the report names them.
    input_uri, output_uri = (absolute_location(uri) if uri else None for uri in (args.input, args.output))
    if args.request:
        located = {"input_uri": input_uri, "output_uri": output_uri}
        spec = ValidationSpec.from_request(load_request(args.request), **overrides,
                                           **{k: v for k, v in located.items() if v})  # fmt: skip
    else:
        if not (input_uri and output_uri):
            raise UsageError("--input and --output are required without --request")
        spec = ValidationSpec(input_uri, output_uri, content_type=args.content_type, accept=args.accept or
                              args.content_type, gzip_input=args.gzip, **overrides)  # fmt: skip
    if args.model_dir is not None and not (args.model_dir / "model.txt").is_file():
        raise UsageError(f"--model-dir {args.model_dir}: no model.txt there")
    from leafline.validation.validate import validate_output  # numpy and LightGBM: only when validating

    report = validate_output(spec)
    if args.report:
        report.write(args.report)
    verdict = "PASSED" if report.passed else "FAILED"
    totals = report.data["totals"]
    print(f"validation {verdict}: {totals['files']} files, {totals['input_records']:,} input records, "
          f"{totals['output_records']:,} output records")  # fmt: skip
    for check in report.data["checks"]:
        print(f"  {check['status']:7s} {check['name']}" + (f": {check['reason']}" if check["reason"] else ""))
    if args.report:
        print(f"report: {args.report}")
    return 0 if report.passed else 1


def _previous(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--previous-report {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != "leafline.validation/1":
        raise UsageError(f"--previous-report {path}: not a leafline validation report")
    return data


def add_parser(commands: Any) -> None:
    validate = commands.add_parser(
        "validate",
        help="check a Batch Transform output against its input and the model",
        description="Check that every input file has its .out with one output record per input record, that "
        "every record parses, has the model's columns, is finite and in the objective's range, that joined "
        "columns match the input, and that a deterministic sample re-scored by LightGBM agrees (atol 1e-5). "
        "Summarises the scores and, given a previous report, their drift (PSI). Exits 0 when every check "
        "passes, 1 when one fails.",
    )
    validate.add_argument("--input", help="the job's input (s3:// or file:// prefix)")
    validate.add_argument("--output", help="the job's S3OutputPath (s3:// or file://)")
    validate.add_argument("--request", type=Path, help="the CreateTransformJob request: formats, filters, locations")
    validate.add_argument("--model-dir", type=Path, help="the model: columns, range and re-scoring")
    validate.add_argument("--sample", type=int, default=200, help="records re-scored per file (default 200)")
    validate.add_argument("--min-similarity", type=float, default=1.0, help="share within atol to pass (default 1)")
    validate.add_argument("--threshold", type=float, help="PREDICTION_THRESHOLD of the job: outputs are 0/1 labels")
    validate.add_argument("--content-type", default="text/csv", help="input format (default text/csv)")
    validate.add_argument("--accept", help="output format (default: the input's)")
    validate.add_argument("--gzip", action="store_true", help="the input files are gzip-compressed")
    validate.add_argument("--previous-report", type=Path, help="last run's report, for drift (PSI)")
    validate.add_argument("--max-psi", type=float, help="fail when PSI is above this (default: report only)")
    validate.add_argument("--report", type=Path, help="write the JSON report here")
