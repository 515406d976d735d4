"""`leafline local-aws`: run local AWS in the foreground until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from leafline.errors import UsageError

DEFAULT_PORT = 5055


def add_parser(commands: Any) -> None:
    local = commands.add_parser(
        "local-aws",
        help="run S3, the Model Registry and SageMaker locally; transform jobs and endpoints really run",
        description="Start one local AWS endpoint on 127.0.0.1: moto's S3, Model Registry and SageMaker control "
        "plane, where CreateTransformJob runs the job with leafline's emulator (InProgress -> Completed/Failed, "
        "outputs in the local S3, StopTransformJob stops it), CreateModel refuses a model package version that is "
        "not Approved, and CreateEndpoint + InvokeEndpoint (sagemaker-runtime) run the real scoring server. "
        "Point clients at it with AWS_ENDPOINT_URL (any credentials) or an Airflow connection's endpoint_url. "
        "Runs until Ctrl-C or SIGTERM, then stops every job and endpoint it started.",
    )
    local.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    local.add_argument("--region", default="sa-east-1", help="region of restored buckets (default sa-east-1)")
    from leafline.tools.image.engine_choice import add_engine_arguments

    add_engine_arguments(local, "transform jobs' instances and endpoints")
    local.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep state in this folder across restarts (S3 objects as files, the registry, finished jobs); "
        "default: in memory only",
    )


def run_local_aws_command(args: argparse.Namespace) -> int:
    from leafline.local_aws.server import LocalAws

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0..65535")
    from leafline.tools.image.engine_choice import serve_command_for

    command = serve_command_for(args.engine, args.image)
    aws = LocalAws(args.port, state_dir=args.state_dir, region=args.region, log=_say, serve_command=command)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        aws.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); choose another --port") from None
    try:
        _say(f"listening on {aws.url} (S3, SageMaker, SageMaker Runtime); Ctrl-C stops it")
        print("  for boto3 / the AWS CLI / the SageMaker SDK:", flush=True)
        for key, value in aws.environment().items():
            print(f"    export {key}={value}", flush=True)
        print("  for Airflow (nothing else in the DAG changes):", flush=True)
        print(f"    export AIRFLOW_CONN_AWS_DEFAULT='{aws.airflow_connection()}'", flush=True)
        stop.wait()
        _say("stopping")
    finally:
        aws.stop()
    return 0


def _say(line: str) -> None:
    print(f"local-aws: {line}", flush=True)
