"""The nightly DAG's projects: one spec (LEAFLINE_SPEC) or a folder of them (LEAFLINE_SPECS_DIR).

A folder gives one DAG per spec, dag_id nightly_scoring__{project_id}. A spec that does not validate, or
two specs with the same project id, become errors (named by file and key) beside the projects that did
load, so that one team's typo never hides the other teams' DAGs. Standard library and leafline's spec
only: the DAG processor runs this on every parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leafline.orchestration.settings import DagSettings
from leafline.spec.jobspec import JobSpec, SpecError, load_spec

SINGLE_DAG_ID = "nightly_scoring"
SPEC_SUFFIXES = (".toml", ".json")


@dataclass(frozen=True)
class Project:
    dag_id: str
    spec: JobSpec
    path: Path


@dataclass(frozen=True)
class Projects:
    projects: tuple[Project, ...]
    errors: tuple[str, ...]  # each names the file and the key


def dag_id_for(project_id: str) -> str:
    return f"{SINGLE_DAG_ID}__{project_id}"


def load_projects(settings: DagSettings) -> Projects:
    """The DAG's projects. A single LEAFLINE_SPEC that does not validate raises (there is nothing else to
    show); in a folder, each bad spec is an error beside the good ones."""
    if settings.specs_dir is None:
        spec = load_spec(settings.spec_path, defaults=settings.spec_defaults)
        return Projects((Project(SINGLE_DAG_ID, spec, settings.spec_path),), ())
    return load_folder(settings.specs_dir, settings)


def spec_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SpecError(f"LEAFLINE_SPECS_DIR={str(folder)!r}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise SpecError(f"LEAFLINE_SPECS_DIR={str(folder)!r}: holds no spec files (*.toml, *.json)")
    return files


def load_folder(folder: Path, settings: DagSettings) -> Projects:
    loaded: list[Project] = []
    errors: list[str] = []
    for path in spec_files(folder):
        try:
            spec = load_spec(path, defaults=settings.spec_defaults)
        except SpecError as exc:
            errors.append(str(exc))
            continue
        loaded.append(Project(dag_id_for(spec.project_id), spec, path))
    by_id: dict[str, list[Project]] = {}
    for project in loaded:
        by_id.setdefault(project.spec.project_id, []).append(project)
    for project_id, same in by_id.items():
        if len(same) > 1:  # which one is meant is a guess: neither runs until one is renamed
            files = ", ".join(str(p.path) for p in same)
            errors.append(f"specs {files}: the same project_id {project_id!r} (each project needs its own)")
    kept = tuple(p for p in loaded if len(by_id[p.spec.project_id]) == 1)
    return Projects(kept, tuple(errors))
