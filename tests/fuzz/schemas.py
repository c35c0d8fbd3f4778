"""Hypothesis strategies for values a JSON Schema of the OpenAPI document accepts.

Only the keywords the document uses are understood; any other keyword raises, so a schema
that grows a new rule fails the fuzz suite until its strategy is written here, rather than
being fuzzed as if the rule did not exist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

Schema = dict[str, Any]
# Strategies for fields generic generation cannot produce well ("Code.zipFile": zips).
Overrides = Mapping[str, st.SearchStrategy[Any]]
ANNOTATIONS = frozenset({"description", "default", "format", "contentEncoding",
                         "discriminator", "examples"})
UNDERSTOOD = ANNOTATIONS | {
    "$ref", "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "multipleOf", "properties", "required", "additionalProperties", "propertyNames", "items",
    "minItems", "oneOf",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8))


class Schemas:
    def __init__(self, document: Schema, overrides: Overrides | None = None) -> None:
        self._document = document
        self._overrides = overrides or {}

    def resolve(self, schema: Schema) -> tuple[Schema, str]:
        """The schema a ``$ref`` points at, and its component name ('' when inline)."""
        name = ""
        while "$ref" in schema:
            pointer = schema["$ref"].removeprefix("#/").split("/")
            name = pointer[-1]
            target: Any = self._document
            for part in pointer:
                target = target[part]
            schema = target
        return schema, name

    def valid(self, schema: Schema) -> st.SearchStrategy[Any]:
        schema, name = self.resolve(schema)
        unknown = set(schema) - UNDERSTOOD
        if unknown:
            raise ValueError(f"no strategy for JSON Schema keywords {sorted(unknown)}")
        base = self._base(schema, name)
        if schema.get("examples"):
            return st.one_of(st.sampled_from(schema["examples"]), base)
        return base

    def _base(self, schema: Schema, name: str) -> st.SearchStrategy[Any]:
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "oneOf" in schema:
            return st.one_of([self.valid(option) for option in schema["oneOf"]])
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return st.one_of([self._typed(kind, schema, name) for kind in kinds])
        if kinds is None:
            return LEAVES
        return self._typed(kinds, schema, name)

    def _typed(self, kind: str, schema: Schema, name: str) -> st.SearchStrategy[Any]:
        makers: dict[str, Callable[[Schema, str], st.SearchStrategy[Any]]] = {
            "string": self._string, "integer": self._integer, "number": self._number,
            "boolean": lambda _s, _n: st.booleans(), "null": lambda _s, _n: st.none(),
            "object": self._object, "array": self._array,
        }
        return makers[kind](schema, name)

    @staticmethod
    def _string(schema: Schema, _name: str) -> st.SearchStrategy[Any]:
        if schema.get("format") == "date-time":
            return st.just("2026-01-02T03:04:05.006Z")
        low, high = schema.get("minLength", 0), schema.get("maxLength", 24)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda text: low <= len(text) <= high)
        return st.text(min_size=low, max_size=min(high, 24))

    @staticmethod
    def _integer(schema: Schema, _name: str) -> st.SearchStrategy[Any]:
        low, high = schema.get("minimum"), schema.get("maximum")
        step = schema.get("multipleOf", 1)
        first = None if low is None else math.ceil(low / step)
        last = None if high is None else high // step
        return st.integers(first, last).map(lambda n: n * step)

    @staticmethod
    def _number(schema: Schema, _name: str) -> st.SearchStrategy[Any]:
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)

    def _object(self, schema: Schema, name: str) -> st.SearchStrategy[Any]:
        properties: dict[str, Schema] = schema.get("properties", {})
        required = set(schema.get("required", ()))

        def field(key: str) -> st.SearchStrategy[Any]:
            override = self._overrides.get(f"{name}.{key}")
            return override if override is not None else self.valid(properties[key])

        fixed = st.fixed_dictionaries(
            {key: field(key) for key in properties if key in required},
            optional={key: field(key) for key in properties if key not in required},
        )
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            names = schema.get("propertyNames", {})
            keys = (st.from_regex(names["pattern"], fullmatch=True) if "pattern" in names
                    else st.text(max_size=12))
            more = st.dictionaries(keys, self.valid(extra), max_size=4)
            return st.builds(lambda a, b: {**b, **a}, fixed, more)
        if not properties:
            return st.dictionaries(st.text(max_size=8), LEAVES, max_size=3)
        return fixed

    def violation(self, schema: Schema, value: Any, where: str = "body") -> str:
        """Why ``value`` does not satisfy ``schema`` ('' when it does): JSON Schema
        semantics for the keywords above, patterns matched to the very end (a trailing
        newline does not pass ``$``)."""
        schema, _ = self.resolve(schema)
        if "const" in schema and value != schema["const"]:
            return f"{where}: is not {schema['const']!r}"
        if "enum" in schema and value not in schema["enum"]:
            return f"{where}: is not one of {schema['enum']}"
        if "oneOf" in schema:
            reasons = [self.violation(option, value, where) for option in schema["oneOf"]]
            return "" if "" in reasons else f"{where} matches no oneOf option: {reasons[0]}"
        kinds = schema.get("type")
        if kinds is not None:
            allowed = kinds if isinstance(kinds, list) else [kinds]
            if json_type(value) not in allowed and not (
                    json_type(value) == "integer" and "number" in allowed):
                return f"{where}: is a {json_type(value)}, not {allowed}"
        checks: dict[type, Callable[[Schema, Any, str], str]] = {
                  str: self._string_violation, int: self._number_violation,
                  float: self._number_violation, dict: self._object_violation,
                  list: self._array_violation}
        check = checks.get(type(value))
        return check(schema, value, where) if check else ""

    @staticmethod
    def _string_violation(schema: Schema, value: str, where: str) -> str:
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return f"{where}: has {len(value)} characters"
        if "pattern" in schema:
            found = re.search(schema["pattern"], value)
            if found is None or found.end() != len(value):
                return f"{where}: does not match {schema['pattern']}"
        return ""

    @staticmethod
    def _number_violation(schema: Schema, value: float, where: str) -> str:
        if math.isnan(value) or not (schema.get("minimum", -math.inf) <= value
                                     <= schema.get("maximum", math.inf)):
            return f"{where}: is out of range"
        if "multipleOf" in schema and value % schema["multipleOf"]:
            return f"{where}: is not a multiple of {schema['multipleOf']}"
        return ""

    def _object_violation(self, schema: Schema, value: dict[str, Any], where: str) -> str:
        missing = [key for key in schema.get("required", ()) if key not in value]
        if missing:
            return f"{where}: lacks {missing}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        names = schema.get("propertyNames")
        for key, item in value.items():
            reason = self.violation({"type": "string", **names}, key, f"{where} key") if (
                names) else ""
            if reason:
                return f"{reason} ({key[:40]!r})"
            inner = properties.get(key, extra if isinstance(extra, dict) else None)
            reason = self.violation(inner, item, f"{where}.{key}") if inner else ""
            if reason:
                return reason
        return ""

    def _array_violation(self, schema: Schema, value: list[Any], where: str) -> str:
        if len(value) < schema.get("minItems", 0):
            return f"{where}: has {len(value)} items"
        for index, item in enumerate(value):
            reason = self.violation(schema.get("items", {}), item, f"{where}[{index}]")
            if reason:
                return reason
        return ""

    def _array(self, schema: Schema, _name: str) -> st.SearchStrategy[Any]:
        low = schema.get("minItems", 0)
        return st.lists(self.valid(schema.get("items", {})), min_size=low, max_size=low + 3)
