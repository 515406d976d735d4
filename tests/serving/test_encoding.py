"""Response bodies from both writers (the native one, and Arrow's where it is not built) against the same
bodies joined from Python's reprs: the same records, the same doubles bit for bit, digits no longer than
repr's, for every format and shape; and the two writers' bodies are the same bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from leafline.serving import native_format
from leafline.serving.encoding import encode, encode_with_arrow, write_reprs
from leafline.serving.media import CSV, JSON, JSONLINES

FORMATS = [CSV, JSON, JSONLINES]
NATIVE_MISSING = native_format.unavailable_reason()
Writer = Callable[[npt.NDArray[np.generic], str], bytes]


@pytest.fixture(params=["native", "arrow"])
def write(request: pytest.FixtureRequest) -> Writer:
    """Each test below runs through the native writer and through the Arrow path it falls back to."""
    if request.param == "native":
        if NATIVE_MISSING:
            pytest.skip(NATIVE_MISSING)
        return encode
    return encode_with_arrow


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
def test_bodies_hold_the_same_doubles_as_the_repr_bodies(write: Writer, fmt: str, columns: int) -> None:
    values = _awkward_doubles(6000)
    values = values[: len(values) // columns * columns]
    predictions = values if columns == 1 else values.reshape(-1, columns)
    native, reprs = write(predictions, fmt), write_reprs(predictions, fmt)
    ours, theirs = _records(native, fmt), _records(reprs, fmt)
    assert len(ours) == len(theirs) == predictions.shape[0]
    got = np.array(ours, dtype=np.float64).view(np.uint64)
    want = np.array(theirs, dtype=np.float64).view(np.uint64)
    assert (got == want).all()  # bit for bit: -0.0 stays negative, subnormals survive


def test_digits_are_as_short_as_reprs(write: Writer) -> None:
    values = _awkward_doubles(20000)
    native = write(values, CSV).decode().splitlines()
    for token, value in zip(native, values.tolist(), strict=True):
        assert _mantissa_digits(token) <= _mantissa_digits(repr(value)), (token, repr(value))


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_are_written_as_integers(write: Writer, fmt: str) -> None:
    labels = np.array([0, 1, 1, 0], dtype=np.int8)
    assert write(labels, fmt) == write_reprs(labels, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_and_infinity_keep_pythons_spelling(write: Writer, fmt: str) -> None:
    predictions = np.array([0.25, np.nan, np.inf, -np.inf])
    assert write(predictions, fmt) == write_reprs(predictions, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_records_is_the_same_empty_body(write: Writer, fmt: str) -> None:
    assert write(np.array([], dtype=np.float64), fmt) == write_reprs(np.array([], dtype=np.float64), fmt)


def test_the_shapes_clients_parse(write: Writer) -> None:
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]])
    assert write(probabilities, CSV) == b"0.25,0.75\n1.0,0.0\n"
    assert write(probabilities, JSONLINES) == b"[0.25,0.75]\n[1.0,0.0]\n"
    assert write(probabilities, JSON) == b"[[0.25,0.75],[1.0,0.0]]"
    assert write(np.array([0.5, 1e-7, -0.0]), JSON) == b"[0.5,1e-7,-0.0]"


@pytest.mark.parametrize("fmt", [JSON, JSONLINES])
def test_a_json_client_reads_floats_where_it_read_floats(write: Writer, fmt: str) -> None:
    values = _awkward_doubles(3000)
    ours = [type(v) for row in _records(write(values, fmt), fmt) for v in row]
    assert ours == [float] * len(values)


@pytest.mark.skipif(bool(NATIVE_MISSING), reason=str(NATIVE_MISSING))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("columns", [1, 2, 3])
def test_the_native_writer_writes_the_arrow_paths_bytes(fmt: str, columns: int) -> None:
    """Whichever writer a server has, a client gets the same bytes (Arrow's notation, ".0" after whole
    numbers), on every exponent, subnormals, powers of two and ten and their neighbours."""
    powers = np.concatenate([2.0 ** np.arange(-1074, 1024), 10.0 ** np.arange(-323, 309)])
    neighbours = np.concatenate([np.nextafter(powers, 0), np.nextafter(powers, np.inf)])
    whole = np.array([999999999.0, 9999999999.0, 1e15, 2.0**53 + 2, 123.0, -7.0])
    values = np.concatenate([_awkward_doubles(20000), powers, -powers, neighbours, whole, np.arange(-3000.0, 3000.0)])
    values = values[: len(values) // columns * columns].reshape(-1, columns) if columns > 1 else values
    assert encode(values, fmt) == encode_with_arrow(values, fmt)


@pytest.mark.skipif(bool(NATIVE_MISSING), reason=str(NATIVE_MISSING))
@pytest.mark.parametrize("fmt", [CSV, JSON])
def test_the_native_writer_writes_the_arrow_paths_bytes_at_its_digit_edges(fmt: str) -> None:
    """The cases the digit generation branches on: significands of 1 to 17 digits, with trailing zeros
    dropped, decimal exponents at the notation bounds (-7/-6, 9/10), one-, two- and three-digit exponents,
    the smallest subnormal and the largest double."""
    rng = np.random.default_rng(15)
    significands = np.array([float(f"0.{'123456789' * 2}"[: 2 + n]) for n in range(1, 18)])
    scales = 10.0 ** np.array([-324, -308, -100, -99, -10, -9, -8, -7, -6, -5, 0, 8, 9, 10, 11, 99, 100, 300])
    grid = (significands[:, None] * scales[None, :]).ravel()
    seventeen = rng.random(5000) * 10.0 ** rng.integers(-320, 300, 5000)
    edges = np.array([5e-324, -5e-324, 1.7976931348623157e308, 1e-7, 9.999999999999999e-7, 1e-6, 1.5e-6,
                      999999999.9999999, 1e9, 9999999999.0, 1e10, 1.5e10, 100.0, 1200.0, 0.001, 0.00012,
                      120000000.0, 2.0**-1074 * 3, 4.9406564584124654e-322])  # fmt: skip
    values = np.concatenate([grid, -grid, seventeen, edges, 10.0 ** np.arange(-20, 21)])
    assert encode(values, fmt) == encode_with_arrow(values, fmt)


@pytest.mark.skipif(bool(NATIVE_MISSING), reason=str(NATIVE_MISSING))
@pytest.mark.skipif(not Path("/usr/include/fmt/format.h").is_file(), reason="no fmt header (libfmt-dev) here")
def test_the_native_writer_takes_its_digits_from_dragonbox_where_fmt_is_installed() -> None:
    """`make` installs libfmt-dev and keys the build on it: a writer built by the to_chars path on a machine
    with fmt means the build lost the header (issue 15's rate)."""
    from leafline_native import _format

    assert _format.DIGITS == "dragonbox"


@pytest.mark.skipif(bool(NATIVE_MISSING), reason=str(NATIVE_MISSING))
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
def test_the_native_writer_writes_integer_labels_as_arrow_does(dtype: type[np.integer]) -> None:
    info = np.iinfo(dtype)
    labels = np.array([0, 1, 1, 0, info.min, info.max], dtype=dtype)
    for fmt in FORMATS:
        assert encode(labels, fmt) == encode_with_arrow(labels, fmt)
        assert encode(labels.reshape(3, 2), fmt) == encode_with_arrow(labels.reshape(3, 2), fmt)


@pytest.mark.skipif(bool(NATIVE_MISSING), reason=str(NATIVE_MISSING))
def test_the_native_writer_reads_strided_and_float32_predictions_right() -> None:
    """A column slice is not contiguous and float32 has its own shortest digits: both bodies still agree."""
    matrix = np.random.default_rng(3).random((500, 4))
    for predictions in (matrix[:, 1], matrix[:, ::2], matrix.astype(np.float32), matrix.T):
        for fmt in FORMATS:
            assert encode(predictions, fmt) == encode_with_arrow(predictions, fmt)
