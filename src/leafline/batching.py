"""Split a CSV/JSON-lines body into whole-record mini-batches of at most max_bytes (MultiRecord)."""

from __future__ import annotations

from collections.abc import Iterator

from leafline.errors import LeaflineError


class RecordTooLargeError(LeaflineError):
    """One record alone is larger than the payload limit (SageMaker fails such a file)."""


def mini_batches(data: bytes, max_bytes: int) -> Iterator[bytes]:
    """Consecutive whole lines, each batch <= max_bytes; a final line without newline counts too."""
    start = 0
    size = len(data)
    while start < size:
        end = min(start + max_bytes, size)
        if end < size:
            cut = data.rfind(b"\n", start, end)
            if cut < 0:
                line_end = data.find(b"\n", start)
                length = (line_end if line_end >= 0 else size) - start + 1
                raise RecordTooLargeError(
                    f"the record at byte {start} is {length} bytes, over the {max_bytes}-byte payload limit"
                )
            end = cut + 1
        yield data[start:end]
        start = end
