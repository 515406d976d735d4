"""The dashboard as Airflow's api-server mounts it: every route behind Airflow's own authentication.

Airflow applies no authentication to a plugin's FastAPI app, so each route depends on Airflow's
`requires_authenticated()`: a valid Airflow JWT from the UI's session cookie or an `Authorization: Bearer`
header, else 401 (403 for a forged token). The runs indexes are the nightly DAG's (LEAFLINE_SPEC's bucket and
project, or each spec's in LEAFLINE_SPECS_DIR, in one table), read through the DAG's AWS connection;
LEAFLINE_RUNS_URI points it elsewhere (a folder too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI

from leafline.dashboard.app import create_app
from leafline.orchestration.settings import DagSettings
from leafline.orchestration.spec_folder import load_projects
from leafline.runs.index import ManyIndexes, RunsIndex, runs_uri
from leafline.sagemaker.storage import Storage


def runs_locations(environ: Mapping[str, str]) -> tuple[list[str], str]:
    """(runs index URIs, AWS connection id) from the DAG's settings: each project's that the DAG file loads."""
    settings = DagSettings.from_env(environ)
    if environ.get("LEAFLINE_RUNS_URI"):
        return [environ["LEAFLINE_RUNS_URI"]], settings.aws_conn_id
    projects = load_projects(settings).projects  # a folder's bad specs are the DAG file's import error
    return [runs_uri(p.spec.bucket, p.spec.project_id) for p in projects], settings.aws_conn_id


def _loader(environ: Mapping[str, str]) -> Callable[[], RunsIndex]:
    """Settings are read at each request (not when the api-server imports plugins); S3 clients are kept."""
    clients: dict[str, Any] = {}

    def load() -> RunsIndex:
        uris, conn_id = runs_locations(environ)
        client = None
        if any(uri.startswith("s3://") for uri in uris):
            if conn_id not in clients:
                from airflow.providers.amazon.aws.hooks.s3 import S3Hook

                clients[conn_id] = S3Hook(aws_conn_id=conn_id).get_conn()
            client = clients[conn_id]
        indexes = [RunsIndex(Storage(client=client), uri) for uri in uris]
        return indexes[0] if len(indexes) == 1 else ManyIndexes(indexes)

    return load


def airflow_dashboard(environ: Mapping[str, str] | None = None) -> FastAPI:
    from airflow.api_fastapi.core_api.security import requires_authenticated

    loader = _loader(os.environ if environ is None else environ)
    return create_app(loader, dependencies=[Depends(requires_authenticated())])
