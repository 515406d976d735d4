"""Input records and output lines, read as streams whatever the storage (memory stays bounded)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import IO

from leafline.sagemaker.storage import Storage
from leafline.serving.columnar import count_rows, decode_columnar
from leafline.serving.errors import InvalidInputError

_CHUNK = 2**20


def lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Every line without its newline (a trailing "\\r" is kept off too); no phantom line after a final newline."""
    rest = b""
    while chunk := stream.read(_CHUNK):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part[:-1] if part.endswith(b"\r") else part
    if rest:
        yield rest[:-1] if rest.endswith(b"\r") else rest


def input_records(
    storage: Storage,
    uri: str,
    gzip_input: bool,
    blanks_count: bool = False,
    columnar: str | None = None,
    feature_names: tuple[str, ...] | None = None,
) -> Iterator[bytes]:
    """The records the container scored, as the server and the splitter count them
    (leafline.serving.records): non-empty lines, or every line for a one-feature model. A Parquet or
    Arrow object (columnar: its format) is read whole, as it was sent, and each row is yielded as the
    JSON array of the features the server read from it (the model's feature_names pick the columns;
    without them only the rows are counted, as empty records)."""
    with storage.open_read(uri) as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzip_input else raw  # type: ignore[assignment]
        if columnar is not None:
            yield from _rows(stream.read(), columnar, feature_names)
            return
        for line in lines(stream):
            if line or blanks_count:
                yield line


def _rows(body: bytes, columnar: str, feature_names: tuple[str, ...] | None) -> Iterator[bytes]:
    """A body the server would refuse is one record, as the emulator counts it (its 400 failed the file)."""
    try:
        if feature_names is None:
            yield from (b"" for _ in range(count_rows(body, columnar)))
            return
        matrix = decode_columnar(body, columnar, feature_names)
    except InvalidInputError:
        yield b""
        return
    for row in matrix.tolist():  # repr round-trips; NaN is written NaN, read back by numbers.JSON_OPTIONS
        yield json.dumps(row).encode()


def output_lines(storage: Storage, uri: str) -> Iterator[bytes]:
    """Every line of the .out: a blank line is a line, and an error, since each line must be a record."""
    with storage.open_read(uri) as stream:
        yield from lines(stream)
