"""Hostile run records against the real dashboard (`leafline dashboard`, a process on 127.0.0.1, over HTTP).

Issue 19, case 5: a record's link is a clickable href only when it is an http(s) URL or the Airflow run path
leafline writes; everything a record says reaches the page escaped; pages carry a Content-Security-Policy.
Case 11: one bad record (too deep, a `/` in its run_id, text where a number belongs) is named on the runs
page and answers 422 on its own page while every other page answers 200; run ids and dates are checked when
written; the runs table is paged and a request's memory follows the page, not the index.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from leafline.processes.server import free_port, http_request
from leafline.runs.index import RunsIndex
from leafline.runs.record import RecordError
from leafline.sagemaker.storage import Storage
from tests.dashboard.records import record, write

HOST = "127.0.0.1"


class Dashboard:
    """`python -m leafline dashboard --runs FOLDER` on a free port; stopped by PID."""

    def __init__(self, runs: Path, log: Path) -> None:
        self.runs, self.port, self._log_path = runs, free_port(), log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leafline", "dashboard", "--runs", str(runs), "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_until_listening(deadline=time.monotonic() + 60)

    def _wait_until_listening(self, deadline: float) -> None:
        while True:
            try:
                http_request(HOST, self.port, "GET", "/api/runs", timeout=5)
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"no dashboard: {self._log_path.read_text()}") from None
            try:
                self.process.wait(timeout=0.05)  # a pause that ends at once if the process died
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the dashboard exited: {self._log_path.read_text()}")

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        status, headers, body = http_request(HOST, self.port, "GET", path, timeout=60)
        return status, headers, body.decode()

    def memory_kib(self, field: str) -> int:
        """VmRSS (now) or VmHWM (the peak since reset_peak) of the dashboard process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "runs").mkdir()
    served = Dashboard(folder / "runs", folder / "dashboard.log")
    yield served
    served.stop()


@pytest.fixture
def runs(dashboard: Dashboard) -> Path:
    """The served index, emptied for each test (the dashboard reads it at each request)."""
    for child in dashboard.runs.iterdir():
        shutil.rmtree(child)
    return dashboard.runs


def _hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def _raw(folder: Path, run_date: str, name: str, body: str | bytes) -> None:
    (folder / run_date).mkdir(parents=True, exist_ok=True)
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    (folder / run_date / name).write_bytes(data)


# Case 5 --------------------------------------------------------------------------------------------------------

HOSTILE_LINKS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "&#106;avascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/\\evil.example/x",
    "https://good.example\\@evil.example/",
    "https://user@evil.example/",
    "s3://bucket/key",
    "arn:aws:sagemaker:sa-east-1:123456789012:pipeline/p/execution/exec-7",
    "dags/relative/runs/x",
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_a_record_link_that_is_not_http_or_leaflines_own_path_is_inert_text(
    dashboard: Dashboard, runs: Path, link: str
) -> None:
    write(runs, _with(record("night-01", "2026-11-01"), links={"airflow_run": link}))

    status, _, page = dashboard.get("/runs/night-01")

    assert status == 200
    own = f"http://{HOST}:{dashboard.port}/"
    assert all(href.startswith(own) for href in _hrefs(page)), _hrefs(page)  # only the app's own links
    assert "<dt>airflow_run</dt>" in page  # the link is still shown, as text


@pytest.mark.parametrize(
    "link", ["https://console.aws.amazon.com/sagemaker/home?region=sa-east-1#/jobs", "http://airflow.internal:8080/x",
             "/dags/nightly_scoring/runs/manual__2026-11-20T02:00:00.123456+00:00"],
)  # fmt: skip
def test_http_links_and_the_airflow_run_path_stay_clickable(dashboard: Dashboard, runs: Path, link: str) -> None:
    write(runs, _with(record("night-01", "2026-11-01"), links={"airflow_run": link}))

    status, _, page = dashboard.get("/runs/night-01")

    assert status == 200
    assert link.replace("&", "&amp;") in _hrefs(page)


MARKUP = "<img src=x onerror=alert(1)></script><script>alert(2)</script>\"'>"


def test_every_text_a_record_carries_reaches_the_pages_escaped(dashboard: Dashboard, runs: Path) -> None:
    hostile = record("night-01", "2026-11-01", passed=False)
    hostile.update(failure=MARKUP, project_id=MARKUP, experiment_id=MARKUP, instance_type=MARKUP, trigger="manual",
                   links={MARKUP: "https://example.com/?q=" + quote(MARKUP)})  # fmt: skip
    hostile["model_package"]["approval"] = MARKUP
    hostile["settings"] = {MARKUP: {"value": MARKUP, "source": MARKUP}}
    hostile["transform_job"]["name"] = MARKUP
    hostile["validation"]["checks"] = [{"name": MARKUP, "status": "failed", "reason": MARKUP}]
    hostile["cost"]["basis"] = MARKUP
    write(runs, hostile)

    for path in ("/", "/runs/night-01", f"/?project={quote(MARKUP)}"):
        status, _, page = dashboard.get(path)
        assert status == 200, path
        assert "<img" not in page and "<script" not in page, path
    assert MARKUP.replace("<", "&lt;")[:20] in dashboard.get("/runs/night-01")[2]  # shown, escaped


def test_pages_carry_a_content_security_policy_that_allows_no_script(dashboard: Dashboard, runs: Path) -> None:
    write(runs, record("night-01", "2026-11-01"))

    for path in ("/", "/runs/night-01", "/runs/nope"):
        _, headers, _ = dashboard.get(path)
        policy = headers.get("content-security-policy", "")
        assert "default-src 'none'" in policy and "script-src" not in policy, (path, policy)
        assert "base-uri 'none'" in policy and "form-action 'self'" in policy
        assert headers.get("x-content-type-options") == "nosniff"


# Case 11 -------------------------------------------------------------------------------------------------------

GOOD = record("night-01", "2026-11-01")
DEEP = '{"schema": "leafline.run/2", "run_id": "deep", "run_date": "2026-11-02", "totals": ' + "[" * 100_000 + (
    "]" * 100_000) + "}"  # fmt: skip


def _nested(field: str, key: str, value: Any) -> dict[str, Any]:
    changed = record("bad-01", "2026-11-02")
    changed[field] = {**changed[field], key: value}
    return changed


HOSTILE_RECORDS: dict[str, tuple[str, str | bytes | dict[str, Any], str]] = {
    # name: (file name, record or raw text, what the warning must say)
    "100k-deep JSON": ("deep.json", DEEP, "nested deeper than 16"),
    "a / in the run_id": ("a-b.json", _with(record("bad-01", "2026-11-02"), run_id="a/b"), "run_id"),
    "a .. run_id": ("bad-01.json", _with(record("bad-01", "2026-11-02"), run_id=".."), "run_id"),
    "text for rows/s": ("bad-01.json", _with(record("bad-01", "2026-11-02"), rows_per_s="fast"), "rows_per_s"),
    "text for rows": ("bad-01.json", _nested("totals", "rows", "1000"), "totals.rows"),
    "text for a duration": ("bad-01.json", _nested("transform_job", "duration_s", "2.0"), "transform_job.duration_s"),
    "text for the cost": ("bad-01.json", _nested("cost", "usd", "cheap"), "cost.usd"),
    "text for a bin edge": (
        "bad-01.json",
        _nested("scores", "histogram", {"edges": ["a", "b"], "counts": [1]}),
        "scores.histogram.edges[0]",
    ),
    "a list for the model": ("bad-01.json", _with(record("bad-01", "2026-11-02"), model_package=[1]), "model_package"),
    "a boolean version": ("bad-01.json", _nested("model_package", "version", True), "model_package.version"),
    "NaN psi": (
        "bad-01.json",
        '{"schema": "leafline.run/2", "run_id": "bad-01", "run_date": "2026-11-02", "drift": {"psi": NaN}}',
        "NaN",
    ),
    "a lone surrogate": (
        "bad-01.json",
        '{"schema": "leafline.run/2", "run_id": "bad-01", "run_date": "2026-11-02", "failure": "\\ud800"}',
        "failure",
    ),
    "a 5,000-digit integer": (
        "bad-01.json",
        '{"schema": "leafline.run/2", "run_id": "bad-01", "run_date": "2026-11-02", "rows_per_s": ' + "9" * 5000 + "}",
        "not a readable JSON",
    ),
    "a run_id not its file's": ("other.json", record("bad-01", "2026-11-02"), "bad-01.json"),
    "a run_date not its folder's": ("bad-01.json", record("bad-01", "2026-11-09"), "2026-11-09/bad-01.json"),
    "a control character in a link": (
        "bad-01.json",
        _with(record("bad-01", "2026-11-02"), links={"airflow_run": "\x01javascript:alert(1)"}),
        "links.airflow_run",
    ),
    "not UTF-8": ("bad-01.json", b'{"schema": "leafline.run/2", "run_id": "\xff"}', "not a readable JSON"),
}


@pytest.mark.parametrize("case", HOSTILE_RECORDS, ids=list(HOSTILE_RECORDS))
def test_one_hostile_record_is_named_and_every_other_page_still_answers(
    dashboard: Dashboard, runs: Path, case: str
) -> None:
    name, body, problem = HOSTILE_RECORDS[case]
    write(runs, GOOD)
    _raw(runs, "2026-11-02", name, body if isinstance(body, (str, bytes)) else json.dumps(body))

    pages = {path: dashboard.get(path) for path in ("/", "/api/runs", "/runs/night-01", "/api/runs/night-01")}

    assert {path: answer[0] for path, answer in pages.items()} == dict.fromkeys(pages, 200)
    table = pages["/"][2]
    assert ">night-01</a>" in table and "1 run(s) recorded" in table
    warning = re.search(r'<div class="problems" id="problems">(.*?)</div>', table, re.S)
    assert warning and f"2026-11-02/{name}" in warning.group(1) and problem in warning.group(1), table
    api = json.loads(pages["/api/runs"][2])
    assert [row["run_id"] for row in api["runs"]] == ["night-01"]
    assert any(f"2026-11-02/{name}" in text and problem in text for text in api["problems"])


@pytest.mark.parametrize("case", ["text for rows/s", "text for rows", "text for a bin edge", "NaN psi",
                                  "a lone surrogate", "a run_date not its folder's"])  # fmt: skip
def test_a_hostile_records_own_page_answers_422_with_the_reason(dashboard: Dashboard, runs: Path, case: str) -> None:
    name, body, problem = HOSTILE_RECORDS[case]
    _raw(runs, "2026-11-02", name, body if isinstance(body, str) else json.dumps(body))

    status, _, page = dashboard.get("/runs/bad-01")
    api_status, _, api = dashboard.get("/api/runs/bad-01")

    assert status == 422 and problem in page and "2026-11-02/bad-01.json" in page, page
    assert api_status == 422 and problem in json.loads(api)["error"]


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in a record (a list's first item only)."""
    items = value.items() if isinstance(value, dict) else enumerate(value[:1]) if isinstance(value, list) else ()
    for key, item in items:
        yield (*at, key)
        yield from _paths(item, (*at, key))


_GONE = object()  # the key removed


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    if value is _GONE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return copy


def test_no_value_of_any_type_anywhere_in_a_record_makes_a_page_answer_500(dashboard: Dashboard, runs: Path) -> None:
    base = record("fuzz", "2026-11-01", previous="fuzz")
    base["links"] = {"airflow_run": "/dags/nightly/runs/x"}
    variants = [_GONE, None, "x", -1, 1e308, True, [], {}, [1.5, "x"], {"k": None}]
    made = [_replaced(_with(base, run_id=f"fuzz-{n:04d}"), path, value)
            for n, (path, value) in enumerate((p, v) for p in _paths(base) for v in variants)]  # fmt: skip
    statuses: set[int] = set()
    for batch in range(0, len(made), 100):  # a small index each time: every page lists it
        for child in runs.iterdir():
            shutil.rmtree(child)
        for n in range(batch, min(batch + 100, len(made))):
            _raw(runs, "2026-11-01", f"fuzz-{n:04d}.json", json.dumps(made[n]))
            statuses |= {dashboard.get(f"{prefix}fuzz-{n:04d}")[0] for prefix in ("/runs/", "/api/runs/")}
        path: str | None = "/"
        while path is not None:
            status, _, page = dashboard.get(path)
            assert status == 200, path
            older = re.search(r'<a id="older" href="http://[^/]+(/[^"]*)"', page)
            path = older.group(1).replace("&amp;", "&") if older else None
        assert dashboard.get("/api/runs?status=failed")[0] == dashboard.get("/?project=x&model_version=1")[0] == 200

    assert statuses == {200, 422}


FIELDS = [key for key in record("x", "2026-11-01") if key not in ("schema", "run_id", "run_date")]


@pytest.mark.parametrize("field", FIELDS)
def test_a_record_without_a_field_or_with_it_null_shows(dashboard: Dashboard, runs: Path, field: str) -> None:
    absent = record("gone-01", "2026-11-02")
    del absent[field]
    write(runs, _with(record("null-01", "2026-11-01"), **{field: None}), absent)

    for path in ("/", "/api/runs", "/runs/null-01", "/runs/gone-01", "/api/runs/null-01", "/api/runs/gone-01"):
        assert dashboard.get(path)[0] == 200, path


def test_a_leafline_run_1_record_still_shows(dashboard: Dashboard, runs: Path) -> None:
    older = {"schema": "leafline.run/1", "run_id": "scheduled__2026-10-01T02:00:00+00:00", "run_date": "2026-10-01",
             "trigger": "scheduled", "project_id": "churn", "experiment_id": "exp-1", "instance_type": "ml.m5.xlarge",
             "instance_count": 1, "spec": {"bucket": "b"}, "names": {"model": "m"},
             "model_package": {"arn": "arn:aws:sagemaker:sa-east-1:1:model-package/churn/1", "version": 1,
                               "approval": "Approved", "artifact_sha256": "ab" * 32, "model_data_url": "s3://b/m"},
             "settings": {"MaxConcurrentTransforms": {"value": 4, "source": "spec"}},
             "transform_job": {"name": "j", "status": "Completed", "started": "2026-10-01 02:00:00+00:00",
                               "ended": "2026-10-01 02:01:00+00:00", "failure_reason": None},
             "validation": {"passed": True, "report_uri": "s3://b/r.json", "totals": {"files": 1},
                            "checks": [{"name": "record_counts", "status": "passed"}]},
             "links": {"airflow_run": "/dags/nightly_scoring/runs/scheduled__2026-10-01T02:00:00+00:00"}}  # fmt: skip
    _raw(runs, "2026-10-01", "scheduled-2026-10-01T02-00-00-00-00.json", json.dumps(older))

    table, page = dashboard.get("/"), dashboard.get(f"/runs/{quote(str(older['run_id']))}")

    assert table[0] == page[0] == 200 and 'id="problems"' not in table[2] and "succeeded" in table[2]
    assert 'href="/dags/nightly_scoring/runs/scheduled__2026-10-01T02:00:00+00:00"' in page[2]


@pytest.mark.parametrize("run_id", ["a%2Fb", "..", "a%5Cb", "%2E%2E", "x" * 300])
def test_a_run_id_outside_the_safe_pattern_is_a_404_not_a_500(dashboard: Dashboard, runs: Path, run_id: str) -> None:
    write(runs, GOOD)
    for prefix in ("/runs/", "/api/runs/"):
        status, _, _ = dashboard.get(prefix + run_id)
        assert status == 404, prefix + run_id


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"run_id": "a/b"}, "run_id"),
        ({"run_id": "../../escaped"}, "run_id"),
        ({"run_id": ".."}, "run_id"),
        ({"run_date": "../../escaped"}, "run_date"),
        ({"run_date": "2026-13-45"}, "run_date"),
        ({"rows_per_s": "fast"}, "rows_per_s"),
        ({"links": {"airflow_run": 7}}, "links.airflow_run"),
    ],
)
def test_leaflines_writer_refuses_a_record_the_dashboard_would_refuse(
    tmp_path: Path, changes: dict[str, Any], problem: str
) -> None:
    index = RunsIndex(Storage(), str(tmp_path / "project" / "runs"))

    with pytest.raises(RecordError, match=re.escape(problem)):
        index.write(_with(record("night-01", "2026-11-01"), **changes), also=[str(tmp_path / "beside" / "run.json")])

    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # nothing written, inside the index or out


def test_the_runs_table_is_paged_and_each_run_is_on_exactly_one_page(dashboard: Dashboard, runs: Path) -> None:
    first = date(2026, 1, 1)
    made = [record(f"night-{i:03d}", (first + timedelta(days=i)).isoformat()) for i in range(120)]
    write(runs, *made)

    seen: list[str] = []
    path: str | None = "/"
    pages = 0
    while path is not None:
        status, _, page = dashboard.get(path)
        assert status == 200
        shown = re.findall(r">(night-\d{3})</a>", page)
        assert 0 < len(shown) <= 50
        seen += shown
        pages += 1
        older = re.search(r'<a id="older" href="http://[^/]+(/[^"]*)"', page)
        path = older.group(1).replace("&amp;", "&") if older else None

    assert pages == 3
    assert seen == [r["run_id"] for r in reversed(made)]  # newest first, none twice, none missing
    api = json.loads(dashboard.get("/api/runs")[2])
    assert len(api["runs"]) == 50 and api["older"]
    second = json.loads(dashboard.get(f"/api/runs?before={quote(api['older'])}")[2])
    assert [row["run_id"] for row in second["runs"]] == seen[50:100]


def _padded(run_id: str, run_date: str, checks: int) -> dict[str, Any]:
    """A valid record made large by many validation checks with long reasons (~1 KB each)."""
    big = record(run_id, run_date)
    big["validation"]["checks"] = [{"name": f"check_{i}", "status": "passed", "reason": "r" * 1000}
                                   for i in range(checks)]  # fmt: skip
    return big


def test_a_requests_memory_follows_the_page_not_the_index(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = date(2025, 1, 1)
    write(runs, *(_padded(f"big-{i:04d}", (first + timedelta(days=i)).isoformat(), 100) for i in range(640)))
    index_kib = sum(p.stat().st_size for p in runs.rglob("*.json")) // 1024
    assert index_kib > 60 * 1024
    served = Dashboard(runs, tmp_path / "dashboard.log")
    try:
        paths = ["/", "/api/runs", "/runs/big-0300", "/api/runs/big-0300", "/?status=failed"]
        for path in paths:  # once each first: templates compiled, lazy imports done
            assert served.get(path)[0] == 200, path
        before = served.memory_kib("VmRSS")
        served.reset_peak()

        answers: list[int] = []
        threads = [threading.Thread(target=lambda p=path: answers.append(served.get(p)[0])) for path in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        peak = served.memory_kib("VmHWM")
    finally:
        served.stop()

    assert answers == [200] * len(threads)
    # Five concurrent requests over a 64 MB index: today each holds the whole index (several times its size).
    assert peak - before < index_kib / 8, f"peak {peak} KiB, {before} KiB before, index {index_kib} KiB"
