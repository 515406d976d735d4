"""`leafline dashboard`: the dashboard standalone, on 127.0.0.1, over a runs index."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_PORT = 8050


def add_parser(commands: Any) -> None:
    dashboard = commands.add_parser(
        "dashboard",
        help="show every recorded scoring run in the browser (read-only)",
        description="Serve the MLOps dashboard on 127.0.0.1: the runs table (status, date, project, model version, "
        "rows, duration, cost, validation, drift) with filters, and a page per run with its score histogram against "
        "the previous run, throughput and cost over the project's recent runs, and the validation checks. --runs is "
        "a runs index: s3://BUCKET/PROJECT/runs/ (AWS_ENDPOINT_URL may point at local AWS) or a folder, repeated for "
        "several projects; by default the ones `make demo` leaves in demo-output/.",
    )
    dashboard.add_argument("--runs", action="append", default=None, metavar="URI",
                           help="a runs index; repeat it to show several projects in one table "
                           "(default: make demo's projects')")  # fmt: skip
    dashboard.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")


def default_runs() -> list[str]:
    """make demo's runs indexes (one per project it scores), as files under demo-output/ in the working directory."""
    from leafline.tools.demo.run import demo_specs, local_runs_folder

    return [str(local_runs_folder(Path("demo-output"), spec)) for spec in demo_specs()]


def dashboard_app(args: argparse.Namespace) -> tuple[FastAPI, str]:
    """The app over --runs (a folder relative to the working directory is fine) and the indexes' locations."""
    from leafline.dashboard.app import create_app
    from leafline.runs.index import ManyIndexes, RunsIndex
    from leafline.sagemaker.storage import Storage

    indexes = [RunsIndex(Storage(), uri) for uri in args.runs or default_runs()]
    index = indexes[0] if len(indexes) == 1 else ManyIndexes(indexes)
    return create_app(index), index.uri


def run_dashboard_command(args: argparse.Namespace) -> int:
    import uvicorn

    app, location = dashboard_app(args)
    print(f"leafline dashboard: http://{args.host}:{args.port}/ over {location} (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
