"""Every model kind LightGBM supports scores exactly as Booster.predict does, on both backends."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest

from leafline.model.compiler import compile_model_dir
from leafline.serving.scoring import Scorer, load_model
from tests.model_kinds import FIXTURES, KINDS, Kind, scoring_rows, to_csv, train

TOLERANCE = 1e-5  # the promise; compiled models in practice agree to ~1e-15


def _served(model_dir: Path, body: bytes, force_lightgbm: bool) -> tuple[np.ndarray, str]:
    model = load_model(model_dir, force_lightgbm=force_lightgbm, concurrency=1, workers=1)
    scored = Scorer(model, threshold=None, default_accept="text/csv", threads=1).score(body, "text/csv", None)
    values = np.array([[float(v) for v in line.split(",")] for line in scored.body.decode().splitlines()])
    return values, model.backend


def _expected(model_dir: Path, x: np.ndarray) -> np.ndarray:
    result = lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(x)
    return np.asarray(result).reshape(len(x), -1)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_every_model_kind_matches_lightgbm_on_both_backends(kind: Kind, tmp_path: Path) -> None:
    model_dir = train(kind, tmp_path)
    result = compile_model_dir(model_dir)
    assert (result.library is not None) == kind.compiles, result.summary()
    x = scoring_rows(6, categorical=kind.categorical)
    body, expected = to_csv(x), _expected(model_dir, x)

    fast, backend = _served(model_dir, body, force_lightgbm=False)
    exact, fallback = _served(model_dir, body, force_lightgbm=True)

    assert backend.startswith("compiled") == kind.compiles
    assert fallback == "lightgbm"
    assert fast.shape == expected.shape == exact.shape
    np.testing.assert_allclose(fast, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(exact, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", ["binary", "multiclass", "categorical", "regression"])
def test_models_written_by_lightgbm_3_match(name: str, tmp_path: Path) -> None:
    model_dir = tmp_path / name
    model_dir.mkdir()
    text = (FIXTURES / "lightgbm3" / f"{name}.txt").read_text()
    assert "version=v3" in text
    (model_dir / "model.txt").write_text(text)
    compile_model_dir(model_dir)
    booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))
    x = scoring_rows(booster.num_feature(), categorical=(0, 3) if name == "categorical" else ())
    served, backend = _served(model_dir, to_csv(x), force_lightgbm=False)
    assert backend.startswith("compiled")
    np.testing.assert_allclose(served, _expected(model_dir, x), rtol=0, atol=TOLERANCE)
