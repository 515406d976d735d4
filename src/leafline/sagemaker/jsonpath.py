"""The JsonPath subset Batch Transform's DataProcessing accepts: $, .name, .*, ['a','b'], [i,j], [s:e], [*].

Choices where the AWS page is open or odd (tested, and listed in the README):
- an index list, even of one index, selects columns and keeps a list: `$[0]` on a CSV row is a one-column row;
- several names keep an object: `$['id','SageMakerOutput']` -> {"id": ..., "SageMakerOutput": ...};
- slices follow the documented wording, "`$[1:4]` specifies the second through fifth columns", so the end is
  inclusive; `slice_end_inclusive=False` gives Python's exclusive end instead;
- an index or name the record lacks is an error naming it (AWS: out-of-range indexes are an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*|\*)")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_QUOTED = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)")\s*""")


class JsonPathError(ValueError):
    """A path outside the subset, or a record the path cannot select from."""


@dataclass(frozen=True)
class Step:
    kind: str  # "names" | "indexes" | "slice" | "all"
    names: tuple[str, ...] = ()
    indexes: tuple[int, ...] = ()
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        return not self.steps

    def apply(self, value: Any, *, slice_end_inclusive: bool = True) -> Any:
        for step in self.steps:
            value = _apply_step(step, value, slice_end_inclusive)
        return value


def parse_jsonpath(text: str) -> JsonPath:
    text = text.strip()
    if not text.startswith("$"):
        raise JsonPathError("a path starts with $")
    steps: list[Step] = []
    position = 1
    while position < len(text):
        name = _NAME.match(text, position)
        bracket = _BRACKET.match(text, position)
        if name:
            steps.append(Step("all") if name.group(1) == "*" else Step("names", names=(name.group(1),)))
            position = name.end()
        elif bracket:
            steps.append(_bracket_step(bracket.group(1)))
            position = bracket.end()
        else:
            raise JsonPathError(f"unexpected {text[position:]!r} at character {position + 1}")
    return JsonPath(text, tuple(steps))


def _bracket_step(inner: str) -> Step:
    body = inner.strip()
    if body == "*":
        return Step("all")
    if body.startswith(("'", '"')):
        names = []
        for part in body.split(","):
            quoted = _QUOTED.fullmatch(part)
            if not quoted:
                raise JsonPathError(f"[{inner}]: expected quoted names separated by commas")
            name = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            if "." in name:
                raise JsonPathError(f"[{inner}]: nested children ({name!r}) are not supported in a bracket list")
            names.append(name)
        return Step("names", names=tuple(names))
    try:
        if ":" in body:
            start, _, end = body.partition(":")
            return Step("slice", start=int(start) if start.strip() else None, end=int(end) if end.strip() else None)
        return Step("indexes", indexes=tuple(int(part) for part in body.split(",")))
    except ValueError:
        raise JsonPathError(f"[{inner}]: expected indexes, a slice, quoted names or *") from None


def _apply_step(step: Step, value: Any, inclusive: bool) -> Any:
    if step.kind == "all":
        return list(value.values()) if isinstance(value, dict) else _require_list(value, "*")
    if step.kind == "names":
        if not isinstance(value, dict):
            wanted = ", ".join(step.names)
            raise JsonPathError(f"cannot take {wanted} of a {type(value).__name__}")
        missing = [name for name in step.names if name not in value]
        if missing:
            raise JsonPathError(f"the record has no attribute {', '.join(map(repr, missing))}")
        return value[step.names[0]] if len(step.names) == 1 else {name: value[name] for name in step.names}
    items = _require_list(value, "an index")
    if step.kind == "indexes":
        for index in step.indexes:
            if not -len(items) <= index < len(items):
                raise JsonPathError(f"index {index} is out of range for a record of {len(items)} columns")
        return [items[index] for index in step.indexes]
    end = step.end
    if inclusive and end is not None:
        end = None if end == -1 else end + 1
    return items[step.start : end]


def _require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise JsonPathError(f"cannot apply {what} to a {type(value).__name__}")
    return value
