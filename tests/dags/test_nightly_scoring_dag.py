"""The nightly_scoring DAG: what parsing it costs, its form, its task graph (whole runs: test_nightly_on_local_aws)."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.dags.conftest import ROOT

DAG_FILE = ROOT / "dags" / "nightly_scoring.py"
# Never loaded by parsing the DAG, whoever loads them: the AWS SDK (the provider's sensor and hooks
# import it), the SageMaker SDK, the validator's numeric stack.
NEVER = ("boto3", "botocore", "aiobotocore", "sagemaker", "numpy", "pandas", "pyarrow", "lightgbm")
HEAVY_LEAFLINE = ("leafline.validation", "leafline.serving.scoring", "leafline.orchestration", "leafline.dag_tasks")

# The baseline is a trivial DAG with the same Airflow features (cron, Params, @task, an Asset, a sensor in
# reschedule mode): what any such DAG costs. What nightly_scoring loads beyond it is leafline's share.
_IMPORT_GRAPH = """
import json, sys, runpy
import pendulum
from airflow.sdk import DAG, Asset, BaseSensorOperator, Param, chain, get_current_context, task
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
print(json.dumps({"new": sorted(set(sys.modules) - before), "all": sorted(sys.modules)}))
"""


def test_parsing_the_dag_loads_no_aws_sdk_and_only_leaflines_light_modules() -> None:
    """In a fresh interpreter: the DAG processor parses this file every few seconds, so what it imports is paid
    on every parse (boto3 and botocore alone cost about a second)."""
    done = subprocess.run([sys.executable, "-c", _IMPORT_GRAPH, str(DAG_FILE)], capture_output=True, text=True,
                          check=True)  # fmt: skip
    graph = json.loads(done.stdout.strip().splitlines()[-1])
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
