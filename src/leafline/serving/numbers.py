"""Which text is a feature value: the one definition every decoder uses (CSV's fast and fallback paths,
JSON, JSON Lines), so a token means the same thing whichever way it arrives.

It follows LightGBM's own text parser (`Common::Atof` in include/LightGBM/utils/common.h and
`CSVParser::ParseOneLine` in src/io/parser.hpp), refusing what that parser refuses:
- a number is ASCII: `[+-]digits[.digits][e[+-]digits]` (either side of the point may be empty, not
  both), or `inf` / `infinity`; any case, padded by spaces or tabs. It is read as the nearest double;
  beyond the float64 range it is +-inf (LightGBM's Atof gives inf for a 400-digit integer and 1e308 for
  `1e400`: every finite split threshold sends all of these the same way).
- a missing value is an empty field or `nan`, `na`, `null` (any case, optionally signed).
- anything else is refused: `None`, `N/A`, `#N/A`, `1_000`, non-ASCII digits (Arabic-Indic,
  fullwidth, `²`), and the MSVC spellings `-1.#IND` / `1.#QNAN` (LightGBM stops with "Input format
  error" on those; pyarrow's defaults would have read them as missing).
JSON numbers are a subset of the numbers above; JSON's non-standard literals `NaN`, `Infinity`,
`-Infinity` (what Python's json.dumps writes) are read through the same table.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

PADDING = " \t"
# Possessive: no part gives back what it matched, so a 4 MB field is refused in one pass (a backtracking
# `[0-9]+\.?[0-9]*` held the server past a 120 s client time-out on a 200 KB field of digits and a letter).
_NUMBER = re.compile(r"[+-]?+(?:(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:e[+-]?+[0-9]++)?+|inf|infinity)", re.IGNORECASE)
_MISSING = re.compile(r"|[+-]?(?:nan|na|null)", re.IGNORECASE)
MISSING_WORDS = ("nan", "na", "null")
MISSING_HINT = "a feature value is a number; a missing value is empty, NaN, NA or null"


def field_value(field: str) -> float | None:
    """A CSV field's value (NaN when missing), or None when it is neither a number nor missing."""
    token = field.strip(PADDING)
    if _NUMBER.fullmatch(token):
        return float(token)  # exactly the grammar above: ASCII, no underscores, correctly rounded
    if _MISSING.fullmatch(token):
        return math.nan
    return None


def arrow_null_values() -> list[str]:
    """The missing tokens spelled out for pyarrow, whose null_values match exactly (no case folding).

    pyarrow's float parser reads [+-]nan in any case by itself; signed or padded `na` / `null` are left
    to the fallback path, which reads them by field_value."""
    spellings = (
        "".join(chars) for word in MISSING_WORDS for chars in itertools.product(*zip(word, word.upper(), strict=True))
    )
    return ["", *sorted(set(spellings))]


def json_constant(name: str) -> float:
    """json.loads' parse_constant: NaN, Infinity, -Infinity through the same table as CSV fields."""
    value = field_value(name)
    assert value is not None, name  # json only calls this for its three literals, all in the table
    return value


# json.loads options: integers are read as the nearest double, as CSV fields are (no int() with its
# 4300-digit limit, no OverflowError for a 400-digit integer: it is inf, as in LightGBM's Atof).
JSON_OPTIONS: dict[str, Any] = {"parse_int": float, "parse_constant": json_constant}


def is_feature_value(value: object) -> bool:
    """A decoded JSON value that may stand as a feature: a number (always a float, see JSON_OPTIONS) or
    null. Booleans, strings ("1.5", "nan"), arrays and objects are not."""
    return value is None or type(value) is float


def describe_json_value(value: object) -> str:
    """What a refused JSON value is, for an error message (short; never dumps a large value)."""
    if isinstance(value, bool):
        return f"the JSON boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the JSON string {clip(value)!r}"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} items"
    if isinstance(value, dict):
        return f"a JSON object with {len(value)} keys"
    return clip(repr(value))


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
