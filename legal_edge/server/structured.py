"""Structured output: ``response_format`` (``json_object`` / ``json_schema``) as a schema the
backend enforces while decoding: vLLM takes the JSON schema itself (its structured outputs), the
llama.cpp engine a GBNF grammar made from it (``cached_grammar``).

The grammar is made by llama-cpp-python's JSON-schema converter and enforced token by token by
llama.cpp's grammar sampler, so a finished answer always parses and validates. The converter
skips keywords it does not know without a word; the schema is therefore checked first against
the keywords the grammar really enforces, and anything else is a 400 naming the keyword and
where it is (``$.properties.amount.minimum``), never a silently weaker guarantee; the same check
runs for every backend, so a schema is accepted or refused alike on llama.cpp and vLLM.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from legal_edge.server.errors import APIError, bad_combination, bad_request

# Keywords the converter turns into grammar rules.
ENFORCED = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "pattern",
        "minLength",
        "maxLength",
        "format",
    }
)
# Annotations: they describe, they constrain nothing.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
    }
)
FORMATS = frozenset({"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3"})
FORMATS = FORMATS | {"uuid4", "uuid5"}
TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
MAX_SCHEMA_BYTES = 64_000  # a schema is compiled per request: bound the work


class SchemaError(ValueError):
    """A schema the grammar cannot enforce; ``where`` is its JSON path."""

    def __init__(self, where: str, message: str):
        self.where = where
        super().__init__(f"{where}: {message}")


def check_schema(schema: Any, where: str = "$") -> None:
    """Raise ``SchemaError`` at the first keyword the grammar would not enforce."""
    if isinstance(schema, bool):
        if schema is False:
            raise SchemaError(where, "the schema `false` admits no value")
        return
    if not isinstance(schema, dict):
        raise SchemaError(where, "a schema must be an object")
    for key, value in schema.items():
        at = f"{where}.{key}"
        if key in ANNOTATIONS:
            continue
        if key not in ENFORCED:
            raise SchemaError(at, f"the keyword {key!r} is not supported by structured output")
        if key == "type":
            types = value if isinstance(value, list) else [value]
            bad = [t for t in types if t not in TYPES]
            if bad:
                raise SchemaError(at, f"unknown type {bad[0]!r}")
        elif key == "format" and value not in FORMATS:
            raise SchemaError(
                at,
                f"the format {value!r} is not supported (supported: {', '.join(sorted(FORMATS))})",
            )
        elif key == "$ref" and not (isinstance(value, str) and value.startswith("#/")):
            raise SchemaError(at, "only local references (#/...) are supported")
        elif key in ("properties", "$defs", "definitions"):
            if not isinstance(value, dict):
                raise SchemaError(at, "must be an object")
            for name, sub in value.items():
                check_schema(sub, f"{at}.{name}")
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if not isinstance(value, list) or not value:
                raise SchemaError(at, "must be a non-empty list of schemas")
            for i, sub in enumerate(value):
                check_schema(sub, f"{at}[{i}]")
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            check_schema(value, at)


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar (root rule ``root``) of ``schema``; ``SchemaError`` if unsupported."""
    check_schema(schema)
    try:  # llama-cpp-python's converter; the vLLM environment has no llama_cpp
        from llama_cpp.llama_grammar import SchemaConverter
    except ImportError:
        raise bad_request(
            "response_format: this backend's structured output needs llama-cpp-python, which "
            "this server lacks",
            "response_format",
        ) from None
    # remote $refs are never fetched (allow_fetch=False): check_schema refuses them first
    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        resolved = converter.resolve_refs(json.loads(json.dumps(schema)), "schema")
        converter.visit(resolved, "")
    except (ValueError, AssertionError, KeyError, TypeError) as exc:
        raise SchemaError("$", f"cannot be turned into a grammar: {exc}") from None
    # JSON strings may not hold raw control characters: the converter's ``char`` allows them
    return converter.format_grammar().replace(_LOOSE_CHAR, _JSON_CHAR)


_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_JSON_CHAR = 'char ::= [^"\\\\\\x00-\\x1F\\x7F] |'


@cache
def cached_grammar(schema_text: str) -> str:
    """``schema_grammar`` of a schema given as JSON text (a schema is compiled once)."""
    return schema_grammar(json.loads(schema_text))


def response_schema(response_format: Any) -> str | None:
    """The JSON schema (as JSON text) a request's ``response_format`` asks for (None: free
    text), checked against what every backend enforces: a 400 naming an unsupported keyword."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return JSON_OBJECT
    spec = response_format.json_schema
    if spec is None or spec.schema_ is None:
        raise bad_combination(
            "response_format.json_schema.schema: required for type json_schema",
            "response_format.json_schema",
        )
    text = json.dumps(spec.schema_, ensure_ascii=False)  # key order kept: it is the answer's
    if len(text) > MAX_SCHEMA_BYTES:
        raise bad_request(
            f"response_format.json_schema.schema: larger than {MAX_SCHEMA_BYTES} bytes",
            "response_format.json_schema",
        )
    try:
        check_schema(spec.schema_)
    except SchemaError as exc:
        raise APIError(
            400,
            f"response_format.json_schema.schema{exc.where[1:]}: {str(exc).split(': ', 1)[1]}",
            code="unsupported_schema",
            param="response_format.json_schema.schema",
        ) from None
    return text


JSON_OBJECT = json.dumps({"type": "object"})
