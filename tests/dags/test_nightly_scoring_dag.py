"""The nightly_scoring DAG: what parsing it costs, its form, its task graph (whole runs: test_nightly_on_local_aws)."""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from leafline.spec.jobspec import DEFAULT_SPEC
from tests.dags.conftest import ROOT

DAG_FILE = ROOT / "dags" / "nightly_scoring.py"
# Never loaded by parsing the DAG, whoever loads them: the AWS SDK (the provider's sensor and hooks
# import it), the SageMaker SDK, the validator's numeric stack.
NEVER = ("boto3", "botocore", "aiobotocore", "sagemaker", "numpy", "pandas", "pyarrow", "lightgbm")
HEAVY_LEAFLINE = (
    "leafline.validation",
    "leafline.serving.scoring",
    "leafline.orchestration.steps",
    "leafline.orchestration.airflow.tasks",
)

# The baseline is a trivial DAG with the same Airflow features (cron, Params, @task, an Asset, a sensor in
# reschedule mode, a deadline alert): what any such DAG costs. What nightly_scoring loads beyond it is leafline's share.
_IMPORT_GRAPH = """
import json, sys, runpy
import pendulum
from airflow.sdk import DAG, Asset, BaseSensorOperator, Param, chain, get_current_context, task
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.timetables.trigger import CronTriggerTimetable
class Wait(BaseSensorOperator):
    def poke(self, context):
        return True
with DAG(dag_id="baseline", schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
         start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
         params={"n": Param(None, type=["null", "integer"])}):
    @task(outlets=[Asset(name="a", uri="x-a://b/k")])
    def one() -> int:
        return 1
    chain(one(), Wait(task_id="w", mode="reschedule"))
before = set(sys.modules)
runpy.run_path(sys.argv[1])
print(json.dumps({"new": sorted(set(sys.modules) - before), "all": sorted(sys.modules), "dags": dags}))
"""
_RUN_AND_COUNT = (
    "from airflow.sdk import DAG as _D; _g = runpy.run_path(sys.argv[1]); "
    "dags = sum(type(v) is _D for v in _g.values())"
)


def _specs_folder(folder: Path, count: int) -> Path:
    """`count` specs as teams write them: each its own project, schedule, owner, alert topic and deadline."""
    folder.mkdir()
    base = DEFAULT_SPEC.read_text()
    for n in range(count):
        text = base.replace('project_id = "leafline-demo"', f'project_id = "project-{n:02d}"')
        topic = f"arn:aws:sns:sa-east-1:123456789012:alerts-{n}"
        extra = (f'schedule = "{n % 60} 2 * * *"\nowner = "team-{n % 7}"\ndag_tags = ["t{n % 5}"]\n'
                 f'alert_topic_arn = "{topic}"\ndeadline = "06:00"\n')  # fmt: skip
        (folder / f"project-{n:02d}.toml").write_text(extra + text)
    return folder


@pytest.mark.parametrize("specs", [0, 50], ids=["LEAFLINE_SPEC", "folder_of_50_specs"])
def test_parsing_the_dag_loads_no_aws_sdk_and_only_leaflines_light_modules(specs: int, tmp_path: Path) -> None:
    """In a fresh interpreter: the DAG processor parses this file every few seconds, so what it imports is paid
    on every parse (boto3 and botocore alone cost about a second). A folder of 50 specs, each with alerts and a
    deadline, costs 50 small files read and 50 DAGs built: no SDK or AWS client more than one spec."""
    env = dict(os.environ)
    if specs:
        env["LEAFLINE_SPECS_DIR"] = str(_specs_folder(tmp_path / "specs", specs))
    code = _IMPORT_GRAPH.replace("runpy.run_path(sys.argv[1])", _RUN_AND_COUNT)
    done = subprocess.run([sys.executable, "-c", code, str(DAG_FILE)], capture_output=True, text=True, check=True,
                          env=env)  # fmt: skip
    graph = json.loads(done.stdout.strip().splitlines()[-1])
    assert graph["dags"] == max(specs, 1)  # every spec became a DAG, none hidden
    loaded = sorted({m.split(".")[0] for m in graph["all"]} & set(NEVER))
    assert loaded == []  # after parsing, not merely beyond the baseline: no client can have been created either
    assert [m for m in graph["new"] if m.startswith(HEAVY_LEAFLINE)] == []  # task bodies load at run time only
    foreign = [m for m in graph["new"] if m.split(".")[0] not in {"leafline", *sys.stdlib_module_names}]
    assert foreign == []  # beyond what any such DAG costs: leafline's spec module and the standard library


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["nightly_scoring"]


def test_the_task_graph_submits_and_waits_separately(dag: Any) -> None:
    order = ["plan", "create_model", "submit_transform", "wait_for_transform", "validate", "record"]
    assert set(dag.task_ids) == set(order)
    for upstream, downstream in itertools.pairwise(order):
        assert upstream in dag.get_task(downstream).upstream_task_ids
    wait = dag.get_task("wait_for_transform")
    assert wait.mode == "reschedule"  # a retried wait only looks again
    assert (wait.poke_interval, wait.timeout) == (0, 12 * 3600)  # LEAFLINE_POKE_INTERVAL_S=0 in the tests
    assert "submit_transform" in wait.job_name and "TransformJobName" in wait.job_name  # the job submit made
    assert [a.name for a in dag.get_task("validate").outlets] == ["leafline-scores-leafline-demo"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable" and not dag.catchup
    assert (dag.timetable.summary, str(dag.timetable._timezone)) == ("0 2 * * *", "America/Sao_Paulo")


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({"instance_type": "ml.c5.2xlarge", "max_payload_mb": 4, "model_version": 3}, True),
        ({"instance_type": "ml.p5.48xlarge"}, False),
        ({"max_concurrent_transforms": 0}, False),
        ({"max_payload_mb": 101}, False),
        ({"instance_count": 0}, False),
        ({"threshold": 1.5}, False),
        ({"run_date": "21/11/2026"}, False),
        ({"project_id": "has spaces"}, False),
    ],
)
def test_the_trigger_form_is_typed_and_bounded(dag: Any, changes: dict[str, Any], valid: bool) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    if valid:
        params.update(changes)
        assert params.validate()["max_payload_mb"] == 4
    else:
        with pytest.raises(ParamValidationError):
            params.update(changes)
            params.validate()
