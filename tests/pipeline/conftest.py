"""The SageMaker Pipeline tests: the SDK module is imported once (it takes seconds), and a definition can be
evaluated for one execution, the way SageMaker fills in its parameters and step properties."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leafline.cli import main
from leafline.cli.pipeline import load_pipeline_module
from leafline.orchestration.sagemaker_pipeline.plan import PipelinePlan

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "dags" / "leafline-spec.toml"


@pytest.fixture(scope="session")
def pipeline_module() -> ModuleType:
    return load_pipeline_module(None, "sa-east-1")


def definition_of(module: ModuleType, plan: PipelinePlan) -> dict[str, Any]:
    pipeline = module.build_pipeline(plan, module.session(plan.spec.region, plan.spec.bucket))
    return dict(json.loads(pipeline.definition()))


def evaluate(node: Any, values: Mapping[str, Any]) -> Any:
    """A definition's expressions for one execution: {"Get": "Parameters.X"} and {"Get": "Steps.S.P"} from
    `values`, {"Std:Join": ...} joined. Any other expression fails the test loudly."""
    if isinstance(node, list):
        return [evaluate(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Get"}:
        return values[node["Get"]]
    if set(node) == {"Std:Join"}:
        join = node["Std:Join"]
        return join["On"].join(str(evaluate(item, values)) for item in join["Values"])
    assert not any(key.startswith("Std:") for key in node), f"unexpected expression {node}"
    return {key: evaluate(item, values) for key, item in node.items()}


def execution_values(definition: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value in an execution started with `given` (the rest take their defaults)."""
    values = {}
    for parameter in definition["Parameters"]:
        name = parameter["Name"]
        values[f"Parameters.{name}"] = given[name] if name in given else parameter["DefaultValue"]
    return values


def steps(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for nested in step.get("Arguments", {}).get("ElseSteps", []) + step.get("Arguments", {}).get("IfSteps", []):
            found[nested["Name"]] = nested
    return found


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two requests differ, as "path: left != right" lines (empty when they agree)."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            if key not in right or key not in left:
                found.append(f"{path}.{key}: only in {'left' if key in left else 'right'}")
            else:
                found += differences(left[key], right[key], f"{path}.{key}")
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]


@pytest.fixture
def packaged(binary_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """moto with the demo bucket and the model packaged (with a tuning profile) to the spec's experiment."""
    # The SDK's role check calls IAM's policy simulator, which moto does not have.
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    model_dir = tmp_path / "model"
    shutil.copytree(binary_model_dir, model_dir)
    assert main(["tune", str(model_dir), "--payloads", "1,2", "--concurrency", "1,2", "--seconds", "0.1"]) == 0
    with mock_aws():
        boto3.client("s3", region_name="sa-east-1").create_bucket(
            Bucket="leafline-demo", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"}
        )
        assert main(["package", str(model_dir), "--spec", str(SPEC), "--output", str(tmp_path / "model.tar.gz")]) == 0
        yield tmp_path / "model.tar.gz"
