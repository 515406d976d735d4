"""The demo's inputs: the bundled sample model and deterministic CSV shards of the night's input."""

from __future__ import annotations

import hashlib
import shutil
from importlib import resources
from pathlib import Path

from leafline import samples

SAMPLE_MODEL = "sample-model.txt"  # binary, 100 trees x 31 leaves, 50 features (samples.DEMO)


def install_sample_model(model_dir: Path) -> bool:
    """Copy the bundled model.txt into model_dir unless it is already there; True when it was (re)written,
    which makes compiled code and a tuning profile of another model stale."""
    bundled = resources.files("leafline.tools.demo").joinpath(SAMPLE_MODEL).read_bytes()
    target = model_dir / "model.txt"
    if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(bundled).digest():
        return False
    shutil.rmtree(model_dir, ignore_errors=True)
    model_dir.mkdir(parents=True)
    target.write_bytes(bundled)
    return True


def shard_rows(rows: int, shards: int) -> list[int]:
    """rows split over shards as evenly as whole rows allow (the first ones take the remainder)."""
    base, extra = divmod(rows, shards)
    return [base + (1 if index < extra else 0) for index in range(shards)]


def write_shards(folder: Path, rows: int, shards: int) -> list[Path]:
    """part-NNNNN.csv files (headerless, 50 features, ~5% missing); kept and reused while rows/shards match."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = shard_rows(rows, shards)
    paths = [folder / f"part-{index:05d}.csv" for index in range(shards)]
    for stale in set(folder.glob("part-*.csv")) - set(paths):
        stale.unlink()
    for index, (path, count) in enumerate(zip(paths, counts, strict=True)):
        marker = path.with_suffix(".rows")
        if path.is_file() and marker.is_file() and marker.read_text() == str(count):
            continue
        path.write_bytes(samples.csv_batch(count, seed=1000 + index))
        marker.write_text(str(count))
    return paths
