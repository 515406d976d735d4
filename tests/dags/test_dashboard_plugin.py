"""The dashboard inside Airflow 3's api-server (the real app, plugins from the entry point and plugins/): mounted at
/leafline/, listed in the navigation, and refused to anyone Airflow has not signed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.records import record, write


@pytest.fixture(scope="module")
def api(airflow_db: None) -> Iterator[Any]:
    from airflow.api_fastapi.app import create_app, purge_cached_app

    with TestClient(create_app("core")) as client:
        yield client
    purge_cached_app()


def _token() -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token: str = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="reviewer", role="viewer"))
    return token


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path, record("night-01", "2026-11-01"), record("night-02", "2026-11-02", previous="night-01"))
    monkeypatch.setenv("LEAFLINE_RUNS_URI", str(tmp_path))  # read at each request
    return tmp_path


def test_an_unauthenticated_request_is_refused(api: Any, runs: Path) -> None:
    for path in ("/leafline/", "/leafline/api/runs", "/leafline/runs/night-01", "/leafline/api/runs/night-01"):
        answer = api.get(path)
        assert answer.status_code == 401, path
        assert "night-01" not in answer.text
    forged = api.get("/leafline/api/runs", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 403


def test_a_signed_in_user_sees_the_runs(api: Any, runs: Path) -> None:
    token = _token()
    with_header = api.get("/leafline/api/runs", headers={"Authorization": f"Bearer {token}"})
    assert with_header.status_code == 200
    assert [row["run_id"] for row in with_header.json()["runs"]] == ["night-02", "night-01"]
    api.cookies.set("_token", token)  # how the Airflow UI's browser session carries it
    try:
        page = api.get("/leafline/runs/night-02")
    finally:
        api.cookies.clear()
    assert page.status_code == 200 and "PSI 0.3000 against night-01" in page.text
    assert 'href="http://testserver/leafline/"' in page.text  # links stay under the mount point


def test_the_plugin_adds_a_navigation_entry(api: Any) -> None:
    from airflow import plugins_manager

    views = [view for plugin in plugins_manager.get_plugin_info() for view in plugin.get("external_views", [])]
    assert {"name": "Scoring runs", "href": "/leafline/", "destination": "nav"}.items() <= next(
        v for v in views if v["name"] == "Scoring runs"
    ).items()


def test_airflow_loads_the_plugin_once_from_the_entry_point(api: Any) -> None:
    """The installed package's entry point registers it; the checkout's plugins/ file then stands aside, so
    Airflow reports no second plugin of the same name."""
    from airflow import plugins_manager

    plugins, import_errors = plugins_manager._get_plugins()
    ours = [plugin for plugin in plugins if plugin.name == "leafline_dashboard"]
    assert len(ours) == 1
    assert str(ours[0].source).startswith("leafline==")  # an EntryPointSource: dist==version: entry point
    assert import_errors == {}
