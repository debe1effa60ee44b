"""The API's documentation page: the OpenAPI document rendered by us, server-side, so it
needs no CDN and no script (the CSP stays as strict as everywhere else)."""

from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.generators import SchemaGenerator

_METHODS = ("get", "post", "patch", "delete")


def _ref_name(schema):
    ref = (schema or {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1]


def _fields(components, schema):
    """(name, type, description) of an object schema's properties."""
    schema = components.get(_ref_name(schema), schema or {})
    return [
        (
            name,
            prop.get("type") or _ref_name(prop) or _ref_name((prop.get("allOf") or [{}])[0]),
            prop.get("description", ""),
        )
        for name, prop in schema.get("properties", {}).items()
    ]


@require_GET
def api_docs(request):
    document = SchemaGenerator().get_schema(request=None, public=True)
    components = document.get("components", {}).get("schemas", {})
    operations = []
    for path, items in document["paths"].items():
        for method in _METHODS:
            operation = items.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            success = next(
                (
                    (status, answer)
                    for status, answer in operation["responses"].items()
                    if status.startswith("2")
                ),
                ("", {}),
            )
            content = success[1].get("content", {}).get("application/json", {})
            operations.append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": operation.get("parameters", []),
                    "body": _fields(components, body["schema"]) if body else [],
                    "success": success[0],
                    "returns": _ref_name(content.get("schema")),
                    "errors": sorted(s for s in operation["responses"] if s[0] in "45"),
                }
            )
    context = {
        "info": document["info"],
        "operations": operations,
        "schemas": {
            name: _fields(components, schema)
            for name, schema in components.items()
            if not name.startswith("Paginated") and "enum" not in schema
        },
        "enums": {name: schema["enum"] for name, schema in components.items() if "enum" in schema},
    }
    return render(request, "api/docs.html", context)
