"""Input records and output lines, read as streams whatever the storage (memory stays bounded)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import IO

from leafline.transform.storage import Storage

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


def input_records(storage: Storage, uri: str, gzip_input: bool, blanks_count: bool = False) -> Iterator[bytes]:
    """The records the container scored, as the server and the splitter count them
    (leafline.serving.records): non-empty lines, or every line for a one-feature model."""
    with storage.open_read(uri) as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzip_input else raw  # type: ignore[assignment]
        for line in lines(stream):
            if line or blanks_count:
                yield line


def output_lines(storage: Storage, uri: str) -> Iterator[bytes]:
    """Every line of the .out: a blank line is a line, and an error, since each line must be a record."""
    with storage.open_read(uri) as stream:
        yield from lines(stream)
