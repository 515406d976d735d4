"""`make demo`'s command end to end, twice: local AWS, the bundled model, `airflow dags test` as a child
process, the summary; the second run reuses what the first left and registers nothing new."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leafline.cli import build_parser
from leafline.cli.dashboard import dashboard_app
from leafline.runs.cost import amount_text


def _local(output: str, label: str) -> Path:
    """The local file under a summary line's s3:// location (the line after it)."""
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(label))
    return Path(lines[index + 1].strip())


def test_the_demo_runs_the_night_and_runs_again(demo_runs: tuple[Path, str, str]) -> None:
    tmp_path, first, second = demo_runs

    assert [int(n) for n in re.findall(r"==> \[(\d)/6", first)] == [1, 2, 3, 4, 5, 6]  # progress as it goes
    assert "task record done" in first and "the DAG run succeeded" in first
    assert re.search(r"rows scored +6,000 in 3 files; transform job [\d.]+ s = [\d,]+ rows/s", first)
    assert "MaxConcurrentTransforms 4 (tuned profile for ml.m5.xlarge)" in first
    assert "validation         passed: " in first
    record = json.loads(_local(first, "run record").read_text())
    printed = re.search(r"estimated AWS cost (.+) \(the run record's, for 6,000 rows\)", first)
    assert printed is not None and printed.group(1) == amount_text(record["cost"])  # one run, one cost
    assert record["cost"]["region"] == "sa-east-1"  # the spec's region's prices
    assert (record["cost"]["usd"] is None) == (printed.group(1) == "no price for ml.m5.xlarge in sa-east-1")
    assert record["cost"]["billed_s"] == record["transform_job"]["duration_s"]
    assert ": 1 instance x " in record["cost"]["basis"]
    assert record["model_package"]["version"] == 1 and record["transform_job"]["status"] == "Completed"
    outputs = sorted(_local(first, "outputs").glob("*.out"))
    assert [p.name for p in outputs] == ["part-00000.csv.out", "part-00001.csv.out", "part-00002.csv.out"]
    assert sum(len(p.read_bytes().splitlines()) for p in outputs) == 6000
    assert json.loads(_local(first, "validation report").read_text())["passed"] is True

    # Two projects in one night, each its own DAG from the folder of specs, each with its own record.
    assert "nightly_scoring__leafline-demo, nightly_scoring__leafline-demo-upsell" in first
    assert first.count("the DAG run succeeded") == 2
    assert re.search(r"also scored +leafline-demo-upsell: 1,500 rows in [\d.]+ s, succeeded", first)

    assert second.count("0 uploaded, 3 already there") == 2 and "reusing the stored profile" in second
    assert "leafline-demo/1 (Approved)" in second
    runs = sorted(_local(second, "run record").parent.glob("*.json"))
    assert len(runs) == 2 and {json.loads(p.read_text())["model_package"]["version"] for p in runs} == {1}
    journal = (tmp_path / "local-aws" / "sagemaker-journal.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["action"] == "CreateModelPackage" for line in journal) == 2  # one per project


def test_the_dashboard_command_the_summary_ends_with_shows_the_runs(
    demo_runs: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir, _, second = demo_runs
    line = second.rpartition("See every project's runs in the browser: ")[2].splitlines()[0]
    printed = shlex.split(line)
    monkeypatch.chdir(workdir.parent)  # where `make demo` ran, as the command is meant to be run

    app, _ = dashboard_app(build_parser().parse_args(printed[1:]))
    client = TestClient(app)
    table = client.get("/")
    run_ids = [row["run_id"] for row in client.get("/api/runs").json()["runs"]]

    assert line == (
        ".venv/bin/leafline dashboard --runs demo-output/local-aws/s3/leafline-demo/leafline-demo/runs"
        " --runs demo-output/local-aws/s3/leafline-demo/leafline-demo-upsell/runs"
    )
    runs = client.get("/api/runs").json()["runs"]
    assert table.status_code == 200 and "4 run(s) recorded" in table.text and len(set(run_ids)) == 4
    assert sorted(run["project"] for run in runs) == ["leafline-demo"] * 2 + ["leafline-demo-upsell"] * 2
    for run in runs:
        assert client.get(f"/runs/{run['run_id']}", params={"project": run["project"]}).status_code == 200

    default, _ = dashboard_app(build_parser().parse_args(["dashboard"]))  # no --runs: make demo's projects
    assert "4 run(s) recorded" in TestClient(default).get("/").text
