"""`leafline pipeline definition|upsert|start`: offline with the network and AWS refused, pinned by a reviewed
snapshot, and a round trip through moto's SageMaker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from leafline.cli import main
from leafline.spec.jobspec import load_spec
from tests.pipeline.conftest import SPEC

SNAPSHOT = Path(__file__).parent / "snapshots" / "nightly_scoring.definition.json"
# Loaded by the child process before anything else: every socket connect and every AWS API call is refused
# and written down, so "offline" is checked rather than assumed.
GUARD = """
import os, socket
_log = os.environ["LEAFLINE_GUARD_LOG"]
def _note(text):
    with open(_log, "a") as f:
        f.write(text + "\\n")
def _refuse(self, address, *args, **kwargs):
    _note(f"connect {address}")
    raise OSError("network refused by the test")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
import botocore.client
def _call(self, operation, params):
    _note(f"aws {self.meta.service_model.service_name}.{operation}")
    raise RuntimeError("AWS refused by the test")
botocore.client.BaseClient._make_api_call = _call
"""


def test_definition_without_a_spec_is_the_dags_built_offline_and_matches_the_reviewed_snapshot(tmp_path: Path) -> None:
    (tmp_path / "guard").mkdir()
    (tmp_path / "guard" / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "attempts.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(PYTHONPATH=str(tmp_path / "guard"), LEAFLINE_GUARD_LOG=str(log), HOME=str(tmp_path),
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))  # fmt: skip
    # No --spec, and run away from the checkout: the default is the DAG's spec, shipped in the package.
    done = subprocess.run([sys.executable, "-m", "leafline", "pipeline", "definition"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert not log.exists(), log.read_text()  # no connection, no AWS call, not even to fetch credentials
    assert done.stderr == ""  # the SDK's warnings and config chatter stay out of the way
    definition = json.loads(done.stdout)
    if os.environ.get("LEAFLINE_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(done.stdout)
    assert definition == json.loads(SNAPSHOT.read_text()), "review the change, then LEAFLINE_UPDATE_SNAPSHOTS=1"
    names = [(step["Name"], step["Type"]) for step in definition["Steps"]]
    assert names == [("RegisterModel", "RegisterModel"), ("CreateModel", "Model"), ("BatchTransform", "Transform"),
                     ("ValidateOutput", "Processing"), ("CheckValidation", "Condition")]  # fmt: skip


def test_a_spec_missing_a_key_is_refused_naming_the_key_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(SPEC.read_text().replace('bucket = "leafline-demo"\n', ""))

    done = subprocess.run([sys.executable, "-m", "leafline", "pipeline", "definition", "--spec", "spec.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "leafline pipeline: error: spec spec.toml: missing key 'bucket'\n"  # no traceback


@pytest.mark.parametrize("action", [["upsert"], ["start", "--run-date", "2026-11-20"]])
def test_what_reaches_aws_needs_a_spec_named(action: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipeline", *action]) == 2
    assert "no job spec: give --spec FILE" in capsys.readouterr().err


def test_a_package_gives_the_hash_and_the_tuned_settings_their_defaults(
    packaged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "definition.json"
    argv = ["pipeline", "definition", "--spec", str(SPEC), "--package", str(packaged), "--output", str(output)]
    assert main(argv) == 0
    defaults = {p["Name"]: p.get("DefaultValue") for p in json.loads(output.read_text())["Parameters"]}
    info = json.loads(subprocess.run(["tar", "-xzOf", str(packaged), "leafline-package.json"], capture_output=True,
                                     check=True).stdout)  # fmt: skip
    assert defaults["ArtifactSha256"] == info["artifact_sha256"]
    # The tuned knee is one of the measured payloads (1 or 2 MB); the container's rule would say 6.
    assert defaults["MaxConcurrentTransforms"] == 4 and defaults["MaxPayloadInMB"] in (1, 2)


def test_upsert_then_start_runs_an_execution_with_the_run_date(
    packaged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pipeline", "start", "--spec", str(SPEC), "--run-date", "2026-11-20"]) == 2
    assert "no pipeline leafline-leafline-demo-exp-1: run `leafline pipeline upsert` first" in capsys.readouterr().err

    assert main(["pipeline", "upsert", "--spec", str(SPEC)]) == 0
    assert "upserted pipeline leafline-leafline-demo-exp-1" in capsys.readouterr().out
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    stored = json.loads(sagemaker.describe_pipeline(PipelineName="leafline-leafline-demo-exp-1")["PipelineDefinition"])
    assert [step["Name"] for step in stored["Steps"]][:3] == ["RegisterModel", "CreateModel", "BatchTransform"]
    sagemaker.describe_model_package_group(ModelPackageGroupName="leafline-demo")  # RegisterModel needs the group

    argv = ["pipeline", "start", "--spec", str(SPEC), "--run-date", "2026-11-20", "--param", "MaxPayloadInMB=2"]
    assert main(argv) == 0
    arn = capsys.readouterr().out.split()[2]
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in given} == {"RunDate": "2026-11-20", "MaxPayloadInMB": "2"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run-date", "20-11-2026"], "run date '20-11-2026': expected YYYY-MM-DD"),
        (["--param", "Payload=2"], "--param Payload: the pipeline has no such parameter"),
        (["--param", "MaxPayloadInMB=big"], "--param MaxPayloadInMB='big': an integer"),
    ],
)
def test_start_refuses_bad_parameters_and_starts_nothing(
    packaged: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pipeline", "upsert", "--spec", str(SPEC)]) == 0
    assert main(["pipeline", "start", "--spec", str(SPEC), *argv]) == 2
    assert message in capsys.readouterr().err
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    executions = sagemaker.list_pipeline_executions(PipelineName="leafline-leafline-demo-exp-1")
    assert executions["PipelineExecutionSummaries"] == []


def test_the_spec_decides_the_pipeline_name_and_layout() -> None:
    from leafline.orchestration.sagemaker_pipeline.plan import plan_pipeline

    plan = plan_pipeline(load_spec(SPEC, {"experiment_id": "exp-2", "input_prefix": "s3://in/{run_date}/"}))
    assert plan.name == "leafline-leafline-demo-exp-2"
    source = plan.transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert source == "s3://in/{Parameters.RunDate}/"
    assert plan.parameter("ArtifactSha256").default is None  # no package: each execution must give it


def _definition_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    for key in ("LEAFLINE_SPEC", "LEAFLINE_SPECS_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    output = tmp_path / "definition.json"
    with mock_aws():
        assert main(["pipeline", "definition", "--output", str(output)]) == 0
    definition: dict[str, object] = json.loads(output.read_text())
    return definition


def _project_spec(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(SPEC.read_text().replace('project_id = "leafline-demo"', f'project_id = "{name}"'))
    return path


def test_definition_defaults_to_the_spec_the_dag_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    churn = _project_spec(tmp_path, "churn")
    assert "churn" in json.dumps(_definition_of(tmp_path, monkeypatch, LEAFLINE_SPEC=str(churn)))

    folder = tmp_path / "specs"
    folder.mkdir()
    _project_spec(folder, "fraud")
    # A folder of one spec: the DAG's only project. (LEAFLINE_SPECS_DIR wins over LEAFLINE_SPEC, as in the DAG.)
    text = json.dumps(_definition_of(tmp_path, monkeypatch, LEAFLINE_SPECS_DIR=str(folder), LEAFLINE_SPEC=str(churn)))
    assert "fraud" in text and "churn" not in text


def test_definition_with_a_folder_of_several_specs_asks_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    _project_spec(folder, "churn")
    _project_spec(folder, "fraud")
    monkeypatch.setenv("LEAFLINE_SPECS_DIR", str(folder))

    assert main(["pipeline", "definition"]) == 2
    err = capsys.readouterr().err
    assert f"LEAFLINE_SPECS_DIR='{folder}' holds 2 specs (churn.toml, fraud.toml): name one with --spec FILE" in err


def test_a_bad_spec_value_is_refused_naming_the_key_and_the_file_not_a_type_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.read_text().replace("instance_count = 1", "instance_count = [1]"))

    assert main(["pipeline", "definition", "--spec", str(spec), "--set", "transform.max_payload_mb={}"]) == 2
    err = capsys.readouterr().err
    assert err == f"leafline pipeline: error: spec {spec}: instance_count = [1]: expected an integer\n"
