"""leafline's wheel installed into an Airflow that is already there, as a team does on MWAA or in an image FROM
apache/airflow: the built wheel goes into a fresh virtual environment that holds only the lock's Airflow and
amazon provider; Airflow's version is the same afterwards, `airflow plugins` lists leafline's dashboard, and a
DAGs folder with the one DAG file and three specs lists three DAGs with no import errors.

One environment for the module (making it is most of the time). The lock's full set is the constraints
file, as Airflow's published one is for a deployment (less leafline-native, a path source, which pip
constraints cannot name and the airflow extra does not need); packages come from uv's cache when it has
them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from leafline.orchestration.airflow.dag_file import DAG_FILE_NAME
from leafline.spec.jobspec import DEFAULT_SPEC
from tests.packaging.test_layout import AIRFLOW_ITSELF
from tests.packaging.test_layout import requirement_name as _name

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HOST = ("apache-airflow", "apache-airflow-providers-amazon")  # what the managed Airflow already has
PROJECTS = ("churn", "fraud", "upsell")


def _uv() -> str:
    found = ROOT / ".tools" / "bin" / "uv"
    if found.is_file():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.skip("needs uv (make .venv/.synced installs it into .tools/bin) to build the wheel and the venv")
    return on_path


def _run(command: Sequence[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd,
                          check=False, timeout=900)  # fmt: skip
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _uv_env() -> dict[str, str]:
    # The machine's interpreter, never a downloaded one; nothing of the dev environment's virtualenv leaks in.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT")}
    return {**env, "UV_PYTHON_DOWNLOADS": "never"}


def _install(uv: str, python: Path, constraints: Path, *requirements: str) -> None:
    """From uv's cache when it holds everything (quick, no network), else from the index."""
    command = [uv, "pip", "install", "--python", str(python), "-c", str(constraints), *requirements]
    done = subprocess.run([*command, "--offline"], capture_output=True, text=True, env=_uv_env(), check=False)
    if done.returncode != 0:
        _run(command, env=_uv_env())


def _lock_version(name: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {package["version"] for package in lock["package"] if package["name"] == name}
    assert len(versions) == 1, f"uv.lock pins {name} at {versions}"
    return versions.pop()


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    before: dict[str, str]  # package versions of the host environment, before leafline
    after: dict[str, str]
    airflow_before: str
    airflow_after: str


def _freeze(uv: str, python: Path) -> dict[str, str]:
    listed = json.loads(_run([uv, "pip", "list", "--format", "json", "--python", python], env=_uv_env()))
    return {row["name"].lower(): row["version"] for row in listed}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    uv = _uv()
    work = tmp_path_factory.mktemp("wheel-into-airflow")
    _run([uv, "build", "--wheel", "--out-dir", work / "dist", ROOT], env=_uv_env(), cwd=ROOT)
    (wheel,) = (work / "dist").glob("leafline-*.whl")
    constraints = work / "constraints.txt"
    _run([uv, "export", "--frozen", "--all-extras", "--all-groups", "--no-emit-project",
          "--no-emit-package", "leafline-native", "--no-hashes", "--no-header", "-o", constraints],
         env=_uv_env(), cwd=ROOT)  # fmt: skip
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([uv, "venv", "--python", base_python, work / "venv"], env=_uv_env())
    python = work / "venv" / "bin" / "python"
    _install(uv, python, constraints, *(f"{name}=={_lock_version(name)}" for name in HOST))
    airflow = work / "venv" / "bin" / "airflow"
    airflow_before = _run([airflow, "version"], env=_airflow_env(work / "probe", {})).strip()
    before = _freeze(uv, python)
    _install(uv, python, constraints, f"leafline[airflow] @ {wheel.as_uri()}")
    airflow_after = _run([airflow, "version"], env=_airflow_env(work / "probe", {})).strip()
    return Installed(wheel, work / "venv" / "bin", before, _freeze(uv, python), airflow_before, airflow_after)


def _json_output(stdout: str) -> list[dict[str, object]]:
    """The JSON an `airflow ... -o json` prints, after whatever Airflow logged to stdout before it."""
    lines = [line for line in stdout.splitlines() if line.startswith("[")]
    assert lines, stdout
    found: list[dict[str, object]] = json.loads(lines[-1])
    return found


def _airflow_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A deployment's: its own home, SQLite, no examples; nothing of this test process's Airflow or leafline."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LEAFLINE_", "VIRTUAL_ENV", "PYTHON"))}
    return {**base, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}", **extra}  # fmt: skip


def test_the_wheel_holds_the_dags_the_plugin_and_the_pipeline_and_never_requires_airflow(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        requires = Parser().parsestr(wheel.read(metadata).decode()).get_all("Requires-Dist") or []
        points = wheel.read(entry_points).decode()
    shipped = ("airflow/scoring_dags.py", "airflow/dag_file.py", "airflow/plugin.py", "sagemaker_pipeline/builder.py")
    assert {f"leafline/orchestration/{module}" for module in shipped} <= names
    assert (
        "[airflow.plugins]\nleafline_dashboard = leafline.orchestration.airflow.plugin:LeaflineDashboardPlugin"
        in points
    )
    airflow_extra = {_name(r) for r in requires if "extra == 'airflow'" in r.replace('"', "'")}
    assert "apache-airflow-providers-amazon" in airflow_extra
    assert airflow_extra & AIRFLOW_ITSELF == set()
    # Every extra must install from PyPI: leafline-native (native/) is built from source, never required.
    assert "leafline-native" not in {_name(r) for r in requires}


def test_installing_leafline_leaves_the_hosts_airflow_as_it_was(installed: Installed) -> None:
    assert installed.airflow_before == _lock_version("apache-airflow")
    assert installed.airflow_after == installed.airflow_before
    changed = {name: (old, installed.after.get(name)) for name, old in installed.before.items()
               if installed.after.get(name) != old}  # fmt: skip
    assert changed == {}  # not Airflow, nor anything it brought
    assert "leafline" in installed.after


@pytest.fixture(scope="module")
def deployment(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An AIRFLOW_HOME whose DAGs folder holds the checkout's DAG file and a folder of three specs, migrated."""
    home = tmp_path_factory.mktemp("airflow-home")
    dags = home / "dags"
    (dags / "specs").mkdir(parents=True)
    shutil.copy(ROOT / "dags" / DAG_FILE_NAME, dags / DAG_FILE_NAME)
    base = DEFAULT_SPEC.read_text()
    assert 'project_id = "leafline-demo"' in base
    for project in PROJECTS:
        (dags / "specs" / f"{project}.toml").write_text(base.replace('project_id = "leafline-demo"',
                                                                     f'project_id = "{project}"'))  # fmt: skip
    env = _airflow_env(home, {"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "LEAFLINE_SPECS_DIR": str(dags / "specs")})
    env["PATH"] = f"{installed.bin}{os.pathsep}{env.get('PATH', '')}"
    _run(["airflow", "db", "migrate"], env=env, cwd=home)
    _run(["airflow", "dags", "reserialize"], env=env, cwd=home)  # what the DAG processor does: parse, store
    return env


def test_airflow_lists_one_dag_per_spec_and_no_import_errors(deployment: dict[str, str]) -> None:
    listed = _json_output(_run(["airflow", "dags", "list", "-o", "json"], env=deployment))
    assert sorted(str(row["dag_id"]) for row in listed) == [f"nightly_scoring__{p}" for p in PROJECTS]
    errors = _run(["airflow", "dags", "list-import-errors", "-o", "json"], env=deployment)
    assert _json_output(errors) == [], errors


def test_airflow_plugins_lists_leaflines_dashboard(deployment: dict[str, str]) -> None:
    plugins = _json_output(_run(["airflow", "plugins", "-o", "json"], env=deployment))
    ours = [plugin for plugin in plugins if plugin["name"] == "leafline_dashboard"]
    assert len(ours) == 1, plugins
    assert "leafline.orchestration.airflow.plugin:LeaflineDashboardPlugin" in str(ours[0]["source"])


def test_the_task_bodies_find_what_they_import(installed: Installed) -> None:
    """The extra carries what the tasks load at run time beyond Airflow: the provider's hooks and the validator."""
    code = ("import leafline.orchestration.airflow.tasks, leafline.validation.validate, lightgbm, pyarrow; "
            "from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook")  # fmt: skip
    _run([installed.bin / "python", "-c", code], env=_airflow_env(installed.bin.parent / "probe-home", {}))
