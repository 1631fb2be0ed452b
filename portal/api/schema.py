"""What drf-spectacular cannot guess on its own: how API tokens are sent."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from portal.api.base import TenantSafeMixin


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "nubes_<id>_<secret>"}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def admin_only_fields_optional(result, generator, request, public):
    """Fields tenants never receive (TenantSafeMixin.admin_only_fields) are not required in the
    answers' schema, and say who sees them."""

    hidden = {}
    for cls in _subclasses(TenantSafeMixin):
        name = cls.__name__.removesuffix("Serializer")
        hidden.setdefault(name, set()).update(cls.admin_only_fields)
    for name, component in result.get("components", {}).get("schemas", {}).items():
        fields = hidden.get(name)
        if not fields:
            continue
        if "required" in component:
            component["required"] = [field for field in component["required"] if field not in fields]
        for field in fields & set(component.get("properties", {})):
            prop = component["properties"][field]
            prop["description"] = (prop.get("description", "") + " Cloud admins only.").strip()
    return result


ERROR_RESPONSE = {
    "description": "Refused: JSON with a message per field, or `detail`",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": True,
                "description": "{field: [messages]} or {detail: message}",
            }
        }
    },
}


def error_responses(result, generator, request, public):
    """Every operation may answer a 4xx (bad input, no permission, not found, conflict, too
    large, too many sign-ins) with the JSON error body the exception handler writes."""
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("4XX", ERROR_RESPONSE)
    return result


def blank_or_pattern(result, generator, request, public):
    """A blank-allowed string with a pattern comes out as oneOf [pattern, empty]; where the pattern
    admits "" too (e.g. an optional checksum), "" matched both and no answer validated. anyOf says
    what the field takes."""

    def walk(node):
        if isinstance(node, dict):
            options = node.get("oneOf")
            if isinstance(options, list) and {"type": "string", "maxLength": 0} in options:
                node["anyOf"] = node.pop("oneOf")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result.get("components", {}))
    return result
