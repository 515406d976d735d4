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


def test_a_folder_of_specs_gives_one_dag_per_project_each_with_its_own_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "churn.toml").write_text(spec_text("churn", 'schedule = "0 1 * * *"\nowner = "risk"\n'))
    (folder / "fraud.toml").write_text(spec_text("fraud", 'schedule = "30 3 * * *"\ntimezone = "UTC"\n'))
    (folder / "upsell.json").write_text(
        '{"project_id": "upsell", "experiment_id": "e", "bucket": "b", "image_uri": "i",'
        ' "role_arn": "arn:aws:iam::123456789012:role/r", "dag_tags": ["growth"]}'
    )
    (folder / "README.md").write_text("not a spec")
    bag = parse(monkeypatch, LEAFLINE_SPECS_DIR=str(folder))

    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["nightly_scoring__churn", "nightly_scoring__fraud", "nightly_scoring__upsell"]
    churn, fraud = bag.dags["nightly_scoring__churn"], bag.dags["nightly_scoring__fraud"]
    assert (churn.timetable.summary, churn.owner) == ("0 1 * * *", "risk")
    assert (fraud.timetable.summary, str(fraud.timetable._timezone), fraud.owner) == ("30 3 * * *", "UTC", "leafline")
    assert "growth" in bag.dags["nightly_scoring__upsell"].tags
    assert churn.params["project_id"] == "churn" and fraud.params["project_id"] == "fraud"
    assert [a.name for a in fraud.get_task("validate").outlets] == ["leafline-scores-fraud"]


def test_a_bad_spec_or_a_repeated_project_is_an_import_error_and_the_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "churn.toml").write_text(spec_text("churn"))
    (folder / "fraud.toml").write_text(spec_text("fraud", 'schedule = "0 25 * * *"\n'))
    (folder / "upsell.toml").write_text(spec_text("upsell"))
    (folder / "upsell-copy.toml").write_text(spec_text("upsell"))
    (folder / "typo.toml").write_text(spec_text("typo", "retries = 'two'\n"))
    bag = parse(monkeypatch, LEAFLINE_SPECS_DIR=str(folder))

    assert bag.dag_ids == ["nightly_scoring__churn"]  # the good project's DAG is not hidden
    (message,) = bag.import_errors.values()  # one import error, for the one DAG file, naming every bad spec
    assert message.startswith("SpecError: ")
    assert f"spec {folder / 'fraud.toml'}: schedule '0 25 * * *': hour '25' is not within 0..23" in message
    assert f"spec {folder / 'typo.toml'}: retries = 'two': expected an integer" in message
    assert f"specs {folder / 'upsell-copy.toml'}, {folder / 'upsell.toml'}: the same project_id 'upsell'" in message


def test_a_missing_specs_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bag = parse(monkeypatch, LEAFLINE_SPECS_DIR=str(tmp_path / "nowhere"))

    assert bag.dag_ids == []
    (message,) = bag.import_errors.values()
    assert f"LEAFLINE_SPECS_DIR='{tmp_path / 'nowhere'}': no such folder" in message
