"""The `leafline` command: thin wiring over the core; exit codes are decided here only."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from leafline import __version__
from leafline.errors import LeaflineError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leafline", description="Nightly LightGBM batch scoring on SageMaker.")
    parser.add_argument("--version", action="version", version=f"leafline {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the scoring server (the image's `serve`) on a local model directory",
        description="Run the SageMaker scoring server locally. Environment variables configure it exactly as "
        "in the image (SAGEMAKER_MAX_PAYLOAD_IN_MB, SAGEMAKER_MAX_CONCURRENT_TRANSFORMS, PREDICTION_THRESHOLD, "
        "LEAFLINE_BACKEND, LEAFLINE_PROFILING, ...); the flags below override them.",
    )
    serve.add_argument("--model-dir", type=Path, required=True, help="directory holding model.txt")
    serve.add_argument("--port", type=int, default=None, help="port (default: $SAGEMAKER_BIND_TO_PORT or 8080)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")

    compile_ = commands.add_parser(
        "compile",
        help="compile MODEL_DIR/model.txt ahead of time for the fast backend",
        description="Compile model.txt into a shared library beside it (MODEL_DIR/compiled/), keyed by the "
        "model's sha256, this CPU architecture and the backend version, after checking that it predicts "
        "exactly what LightGBM predicts. Models the compiler cannot reproduce exactly are left to LightGBM.",
    )
    compile_.add_argument("model_dir", type=Path, metavar="MODEL_DIR")

    demo = commands.add_parser(
        "demo",
        help="the whole nightly run on this machine: local AWS, the real Airflow DAG, a summary (make demo)",
        description="Start local AWS (state in WORKDIR/local-aws), compile, tune, package, register and approve the "
        "bundled sample model, put the night's input in local S3 as CSV shards, run `airflow dags test "
        "nightly_scoring` against local AWS and print a summary: model version, rows, duration, rows/s, the tuned "
        "settings and why, the estimated AWS cost, the validation result and where the outputs, the report and the "
        "run record are. Running it again reuses the model, the input and the registered version.",
    )
    demo.add_argument("--workdir", type=Path, default=Path("demo-output"), help="where the demo writes")
    demo.add_argument("--rows", type=int, default=300_000, help="rows in the night's input (default: 300000)")
    demo.add_argument("--shards", type=int, default=6, help="CSV files the input is split into (default: 6)")
    demo.add_argument("--run-date", default="", help="the night scored, YYYY-MM-DD (default: today)")
    demo.add_argument(
        "--dag-file",
        type=Path,
        default=None,
        help="the DAG file (default: leafline's, written to WORKDIR/airflow/dags)",
    )
    _add_transform(commands)
    from leafline.cli.validate import add_parser as add_validate

    add_validate(commands)
    from leafline.cli.model import add_parsers as add_model_commands
    from leafline.cli.pipeline import add_parsers as add_pipeline_commands
    from leafline.cli.tune import add_parsers as add_tuning_commands

    add_model_commands(commands)
    add_tuning_commands(commands)
    add_pipeline_commands(commands)
    from leafline.cli.local_aws import add_parser as add_local_aws

    add_local_aws(commands)
    from leafline.cli.dashboard import add_parser as add_dashboard

    add_dashboard(commands)
    from leafline.cli.image import add_parser as add_image

    add_image(commands)
    from leafline.cli.infra import add_parser as add_infra

    add_infra(commands)
    return parser


def _add_transform(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    transform = commands.add_parser(
        "transform",
        help="run a CreateTransformJob request locally against the real server (no AWS, no Docker)",
        description="Run a Batch Transform job on this machine: REQUEST.json is a CreateTransformJob request as "
        "boto3 takes it; s3:// URIs go through boto3 (AWS_ENDPOINT_URL may point at a local S3), file:// URIs are "
        "local folders. Each instance is a `serve` process. Prints the DescribeTransformJob-shaped result with "
        "metrics as JSON; exits 0 when the job Completed, 1 when it Failed, 2 when the request is invalid.",
    )
    transform.add_argument("request", type=Path, metavar="REQUEST.json")
    model = transform.add_mutually_exclusive_group(required=True)
    model.add_argument("--model-dir", type=Path, help="an unpacked model directory (what /opt/ml/model holds)")
    model.add_argument(
        "--model-data", metavar="URI", help="the model.tar.gz (s3:// or file://), unpacked as SageMaker does"
    )
    transform.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="the model's Environment (repeatable)"
    )
    transform.add_argument("--logs", type=Path, default=None, help="folder for the instances' logs (default: temp)")
    transform.add_argument(
        "--python-slices",
        action="store_true",
        help="DataProcessing slices end-exclusive as in Python (default: end-inclusive, as the AWS page words them)",
    )
    transform.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress line (default: on a terminal)"
    )
    transform.add_argument(
        "--runs", metavar="URI", default=None, help="also write a run record (leafline.run/2) into this runs index"
    )
    transform.add_argument("--project", default="local", help="the record's project (default: local)")
    transform.add_argument("--run-date", default="", help="the record's run date, YYYY-MM-DD (default: today)")
    from leafline.tools.image.engine_choice import add_engine_arguments

    add_engine_arguments(transform, "the job's instances")


# Each command's handler as "module:function", imported only when that command runs (the CLI starts fast).
_HANDLERS = {
    "serve": "leafline.cli.command:_serve",
    "compile": "leafline.cli.command:_compile",
    "demo": "leafline.cli.command:_demo",
    "transform": "leafline.cli.transform:run_transform_command",
    "validate": "leafline.cli.validate:run_validate_command",
    "package": "leafline.cli.model:run_package_command",
    "register": "leafline.cli.model:run_register_command",
    "approve": "leafline.cli.model:run_approve_command",
    "tune": "leafline.cli.tune:run_tune_command",
    "prices": "leafline.cli.tune:run_prices_command",
    "pipeline": "leafline.cli.pipeline:run_pipeline_command",
    "local-aws": "leafline.cli.local_aws:run_local_aws_command",
    "dashboard": "leafline.cli.dashboard:run_dashboard_command",
    "image": "leafline.cli.image:run_image_command",
    "infra": "leafline.cli.infra:run_infra_command",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, _, function = _HANDLERS[args.command].partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module_name), function)
    try:
        return handler(args)
    except LeaflineError as exc:
        print(f"leafline {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _serve(args: argparse.Namespace) -> int:
    from leafline.serving.server import run_server

    return run_server(model_dir=args.model_dir, port=args.port, host=args.host)


def _compile(args: argparse.Namespace) -> int:
    from leafline.model.compiler import compile_model_dir

    result = compile_model_dir(args.model_dir)
    print(result.summary())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from leafline.tools.demo.run import DemoOptions, run_demo

    return run_demo(DemoOptions(args.workdir, args.rows, args.shards, args.dag_file, args.run_date))


def entrypoint() -> None:
    sys.exit(main())
