"""The dashboard over several projects' runs indexes at once (a folder of specs: one index per project): one
table across projects, the project filter, pages across projects, and each run's trend plots of its own
project, even where two projects' runs have the same id (scheduled runs are named by their time)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leafline.dashboard import views
from leafline.dashboard.app import create_app
from leafline.runs.index import ManyIndexes, RunsIndex
from leafline.sagemaker.storage import Storage
from tests.dashboard.records import record, write


def _two_projects(tmp_path: Path, nights: int = 3) -> TestClient:
    churn, fraud = tmp_path / "churn" / "runs", tmp_path / "fraud" / "runs"
    for night in range(1, nights + 1):
        date, run_id = f"2026-11-{night:02d}", f"scheduled-2026-11-{night:02d}"
        write(churn, record(run_id, date, project="churn", rows=1000 + night))
        write(fraud, record(run_id, date, project="fraud", rows=5000 + night, version=3))
    indexes = ManyIndexes([RunsIndex(Storage(), str(churn)), RunsIndex(Storage(), str(fraud))])
    return TestClient(create_app(indexes))


def _table(html: str) -> list[tuple[str, str]]:
    """(run date, project) of each row shown."""
    return re.findall(r"<td>(\d{4}-\d{2}-\d{2})</td><td>(\w+)</td>", html)


def test_one_table_shows_every_projects_runs_newest_first(tmp_path: Path) -> None:
    table = _two_projects(tmp_path).get("/")

    assert table.status_code == 200 and "6 run(s) recorded" in table.text
    assert _table(table.text) == [
        ("2026-11-03", "churn"), ("2026-11-03", "fraud"), ("2026-11-02", "churn"), ("2026-11-02", "fraud"),
        ("2026-11-01", "churn"), ("2026-11-01", "fraud"),
    ]  # fmt: skip
    assert re.findall(r'<option value="(\w+)"', table.text)[-2:] == ["churn", "fraud"]  # the project filter


def test_the_project_filter_narrows_the_table_to_one_project(tmp_path: Path) -> None:
    table = _two_projects(tmp_path).get("/", params={"project": "fraud"})

    assert [project for _, project in _table(table.text)] == ["fraud"] * 3


def test_a_runs_page_shows_its_own_projects_record_and_trend(tmp_path: Path) -> None:
    client = _two_projects(tmp_path)
    table = client.get("/")
    assert 'href="http://testserver/runs/scheduled-2026-11-03?project=fraud"' in table.text

    page = client.get("/runs/scheduled-2026-11-03", params={"project": "fraud"})
    assert page.status_code == 200 and "fraud / exp-1" in page.text and "churn / exp-1" not in page.text
    throughput = re.findall(r"<svg class=\"chart\".*?</svg>", page.text, re.S)[1]
    assert throughput.count('class="point"') == 3  # fraud's three nights, none of churn's
    api = client.get("/api/runs/scheduled-2026-11-03", params={"project": "churn"}).json()
    assert (api["project_id"], api["totals"]["rows"]) == ("churn", 1003)


def test_pages_go_on_across_projects_without_losing_or_repeating_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    client = _two_projects(tmp_path, nights=5)
    seen: list[tuple[str, str]] = []
    url: str | None = "/"
    while url:
        page = client.get(url)
        seen += _table(page.text)
        found = re.search(r'<a id="older" href="([^"]+)"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None

    assert len(seen) == 10 and len(set(seen)) == 10
