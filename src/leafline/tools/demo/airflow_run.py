"""Real Airflow as a child process (`airflow db migrate`, `airflow dags test`) with its home in a folder.

Only configuration differs from a deployment: a SQLite metadata DB, a DAGs folder holding leafline's DAG
file and an AWS connection whose endpoint_url is local AWS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from leafline.errors import LeaflineError


class AirflowError(LeaflineError):
    """An Airflow command failed; the message names its log."""


def airflow_environment(
    home: Path, dags_folder: Path, aws_connection: str, base: Mapping[str, str], poke_interval_s: float = 1.0
) -> dict[str, str]:
    return {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection,
        "LEAFLINE_POKE_INTERVAL_S": f"{poke_interval_s:g}",
        "LEAFLINE_RETRIES": "0",  # a demo shows a failure at once instead of retrying it
    }


def _airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def migrate_db(env: Mapping[str, str], log_path: Path) -> None:
    """Create or upgrade the metadata DB (quick when it is current)."""
    with log_path.open("a") as log:
        done = subprocess.run(_airflow("db", "migrate"), env=dict(env), stdout=log, stderr=subprocess.STDOUT,
                              check=False)  # fmt: skip
    if done.returncode != 0:
        raise AirflowError(f"`airflow db migrate` failed (exit {done.returncode}); see {log_path}")


def dags_test(
    dag_id: str, conf: Mapping[str, Any], env: Mapping[str, str], log_path: Path, on_line: Callable[[str], None]
) -> int:
    """`airflow dags test DAG_ID -c CONF`; every output line goes to the log and to on_line."""
    command = _airflow("dags", "test", dag_id, "-c", json.dumps(dict(conf)))
    with log_path.open("a") as log, subprocess.Popen(command, env=dict(env), stdout=subprocess.PIPE,
                                                     stderr=subprocess.STDOUT, text=True) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            on_line(line)
        return process.wait()
