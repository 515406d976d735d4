"""The dashboard app in-process (FastAPI's TestClient) over a runs folder: the table and its filters, a run's
page with its plots, the JSON API, and clear messages for an empty, missing or corrupt index."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leafline.cli import build_parser
from leafline.cli.dashboard import dashboard_app
from leafline.dashboard.app import create_app
from leafline.runs.index import RunsIndex
from leafline.sagemaker.storage import Storage
from leafline.spec.jobspec import DEFAULT_SPEC, load_spec
from leafline.tools.demo.run import dashboard_command, local_runs_folder
from tests.dashboard.records import record, write


def _client(folder: Path) -> TestClient:
    return TestClient(create_app(RunsIndex(Storage(), str(folder))))


SKEWED = [300, 200, 100, 100, 100, 50, 50, 50, 25, 25]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write(
        tmp_path,
        record("night-01", "2026-11-01", counts=[100] * 10),
        record("night-02", "2026-11-02", counts=SKEWED, previous="night-01", seconds=4.0),
        record("night-03", "2026-11-03", passed=False, version=2),
        record("other-01", "2026-11-02", project="fraud"),
    )
    return tmp_path


def test_the_runs_table_lists_every_run_newest_first_with_its_figures(runs: Path) -> None:
    page = _client(runs).get("/")

    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)[1:]
    assert [re.search(r">(night-\d\d|other-\d\d)<", r).group(1) for r in rows] == [  # type: ignore[union-attr]
        "night-03", "night-02", "other-01", "night-01"]  # fmt: skip
    assert "4 run(s) recorded" in page.text
    assert re.search(r"failed</span></td>\s*<td>2026-11-03</td><td>churn</td><td>v2</td>", rows[0])
    assert "1,000" in rows[1] and "4.0 s" in rows[1] and "$0.000367" in rows[1] and "significant" in rows[1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["night-03"]),
        ("project=fraud", ["other-01"]),
        ("model_version=2", ["night-03"]),
        ("date_from=2026-11-02&date_to=2026-11-02", ["night-02", "other-01"]),
        ("status=succeeded&project=churn", ["night-02", "night-01"]),
    ],
)
def test_filters_narrow_the_table(runs: Path, query: str, expected: list[str]) -> None:
    answer = _client(runs).get(f"/api/runs?{query}").json()
    assert [row["run_id"] for row in answer["runs"]] == expected
    assert re.findall(r">(night-\d\d|other-\d\d)</a>", _client(runs).get(f"/?{query}").text) == expected


def test_a_bad_filter_is_a_clear_400(runs: Path) -> None:
    page = _client(runs).get("/?model_version=two")
    assert page.status_code == 400 and "model_version=&#39;two&#39;: expected a whole number" in page.text
    assert _client(runs).get("/api/runs?date_from=11/02").json() == {
        "error": "date_from='11/02': expected a date, YYYY-MM-DD"}  # fmt: skip


def test_a_run_page_plots_its_scores_against_the_previous_run_and_its_history(runs: Path) -> None:
    page = _client(runs).get("/runs/night-02")

    assert page.status_code == 200
    svgs = re.findall(r"<svg class=\"chart\".*?</svg>", page.text, re.S)
    assert len(svgs) == 3
    histogram, throughput, cost = svgs
    assert cost.count('class="point"') == 2
    assert histogram.count('class="bar"') == 10 and 'class="previous"' in histogram  # against night-01
    assert "30.0%" in histogram  # the first bin's share this run
    assert throughput.count('class="point"') == 2  # night-01 and night-02: the project's runs so far
    assert "PSI 0.3000 against night-01" in page.text
    assert "record_counts" in page.text


def test_a_failed_run_shows_why(runs: Path) -> None:
    page = _client(runs).get("/runs/night-03")
    assert "validation failed: record_counts: part-0.csv.out: 990 records, expected 1000" in page.text


def test_the_api_returns_the_whole_record(runs: Path) -> None:
    answer = _client(runs).get("/api/runs/night-02").json()
    assert answer["schema"] == "leafline.run/2" and answer["totals"]["rows"] == 1000
    missing = _client(runs).get("/api/runs/nope")
    assert missing.status_code == 404 and "no run 'nope'" in missing.json()["error"]
    assert _client(runs).get("/runs/nope").status_code == 404


def test_an_empty_or_missing_index_says_so(tmp_path: Path) -> None:
    for folder in (tmp_path, tmp_path / "never-written"):
        page = _client(folder).get("/")
        assert page.status_code == 200 and "No runs recorded yet" in page.text


def test_a_corrupt_record_is_named_and_the_others_still_show(runs: Path) -> None:
    (runs / "2026-11-04").mkdir()
    (runs / "2026-11-04" / "broken.json").write_text('{"schema": "leafline.run/2", ')
    (runs / "2026-11-04" / "stranger.json").write_text('{"hello": 1}')

    page = _client(runs).get("/")

    assert page.status_code == 200 and "4 run(s) recorded" in page.text
    assert "broken.json: not a readable JSON run record" in page.text
    assert "stranger.json: not a leafline run record" in page.text


@pytest.mark.parametrize("given", ["runs", "./runs/", "file://runs", "elsewhere/../runs"])
def test_a_runs_folder_relative_to_the_working_directory_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "runs", record("night-01", "2026-11-01"), record("night-02", "2026-11-02", previous="night-01"))
    client = TestClient(create_app(RunsIndex(Storage(), given)))

    table, page, api = client.get("/"), client.get("/runs/night-02"), client.get("/api/runs")

    assert table.status_code == 200 and "2 run(s) recorded" in table.text
    assert page.status_code == 200 and "PSI 0.3000 against night-01" in page.text
    assert api.json()["location"].endswith(f"{tmp_path}/runs/") and len(api.json()["runs"]) == 2


def test_the_dashboard_command_make_demo_prints_and_its_default_show_the_demos_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where `make demo` ran: the checkout's root
    spec = load_spec(DEFAULT_SPEC)
    write(local_runs_folder(Path("demo-output"), spec), record("night-01", "2026-11-01", project=spec.project_id))
    printed = shlex.split(dashboard_command(Path("demo-output"), [spec]))  # the summary's last line, as run_demo has it

    assert printed[:2] == [".venv/bin/leafline", "dashboard"]
    for argv in (printed[1:], ["dashboard"]):
        app, location = dashboard_app(build_parser().parse_args(argv))
        client = TestClient(app)
        table, page = client.get("/"), client.get("/runs/night-01")
        assert table.status_code == 200 and "1 run(s) recorded" in table.text and ">night-01<" in table.text
        assert page.status_code == 200
        # The default is every project make demo scores (the second has no runs here yet).
        assert location.split(", ")[0] == f"{tmp_path}/demo-output/local-aws/s3/leafline-demo/leafline-demo/runs/"
