"""DataProcessing: what the container receives (InputFilter) and what the .out holds (JoinSource, OutputFilter).

CSV records are rows (lists of the fields' text, so joined input columns are written back unchanged);
JSON and JSON Lines records are JSON values. A joined CSV record is the input row followed by the output
columns; a joined JSON record is the input object with the output under "SageMakerOutput" (a non-object
input becomes {"SageMakerInput": ..., "SageMakerOutput": ...}). Records in the .out are always one per
line here, whatever AssembleWith says, because a joined record is a record.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from leafline.errors import LeaflineError
from leafline.sagemaker.jsonpath import JsonPathError
from leafline.sagemaker.request import DataProcessing


class DataProcessingError(LeaflineError):
    """A record the filters cannot select from, or a response that does not line up with its records."""


@dataclass(frozen=True)
class RecordCodec:
    """Reads and writes records of one content type: text/csv, application/json or application/jsonlines."""

    content_type: str
    whole_body: bool  # SplitType None with JSON: the body is one JSON document, one record
    blank_lines_are_records: bool = False  # a one-feature model's missing value (leafline.serving.records)

    def decode(self, body: bytes) -> list[Any]:
        text = body.decode("utf-8")
        if self.content_type == "text/csv":
            rows = csv.reader(io.StringIO(text))
            if self.blank_lines_are_records:
                return [row or [""] for row in rows]
            return [row for row in rows if row]
        if self.whole_body:
            return [json.loads(text)]
        return [json.loads(line) for line in text.split("\n") if line.strip()]  # "\n" only, as records are split

    def decode_response(self, body: bytes, expected: int) -> list[Any]:
        """The container's answer as one value per record (application/json answers with one array)."""
        if self.content_type == "application/json" and not self.whole_body:
            values = json.loads(body)
            return values if isinstance(values, list) and len(values) == expected else [values]
        return self.decode(body)

    def encode(self, records: list[Any]) -> bytes:
        if self.content_type == "text/csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerows(record if isinstance(record, list) else [record] for record in records)
            return out.getvalue().encode()
        return "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records).encode()


@dataclass(frozen=True)
class RecordProcessor:
    settings: DataProcessing
    input_codec: RecordCodec
    output_codec: RecordCodec
    slice_end_inclusive: bool = True

    def filter_input(self, body: bytes, first_record: int) -> bytes:
        if self.settings.input_filter.is_root:
            return body
        records = self._decode(self.input_codec, body, first_record)
        filtered = [self._select(self.settings.input_filter, r, first_record + i) for i, r in enumerate(records)]
        encoded = self.input_codec.encode(filtered)
        return encoded if self.input_codec.whole_body else encoded.rstrip(b"\n")

    def assemble(self, request_body: bytes, response: bytes, first_record: int) -> bytes:
        """The .out bytes for one payload: outputs joined with their input records, then OutputFilter."""
        inputs = self._decode(self.input_codec, request_body, first_record)
        try:
            outputs = self.output_codec.decode_response(response, len(inputs))
        except (ValueError, csv.Error, RecursionError) as exc:
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise DataProcessingError(
                f"records from {first_record}: unreadable container response ({problem})"
            ) from None
        if len(outputs) != len(inputs):
            last = first_record + len(inputs) - 1
            raise DataProcessingError(
                f"records {first_record}-{last}: the container returned {len(outputs)} records for {len(inputs)}; "
                "JoinSource needs one output record per input record"
            )
        joined = [
            self._select(self.settings.output_filter, self._join(i, o) if self.settings.join_input else o,
                         first_record + n)
            for n, (i, o) in enumerate(zip(inputs, outputs, strict=True))
        ]  # fmt: skip
        return self.output_codec.encode(joined)

    def _join(self, record: Any, output: Any) -> Any:
        if self.input_codec.content_type == "text/csv":
            return list(record) + (output if isinstance(output, list) else [output])
        if isinstance(record, dict):
            return {**record, "SageMakerOutput": output}
        return {"SageMakerInput": record, "SageMakerOutput": output}

    def _select(self, path: Any, record: Any, number: int) -> Any:
        try:
            return path.apply(record, slice_end_inclusive=self.slice_end_inclusive)
        except JsonPathError as exc:
            raise DataProcessingError(f"record {number}: {path.text}: {exc}") from None

    @staticmethod
    def _decode(codec: RecordCodec, body: bytes, first_record: int) -> list[Any]:
        try:
            return codec.decode(body)
        except (ValueError, csv.Error) as exc:
            raise DataProcessingError(f"records from {first_record}: not valid {codec.content_type} ({exc})") from None
        except RecursionError:  # json's answer to a document nested past the interpreter's limit
            raise DataProcessingError(
                f"records from {first_record}: not valid {codec.content_type} (nested too deeply)"
            ) from None


def build_processor(
    settings: DataProcessing,
    content_type: str | None,
    accept: str | None,
    *,
    split_lines: bool,
    inclusive: bool,
    blank_lines_are_records: bool = False,
) -> RecordProcessor | None:
    """None when DataProcessing is the identity: payloads and responses then pass through as bytes."""
    if settings.is_identity:
        return None
    in_type = (content_type or "").split(";")[0].strip()
    out_type = (accept or in_type).split(";")[0].strip()
    whole = not split_lines
    in_codec = RecordCodec(in_type, whole, blank_lines_are_records)
    return RecordProcessor(settings, in_codec, RecordCodec(out_type, whole), inclusive)
