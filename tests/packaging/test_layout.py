"""What the wheel must hold and what the checkout's top-level folders may be: the DAG factory, the dashboard
plugin and the Pipeline builder live in the package; dags/, plugins/ and pipelines/ only import them; no
library module finds a file through a path relative to a checkout."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "leafline"
THIN_FILES = ("dags/nightly_scoring.py", "plugins/leafline_dashboard.py", "pipelines/nightly_scoring_pipeline.py")
# Requirements that would let installing leafline move the host's Airflow.
AIRFLOW_ITSELF = {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"}


def _statements(tree: ast.Module) -> int:
    """Statements below the docstring, nested ones included: what a thin file runs."""
    body = tree.body[1:] if tree.body and isinstance(tree.body[0], ast.Expr) else tree.body
    return sum(isinstance(node, ast.stmt) for top in body for node in ast.walk(top))


@pytest.mark.parametrize("name", THIN_FILES)
def test_the_top_level_files_only_import_from_the_package(name: str) -> None:
    tree = ast.parse((ROOT / name).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported, name
    assert {m.split(".")[0] for m in imported if m} <= {"leafline", "__future__"}, imported
    assert _statements(tree) <= 5, f"{name} holds code: it belongs in src/leafline"


def test_the_dag_file_is_the_one_leafline_ships() -> None:
    """The demo (and anyone without a checkout) writes leafline's DAG file; the checkout's is the same text."""
    from leafline.orchestration.airflow.dag_file import DAG_FILE_NAME, DAG_FILE_TEXT

    assert (ROOT / "dags" / DAG_FILE_NAME).read_text() == DAG_FILE_TEXT


_CHECKOUT_PATH = re.compile(r"__file__.*(parents\s*\[|\.parent\.parent)")


def test_no_library_module_finds_files_through_the_checkout() -> None:
    """A path climbing out of its own folder from __file__ works in a checkout and breaks in a wheel."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _CHECKOUT_PATH.search(line)
    ]
    assert found == []


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[(<>=!~;@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_airflow_extra_never_names_airflow_itself() -> None:
    """Installing leafline[airflow] into a managed Airflow must leave that Airflow's version alone."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["airflow"]
    assert "apache-airflow-providers-amazon" in {requirement_name(r) for r in extra}
    assert {requirement_name(r) for r in extra} & AIRFLOW_ITSELF == set()


def test_airflow_finds_the_dashboard_plugin_through_the_entry_point() -> None:
    from leafline.orchestration.airflow.plugin import LeaflineDashboardPlugin

    found = [ep for ep in importlib.metadata.entry_points(group="airflow.plugins") if ep.module.startswith("leafline")]
    assert [ep.load() for ep in found] == [LeaflineDashboardPlugin]


def test_image_build_names_the_missing_dockerfile_outside_a_checkout(tmp_path: Path, capsys) -> None:
    """The wheel holds no Dockerfile: outside a checkout, build says where it looked, before finding an engine."""
    from leafline.cli import main

    assert main(["image", "build", "--context", str(tmp_path)]) != 0
    error = capsys.readouterr().err
    assert f"--context {tmp_path}: no inference_image/Dockerfile there" in error


def test_the_deployment_recipes_name_this_wheel_and_the_locked_airflow() -> None:
    """README's "Deploying to Airflow": the wheel's file name, the constraints and the base image follow the
    version leafline builds and the Airflow uv.lock pins, the files named exist, the extra is the one here."""
    from leafline import __version__

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying to Airflow\n", 1)[1].split("\n## ", 1)[0]
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (airflow,) = {p["version"] for p in lock["package"] if p["name"] == "apache-airflow"}
    assert set(re.findall(r"leafline-[0-9][^\s/\"]*?-py3-none-any\.whl", section)) == {
        f"leafline-{__version__}-py3-none-any.whl"
    }
    assert f"leafline[airflow]=={__version__}" in section
    assert set(re.findall(r"constraints-([0-9.]+)/", section)) == {airflow}
    assert set(re.findall(r"FROM apache/airflow:([0-9.]+)-", section)) == {airflow}
    copied = re.findall(r"(?<![\w/])(dags/[\w.]+)", section)  # checkout paths, not the deployment's
    assert copied and all((ROOT / path).is_file() for path in copied), copied
    assert "LEAFLINE_SPECS_DIR" in section
