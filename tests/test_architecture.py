"""Fitness tests for the boundaries the design depends on."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVING = ROOT / "src" / "leafline" / "serving"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_serving_package_imports_nothing_from_the_rest_of_leafline() -> None:
    """The image carries leafline/serving only (and its native part, leafline_native, built from native/);
    it must not reach into the core."""
    own = ("leafline.serving", "leafline_native")
    for path in SERVING.rglob("*.py"):
        outside = {n for n in _imports(path) if n.startswith("leafline") and not n.startswith(own)}
        assert not outside, f"{path.relative_to(ROOT)} imports {outside}"


# Which parts of leafline a package may not import: the arrows point from the edges to the shared core.
# Every package but the CLI and the tools is also kept from importing those two (see EDGES below).
ORCHESTRATORS = ("leafline.orchestration",)
EMULATOR = ("leafline.transform", "leafline.local_aws")
FORBIDDEN = {
    "sagemaker": (*EMULATOR, *ORCHESTRATORS, "leafline.validation", "leafline.runs", "leafline.dashboard",
                  "leafline.model", "leafline.spec"),
    "spec": (*EMULATOR, *ORCHESTRATORS, "leafline.validation", "leafline.runs", "leafline.dashboard",
             "leafline.model", "leafline.serving"),
    "validation": (*EMULATOR, *ORCHESTRATORS),
    "runs": (*EMULATOR, *ORCHESTRATORS),
    "model": (*EMULATOR, *ORCHESTRATORS, "leafline.dashboard"),
    "processes": (*EMULATOR, *ORCHESTRATORS, "leafline.model", "leafline.dashboard"),
    "transform": (*ORCHESTRATORS, "leafline.local_aws"),
    "local_aws": ORCHESTRATORS,
    "tuning": ORCHESTRATORS,
    "dashboard": (*EMULATOR, "leafline.orchestration.sagemaker_pipeline", "leafline.orchestration.steps"),
    "orchestration/airflow": ("sagemaker", "leafline.orchestration.sagemaker_pipeline", *EMULATOR),
    "orchestration/sagemaker_pipeline": ("leafline.orchestration.airflow", "airflow", *EMULATOR),
}  # fmt: skip
EDGES = ("leafline.cli", "leafline.tools")


def _forbidden_imports(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / "src" / "leafline" / package).rglob("*.py")):
        for name in _imports(path):
            hit = [f for f in FORBIDDEN[package] if name == f or name.startswith(f + ".")]
            found += [f"{path.relative_to(ROOT)} imports {name}" for _ in hit]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_in_the_direction_of_the_shared_core(package: str) -> None:
    """leafline.sagemaker (SageMaker's shapes) is shared by all; the emulator and local AWS know no
    orchestrator; the Airflow side never loads the SageMaker SDK (DAG files are parsed again and again)."""
    assert _forbidden_imports(package) == []


def test_only_the_edges_import_the_cli_and_the_tools() -> None:
    """The CLI wires the core and the tools (image, demo) drive it: nothing in the core may lean on them."""
    package = ROOT / "src" / "leafline"
    edges = [package / "cli", package / "tools", package / "__main__.py"]
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(package.rglob("*.py"))
        if not any(path == edge or edge in path.parents for edge in edges)
        for name in _imports(path)
        if any(name == edge or name.startswith(edge + ".") for edge in EDGES)
    ]
    assert found == []


def test_the_package_top_holds_only_what_every_part_shares() -> None:
    """One idea per package: the top of leafline is the version, the error hierarchy and the sample data."""
    top = sorted(path.name for path in (ROOT / "src" / "leafline").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "errors.py", "samples.py"]


def test_serving_package_uses_only_its_runtime_dependencies() -> None:
    allowed = {"numpy", "pyarrow", "lightgbm", "boto3", "botocore", "leafline", "leafline_native"}
    stdlib = set(sys.stdlib_module_names)
    for path in SERVING.rglob("*.py"):
        third_party = {n.split(".")[0] for n in _imports(path)} - stdlib - {"__future__"}
        assert third_party <= allowed, f"{path.relative_to(ROOT)} imports {third_party - allowed}"


def test_importing_leafline_loads_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import leafline, leafline.cli, leafline.serving; "
        "import leafline.spec.jobspec, leafline.spec.aws_requests; leafline.cli.build_parser(); "
        "heavy = {'numpy', 'pyarrow', 'lightgbm', 'boto3', 'pandas', 'scipy', 'lleaves'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_image_requirements_are_the_lock_files_serve_extra() -> None:
    """inference_image/requirements.txt is generated by `make image-requirements`; it must match uv.lock."""
    requirements = (ROOT / "inference_image" / "requirements.txt").read_text()
    lock = (ROOT / "uv.lock").read_text()
    pins = [
        line.split(";")[0].strip() for line in requirements.splitlines() if "==" in line and not line.startswith("#")
    ]
    assert {p.split("==")[0] for p in pins} >= {"numpy", "pyarrow", "lightgbm", "boto3"}
    for pin in pins:
        name, version = pin.split("==")
        assert f'name = "{name}"\nversion = "{version}"' in lock, f"{pin} is not what uv.lock pins"


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    """.dockerignore allows only listed paths; a COPY of anything else fails the image build, late and slowly."""
    dockerfile = (ROOT / "inference_image" / "Dockerfile").read_text().replace("\\\n", " ")
    copied = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    ]
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert any(source == entry or source.startswith(f"{entry}/") for entry in allowed), source
