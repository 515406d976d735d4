"""Response bodies from the native writer against the same bodies joined from Python's reprs: the same
records, the same doubles bit for bit, digits no longer than repr's, for every format and shape."""

from __future__ import annotations

import json
import re

import numpy as np
import numpy.typing as npt
import pytest

from leafline.serving.encoding import encode, write_reprs
from leafline.serving.media import CSV, JSON, JSONLINES

FORMATS = [CSV, JSON, JSONLINES]


def _awkward_doubles(count: int) -> npt.NDArray[np.float64]:
    """Random bit patterns (every exponent, subnormals included) plus the values whose spelling differs."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**63, size=count, dtype=np.uint64) | (rng.integers(0, 2, size=count, dtype=np.uint64) << 63)
    values = bits.view(np.float64)
    values = values[np.isfinite(values)]
    edges = [0.0, -0.0, 1.0, -1.0, 0.1, 1e-7, 1e-5, 1e-4, 1e15, 1e16, 1e21, 1e22, 5e-324, 2.2250738585072014e-308,
             1.7976931348623157e308, 0.30000000000000004, 0.5, 123456789012345678.0, 2.0**53, 2.0**53 + 2]  # fmt: skip
    return np.concatenate([np.array(edges), values, rng.random(count)])


def _records(body: bytes, fmt: str) -> list[list[float]]:
    """Each output record as its doubles, read back the way a client would."""
    text = body.decode()
    if fmt == JSON:
        return [row if isinstance(row, list) else [row] for row in json.loads(text)]
    assert text.endswith("\n") and "\r" not in text
    if fmt == JSONLINES:
        return [row if isinstance(row, list) else [row] for row in map(json.loads, text.splitlines())]
    return [[float(value) for value in line.split(",")] for line in text.splitlines()]


def _mantissa_digits(token: str) -> int:
    return len(re.sub(r"[eE].*$", "", token).replace("-", "").replace(".", "").lstrip("0") or "0")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("columns", [1, 3])
def test_native_bodies_hold_the_same_doubles_as_the_repr_bodies(fmt: str, columns: int) -> None:
    values = _awkward_doubles(6000)
    values = values[: len(values) // columns * columns]
    predictions = values if columns == 1 else values.reshape(-1, columns)
    native, reprs = encode(predictions, fmt), write_reprs(predictions, fmt)
    ours, theirs = _records(native, fmt), _records(reprs, fmt)
    assert len(ours) == len(theirs) == predictions.shape[0]
    got = np.array(ours, dtype=np.float64).view(np.uint64)
    want = np.array(theirs, dtype=np.float64).view(np.uint64)
    assert (got == want).all()  # bit for bit: -0.0 stays negative, subnormals survive


def test_native_digits_are_as_short_as_reprs() -> None:
    values = _awkward_doubles(20000)
    native = encode(values, CSV).decode().splitlines()
    for token, value in zip(native, values.tolist(), strict=True):
        assert _mantissa_digits(token) <= _mantissa_digits(repr(value)), (token, repr(value))


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_are_written_as_integers(fmt: str) -> None:
    labels = np.array([0, 1, 1, 0], dtype=np.int8)
    assert encode(labels, fmt) == write_reprs(labels, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_and_infinity_keep_pythons_spelling(fmt: str) -> None:
    predictions = np.array([0.25, np.nan, np.inf, -np.inf])
    assert encode(predictions, fmt) == write_reprs(predictions, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_records_is_the_same_empty_body(fmt: str) -> None:
    assert encode(np.array([], dtype=np.float64), fmt) == write_reprs(np.array([], dtype=np.float64), fmt)


def test_the_shapes_clients_parse() -> None:
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]])
    assert encode(probabilities, CSV) == b"0.25,0.75\n1.0,0.0\n"
    assert encode(probabilities, JSONLINES) == b"[0.25,0.75]\n[1.0,0.0]\n"
    assert encode(probabilities, JSON) == b"[[0.25,0.75],[1.0,0.0]]"
    assert encode(np.array([0.5, 1e-7, -0.0]), JSON) == b"[0.5,1e-7,-0.0]"


@pytest.mark.parametrize("fmt", [JSON, JSONLINES])
def test_a_json_client_reads_floats_where_it_read_floats(fmt: str) -> None:
    values = _awkward_doubles(3000)
    ours = [type(v) for row in _records(encode(values, fmt), fmt) for v in row]
    assert ours == [float] * len(values)
