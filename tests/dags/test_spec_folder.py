"""One DAG per spec: the spec's own schedule, owner, tags, retries and timeouts, from LEAFLINE_SPEC or a
folder of specs (LEAFLINE_SPECS_DIR), parsed by a real Airflow DagBag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import ROOT

DAG_FILE = ROOT / "dags" / "nightly_scoring.py"


def spec_text(project_id: str, extra: str = "") -> str:
    return (
        f'project_id = "{project_id}"\nexperiment_id = "exp-1"\nbucket = "leafline-demo"\n'
        'role_arn = "arn:aws:iam::123456789012:role/leafline-scoring"\n'
        'image_uri = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:latest"\n' + extra
    )


def parse(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    for key in ("LEAFLINE_SPEC", "LEAFLINE_SPECS_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return DagBag(dag_folder=str(DAG_FILE))


def test_the_dag_takes_schedule_owner_tags_retries_and_timeouts_from_its_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "churn.toml"
    spec.write_text(
        spec_text(
            "churn",
            'schedule = "30 1 * * 1-5"\ntimezone = "Europe/Lisbon"\nowner = "risk-team"\ndag_tags = ["risk"]\n'
            "retries = 0\nretry_delay_s = 30\ntransform_timeout_s = 7200\nrun_timeout_s = 14400\n",
        )
    )
    bag = parse(monkeypatch, LEAFLINE_SPEC=str(spec), LEAFLINE_RETRIES="5")

    assert bag.import_errors == {}
    dag = bag.dags["nightly_scoring"]  # a single LEAFLINE_SPEC keeps its dag_id
    assert (dag.timetable.summary, str(dag.timetable._timezone)) == ("30 1 * * 1-5", "Europe/Lisbon")
    assert dag.owner == "risk-team" and set(dag.tags) == {"leafline", "sagemaker", "scoring", "risk"}
    assert dag.dagrun_timeout.total_seconds() == 14400
    wait = dag.get_task("wait_for_transform")
    assert wait.timeout == 7200
    assert (wait.retries, wait.retry_delay.total_seconds()) == (0, 30)  # the spec's, not LEAFLINE_RETRIES
