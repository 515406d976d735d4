"""The dashboard as Airflow's api-server mounts it: every route behind Airflow's own authentication.

Airflow applies no authentication to a plugin's FastAPI app, so each route depends on Airflow's
`requires_authenticated()`: a valid Airflow JWT from the UI's session cookie or an `Authorization: Bearer`
header, else 401 (403 for a forged token). The runs index is the nightly DAG's (LEAFLINE_SPEC's bucket and
project), read through the DAG's AWS connection; LEAFLINE_RUNS_URI points it elsewhere (a folder too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI

from leafline.dag_settings import DagSettings
from leafline.dashboard.app import create_app
from leafline.jobspec import load_spec
from leafline.runs.index import RunsIndex, runs_uri
from leafline.transform.storage import Storage


def runs_location(environ: Mapping[str, str]) -> tuple[str, str]:
    """(runs index URI, AWS connection id) from the DAG's settings."""
    settings = DagSettings.from_env(environ)
    if environ.get("LEAFLINE_RUNS_URI"):
        return environ["LEAFLINE_RUNS_URI"], settings.aws_conn_id
    spec = load_spec(settings.spec_path)
    return runs_uri(spec.bucket, spec.project_id), settings.aws_conn_id


def _loader(environ: Mapping[str, str]) -> Callable[[], RunsIndex]:
    """Settings are read at each request (not when the api-server imports plugins); S3 clients are kept."""
    clients: dict[str, Any] = {}

    def load() -> RunsIndex:
        uri, conn_id = runs_location(environ)
        client = None
        if uri.startswith("s3://"):
            if conn_id not in clients:
                from airflow.providers.amazon.aws.hooks.s3 import S3Hook

                clients[conn_id] = S3Hook(aws_conn_id=conn_id).get_conn()
            client = clients[conn_id]
        return RunsIndex(Storage(client=client), uri)

    return load


def airflow_dashboard(environ: Mapping[str, str] | None = None) -> FastAPI:
    from airflow.api_fastapi.core_api.security import requires_authenticated

    loader = _loader(os.environ if environ is None else environ)
    return create_app(loader, dependencies=[Depends(requires_authenticated())])
