"""`leafline transform`: read the request, prepare the model, run the job, print the result."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.processes.termination import Terminated, terminated_by_signals
from leafline.sagemaker.request import load_request
from leafline.sagemaker.storage import Storage, absolute_location
from leafline.transform import instances
from leafline.transform.job import EmulatorOptions, ModelSource, run_transform_job
from leafline.transform.progress import JobProgress, ProgressLine


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env


def run_transform_command(args: argparse.Namespace) -> int:
    from leafline.tools.image.engine_choice import serve_command_for

    request = load_request(args.request)
    options = EmulatorOptions(log_dir=args.logs, slice_end_inclusive=not args.python_slices,
                              serve_command=serve_command_for(args.engine, args.image))  # fmt: skip
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    model_data = absolute_location(args.model_data) if args.model_data else None  # as the run record keeps it
    try:
        with terminated_by_signals():
            return _run(args, request, options, show_progress, model_data)
    except Terminated as stop:
        print(f"leafline transform: stopped by {stop}: its instances are stopped, its partial outputs and "
              "temporary folders removed", file=sys.stderr)  # fmt: skip
        return stop.exit_code


def _run(args: argparse.Namespace, request: dict[str, Any], options: EmulatorOptions, show_progress: bool,
         model_data: str | None) -> int:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="leafline-model-") as workdir, ExitStack() as display:
        if model_data:
            model_dir = instances.fetch_model(model_data, Storage(), Path(workdir))
        else:
            if not args.model_dir.is_dir():
                raise UsageError(f"--model-dir {args.model_dir}: no such directory")
            model_dir = args.model_dir.absolute()
        model = ModelSource(model_dir, parse_env(args.env))

        def show(progress: JobProgress) -> None:
            display.enter_context(ProgressLine(progress))

        result = run_transform_job(request, model, options, progress_hook=show if show_progress else None)
        if args.runs:
            _record(args, request, result, model_dir, model_data or str(model_dir))
    print(json.dumps(result.to_json(), indent=2, default=_json_default))
    return 0 if result.status == "Completed" else 1


def _record(args: argparse.Namespace, request: dict[str, Any], result: Any, model_dir: Path, model_data: str) -> None:
    """The run's record into the runs index (--runs); the job's result is printed either way."""
    from datetime import date

    from leafline.runs.index import RunsIndex
    from leafline.runs.record import transform_record
    from leafline.serving.model_info import MODEL_FILE_NAME, read_model_info

    info = read_model_info(model_dir / MODEL_FILE_NAME)
    record = transform_record(
        request, result.describe, result.metrics,
        {"model_data_url": model_data, "artifact_sha256": info.sha256, "version": None},
        run_date=args.run_date or date.today().isoformat(), project_id=args.project,
    )  # fmt: skip
    uri = RunsIndex(Storage(), args.runs).write(record)
    print(f"run record: {uri}", file=sys.stderr)


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
