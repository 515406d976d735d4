"""The demo's steps, in order, each announced as it starts; details go to WORKDIR/demo.log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from leafline.errors import LeaflineError
from leafline.local_aws.server import LocalAws
from leafline.orchestration.airflow.dag_file import write_dag_file
from leafline.spec.jobspec import DEFAULT_SPEC, JobSpec, load_spec
from leafline.tools.demo import airflow_run
from leafline.tools.demo.data import install_sample_model, shard_rows, write_shards
from leafline.tools.demo.summary import Locations, summary_lines

STEPS = 6
# The demo's night scores two projects, each its own spec in one folder (LEAFLINE_SPECS_DIR), so one DAG
# file gives one DAG per project. The second scores a quarter of the rows: the demo stays quick.
SECOND_SPEC = Path(__file__).with_name("leafline-demo-upsell.toml")
SECOND_SHARE = 4
_TASK_DONE = re.compile(r"\[DAG TEST\] end task task_id=(\w+)")


class DemoError(LeaflineError):
    """A demo step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    rows: int = 300_000
    shards: int = 6
    dag_file: Path | None = None  # default: leafline's DAG file, written into WORKDIR/airflow/dags
    run_date: str = ""  # default: today


class _Demo:
    def __init__(self, options: DemoOptions, out: TextIO | None) -> None:
        self.options = options
        self.workdir = options.workdir.resolve()
        self.log_path = self.workdir / "demo.log"
        self.out = out
        self.started = time.perf_counter()
        self.step_no = 0
        self.tasks_done: set[str] = set()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self.step_no += 1
        self.say(f"==> [{self.step_no}/{STEPS} {time.perf_counter() - self.started:5.1f} s] {text}")

    @contextlib.contextmanager
    def logged(self) -> Iterator[None]:
        """A leafline command's own output, into demo.log."""
        with self.log_path.open("a") as log, contextlib.redirect_stdout(log):
            yield

    def cli(self, *argv: str) -> None:
        from leafline.cli import main

        with self.logged():
            print(f"$ leafline {' '.join(argv)}")
            code = main(list(argv))
        if code != 0:
            raise DemoError(f"`leafline {' '.join(argv)}` failed (exit {code}); see {self.log_path}")


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    if options.rows < options.shards or options.shards < 1:
        raise DemoError(f"--rows {options.rows} must be at least --shards {options.shards} (and shards >= 1)")
    if options.dag_file is not None and not options.dag_file.is_file():
        raise DemoError(f"--dag-file {options.dag_file}: no such file")
    demo = _Demo(options, out)
    demo.workdir.mkdir(parents=True, exist_ok=True)
    demo.log_path.write_text("")
    specs_dir = _write_specs(demo.workdir / "specs")  # the DAG is told to read this folder (below)
    spec_files = [specs_dir / DEFAULT_SPEC.name, specs_dir / SECOND_SPEC.name]  # the first is shown first
    specs = [load_spec(path) for path in spec_files]
    spec = specs[0]  # the first project's model is tuned; both score with its profile
    run_date = options.run_date or date.today().isoformat()
    state = demo.workdir / "local-aws"
    demo.step(f"starting local AWS (S3, Model Registry, SageMaker) with its state in {state}")
    aws = LocalAws(state_dir=state, region=spec.region, log=lambda line: _append(demo.log_path, line))
    with aws:
        os.environ.update(aws.environment())  # the leafline commands below reach local AWS through boto3
        demo.say(f"    {aws.url}")
        _ensure_bucket(spec)
        model_dir = _prepare_model(demo, spec_files)
        _register(demo, specs, spec_files)
        _upload_input(demo, specs, run_date)
        results = _run_dags(demo, aws, specs_dir, specs, run_date)
        records = [_newest_record(each, run_date) for each in specs]
    failed = [(each, record) for each, record, (ok, _) in zip(specs, records, results, strict=True)
              if not ok or record is None or record["status"] != "succeeded"]  # fmt: skip
    if failed:
        each, record = failed[0]
        why = f" ({record['failure']})" if record and record.get("failure") else ""
        log = demo.workdir / "airflow" / "dags-test.log"
        demo.say(f"\nleafline demo: the nightly run of {each.project_id} FAILED{why}; see {log}")
        return 1
    demo.step("summary")
    first = records[0]
    assert first is not None
    _print_summary(demo, first, results[0][1], model_dir, spec, state)
    for each, record, (_, seconds) in zip(specs[1:], records[1:], results[1:], strict=True):
        assert record is not None
        demo.say(f"  also scored        {each.project_id}: {record['totals']['rows']:,} rows in {seconds:.1f} s, "
                 f"{record['status']} (its record: {record['outputs']['record_uri']})")  # fmt: skip
    demo.say(f"\nSee every project's runs in the browser: {dashboard_command(demo.options.workdir, specs)}")
    return 0


def demo_specs() -> list[JobSpec]:
    """The projects the demo scores, in the order it shows them."""
    return [load_spec(DEFAULT_SPEC), load_spec(SECOND_SPEC)]


def _write_specs(folder: Path) -> Path:
    """The demo's folder of specs: the DAG's default spec and the second project's, as shipped."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    for source in (DEFAULT_SPEC, SECOND_SPEC):
        (folder / source.name).write_text(source.read_text())
    return folder


def local_runs_folder(workdir: Path, spec: JobSpec) -> Path:
    """Where the runs index lies as files once the demo has stopped local AWS (what `leafline dashboard` reads)."""
    return workdir / "local-aws" / "s3" / spec.bucket / spec.project_id / "runs"


def dashboard_command(workdir: Path, specs: list[JobSpec]) -> str:
    """The command the summary ends with: the dashboard over the demo's projects' runs, as the user gave the
    workdir (relative to where the demo ran, like `.venv/bin/leafline` itself)."""
    runs = " ".join(f"--runs {shlex.quote(str(local_runs_folder(workdir, spec)))}" for spec in specs)
    return f".venv/bin/leafline dashboard {runs}"


def _ensure_bucket(spec: JobSpec) -> None:
    import boto3

    s3: Any = boto3.client("s3", region_name=spec.region)
    if spec.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=spec.bucket, CreateBucketConfiguration={"LocationConstraint": spec.region})


def _prepare_model(demo: _Demo, spec_files: list[Path]) -> Path:
    from leafline.model.compiler import compile_model_dir
    from leafline.serving import artifacts

    model_dir = demo.workdir / "model"
    fresh = install_sample_model(model_dir)
    demo.step(f"the bundled sample model (binary, 100 trees x 31 leaves, 50 features) in {model_dir}")
    if fresh or not artifacts.manifest_path(model_dir).exists():
        with demo.logged():
            result = compile_model_dir(model_dir)
            print(result.summary())
        demo.say(f"    compiled: {result.summary().splitlines()[0]}")
    profile = model_dir / "tuning-profile.json"
    reuse = ["--reuse"] if profile.is_file() else []
    demo.say("    tuning on this machine (leafline tune)" + (": reusing the stored profile" if reuse else ""))
    demo.cli("tune", str(model_dir), "--spec", str(spec_files[0]), "--payloads", "1,2,4,6", "--concurrency", "1,2",
             "--seconds", "0.5", "--rows", str(demo.options.rows), *reuse)  # fmt: skip
    for spec_file in spec_files:  # each project's experiment prefix gets the package
        demo.cli("package", str(model_dir), "--spec", str(spec_file))
    return model_dir


def _register(demo: _Demo, specs: list[JobSpec], spec_files: list[Path]) -> None:
    import boto3

    from leafline.model.registry import resolve_approved

    groups = ", ".join(repr(spec.model_package_group) for spec in specs)
    demo.step(f"registering it in model package groups {groups} and approving it")
    for spec, spec_file in zip(specs, spec_files, strict=True):
        demo.cli("register", "--spec", str(spec_file), "--set", "auto_approve=false")  # a reviewer approves, next
        demo.cli("approve", "--spec", str(spec_file))
        version = resolve_approved(boto3.client("sagemaker", region_name=spec.region), spec)
        demo.say(f"    {spec.project_id} version {version.version}: {version.approval} ({version.arn})")


def _upload_input(demo: _Demo, specs: list[JobSpec], run_date: str) -> None:
    first = specs[0].input_uri(run_date)
    demo.step(f"the night's input: {demo.options.rows:,} rows in {demo.options.shards} CSV shards -> {first}")
    rows = [demo.options.rows] + [max(demo.options.shards, demo.options.rows // SECOND_SHARE)] * (len(specs) - 1)
    for spec, count in zip(specs, rows, strict=True):
        if spec is not specs[0]:
            demo.say(f"    and {count:,} rows -> {spec.input_uri(run_date)}")
        _upload_shards(demo, spec, run_date, count, demo.workdir / "input" / spec.project_id)


def _upload_shards(demo: _Demo, spec: JobSpec, run_date: str, total: int, folder: Path) -> None:
    import boto3

    from leafline.sagemaker.storage import split_s3

    prefix = spec.input_uri(run_date)
    paths = write_shards(folder, total, demo.options.shards)
    s3 = boto3.client("s3", region_name=spec.region)
    bucket, key_prefix = split_s3(prefix)
    present = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key_prefix).get("Contents", [])}
    for stale in set(present) - {key_prefix + p.name for p in paths}:
        s3.delete_object(Bucket=bucket, Key=stale)
    uploaded = 0
    for path in paths:
        if present.get(key_prefix + path.name) != path.stat().st_size:
            s3.upload_file(str(path), bucket, key_prefix + path.name)
            uploaded += 1
    counts = ", ".join(f"{n:,}" for n in shard_rows(total, demo.options.shards))
    demo.say(f"    rows per shard: {counts}; {uploaded} uploaded, {len(paths) - uploaded} already there")


def _run_dags(
    demo: _Demo, aws: LocalAws, specs_dir: Path, specs: list[JobSpec], run_date: str
) -> list[tuple[bool, float]]:
    from leafline.orchestration.spec_folder import dag_id_for

    home = demo.workdir / "airflow"
    home.mkdir(exist_ok=True)
    log = home / "dags-test.log"
    log.write_text("")
    dag_file = demo.options.dag_file or write_dag_file(home / "dags")
    env = airflow_run.airflow_environment(home, dag_file.resolve().parent, aws.airflow_connection(),
                                          dict(os.environ))  # fmt: skip
    env.pop("LEAFLINE_SPEC", None)
    env["LEAFLINE_SPECS_DIR"] = str(specs_dir)  # what the demo prepared, whatever the environment says
    dag_ids = [dag_id_for(spec.project_id) for spec in specs]
    demo.step(f"airflow dags test {', '.join(dag_ids)} (real Airflow, SQLite metadata DB in {home}; log: {log})")
    airflow_run.migrate_db(env, log)
    results = []
    for dag_id in dag_ids:  # one night: the same run date for every project
        demo.say(f"    {dag_id}")
        demo.tasks_done = set()
        results.append(_run_dag(demo, aws, dag_id, env, log, run_date))
    return results


def _run_dag(
    demo: _Demo, aws: LocalAws, dag_id: str, env: dict[str, str], log: Path, run_date: str
) -> tuple[bool, float]:
    started = time.perf_counter()
    done = threading.Event()
    watcher = threading.Thread(target=_show_transform_progress, args=(demo, aws, done), daemon=True)
    watcher.start()
    try:
        code = airflow_run.dags_test(dag_id, {"run_date": run_date}, env, log, lambda line: _task_line(demo, line))
    finally:
        done.set()
        watcher.join()
    seconds = time.perf_counter() - started
    ok = code == 0 and "state=success" in _last_dagrun_line(log)
    demo.say(f"    the DAG run {'succeeded' if ok else 'FAILED'} in {seconds:.1f} s")
    return ok, seconds


def _task_line(demo: _Demo, line: str) -> None:
    match = _TASK_DONE.search(line)
    if match and match.group(1) not in demo.tasks_done:  # a sensor "ends" once per look while it waits
        demo.tasks_done.add(match.group(1))
        demo.say(f"    task {match.group(1)} done")
    elif "Task failed" in line or "ERROR" in line:
        demo.say("    " + line.strip()[:300])


def _show_transform_progress(demo: _Demo, aws: LocalAws, done: threading.Event) -> None:
    assert aws.app is not None
    while not done.wait(2.0):
        for name, snap in aws.app.jobs.progress().items():
            demo.say(f"    transform {name}: files {snap.files_done}/{snap.files_total}, {snap.records:,} records, "
                     f"{snap.rows_per_s:,.0f} rows/s")  # fmt: skip


def _last_dagrun_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if "DagRun Finished" in line]
    return lines[-1] if lines else ""


def _newest_record(spec: JobSpec, run_date: str) -> dict[str, Any] | None:
    from leafline.runs.index import RunsIndex, runs_uri
    from leafline.sagemaker.storage import Storage

    records = RunsIndex(Storage(region=spec.region), runs_uri(spec.bucket, spec.project_id)).load().records
    return next((r for r in records if r.get("run_date") == run_date), None)


def _print_summary(
    demo: _Demo, record: dict[str, Any], dag_seconds: float, model_dir: Path, spec: JobSpec, state: Path
) -> None:
    from leafline.tuning.choose import choose_settings
    from leafline.tuning.profile import Summary

    profile = json.loads((model_dir / "tuning-profile.json").read_text())
    choice = choose_settings(Summary(**profile["summary"]), record["instance_type"])
    outputs = record["outputs"]
    locations = Locations(outputs["output_uri"], outputs["report_uri"], outputs["record_uri"], str(state / "s3"))
    demo.say("")
    demo.say("leafline demo: the nightly run, end to end")
    for line in summary_lines(record, dag_seconds, choice, locations):
        demo.say(line)
    demo.say(f"  logs               {demo.log_path}, {demo.workdir / 'airflow' / 'dags-test.log'}")
    demo.say(f"  total              {time.perf_counter() - demo.started:.1f} s")


def _append(path: Path, line: str) -> None:
    with path.open("a") as log:
        log.write(f"local-aws: {line}\n")
