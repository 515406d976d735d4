"""Content-Type and Accept negotiation for /invocations."""

from __future__ import annotations

from leafline.serving.errors import NotAcceptableError, UnsupportedMediaTypeError

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
PARQUET = "application/x-parquet"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
# Columnar formats are read, never written: a response is CSV, JSON or JSON Lines.
COLUMNAR = (PARQUET, ARROW_STREAM)

_ALIASES = {
    CSV: CSV,
    "text/plain": CSV,
    JSON: JSON,
    JSONLINES: JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "application/json-lines": JSONLINES,
    "application/x-ndjson": JSONLINES,
}
_INPUT_ALIASES = {
    **_ALIASES,
    PARQUET: PARQUET,
    "application/vnd.apache.parquet": PARQUET,  # the IANA-registered name
    "application/parquet": PARQUET,
    ARROW_STREAM: ARROW_STREAM,
}


def media_type(header: str) -> str:
    """'text/csv; charset=utf-8' -> 'text/csv' (parameters such as charset do not change the format)."""
    return header.split(";", 1)[0].strip().lower()


def request_format(content_type: str | None) -> str:
    """The format of a request body; no Content-Type means CSV, what Batch Transform sends."""
    if not content_type or not content_type.strip():
        return CSV
    kind = _INPUT_ALIASES.get(media_type(content_type))
    if kind is None:
        raise UnsupportedMediaTypeError(
            f"Content-Type {media_type(content_type)!r} is not supported; use text/csv, application/json, "
            f"application/jsonlines, {PARQUET} or {ARROW_STREAM}"
        )
    return kind


def columnar_format(content_type: str | None) -> str | None:
    """PARQUET or ARROW_STREAM when a Content-Type names one of them (any alias), else None."""
    kind = _INPUT_ALIASES.get(media_type(content_type or ""))
    return kind if kind in COLUMNAR else None


def response_format(accept: str | None, default: str) -> str:
    """Pick the response format from an Accept header (q-values honoured; */* and none mean the default)."""
    if not accept or not accept.strip():
        return default
    offers: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            offers.append((-quality, position, name))
    for _, _, name in sorted(offers):
        if name in ("*/*", "text/*", "application/*"):
            return default if name == "*/*" or default.startswith(name[:-1]) else _first_of(name)
        if name in _ALIASES:
            return _ALIASES[name]
    raise NotAcceptableError(
        f"Accept {accept.strip()!r} names no format the server writes; use text/csv, application/json "
        "or application/jsonlines"
    )


def _first_of(wildcard: str) -> str:
    return CSV if wildcard == "text/*" else JSON
