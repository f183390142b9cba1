"""A tool's definition read the chapter's way: chapter 11's checks make the learner's function
a strict tool as ``tool_from`` does, and read its schema.

Used by :mod:`helpers.checks.ch11` (exercises 1 and 2, and exercise 3's tool):
:func:`tool_definition` is the chapter's ``tool_from`` (pydantic's schema of the signature; the
docstring); :func:`schema_of` its parameters with each ``$ref`` :func:`resolved`, or a
:class:`~helpers.checks.framework.Wrong` when pydantic cannot read the signature
(:func:`readable` asks without raising); :func:`allowed_values` and :func:`types_of` read a
parameter's schema; :func:`require_docstring` asks for the tool's description;
:func:`palindrome_parameters` (exercise 1) and :func:`convert_parameters` (exercise 2) ask for
the parameters each exercise's tool takes.
"""

from __future__ import annotations

import inspect
from typing import Any

from helpers.checks.framework import Wrong

__all__ = ["allowed_values", "convert_parameters", "palindrome_parameters", "readable",
           "require_docstring", "resolved", "schema_of", "tool_definition", "types_of"]


def tool_definition(function: Any, name: str) -> dict:
    """The chapter's ``tool_from``, under the exercise's tool name whatever the function is
    called: a strict tool from a function's signature and docstring."""
    from pydantic import TypeAdapter

    return {"type": "function", "function": {
        "name": name, "description": inspect.getdoc(function) or "",
        "parameters": TypeAdapter(function).json_schema(), "strict": True}}


def schema_of(function: Any, name: str) -> dict:
    try:
        return resolved(tool_definition(function, name)["function"]["parameters"])
    except Exception as error:  # noqa: BLE001 (pydantic cannot read the signature)
        raise Wrong(f"pydantic could not make a tool schema of your {name} "
                    f"({type(error).__name__}: {str(error).splitlines()[0]}): give each "
                    "parameter a plain type annotation.") from None


def resolved(schema: Any, definitions: dict | None = None, depth: int = 0) -> Any:
    """``schema`` with each ``{"$ref": "#/$defs/X"}`` replaced by its definition (pydantic
    writes an Enum or a model once, in ``$defs``, and refers to it)."""
    if definitions is None and isinstance(schema, dict):
        definitions = schema.get("$defs", schema.get("definitions", {}))
    if depth > 20:
        return schema
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in (definitions or {}):
            target = definitions[ref.rsplit("/", 1)[-1]]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return resolved({**target, **rest}, definitions, depth + 1)
        return {k: resolved(v, definitions, depth + 1) for k, v in schema.items()
                if k not in ("$defs", "definitions")}
    if isinstance(schema, list):
        return [resolved(v, definitions, depth + 1) for v in schema]
    return schema


def allowed_values(spec: dict) -> set | None:
    """The values a (resolved) schema allows, when it lists them (enum, const, anyOf of
    those); None when it allows any value of its type."""
    if "enum" in spec:
        return set(spec["enum"])
    if "const" in spec:
        return {spec["const"]}
    for key in ("anyOf", "oneOf"):
        if key in spec:
            parts = [allowed_values(part) for part in spec[key]]
            return None if any(p is None for p in parts) else set().union(*parts)
    return None


def types_of(spec: dict) -> set:
    if "type" in spec:
        return set(spec["type"]) if isinstance(spec["type"], list) else {spec["type"]}
    found: set = set()
    for key in ("anyOf", "oneOf"):
        for part in spec.get(key, []):
            found |= types_of(part)
    return found


def readable(function: Any) -> bool:
    """True if pydantic can write a tool schema from ``function``'s signature."""
    try:
        schema_of(function, "function")
    except Wrong:
        return False
    return True


def require_docstring(function: Any, name: str, example: str) -> None:
    if not inspect.getdoc(function):
        raise Wrong(f"your {name} has no docstring: it is the tool's description, what the "
                    f"model reads about it. Add one, such as \"\"\"{example}\"\"\".")


def palindrome_parameters(is_palindrome: Any) -> list[str]:
    """The tool's schema: one required parameter, typed; its names."""
    schema = schema_of(is_palindrome, "is_palindrome")
    properties = schema.get("properties", {})
    untyped = [name for name, spec in properties.items() if not types_of(spec)]
    if untyped:
        raise Wrong(f"your parameter {untyped[0]!r} has no type annotation, so the tool's schema "
                    "lets the model send anything there: write word: str (and -> bool).")
    required = schema.get("required", list(properties))
    if len(required) != 1:
        raise Wrong(f"your is_palindrome needs {sorted(required) or 'no parameters'}; the "
                    "tool takes one, the word: is_palindrome(word: str) -> bool.")
    return required


def convert_parameters(convert: Any) -> dict:
    properties = schema_of(convert, "convert").get("properties", {})
    if "unit" not in properties or "value" not in properties:
        raise Wrong(f"your convert takes {sorted(properties) or 'no parameters'}; the tool "
                    "takes two, convert(value, unit), so that the model sends both by name.")
    return properties
