"""Requests checked as AWS checks them, against botocore's model of the API, before anything acts on them.

AWS refuses a request whose members break the constraints of its API model (required members, enums,
value ranges, lengths, patterns) with a ValidationException listing every broken constraint at its
member path ("1 validation error detected: Value 'ml.foo.bar' at 'transformResources.instanceType' failed
to satisfy constraint: Member must satisfy enum value set: [...]"); a member of the wrong JSON type is a
SerializationException. moto checks little of this, so local AWS walks the operation's input shape itself:
botocore's model is the one boto3 and the SDKs are built from, so what is valid is the same on both sides.

The model's patterns are Java regular expressions, matched against the whole value; they are translated
to Python's `re` (Unicode classes, Java's ASCII-only shorthands); one that cannot be translated is
not checked (UNCHECKED_PATTERNS lists the ones known today).
"""

from __future__ import annotations

import functools
import io
import json
import re
import unicodedata
import warnings
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape
from botocore.session import get_session

from leafline.local_aws.protocol import AwsError

# The error code each service uses for a request its model refuses (the runtime's model names its own).
_VALIDATION_CODES = {"sagemaker": "ValidationException", "sagemaker-runtime": "ValidationError"}
_RUNTIME_OPERATION = "InvokeEndpoint"
_NOT_NULL = "Member must not be null"
_ARTICLES = {"integer": "an"}
_SCALAR_TYPES = {"string", "integer", "long", "float", "double", "boolean", "timestamp", "blob"}
# Java's POSIX classes (ASCII unless UNICODE_CHARACTER_CLASS, which AWS does not set), as class contents.
_POSIX = {"Alnum": "a-zA-Z0-9", "Alpha": "a-zA-Z", "Digit": "0-9", "Upper": "A-Z", "Lower": "a-z",
          "ASCII": "\\x00-\\x7f", "Print": "\\x20-\\x7e", "Graph": "\\x21-\\x7e", "Space": " \\t\\n\\x0b\\f\\r",
          "Punct": "!-/:-@\\[-`{-~", "XDigit": "0-9a-fA-F", "Cntrl": "\\x00-\\x1f\\x7f", "Blank": " \\t"}  # fmt: skip
_PROPERTY = re.compile(r"\\p\{(?:Is)?([A-Za-z]+)\}")
_SURROGATE_PAIR = re.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", re.IGNORECASE)
# Patterns in the model that Python's re cannot express faithfully: listed by the tests, not checked.
UNCHECKED_PATTERNS: set[str] = set()


class _WrongType(Exception):
    """A member of the wrong JSON type: AWS's deserializer refuses the request before validating it."""


def refusal(environ: dict[str, Any], action: str | None, endpoint: str | None) -> AwsError | None:
    """The error AWS would answer this request with, or None when its model accepts it.

    action is the SageMaker operation (X-Amz-Target), endpoint the name of an InvokeEndpoint call. The body
    is read and put back, so whoever answers the request reads it as sent."""
    if action is None and endpoint is None:
        return None
    body = _rewound_body(environ)
    if action is not None:
        try:
            params = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return AwsError("SerializationException", "the request body is not valid JSON")
        if not isinstance(params, dict):
            return AwsError("SerializationException", "the request body is not a JSON object")
        return check("sagemaker", action, params)
    return check("sagemaker-runtime", _RUNTIME_OPERATION, _runtime_params(environ, endpoint or ""))


def check(service: str, operation: str, params: Mapping[str, Any]) -> AwsError | None:
    """Walk the operation's input shape over params; the error AWS answers, None if valid or unknown."""
    model = _operation(service, operation)
    if model is None or model.input_shape is None:
        return None  # an operation botocore does not know is not this module's to refuse
    errors: list[str] = []
    try:
        _structure(model.input_shape, params, "", errors)
    except _WrongType as exc:
        return AwsError("SerializationException", str(exc))
    except RecursionError:  # a recursive shape nested past Python's stack: no client sends that
        return AwsError("SerializationException", "the request is nested too deeply")
    if not errors:
        return None
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
    return AwsError(_VALIDATION_CODES.get(service, "ValidationException"), f"{count}: {'; '.join(errors)}")


@functools.cache
def _service(service: str) -> ServiceModel:
    return get_session().get_service_model(service)


@functools.cache
def _operation(service: str, operation: str) -> OperationModel | None:
    model = _service(service)
    return model.operation_model(operation) if operation in model.operation_names else None


def _rewound_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _runtime_params(environ: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """InvokeEndpoint's members that travel in the path and headers (the body is checked where it is read)."""
    operation = _operation("sagemaker-runtime", _RUNTIME_OPERATION)
    params: dict[str, Any] = {"EndpointName": endpoint, "Body": ""}
    members = operation.input_shape.members if operation and operation.input_shape else {}
    for name, member in members.items():
        if member.serialization.get("location") == "header":
            header = "HTTP_" + member.serialization["name"].upper().replace("-", "_")
            value = environ.get("CONTENT_TYPE" if header == "HTTP_CONTENT_TYPE" else header)
            if value:
                params[name] = str(value)
    return params


def _path(parent: str, name: str) -> str:
    """AWS's member path: names in lowerCamelCase, joined by dots."""
    member = name[:1].lower() + name[1:]
    return f"{parent}.{member}" if parent else member


def _structure(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        raise _WrongType(f"Unexpected {_json_kind(value)} at '{path}': the member is a structure")
    members = shape.members  # type: ignore[attr-defined]
    # Members the model lacks are left alone: a client built on a newer botocore than local AWS's may send
    # members AWS has added since, and refusing them would fail locally what passes on AWS.
    required = set(shape.required_members)
    for name, member in members.items():
        item = value.get(name)
        if item is None:
            if name in required:
                errors.append(f"Value null at '{_path(path, name)}' failed to satisfy constraint: {_NOT_NULL}")
            continue
        _member(member, item, _path(path, name), errors)


def _member(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _structure(shape, value, path, errors)
    elif kind == "list":
        _list(shape, value, path, errors)
    elif kind == "map":
        _map(shape, value, path, errors)
    else:
        _type_check(shape, value, path)
        errors.extend(f"{_value(shape, value)} at '{path}' failed to satisfy constraint: {broken}"
                      for broken in _broken(shape, value))  # fmt: skip


def _list(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        raise _WrongType(f"Unexpected {_json_kind(value)} at '{path}': the member is a list")
    errors.extend(f"{_value(shape, value)} at '{path}' failed to satisfy constraint: {broken}"
                  for broken in _broken(shape, value))  # fmt: skip
    element = shape.member  # type: ignore[attr-defined]
    for index, item in enumerate(value, 1):
        if element.type_name in _SCALAR_TYPES:  # a scalar element's failure is told at the list, with all its rules
            if item is None:
                broken_element = True
            else:
                _type_check(element, item, path)
                broken_element = bool(_broken(element, item))
            if broken_element:
                rules = [*_rules(element), _NOT_NULL]
                errors.append(f"{_value(shape, value)} at '{path}' failed to satisfy constraint: "
                              f"Member must satisfy constraint: [{', '.join(rules)}]")  # fmt: skip
        elif item is None:
            errors.append(f"Value null at '{path}.{index}.member' failed to satisfy constraint: {_NOT_NULL}")
        else:
            _member(element, item, f"{path}.{index}.member", errors)


def _map(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        raise _WrongType(f"Unexpected {_json_kind(value)} at '{path}': the member is a map")
    errors.extend(f"{_value(shape, value)} at '{path}' failed to satisfy constraint: {broken}"
                  for broken in _broken(shape, value))  # fmt: skip
    key_shape, value_shape = shape.key, shape.value  # type: ignore[attr-defined]
    if any(_broken(key_shape, key) for key in value):
        errors.append(f"{_value(shape, value)} at '{path}' failed to satisfy constraint: "
                      f"Map keys must satisfy constraint: [{', '.join(_rules(key_shape))}]")  # fmt: skip
    if value_shape.type_name in _SCALAR_TYPES:
        for item in value.values():
            if item is not None:
                _type_check(value_shape, item, path)
        if any(item is None or _broken(value_shape, item) for item in value.values()):
            errors.append(f"{_value(shape, value)} at '{path}' failed to satisfy constraint: "
                          f"Map value must satisfy constraint: [{', '.join(_rules(value_shape))}]")  # fmt: skip
        return
    for key, item in value.items():
        _member(value_shape, item, f"{path}.{key}", errors)


def _type_check(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    fits = {
        "string": isinstance(value, str),
        "blob": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "long": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
        "timestamp": isinstance(value, int | float | str) and not isinstance(value, bool),
    }.get(kind, True)
    if not fits:
        raise _WrongType(f"Unexpected {_json_kind(value)} at '{path}': the member is {_ARTICLES.get(kind, 'a')} {kind}")


def _broken(shape: Shape, value: Any) -> list[str]:
    """The constraints value breaks, in AWS's words and order (length before pattern)."""
    meta = shape.metadata
    broken: list[str] = []
    if shape.type_name in ("integer", "long", "float", "double"):
        if "max" in meta and value > meta["max"]:
            broken.append(f"Member must have value less than or equal to {_number(meta['max'])}")
        if "min" in meta and value < meta["min"]:
            broken.append(f"Member must have value greater than or equal to {_number(meta['min'])}")
        return broken
    if shape.type_name in ("string", "blob", "list", "map"):
        size = len(value)
        if "max" in meta and size > meta["max"]:
            broken.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and size < meta["min"]:
            broken.append(f"Member must have length greater than or equal to {meta['min']}")
    if shape.type_name == "string":
        if "enum" in meta and value not in meta["enum"]:
            broken.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        matcher = _pattern(meta["pattern"]) if "pattern" in meta else None
        if matcher is not None and matcher.fullmatch(value) is None:
            broken.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    return broken


def _rules(shape: Shape) -> list[str]:
    """Every constraint of a shape, as AWS lists them for a map's keys or values or a list's elements."""
    meta = shape.metadata
    numeric = shape.type_name in ("integer", "long", "float", "double")
    what = "value" if numeric else "length"
    rules = []
    if "max" in meta:
        rules.append(f"Member must have {what} less than or equal to {_number(meta['max'])}")
    if "min" in meta:
        rules.append(f"Member must have {what} greater than or equal to {_number(meta['min'])}")
    if "enum" in meta:
        rules.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    if "pattern" in meta:
        rules.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    return rules


def _value(shape: Shape, value: Any) -> str:
    """How AWS quotes the value (Java's toString); a sensitive or binary one is not echoed."""
    if shape.metadata.get("sensitive") or shape.type_name == "blob":
        return "Value"
    return f"Value '{_java(value)}'"


def _java(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_java(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_java(item)}" for key, item in value.items()) + "}"
    return str(value)


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)


def _json_kind(value: Any) -> str:
    kinds = ((bool, "boolean"), (str, "string"), (int | float, "number"), (list, "list"), (dict, "object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "null")


@functools.cache
def _pattern(java: str) -> re.Pattern[str] | None:
    """The Java pattern as a compiled Python one; None (and listed) when it cannot be translated."""
    python = translate(java)
    if python is None:
        UNCHECKED_PATTERNS.add(java)
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a FutureWarning (a nested set, say) means Java reads it otherwise
        try:
            return re.compile(python, re.ASCII)  # Java's \w \d \s \b are ASCII-only
        except (re.error, FutureWarning):
            UNCHECKED_PATTERNS.add(java)
            return None


def translate(java: str) -> str | None:
    """A Java regular expression in Python's syntax, or None when its meaning cannot be carried over."""
    if "&&" in java or "\\P{" in java or "\\G" in java:
        return None  # class intersection, negated Unicode classes, \G: no equivalent
    text = _SURROGATE_PAIR.sub(lambda m: f"\\U{_astral(m.group(1), m.group(2)):08X}", java)
    text = re.sub(r"\$\{\d+(?:,\d*)?\}", "$", text)  # a quantified end anchor ("${1,128}") is just the anchor
    text = text.replace("\\z", "\\Z")  # Java's absolute end; Java's \Z (before a final newline) is not used
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            match = _PROPERTY.match(text, index)
            if match is not None:
                content = _property(match.group(1))
                if content is None:
                    return None
                out.append(content if in_class else f"[{content}]")
                index = match.end()
                continue
            out.append(text[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class and not (out and out[-1] == "["):
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def _astral(high: str, low: str) -> int:
    return 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)


def _property(name: str) -> str | None:
    """The contents of a character class for \\p{name}: a POSIX class or a Unicode general category."""
    if name in _POSIX:
        return _POSIX[name]
    if name in ("L", "M", "N", "P", "S", "Z", "C") or (len(name) == 2 and name[0] in "LMNPSZC"):
        return _category(name)
    return None


@functools.cache
def _category(name: str) -> str:
    """Code point ranges of a Unicode general category (one letter: all its subcategories), escaped."""
    ranges: list[str] = []
    start = -1
    for point in range(0x110001):
        inside = point < 0x110000 and unicodedata.category(chr(point)).startswith(name)
        if inside and start < 0:
            start = point
        elif not inside and start >= 0:
            last = point - 1
            ranges.append(f"\\U{start:08X}" if start == last else f"\\U{start:08X}-\\U{last:08X}")
            start = -1
    return "".join(ranges)
