"""Models and data nobody on this project wrote (tests/fixtures/outside): LightGBM's own example datasets
trained with its example configurations, and a damaged model file from lleaves' tests.

LightGBM drops every |x| <= kZeroThreshold (1.0000000180025095e-35) to 0.0 before its trees see a row,
and models trained on data with exact zeros split at exactly -kZeroThreshold; a compiled model that
compared the raw value went the other way on those rows (up to 0.02 off, answered with 200).
"""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest

from leafline.model import compiler
from leafline.model.compiler import EDGE_VALUES, compile_model_dir, probe_rows
from leafline.serving import predictors
from leafline.serving.model_info import read_model_info
from leafline.serving.scoring import Scorer, load_model
from tests.model_kinds import to_csv

OUTSIDE = Path(__file__).parent / "fixtures" / "outside"
ZERO_THRESHOLD = 1.0000000180025095e-35
# The example configurations' training settings (the rest is the CLI's I/O, metrics and networking).
_TRAINING_KEYS = {"boosting_type", "objective", "num_class", "max_bin", "learning_rate", "num_leaves",
                  "feature_fraction", "bagging_freq", "bagging_fraction", "min_data_in_leaf",
                  "min_sum_hessian_in_leaf"}  # fmt: skip


def example_params(conf: str) -> dict[str, Any]:
    """LightGBM's example train.conf as Python training parameters."""
    params: dict[str, Any] = {}
    for line in (OUTSIDE / conf).read_text().splitlines():
        key, _, value = line.partition("#")[0].partition("=")
        if key.strip() in _TRAINING_KEYS:
            params[key.strip()] = value.strip()
    return params


def example_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(OUTSIDE / f"{name}.gz", "rt") as handle:
        data = np.loadtxt(handle)
    return data[:, 1:], data[:, 0]


# Seeds chosen so that each model splits at -kZeroThreshold at least once (the test checks it does).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "binary": ("binary.train", {}),
    "dart": ("binary.train", {"boosting_type": "dart", "seed": 6}),
    "goss": ("binary.train", {"data_sample_strategy": "goss", "bagging_freq": 0, "seed": 6}),
    "multiclass": ("multiclass.train", {}),
    "categorical": ("binary.train", {"categorical_feature": [8, 12, 16, 20]}),
}


def train_example(variant: str, directory: Path, rounds: int = 30) -> tuple[Path, lightgbm.Booster, np.ndarray]:
    data, overrides = VARIANTS[variant]
    x, y = example_data(data)
    params = {**example_params(data + ".conf"), "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 3,
              **overrides}  # fmt: skip
    categorical = params.pop("categorical_feature", "auto")
    booster = lightgbm.train(params, lightgbm.Dataset(x, y, categorical_feature=categorical), num_boost_round=rounds)
    directory.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(directory / "model.txt"))
    return directory, booster, x


def _thresholds(model_file: Path) -> list[float]:
    return [float(v) for line in model_file.read_text().splitlines() if line.startswith("threshold=")
            for v in line.partition("=")[2].split()]  # fmt: skip


def _rows_at_the_zero_threshold(x: np.ndarray) -> np.ndarray:
    """The data's first rows, again with one feature at a time replaced by each value LightGBM treats as
    zero (and by the doubles just outside that band, which it does not): what arrives when one column
    was float32 +-1e-35 upstream."""
    head = x[:100]
    blocks = []
    for value in EDGE_VALUES[2:13]:  # -0.0 to the smallest subnormals
        for feature in range(x.shape[1]):
            block = head.copy()
            block[:, feature] = value
            blocks.append(block)
    return np.vstack(blocks)


def _served(model_dir: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    model = load_model(model_dir, force_lightgbm=False, concurrency=1, workers=1)
    scored = Scorer(model, threshold=None, default_accept="text/csv", threads=1).score(to_csv(x), "text/csv", None)
    values = np.array([[float(v) for v in line.split(",")] for line in scored.body.decode().splitlines()])
    return values, model.backend


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_compiled_models_from_lightgbm_examples_score_the_zero_threshold_as_lightgbm(
    variant: str, tmp_path: Path
) -> None:
    model_dir, booster, x = train_example(variant, tmp_path / variant)
    assert -ZERO_THRESHOLD in _thresholds(model_dir / "model.txt"), "the case needs a split at -kZeroThreshold"
    result = compile_model_dir(model_dir)
    assert result.library is not None, result.summary()
    rows = _rows_at_the_zero_threshold(x)
    served, backend = _served(model_dir, rows)
    assert backend.startswith("compiled")
    expected = np.asarray(booster.predict(rows, num_threads=1)).reshape(len(rows), -1)
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-12)


def test_probe_rows_hold_each_edge_value_and_every_split_thresholds_neighbours(tmp_path: Path) -> None:
    model_dir, _, _ = train_example("binary", tmp_path / "m", rounds=5)
    info = read_model_info(model_dir / "model.txt")
    rows = probe_rows(info)
    for value in (ZERO_THRESHOLD, -ZERO_THRESHOLD, -0.0, 5e-324, -5e-324):
        assert (rows[: len(EDGE_VALUES)] == value).all(axis=1).any(), f"no edge row of {value!r}"
    tree = model_dir.joinpath("model.txt").read_text().split("Tree=")[1]
    fields = dict(line.split("=", 1) for line in tree.splitlines()[1:] if "=" in line)
    for feature, threshold in zip(fields["split_feature"].split(), fields["threshold"].split(), strict=True):
        column, value = rows[:, int(feature)], float(threshold)
        for probe in (value, math.nextafter(value, -math.inf), math.nextafter(value, math.inf)):
            assert (column == probe).any(), f"feature {feature}: no probe row at {probe!r}"


def test_compile_refuses_a_library_that_misses_the_zero_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compile-time check itself can fail: with LightGBM's zero band not applied, the probe rows find it."""
    model_dir, _, _ = train_example("dart", tmp_path / "dart")
    monkeypatch.setattr(predictors, "as_lightgbm_sees_it", lambda data, features=None: data)
    result = compile_model_dir(model_dir)
    assert result.library is None
    assert result.skipped_reason.startswith("compiled model differs from LightGBM by ")
    assert not list((model_dir / "compiled").glob("*.so"))


def test_the_features_the_zero_band_is_applied_to_are_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only features with a split the band can change are looked at; a feature left out fails the probe."""
    model_dir, _, _ = train_example("dart", tmp_path / "dart")
    needed = compiler.zero_band_features(read_model_info(model_dir / "model.txt"))
    assert 0 < len(needed) < 28  # some features, not all: the rest cost nothing per request
    monkeypatch.setattr(compiler, "zero_band_features", lambda info: [])
    result = compile_model_dir(model_dir)
    assert result.library is None and result.skipped_reason.startswith("compiled model differs from LightGBM")


def _damaged_model(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.txt").write_bytes(gzip.decompress((OUTSIDE / "lleaves-mtpl2-model_small.txt.gz").read_bytes()))
    return directory


REASON = "the header's tree_sizes lists 1000 trees but the file holds 200"


def test_compile_of_a_model_lightgbm_would_crash_on_exits_1_naming_the_file_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    model_dir = _damaged_model(tmp_path / "mtpl2")
    done = subprocess.run([sys.executable, "-m", "leafline", "compile", str(model_dir)], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.splitlines() == [f"leafline compile: error: {model_dir / 'model.txt'}: {REASON} "
                                        "(an edited or cut model file; LightGBM would crash on it)"]  # fmt: skip
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.txt"]


def test_serve_of_a_model_lightgbm_would_crash_on_exits_1_with_one_line(tmp_path: Path) -> None:
    model_dir = _damaged_model(tmp_path / "mtpl2")
    done = subprocess.run(
        [sys.executable, "-m", "leafline.serving", "serve"],
        env={"PATH": "/usr/bin:/bin", "LEAFLINE_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": "0",
             "LEAFLINE_MODEL_DIR": str(model_dir)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    errors = [json.loads(line) for line in done.stdout.splitlines() if '"level":"error"' in line]
    assert len(errors) == 1 and errors[0]["event"] == "model_load_failed"
    assert f"{model_dir / 'model.txt'}: {REASON}" in errors[0]["error"]
    assert "Traceback" not in done.stdout + done.stderr


def test_a_tree_shorter_than_its_num_leaves_is_refused_before_lightgbm_reads_past_it(tmp_path: Path) -> None:
    """LightGBM loads such a file and predicts from memory past the array's end; leafline names it."""
    model_dir, _, _ = train_example("binary", tmp_path / "m", rounds=3)
    text = (model_dir / "model.txt").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("tree_sizes=")]
    first = next(i for i, line in enumerate(lines) if line.startswith("left_child="))
    lines[first] = "left_child=" + " ".join(lines[first].partition("=")[2].split()[:-2])
    (model_dir / "model.txt").write_text("\n".join(lines) + "\n")
    lightgbm.Booster(model_file=str(model_dir / "model.txt"))  # LightGBM itself does not object
    from leafline.serving.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match=r"Tree=0 has num_leaves=63 but 60 left_child values \(expected 62\)"):
        read_model_info(model_dir / "model.txt")
