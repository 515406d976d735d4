"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a SQLite metadata DB, set before Airflow is imported."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_HOME = tempfile.mkdtemp(prefix="leafline-airflow-home-")
os.environ.update({
    "AIRFLOW_HOME": _HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    # Signs the api-server's JWTs (the dashboard plugin's tests); long enough for SHA-512.
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
    "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": "sa-east-1"}}
    ),
    "LEAFLINE_POKE_INTERVAL_S": "0",
})  # fmt: skip


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    from airflow.utils import db

    db.resetdb()
    yield
