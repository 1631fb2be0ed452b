"""JSON Schemas of the catalog: a template's order parameters and each action's arguments.

Admins write them; they must describe one flat JSON object with no extra keys, so a value that
passes can be shown as a form and handed to a script as JSON on stdin. Plain Python (jsonschema).
"""

import jsonschema
from jsonschema.validators import Draft202012Validator

SCALAR_TYPES = ("string", "integer", "number", "boolean")
MAX_PROPERTIES = 32


class SchemaError(ValueError):
    """The schema itself is unusable (admin error)."""


def check_schema(schema) -> None:
    """A usable parameter/argument schema: a Draft 2020-12 object schema with scalar properties
    and additionalProperties false. Raises SchemaError saying what is wrong."""
    if not isinstance(schema, dict):
        raise SchemaError("a schema is a JSON object")
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"not a valid JSON Schema: {exc.message}") from exc
    if schema.get("type") != "object":
        raise SchemaError('the schema must have "type": "object"')
    if schema.get("additionalProperties") is not False:
        raise SchemaError('the schema must say "additionalProperties": false (no unchecked keys reach a script)')
    properties = schema.get("properties", {})
    if len(properties) > MAX_PROPERTIES:
        raise SchemaError(f"at most {MAX_PROPERTIES} properties")
    for name, spec in properties.items():
        if not isinstance(spec, dict) or spec.get("type") not in SCALAR_TYPES:
            raise SchemaError(f"property {name!r} needs a type among {', '.join(SCALAR_TYPES)}")


def errors(schema: dict, value) -> dict[str, list[str]]:
    """Field -> messages for ``value`` against ``schema``; empty when it is valid."""
    found: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(value):
        if error.validator == "additionalProperties" and not error.absolute_path and isinstance(value, dict):
            # An extra key is reported on the object; name each key, so a form or an API client
            # sees which of its fields is not allowed.
            for key in sorted(set(value) - set(schema.get("properties", {}))):
                found.setdefault(str(key), []).append(f"{key!r} is not allowed here (not in the schema).")
            continue
        field = ".".join(str(p) for p in error.absolute_path) or _field_of(error) or "non_field_errors"
        found.setdefault(field, []).append(error.message)
    return found


def _field_of(error) -> str | None:
    # A missing required key or an extra key is reported on the object; name the key instead.
    if error.validator == "required":
        return error.message.split("'")[1] if "'" in error.message else None
    return None


def secret_fields(schema: dict) -> frozenset[str]:
    """Properties marked ``"writeOnly": true`` (passwords): never stored in an Operation."""
    return frozenset(name for name, spec in schema.get("properties", {}).items() if spec.get("writeOnly"))
