"""Compiled-model artifacts beside model.txt: how they are keyed, found and checked at start.

Layout (written by `leafline compile`):
    <model dir>/model.txt
    <model dir>/compiled/manifest.json      {"format": 1, "artifacts": [<entry>, ...]}
    <model dir>/compiled/<library>.so
An entry is keyed by the model's sha256, the CPU architecture and the backend (name and version), and
carries a probe: a few rows with LightGBM's own predictions, replayed at start before the artifact is
trusted. The server never compiles; with no matching artifact it falls back to LightGBM and says why.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_FORMAT = 1
COMPILED_DIR = "compiled"
MANIFEST_NAME = "manifest.json"
PROBE_TOLERANCE = 1e-9


def machine_arch() -> str:
    """Canonical CPU architecture name ('x86_64' or 'aarch64'), as artifacts are keyed."""
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


@dataclass(frozen=True)
class ArtifactEntry:
    model_sha256: str
    arch: str
    backend: str
    backend_version: str
    library: str
    symbol: str
    output_columns: int
    probe_rows: list[list[float | None]]
    probe_expected: list[Any]
    zero_band_features: list[int] | None = None  # None (older manifests): every feature

    def to_json(self) -> dict[str, Any]:
        return {
            "model_sha256": self.model_sha256,
            "arch": self.arch,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "library": self.library,
            "symbol": self.symbol,
            "output_columns": self.output_columns,
            "probe": {"rows": self.probe_rows, "expected": self.probe_expected},
            **({} if self.zero_band_features is None else {"zero_band_features": self.zero_band_features}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactEntry:
        return cls(
            model_sha256=str(data["model_sha256"]),
            arch=str(data["arch"]),
            backend=str(data["backend"]),
            backend_version=str(data["backend_version"]),
            library=str(data["library"]),
            symbol=str(data["symbol"]),
            output_columns=int(data["output_columns"]),
            probe_rows=list(data["probe"]["rows"]),
            probe_expected=list(data["probe"]["expected"]),
            zero_band_features=None if data.get("zero_band_features") is None
            else [int(f) for f in data["zero_band_features"]],
        )  # fmt: skip


def manifest_path(model_dir: Path) -> Path:
    return model_dir / COMPILED_DIR / MANIFEST_NAME


def read_entries(model_dir: Path) -> list[ArtifactEntry]:
    path = manifest_path(model_dir)
    data = json.loads(path.read_text())
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: manifest format {data.get('format')!r}, this server reads {MANIFEST_FORMAT}")
    return [ArtifactEntry.from_json(item) for item in data.get("artifacts", [])]


def write_entry(model_dir: Path, entry: ArtifactEntry) -> None:
    """Add or replace the entry with the same key; entries for other models or arches are kept."""
    path = manifest_path(model_dir)
    entries = read_entries(model_dir) if path.exists() else []
    key = (entry.model_sha256, entry.arch, entry.backend, entry.backend_version)
    kept = [e for e in entries if (e.model_sha256, e.arch, e.backend, e.backend_version) != key]
    payload = {"format": MANIFEST_FORMAT, "artifacts": [e.to_json() for e in [*kept, entry]]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def find_artifact(model_dir: Path, model_sha256: str, arch: str) -> tuple[ArtifactEntry | None, str]:
    """The entry to use, or None and the reason there is none (logged by the server)."""
    path = manifest_path(model_dir)
    if not path.exists():
        return None, f"no compiled artifact ({path} not found; run `leafline compile`)"
    try:
        entries = read_entries(model_dir)
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable manifest {path}: {exc}"
    for_model = [e for e in entries if e.model_sha256 == model_sha256]
    if not for_model:
        return None, f"no compiled artifact for this model (sha256 {model_sha256[:12]}) in {path}"
    for entry in for_model:
        if entry.arch == arch:
            if not (model_dir / COMPILED_DIR / entry.library).is_file():
                return None, f"{entry.library} listed in {path} but missing"
            return entry, ""
    arches = ", ".join(sorted({e.arch for e in for_model}))
    return None, f"compiled artifacts exist for {arches}, this CPU is {arch}"


def probe_mismatch(expected: list[Any], actual: list[Any]) -> float:
    """Largest absolute difference between two nested lists of numbers (inf if shapes differ)."""
    flat_expected, flat_actual = _flatten(expected), _flatten(actual)
    if len(flat_expected) != len(flat_actual):
        return math.inf
    worst = 0.0
    for a, b in zip(flat_expected, flat_actual, strict=True):
        if math.isnan(a) and math.isnan(b):
            continue
        worst = max(worst, abs(a - b)) if not (math.isnan(a) or math.isnan(b)) else math.inf
    return worst


def _flatten(values: list[Any]) -> list[float]:
    flat: list[float] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(float(v) for v in value)
        else:
            flat.append(float(value))
    return flat
