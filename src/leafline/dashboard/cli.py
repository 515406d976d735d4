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
        "a runs index: s3://BUCKET/PROJECT/runs/ (AWS_ENDPOINT_URL may point at local AWS) or a folder; by default "
        "the one `make demo` leaves in demo-output/.",
    )
    dashboard.add_argument("--runs", default=None, metavar="URI", help="the runs index (default: make demo's)")
    dashboard.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")


def default_runs() -> str:
    """make demo's runs index, as files under demo-output/ in the working directory."""
    from leafline.demo.run import local_runs_folder
    from leafline.jobspec import DEFAULT_SPEC, load_spec

    return str(local_runs_folder(Path("demo-output"), load_spec(DEFAULT_SPEC)))


def dashboard_app(args: argparse.Namespace) -> tuple[FastAPI, str]:
    """The app over --runs (a folder relative to the working directory is fine) and the index's location."""
    from leafline.dashboard.app import create_app
    from leafline.runs.index import RunsIndex
    from leafline.transform.storage import Storage

    index = RunsIndex(Storage(), args.runs or default_runs())
    return create_app(index), index.uri


def run_dashboard_command(args: argparse.Namespace) -> int:
    import uvicorn

    app, location = dashboard_app(args)
    print(f"leafline dashboard: http://{args.host}:{args.port}/ over {location} (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
