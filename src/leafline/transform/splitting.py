"""One input object into the payloads Batch Transform would POST, read as a stream.

- SplitType None: the whole object is one payload (so it must fit MaxPayloadInMB).
- SplitType Line + SingleRecord: one record per payload.
- SplitType Line + MultiRecord: as many whole records as fit in MaxPayloadInMB.
Sizes are bytes, MB = 2**20 (as AWS's containers and the SDK count). A payload is a contiguous run of
lines without the newline after its last record: a record of exactly the limit fits, one byte more fails
its file. What a record is comes from leafline.serving.records: blank lines are not records, except for a
one-feature CSV model, where each is a record with its value missing; those payloads keep every record's
newline (so a trailing missing record survives), and a lone missing record is sent as "\n". No payload
is ever empty. The limit applies to what the container receives, so to the decompressed bytes of a Gzip
object. MaxPayloadInMB 0 means no limit. An object that is not the gzip its CompressionType says (not gzip,
truncated, corrupt) raises InputFormatError saying which, as SageMaker fails a file it cannot decompress.
A Parquet or Arrow object (SplitType None) is one payload whose records are its rows; an object that is not
what its ContentType says is still sent (SageMaker does not read it), counted as one record, for the
container's 400 to say why.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from leafline.errors import LeaflineError
from leafline.serving.columnar import count_rows
from leafline.serving.errors import InvalidInputError
from leafline.serving.records import count_records

MB = 2**20
_READ_BYTES = 4 * MB


class RecordTooLargeError(LeaflineError):
    """A record (or an unsplit object) is larger than MaxPayloadInMB: SageMaker fails the file."""


class InputFormatError(LeaflineError):
    """The object cannot be decompressed as its CompressionType says: SageMaker fails the file."""


@dataclass(frozen=True)
class Payload:
    seq: int  # position of the payload in its file, from 0
    first_record: int  # 1-based number, within the file, of its first record
    records: int
    body: bytes


def payloads(
    stream: IO[bytes],
    *,
    split_lines: bool,
    single_record: bool,
    max_bytes: int | None,
    gzip_input: bool = False,
    blank_lines_are_records: bool = False,
    columnar: str | None = None,
) -> Iterator[Payload]:
    """Payloads in file order; raises RecordTooLargeError at the first record that cannot be sent, and
    InputFormatError when Gzip input is not gzip. columnar: the object's format when it is Parquet or
    Arrow (leafline.serving.media.COLUMNAR), whose records are rows, not lines."""
    if not gzip_input:
        yield from _split(stream, split_lines, single_record, max_bytes, blank_lines_are_records, columnar)
        return
    source: IO[bytes] = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    try:
        yield from _split(source, split_lines, single_record, max_bytes, blank_lines_are_records, columnar)
    except gzip.BadGzipFile as exc:
        not_gzip = str(exc).startswith("Not a gzipped")
        raise InputFormatError(
            f"{'not gzip data (CompressionType is Gzip)' if not_gzip else 'corrupt gzip data'}: {exc}"
        ) from None
    except EOFError as exc:
        raise InputFormatError(f"truncated gzip data: {exc}") from None
    except zlib.error as exc:
        raise InputFormatError(f"corrupt gzip data: {exc}") from None


def _split(
    source: IO[bytes], split_lines: bool, single_record: bool, max_bytes: int | None, blanks: bool,
    columnar: str | None,
) -> Iterator[Payload]:  # fmt: skip
    if not split_lines:
        yield from _whole(source, max_bytes, blanks, columnar)
    elif single_record:
        yield from _single(source, max_bytes, blanks)
    else:
        yield from _multi(source, max_bytes, blanks)


def _whole(source: IO[bytes], max_bytes: int | None, blanks: bool, columnar: str | None) -> Iterator[Payload]:
    body = source.read() if max_bytes is None else source.read(max_bytes + 1)
    if max_bytes is not None and len(body) > max_bytes:
        raise RecordTooLargeError(
            f"with SplitType None the whole object is one payload, and it is over the {_limit(max_bytes)} limit"
        )
    records = count_records(body, blanks) if columnar is None else _rows(body, columnar)
    if records:
        yield Payload(0, 1, records, body)


def _rows(body: bytes, columnar: str) -> int:
    if not body:
        return 0
    try:
        return count_rows(body, columnar)
    except InvalidInputError:
        return 1


def _multi(source: IO[bytes], max_bytes: int | None, blanks: bool) -> Iterator[Payload]:
    buffer = bytearray()
    eof = False
    seq = 0
    record = 1
    line = 1
    limit = max_bytes if max_bytes is not None else -1
    while True:
        while not eof and (limit < 0 or len(buffer) <= limit):
            chunk = source.read(_READ_BYTES if limit < 0 else max(_READ_BYTES, limit + 1 - len(buffer)))
            if chunk:
                buffer += chunk
            else:
                eof = True
        if not buffer:
            return
        # With blank records each record keeps its newline (a trailing blank line is a record), else none.
        whole = (buffer if blanks else buffer.rstrip(b"\r\n")) if eof or limit < 0 else None
        if whole is not None and (limit < 0 or len(whole) <= limit):
            body, consumed = bytes(whole), len(buffer)
        else:
            cut = buffer.rfind(b"\n", 0, limit if blanks else limit + 1)
            if cut < 0:
                raise RecordTooLargeError(f"record {record} (line {line}) is over the {_limit(limit)} payload limit")
            with memoryview(buffer) as view:  # one copy of the payload, not two
                body = bytes(view[: cut + 1 if blanks else cut])
            consumed = cut + 1
        records = count_records(body, blanks)
        if records:
            yield Payload(seq, record, records, body)
            seq += 1
            record += records
        line += buffer.count(b"\n", 0, consumed)
        del buffer[:consumed]


def _single(source: IO[bytes], max_bytes: int | None, blanks: bool) -> Iterator[Payload]:
    seq = 0
    for line_number, raw in enumerate(source, start=1):
        body = raw.rstrip(b"\r\n")
        if not body:
            if not blanks:
                continue
            body = b"\n"  # one record, its value missing
        if max_bytes is not None and len(body) > max_bytes:
            raise RecordTooLargeError(
                f"record {seq + 1} (line {line_number}) is {len(body)} bytes, over the {_limit(max_bytes)} payload "
                "limit"
            )
        yield Payload(seq, seq + 1, 1, body)
        seq += 1


def _limit(max_bytes: int) -> str:
    return f"{max_bytes / MB:g} MB ({max_bytes} bytes)" if max_bytes % MB == 0 else f"{max_bytes}-byte"
