"""The native CSV reader against the path it falls back to, bit for bit.

Wherever the native reader decides, its matrix must be the current path's (pyarrow, then the field
reader) to the last bit, NaN payloads and the sign of zero included; wherever it cannot, it must say so
(None) rather than guess. Bodies below are the edges of the number grammar and of the record rule, and
random doubles written the ways exporters write them.
"""

from __future__ import annotations

import math
import random
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from leafline.serving import native_csv
from leafline.serving.decoding import decode_csv
from leafline.serving.errors import InvalidInputError

UNAVAILABLE = native_csv.unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))


def _current(body: bytes, num_features: int) -> np.ndarray | str:
    try:
        return decode_csv(body, num_features, native=False)
    except InvalidInputError as exc:
        return exc.message


def _assert_native_agrees(body: bytes, num_features: int, decides: bool | None = True) -> None:
    """decides: True, the native reader must read the body; False, it must decline; None, either."""
    for threads in (1, 2, 3):
        native = native_csv.read(body, num_features, threads)
        if decides is not None:
            assert (native is not None) == decides, (body[:200], threads)
        if native is None:
            continue
        current = _current(body, num_features)
        assert not isinstance(current, str), f"native read what the current path refuses: {current}"
        assert native.shape == current.shape, (body[:200], native.shape, current.shape)
        assert native.tobytes() == current.tobytes(), (body[:200], native.tolist(), current.tolist())


def _repr_variants(value: float) -> list[str]:
    """The ways exporters write one double: shortest round trip (pandas, Python), 17 and 9 significant
    digits (C's %.17g / %.9g), scientific with a capital E and a signed exponent, a leading '+'."""
    texts = [repr(value), f"{value:.17g}", f"{value:.9g}", f"{value:.17e}", f"{value:.6E}", f"{value:.3f}"]
    if not math.isinf(value) and math.copysign(1, value) > 0:
        texts.append("+" + repr(value))
    return texts


def _bits(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", value))[0]


def _lightgbm_thresholds(model_dir: Path) -> list[float]:
    text = (model_dir / "model.txt").read_text()
    return sorted({float(v) for line in re.findall(r"^threshold=(.*)$", text, re.M) for v in line.split()})


def _with_neighbours(values: list[float]) -> list[float]:
    out = []
    for value in values:
        out += [value, math.nextafter(value, math.inf), math.nextafter(value, -math.inf)]
    return out


EDGE_VALUES = [
    0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, math.pi, -math.e,
    5e-324, -5e-324, 1e-323, 2.225073858507201e-308, 2.2250738585072014e-308, 2.2250738585072009e-308,
    1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 1e-300, 9007199254740993.0,
    2.0**53, 2.0**53 + 2, 2.0**-1074 * 3, 123456789.0, 1e22, 1e23, 1e-22, 4.35, 0.000123456789,
]  # fmt: skip


def test_edge_values_written_every_way_read_to_the_same_bits() -> None:
    values = _with_neighbours(EDGE_VALUES)
    fields = [text for value in values for text in _repr_variants(value)]
    width = 7
    fields += ["0"] * (-len(fields) % width)
    lines = [",".join(fields[i : i + width]) for i in range(0, len(fields), width)]
    _assert_native_agrees(("\n".join(lines) + "\n").encode(), width)


def test_lightgbm_split_thresholds_and_their_neighbours_read_to_the_same_bits(binary_model_dir: Path) -> None:
    thresholds = _with_neighbours(_lightgbm_thresholds(binary_model_dir))
    assert len(thresholds) > 30
    fields = [text for value in thresholds for text in _repr_variants(value)]
    fields += ["0"] * (-len(fields) % 6)
    body = "\n".join(",".join(fields[i : i + 6]) for i in range(0, len(fields), 6)).encode()
    _assert_native_agrees(body, 6)


def test_numbers_at_the_grammar_edges_read_to_the_same_bits() -> None:
    tokens = [
        "1.", ".5", "-.5", "+.5", "5.e3", "1e+5", "1E-5", "1e0", "00012", "-0", "+0", "-0.0", "0e999999999",
        "1e400", "-1e400", "1e-400", "-1e-400", "1" * 400, "-" + "9" * 400, "0." + "0" * 400 + "1e401",
        "1" + "0" * 30 + "e-30", "4.9406564584124654e-324", "2.4703282292062328e-324", "2.4703282292062327e-324",
        "1.7976931348623158e308", "1.7976931348623159e308", "9007199254740992.5", "9007199254740993.0000000001",
        " 7 ", "\t7", "7\t", " \t-1.5e-3 \t", "inf", "-inf", "+inf", "Infinity", "-INFINITY", "iNf",
        "0.1000000000000000055511151231257827", "0.1000000000000000055511151231257828",
    ]  # fmt: skip
    fields = tokens + ["0"] * (-len(tokens) % 4)
    body = "\n".join(",".join(fields[i : i + 4]) for i in range(0, len(fields), 4)).encode()
    _assert_native_agrees(body, 4)


def _short_decimals() -> list[str]:
    """Plain decimals of 1 to 17 digits with the point at every place (and none), signed and not: the
    native reader's SSE path takes those of at most 15 bytes from one 16-byte load, fast_float the rest."""
    rng = random.Random(15)
    tokens = []
    for count in range(1, 18):
        for digits in ("9" * count, "0" * count, "1" + "0" * (count - 1), "".join(rng.choices("0123456789", k=count))):
            for point in range(count + 1):
                text = digits if point in (0, count) else digits[:point] + "." + digits[point:]
                tokens += [text, "-" + text]
    return tokens


def test_short_decimals_of_every_length_and_point_read_to_the_same_bits() -> None:
    tokens = _short_decimals()
    fields = tokens + ["0"] * (-len(tokens) % 5)
    lines = [",".join(fields[i : i + 5]) for i in range(0, len(fields), 5)]
    _assert_native_agrees(("\n".join(lines) + "\n").encode(), 5)
    _assert_native_agrees(("\r\n".join(lines) + "\r\n").encode(), 5)


def test_short_decimals_at_the_very_end_of_a_body_read_to_the_same_bits() -> None:
    """The last field has fewer than 16 bytes after it: the reader must not load past the body."""
    for token in _short_decimals():
        for body in (f"1,{token}", f"{token},{token}\r\n"):
            _assert_native_agrees(body.encode(), 2)


@pytest.mark.parametrize("spelling", ["", "nan", "NaN", "NAN", "+nan", "NA", "na", "+NA", "-NA", "null", "NULL",
                                      "-null", " NA ", "\tnull", "  "])  # fmt: skip
def test_missing_spellings_read_as_the_same_nan(spelling: str) -> None:
    _assert_native_agrees(f"1,{spelling},3\n{spelling},{spelling},{spelling}\n".encode(), 3)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"1,2\r\n3,4\r\n", id="crlf"),
        pytest.param(b"1,2\r\n3,4", id="crlf_no_final_newline"),
        pytest.param(b"1,2\r\n3,4\r", id="final_carriage_return"),
        pytest.param(b"1,2\n3,4", id="no_final_newline"),
        pytest.param(b"1,2\n\n\n3,4\n\n", id="blank_lines"),
        pytest.param(b"\n\n1,2\r\n\r\n3,4\n", id="leading_blank_lines"),
        pytest.param(b"1,\n,2\n,\n", id="empty_fields"),
    ],
)
def test_record_edges_read_as_the_current_path_reads_them(body: bytes) -> None:
    _assert_native_agrees(body, 2)


@pytest.mark.parametrize("body", [b"1\n\n2\n", b"1\n\n2", b"\n", b"\n\n", b"1\r\n\r\n2\r\n", b"  \n", b"nan\n-inf\n"])
def test_a_one_feature_model_counts_blank_lines_as_missing_records(body: bytes) -> None:
    _assert_native_agrees(body, 1)


@pytest.mark.parametrize(
    ("body", "num_features"),
    [
        pytest.param(b'1,"2"\n', 2, id="quote"),
        pytest.param(b"1,2,3\n", 2, id="too_many_fields"),
        pytest.param(b"1\n", 2, id="too_few_fields"),
        pytest.param(b"1,2\n  \n", 2, id="blank_line_of_spaces"),
        pytest.param(b"1,2\r3,4\n", 2, id="lone_carriage_return"),
        pytest.param(b"\xef\xbb\xbf1,2\n", 2, id="byte_order_mark"),
        pytest.param(b"1,-nan\n", 2, id="negative_nan"),
        pytest.param(b"1,-NaN\n", 2, id="negative_nan_upper"),
        pytest.param(b"1,abc\n", 2, id="not_a_number"),
        pytest.param(b"1,nan(1)\n", 2, id="nan_payload"),
        pytest.param(b"1,1_0\n", 2, id="underscore"),
        pytest.param(b"1,0x10\n", 2, id="hex"),
        pytest.param("1,\u0661\n".encode(), 2, id="arabic_indic_digit"),
        pytest.param(b"1,\x007\n", 2, id="nul"),
        pytest.param(b"1,7\x0b\n", 2, id="vertical_tab"),
        pytest.param(b"1,+-1\n", 2, id="two_signs"),
        pytest.param(b"1,-\n", 2, id="lone_sign"),
        pytest.param(b"1,1e\n", 2, id="bare_exponent"),
        pytest.param(b"1,1 2\n", 2, id="space_inside"),
        pytest.param(b"\n\n", 2, id="no_records"),
    ],
)
def test_the_native_reader_declines_what_is_not_plain(body: bytes, num_features: int) -> None:
    """...and the current path then answers exactly what it answered before (decode_csv goes on to it)."""
    assert native_csv.read(body, num_features) is None
    assert native_csv.read(body, num_features, threads=2) is None
    expected = _current(body, num_features)
    got = _current_through_the_native_first(body, num_features)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, np.ndarray) and got.tobytes() == expected.tobytes()


def _current_through_the_native_first(body: bytes, num_features: int) -> np.ndarray | str:
    try:
        return decode_csv(body, num_features)
    except InvalidInputError as exc:
        return exc.message


def test_random_doubles_written_every_way_read_to_the_same_bits() -> None:
    rng = np.random.default_rng(15)
    raw = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=3000, dtype=np.int64).view(np.float64)
    values = [float(v) for v in raw if np.isfinite(v)]
    values += [float(v) for v in rng.normal(size=1000) * 10.0 ** rng.integers(-30, 30, size=1000)]
    fields = [random.Random(len(values) + i).choice(_repr_variants(v)) for i, v in enumerate(values)]
    fields += ["0"] * (-len(fields) % 50)
    body = "\n".join(",".join(fields[i : i + 50]) for i in range(0, len(fields), 50)).encode()
    _assert_native_agrees(body, 50)


def test_a_realistic_batch_at_9_and_17_digits_reads_to_the_same_bits() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 20))
    x[rng.random(x.shape) < 0.05] = np.nan
    for digits in (9, 17):
        lines = (",".join("" if math.isnan(v) else f"{v:.{digits}g}" for v in row) for row in x.tolist())
        _assert_native_agrees(("\n".join(lines) + "\n").encode(), 20)


def test_a_line_over_pyarrows_block_is_read_natively() -> None:
    line = "0" * 5_000_000 + "1.5,2\n"
    _assert_native_agrees(("1,2\n" + line + "3,4\n").encode(), 2)


def test_the_rows_a_body_can_hold_bound_the_buffer_not_its_lines() -> None:
    """Blank lines are not records (several features): a megabyte of newlines is not a million rows."""
    assert native_csv.read(b"\n" * 2**20 + b"1,2\n", 2) is not None
    assert native_csv.read(b"\n" * 2**20 + b"1,2\n", 2).tolist() == [[1.0, 2.0]]  # type: ignore[union-attr]


def test_negative_zero_and_nan_bits_are_kept() -> None:
    matrix = native_csv.read(b"-0,0,nan,\n", 4)
    assert matrix is not None
    assert [_bits(v) for v in matrix[0]] == [_bits(-0.0), 0, _bits(math.nan), _bits(math.nan)]
