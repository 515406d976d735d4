"""What the runs table costs with a year of nightly runs for 20 projects: the files it reads, counted (not
timed). Records are written as the DAG writes them (RunsIndex.write), which keeps each month's rows file."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from fastapi.testclient import TestClient

from leafline.dashboard.app import create_app
from leafline.dashboard.views import PAGE_SIZE
from leafline.runs.index import ROWS_FOLDER, ManyIndexes, RunsIndex, record_key, summary
from leafline.sagemaker.storage import Storage
from tests.dashboard.records import record

PROJECTS, NIGHTS = 20, 365


class CountingStorage(Storage):
    """Local storage that counts the files opened for reading."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    def open_read(self, uri: str) -> IO[bytes]:
        self.opened.append(uri)
        return super().open_read(uri)

    def read_bytes(self, uri: str) -> bytes:
        self.opened.append(uri)
        return super().read_bytes(uri)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[CountingStorage, list[RunsIndex]]:
    """20 indexes of 365 nights: records and rows files as write() leaves them, written in bulk (7,300
    write() calls would rewrite each month's file 30 times: minutes, for the same files)."""
    root = tmp_path_factory.mktemp("year")
    storage = CountingStorage()
    indexes = [RunsIndex(storage, str(root / f"project-{p:02d}" / "runs")) for p in range(PROJECTS)]
    first = date(2025, 12, 1)
    for number, index in enumerate(indexes):
        folder = Path(index.uri.removeprefix("file://"))
        months: dict[str, list[str]] = {}
        base = record("scheduled", "2026-11-01", project=f"project-{number:02d}")
        for night in range(NIGHTS):
            day = (first + timedelta(days=night)).isoformat()
            made = {**base, "run_id": f"scheduled-{day}", "run_date": day}
            key = record_key(day, made["run_id"])
            (folder / day).mkdir(parents=True)
            (folder / key).write_text(json.dumps(made))
            months.setdefault(day[:7], []).append(json.dumps({"key": key, "summary": summary(made)}))
        (folder / ROWS_FOLDER).mkdir()
        for month, lines in months.items():
            (folder / ROWS_FOLDER / f"{month}.jsonl").write_text("\n".join(lines) + "\n")
    return storage, indexes


def test_writing_a_record_keeps_its_months_rows_file(tmp_path: Path) -> None:
    index = RunsIndex(Storage(), str(tmp_path))
    for run_id, passed in (("night-1", True), ("night-2", False), ("night-1", False)):  # night-1 recorded again
        index.write(record(run_id, "2026-11-03", passed=passed))

    rows = index.month_rows("2026-11", [])
    assert sorted(rows) == ["2026-11-03/night-1.json", "2026-11-03/night-2.json"]
    assert rows["2026-11-03/night-1.json"]["status"] == "failed"  # the newer record's
    assert (tmp_path / "_rows" / "2026-11.jsonl").is_file()
    assert [f.key for f in index.listing().files] == sorted(rows, reverse=True)  # rows files are not records


def test_a_page_of_the_table_reads_month_files_not_a_years_records(year: tuple[CountingStorage, Any]) -> None:
    storage, indexes = year
    client = TestClient(create_app(ManyIndexes(indexes)))
    storage.opened.clear()

    page = client.get("/")

    assert page.status_code == 200 and f"{PROJECTS * NIGHTS} run(s) recorded" in page.text
    assert len(re.findall(r'<tr>\s*<td><span class="badge', page.text)) == PAGE_SIZE
    records = [uri for uri in storage.opened if uri.endswith(".json")]
    months = [uri for uri in storage.opened if uri.endswith(".jsonl")]
    assert records == []  # every run shown came from its month's rows file
    assert len(months) <= PROJECTS * 2  # the newest month of each project (at most one more at a month's edge)


def test_a_filter_matching_one_project_reads_at_most_its_scan_limit_in_month_files(
    year: tuple[CountingStorage, Any],
) -> None:
    storage, indexes = year
    client = TestClient(create_app(ManyIndexes(indexes)))
    storage.opened.clear()

    page = client.get("/", params={"project": "project-07"})

    assert page.status_code == 200
    shown = re.findall(r"<td>(\d{4}-\d{2}-\d{2})</td><td>project-07</td>", page.text)
    assert len(shown) == 25  # 500 runs scanned (SCAN_RECORDS) across 20 projects: 25 of project-07's
    assert [uri for uri in storage.opened if uri.endswith(".json")] == []
    assert len(storage.opened) <= PROJECTS * 2
