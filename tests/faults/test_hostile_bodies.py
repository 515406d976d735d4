"""Hostile request bodies (issue 19, cases 3 and 10): strict types at every decoder.

Every refused body is a 400 naming the place (line or record, column or feature, key) and the value; none
is a 500, none is silently scored. One token table (leafline.serving.numbers) decides what a value is, and
each hostile token is run through every path that reads one: CSV's native reader, its pyarrow path, its
field-by-field fallback, JSON and JSON Lines; the HTTP tests run against a server of each CSV reader.
"""

from __future__ import annotations

import json
import math
import random
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest

from leafline.processes.server import ServerProcess
from leafline.serving.decoding import decode, decode_csv
from leafline.serving.errors import InvalidInputError
from leafline.serving.media import CSV, JSON, JSONLINES
from tests.conftest import CSV_READERS, csv_reader_server

NAMES = tuple(f"Column_{i}" for i in range(6))
MISSING = "missing"
REFUSED = "refused"

# token -> what it is: a float (the value), MISSING, or REFUSED.
TOKENS: dict[str, float | str] = {
    "1.5": 1.5,
    "-2": -2.0,
    "+7": 7.0,
    " 7 ": 7.0,
    "\t7": 7.0,
    ".5": 0.5,
    "5.": 5.0,
    "1.e5": 1e5,
    "1E+5": 1e5,
    "-0": -0.0,
    "00012": 12.0,
    "1e400": math.inf,
    "1" * 400: math.inf,
    "-" + "9" * 400: -math.inf,
    "1e-400": 0.0,
    "inf": math.inf,
    "-Infinity": -math.inf,
    "iNf": math.inf,
    "": MISSING,
    "NaN": MISSING,
    "nan": MISSING,
    "-nan": MISSING,
    "NA": MISSING,
    "na": MISSING,
    "null": MISSING,
    "NULL": MISSING,
    "Null": MISSING,
    " NA ": MISSING,
    "-null": MISSING,
    "None": REFUSED,
    "none": REFUSED,
    "N/A": REFUSED,
    "n/a": REFUSED,
    "#N/A": REFUSED,
    "#NA": REFUSED,
    "-1.#IND": REFUSED,
    "1.#IND": REFUSED,
    "1.#QNAN": REFUSED,
    "-1.#QNAN": REFUSED,
    "1_000": REFUSED,
    "\u0661\u0662": REFUSED,  # Arabic-Indic digits
    "\uff11": REFUSED,  # fullwidth digit
    "²": REFUSED,
    "\u00a07": REFUSED,  # no-break space
    "\x0b7": REFUSED,
    "\x0c7": REFUSED,
    "7\x00": REFUSED,
    "0x10": REFUSED,
    "1.5d": REFUSED,
    "1.0f": REFUSED,
    "e5": REFUSED,
    ".e5": REFUSED,
    ".": REFUSED,
    "-": REFUSED,
    "+": REFUSED,
    "--1": REFUSED,
    "1e": REFUSED,
    "1.2.3": REFUSED,
    "true": REFUSED,
    "infinit": REFUSED,
    "infinityy": REFUSED,
    "nan(1)": REFUSED,
    "snan": REFUSED,
    "nul": REFUSED,
    "n": REFUSED,
}


def _csv_body(token: str) -> bytes:
    return ("1,2,3,4,5," + token + "\n0,0,0,0,0,0\n").encode()


def _outcome(decoder: Callable[[bytes], Any], body: bytes) -> float | str:
    try:
        value = decoder(body)[0, 5]
    except InvalidInputError as exc:
        assert "line 1, column 6" in exc.message, exc.message
        return REFUSED
    return MISSING if math.isnan(value) else float(value)


def _same(got: float | str, expected: float | str) -> bool:
    if isinstance(got, float) and isinstance(expected, float):
        return got == expected and math.copysign(1, got) == math.copysign(1, expected)
    return got == expected


# CSV's readers, first tried first: decode_csv's defaults (the native reader where it is built), the
# pyarrow path (native=False), the field-by-field fallback (fast_path=False).
CSV_PATHS: dict[str, Callable[[bytes, int], Any]] = {
    "native_path": lambda body, n: decode_csv(body, n),
    "fast_path": lambda body, n: decode_csv(body, n, native=False),
    "fallback_path": lambda body, n: decode_csv(body, n, fast_path=False),
}


@pytest.fixture(scope="module", params=CSV_READERS)
def server(request: pytest.FixtureRequest, binary_model_dir: Path) -> Iterator[ServerProcess]:
    yield from csv_reader_server(str(request.param), binary_model_dir)


@pytest.mark.parametrize("path", list(CSV_PATHS))
@pytest.mark.parametrize("token", list(TOKENS), ids=[repr(t)[:24] for t in TOKENS])
def test_each_csv_path_reads_a_token_as_the_one_table_says(token: str, path: str) -> None:
    got = _outcome(lambda body: CSV_PATHS[path](body, 6), _csv_body(token))
    assert _same(got, TOKENS[token]), (token, got)


def test_the_csv_fast_path_never_reads_a_token_the_fallback_reads_otherwise() -> None:
    """Random tokens near the table's edges (number pieces, missing words, odd bytes): the native reader,
    pyarrow and the table agree on every one, so the fast paths are only accelerators (it found `nan(1)`)."""
    rng = random.Random(19)
    pieces = ["nan", "na", "null", "inf", "infinity", "e", "E", "1", "0", "9", ".", "+", "-", " ", "\t"]
    odd = [c for c in string.printable if c not in ',\n\r"'] + ["\x00", "\x85", "\u00a0", "\u0663", "\uff11"]
    disagreements = {}
    for _ in range(3000):
        parts = [rng.choice(pieces) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.5:
            parts.insert(rng.randint(0, len(parts)), rng.choice(odd))
        token = "".join(parts)
        body = _csv_body(token)
        native = _outcome(lambda b: decode_csv(b, 6), body)
        fast = _outcome(lambda b: decode_csv(b, 6, native=False), body)
        fallback = _outcome(lambda b: decode_csv(b, 6, fast_path=False), body)
        if not _same(native, fallback) or not _same(fast, fallback):
            disagreements[token] = (native, fast, fallback)
    assert not disagreements


@pytest.mark.parametrize("token", list(TOKENS), ids=[repr(t)[:24] for t in TOKENS])
def test_a_quoted_csv_token_reads_as_the_bare_token(token: str) -> None:
    if '"' in token:
        pytest.skip("quotes")
    got = _outcome(lambda body: decode(body, CSV, NAMES), _csv_body(f'"{token}"'))
    assert _same(got, TOKENS[token]), (token, got)


@pytest.mark.parametrize("token", list(TOKENS), ids=[repr(t)[:24] for t in TOKENS])
def test_a_json_string_is_never_a_feature_value(token: str) -> None:
    for fmt, body, place in [
        (JSON, json.dumps([[1, 2, 3, 4, 5, token]]), "record 1, feature 6 (Column_5)"),
        (JSONLINES, "[0,0,0,0,0,0]\n" + json.dumps({"features": [1, 2, 3, 4, 5, token]}), "line 2, feature 6"),
        (JSONLINES, json.dumps({"Column_5": token}), "line 1, feature 6 (Column_5)"),
    ]:
        with pytest.raises(InvalidInputError, match=r"JSON string") as info:
            decode(body.encode(), fmt, NAMES)
        assert place in info.value.message


@pytest.mark.parametrize("token", list(TOKENS), ids=[repr(t)[:24] for t in TOKENS])
def test_a_bare_json_token_is_a_number_only_when_json_and_the_table_agree(token: str) -> None:
    """A JSON number means what the same text means in CSV; JSON's NaN/Infinity literals go through
    the table too; everything else is a 400 (a syntax error or not a number), never a silent value."""
    body = ("[[1,2,3,4,5," + token + "]]").encode()
    try:
        value = float(decode(body, JSON, NAMES)[0, 5])
    except InvalidInputError:
        return
    expected = TOKENS[token]
    assert _same(MISSING if math.isnan(value) else value, expected), (token, value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[[1,2,3,4,5,true]]", "record 1, feature 6 (Column_5): the JSON boolean true", id="true"),
        pytest.param(b"[[1,2,false,4,5,6]]", "record 1, feature 3 (Column_2): the JSON boolean false", id="false"),
        pytest.param(b'[[1,2,3,4,5,"1.5"]]', "record 1, feature 6 (Column_5): the JSON string '1.5'", id="str"),
        pytest.param(b'[[1,2,3,4,5,"  7 "]]', "the JSON string '  7 '", id="padded_str"),
        pytest.param(b'[[1,2,3,4,5,"nan"]]', "the JSON string 'nan'", id="nan_str"),
        pytest.param(b"[[1,2,3,4,5,6],[1,2,3,4,5,[6]]]", "record 2, feature 6 (Column_5): a JSON array", id="list"),
        pytest.param(b'[1,2,3,4,5,{"a":1}]', "record 1: a record must be a JSON array or object", id="mixed"),
        pytest.param(b"[1,2,3,4,5,true]", "record 1, feature 6 (Column_5): the JSON boolean true", id="flat_bool"),
        pytest.param(
            b'{"instances": [[1,2,3,4,5,6]], "bogus": 1}', "unknown key 'bogus' beside \"instances\"", id="instances"
        ),
        pytest.param(
            b'[{"features": [1,2,3,4,5,6], "bogus": 1}]', "record 1: unknown key 'bogus' beside \"features\"", id="fb"
        ),
        pytest.param(b'[{"features": "1,2,3"}]', 'record 1: "features" must be a JSON array', id="features_str"),
        pytest.param(b'[{"Column_0": 1, "Column_9": 2}]', "record 1: unknown feature 'Column_9'", id="unknown"),
    ],
)
def test_json_values_must_be_numbers_or_null_and_keys_known(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        decode(body, JSON, NAMES)
    assert message in info.value.message


def test_json_integers_of_any_length_are_the_nearest_double() -> None:
    """No OverflowError (a 500 before) and no 4300-digit int() limit: beyond float64 is +-inf."""
    body = f"[[{'1' * 5000},-{'9' * 400},{'1' * 300},12345678901234567890123,0,-0]]".encode()
    row = decode(body, JSON, NAMES)[0]
    assert row[0] == math.inf and row[1] == -math.inf
    assert row[2] == float("1" * 300) and row[3] == 12345678901234567890123.0
    assert math.copysign(1, row[5]) == -1


def test_json_nested_100k_deep_is_refused_naming_the_place() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidInputError, match=r"line 1, column 5: .*nested"):
        decode(deep, JSON, NAMES)
    with pytest.raises(InvalidInputError, match=r"line 2, column 3: .*nested"):
        decode(b"[1,2,3,4,5,6]\n" + deep, JSONLINES, NAMES)


# ---------------------------------------------------------------------------------------------------------
# Against the real `serve` process over HTTP.


def _expected(model_dir: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(x))


def _post(server: ServerProcess, body: bytes, content_type: str) -> tuple[int, str]:
    status, headers, out = server.request("POST", "/invocations", body, {"Content-Type": content_type})
    text = out.decode()
    assert "Traceback" not in text
    if status == 400:
        assert headers["content-type"] == "text/plain"
    return status, text


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        pytest.param(JSON, b"[[1,2,3,4,5,true]]", "record 1, feature 6 (Column_5): the JSON boolean true", id="true"),
        pytest.param(JSON, b'[[1,2,3,4,5,"1.5"]]', "record 1, feature 6 (Column_5): the JSON string '1.5'", id="s"),
        pytest.param(JSON, b'{"instances": [[1,2,3,4,5,"  7 "]]}', "record 1, feature 6", id="instances_str"),
        pytest.param(JSONLINES, b'[1,2,3,4,5,6]\n[1,2,3,4,5,"nan"]\n', "line 2, feature 6 (Column_5)", id="jl"),
        pytest.param(JSONLINES, b'{"features": [1,2,3,4,5,false]}\n', "line 1, feature 6 (Column_5)", id="jl_feat"),
        pytest.param(JSONLINES, b'{"Column_0": true}\n', "line 1, feature 1 (Column_0): the JSON boolean", id="jl_k"),
        pytest.param(JSONLINES, b'{"features": [1,2,3,4,5,6], "bogus": 1}\n', "line 1: unknown key 'bogus'", id="fb"),
        pytest.param(JSON, b'[{"features": [1,2,3,4,5,6], "bogus": 1}]', "record 1: unknown key 'bogus'", id="jfb"),
        pytest.param(JSON, b'{"instances": [], "bogus": 1}', "unknown key 'bogus'", id="instances_bogus"),
    ],
)
def test_json_coercions_are_a_400_naming_record_feature_and_value(
    server: ServerProcess, content_type: str, body: bytes, message: str
) -> None:
    status, text = _post(server, body, content_type)
    assert status == 400 and message in text, text


def test_json_nested_100k_deep_is_a_400(server: ServerProcess) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    status, text = _post(server, deep, JSON)
    assert status == 400 and "line 1, column 5" in text, text
    status, text = _post(server, b"[0,0,0,0,0,0]\n" + deep + b"\n", JSONLINES)
    assert status == 400 and "line 2, column 3" in text, text


def test_a_400_digit_integer_in_json_is_scored_as_lightgbm_reads_it(
    server: ServerProcess, binary_model_dir: Path
) -> None:
    """LightGBM's text parser reads it as beyond every threshold (its Atof overflows to inf, strtod gives
    HUGE_VAL); the nearest double is inf, and 1e400 already read as inf."""
    huge = "1" * 400
    for content_type, body in [
        (JSON, f"[[{huge},2,3,4,5,-{huge}]]"),
        (JSONLINES, f'{{"Column_0": {huge}, "Column_5": -{huge}}}'),
        (CSV, f"{huge},2,3,4,5,-{huge}"),
    ]:
        status, text = _post(server, body.encode(), content_type)
        assert status == 200, text
        x = (
            [[math.inf, 2, 3, 4, 5, -math.inf]]
            if content_type != JSONLINES
            else [[math.inf] + [math.nan] * 4 + [-math.inf]]
        )
        value = json.loads(text) if content_type == JSON else float(text)
        np.testing.assert_allclose(np.ravel(value), _expected(binary_model_dir, np.array(x)), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("None", "'None'"),
        ("1_000", "'1_000'"),
        ("\u0661\u0662", "'\u0661\u0662'"),
        ("\uff11\uff12", "'\uff11\uff12'"),
        ("²", "'²'"),
        ("-1.#IND", "'-1.#IND'"),
        ("1.#QNAN", "'1.#QNAN'"),
        ("N/A", "'N/A'"),
    ],
)
def test_a_hostile_csv_token_is_a_400_with_1_based_line_column_and_value(
    server: ServerProcess, token: str, shown: str
) -> None:
    body = f"1,2,3,4,5,6\n\n1,2,{token},4,5,6\n".encode()
    for quoted in (False, True):
        sent = body.replace(token.encode(), f'"{token}"'.encode()) if quoted else body
        status, text = _post(server, sent, CSV)
        assert status == 400 and f"line 3, column 3: {shown} is not a number" in text, text


def test_an_invalid_csv_field_over_128_kb_is_a_400_naming_line_and_column(server: ServerProcess) -> None:
    field = "7" * 200_000 + "x"
    status, text = _post(server, f"1,2,3,4,5,6\n1,{field},3,4,5,6\n".encode(), CSV)
    assert status == 400 and "line 2, column 2: '777" in text and "is not a number" in text, text
    assert len(text) < 500  # the value is clipped
    status, text = _post(server, f'1,2,3,4,5,6\n1,"{field}",3,4,5,6\n'.encode(), CSV)
    assert status == 400 and "line 2, column 2: '777" in text, text


def test_a_valid_csv_field_over_128_kb_is_scored(server: ServerProcess, binary_model_dir: Path) -> None:
    field = "0" * 200_000 + "1.5"
    status, text = _post(server, f"1,{field},3,4,5,6\n".encode(), CSV)
    assert status == 200, text
    np.testing.assert_allclose(float(text), _expected(binary_model_dir, np.array([[1, 1.5, 3, 4, 5, 6]])), atol=1e-12)


def test_the_server_keeps_serving_after_every_hostile_body(server: ServerProcess) -> None:
    status, _, _ = server.request("POST", "/invocations", b"1,2,3,4,5,6\n", {"Content-Type": CSV})
    assert status == 200


@pytest.mark.parametrize("token", list(TOKENS), ids=[repr(t)[:24] for t in TOKENS])
def test_the_validator_reads_a_csv_token_as_the_server_does(binary_model_dir: Path, token: str) -> None:
    """`leafline validate` re-scores input records: it must read a field by the same table (it read `١٢`
    as 12.0 and refused `NA`)."""
    from leafline.sagemaker.jsonpath import parse_jsonpath
    from leafline.validation.rescoring import Rescorer

    rescorer = Rescorer(binary_model_dir, NAMES, None)
    record = _csv_body(token).split(b"\n")[0]
    try:
        value = rescorer.features(record, CSV, parse_jsonpath("$"), False)[5]
    except ValueError:
        got: float | str = REFUSED
    else:
        got = MISSING if math.isnan(value) else value
    assert _same(got, TOKENS[token]), (token, got)


def test_the_validator_reads_json_values_as_the_server_does(binary_model_dir: Path) -> None:
    from leafline.sagemaker.jsonpath import parse_jsonpath
    from leafline.validation.rescoring import Rescorer

    rescorer = Rescorer(binary_model_dir, NAMES, None)
    root = parse_jsonpath("$")
    assert rescorer.features(f"[{'1' * 400},2,3,4,5,null]".encode(), JSONLINES, root, False)[0] == math.inf
    for bad in (b"[1,2,3,4,5,true]", b'[1,2,3,4,5,"1.5"]'):
        with pytest.raises(ValueError, match="not a number"):
            rescorer.features(bad, JSONLINES, root, False)


def test_the_validator_reads_a_csv_field_over_128_kb(binary_model_dir: Path) -> None:
    from leafline.sagemaker.jsonpath import parse_jsonpath
    from leafline.validation.rescoring import Rescorer

    record = ("1,2,3,4,5," + "0" * 200_000 + "1.5").encode()
    assert Rescorer(binary_model_dir, NAMES, None).features(record, CSV, parse_jsonpath("$"), False)[5] == 1.5


def test_every_token_the_table_reads_scores_as_lightgbms_own_text_parser_reads_it(
    server: ServerProcess, binary_model_dir: Path, tmp_path: Path
) -> None:
    """The reference is LightGBM reading the same CSV file itself (Booster.predict on a path: its Atof,
    inf as 1e308, 1e-400 as 1e-308, which every split treats alike). Tabs are left out: LightGBM stops
    at a tab in a CSV file, the table reads `\\t7` as 7."""
    tokens = [t for t, v in TOKENS.items() if v != REFUSED and "\t" not in t]
    lines = [",".join([token] * 6) for token in tokens] + [f"0.5,{token},-1,0.25,{token},2" for token in tokens]
    body = ("\n".join(lines) + "\n").encode()
    (tmp_path / "tokens.csv").write_bytes(body)
    reference = lightgbm.Booster(model_file=str(binary_model_dir / "model.txt")).predict(str(tmp_path / "tokens.csv"))
    status, text = _post(server, body, CSV)
    assert status == 200, text
    np.testing.assert_allclose([float(v) for v in text.splitlines()], reference, rtol=0, atol=1e-12)


def test_lightgbms_own_text_parser_refuses_what_the_table_refuses(binary_model_dir: Path, tmp_path: Path) -> None:
    """Why the MSVC spellings are a 400 and not missing: LightGBM's parser stops on them (Log::Fatal,
    which ends the process: one child per token, run side by side)."""
    script = "import lightgbm, sys; lightgbm.Booster(model_file=sys.argv[1]).predict(sys.argv[2])"
    children = []
    for number, token in enumerate(["-1.#IND", "1.#QNAN"]):
        data = tmp_path / f"data{number}.csv"
        data.write_text(f"1,2,3,4,5,{token}\n1,2,3,4,5,6\n")
        command = [sys.executable, "-c", script, str(binary_model_dir / "model.txt"), str(data)]
        children.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        for child in children:
            output, _ = child.communicate(timeout=120)
            assert child.returncode != 0 and "Input format error" in output, output
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


@pytest.mark.parametrize("num_features", [1, 2])
@pytest.mark.parametrize(
    "body",
    [
        b"1\n\n2\n",
        b"1\n\n2",
        b"\n",
        b"\n\n",
        b"1\r\n\r\n2\r\n",
        b"1,2\n\n3,4\n",
        b"1,2\r\n\r\n3,4",
        b"1,2\n3,4\r5,6\n",
        b"1\r2\n",
        b"1,2\n   \n3,4\n",
        b"   \n",
        b"1,2,3\n",
        b",\n",
        b"1,\n,2\n",
    ],
)
def test_both_csv_paths_count_the_same_records(body: bytes, num_features: int) -> None:
    """The fallback reads bodies too (not only diagnoses them): it must split records exactly as the fast
    path and leafline.serving.records do."""

    def run(path: str) -> object:
        try:
            return CSV_PATHS[path](body, num_features).tolist()
        except InvalidInputError as exc:
            return exc.message

    fallback = run("fallback_path")
    for path in ("native_path", "fast_path"):
        fast = run(path)
        if isinstance(fast, list) and isinstance(fallback, list):
            np.testing.assert_array_equal(np.array(fast), np.array(fallback))
        elif isinstance(fast, str) and isinstance(fallback, str):
            assert fast.split(":")[0] == fallback.split(":")[0], (path, fast, fallback)  # the same place
        else:
            pytest.fail(f"{path} {fast!r}, fallback {fallback!r}")


@pytest.mark.parametrize("path", ["native_path", "fast_path"])
def test_a_line_over_pyarrows_4_mb_block_is_read_or_refused_by_the_fallback(path: str) -> None:
    """pyarrow cannot read a line longer than its block; the fallback reads it (or names the place)."""
    line = "0" * 5_000_000 + "1.5,2,3,4,5,6\n"
    assert CSV_PATHS[path](("1,2,3,4,5,6\n" + line).encode(), 6).tolist()[1] == [1.5, 2, 3, 4, 5, 6]
    with pytest.raises(InvalidInputError, match=r"^line 2, column 1: '000"):
        CSV_PATHS[path](("1,2,3,4,5,6\n" + "0" * 5_000_000 + "x,2,3,4,5,6\n").encode(), 6)
