"""The OpenAPI document: FastAPI's, with the one error shape stated on every operation.

FastAPI documents request-validation errors as 422 with its own schema; this service answers them
with 400 and :class:`api.errors.ErrorBody`, like every other error, and says so here, so clients
(and schemathesis) can hold every response to the document. The console's pages answer their errors
as pages (:class:`api.routers.console.PageRoute`, whose operations carry :data:`HTML_ERRORS`): HTML.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import ErrorBody

#: Error statuses every operation may answer, and why.
COMMON_ERRORS: dict[str, str] = {
    "400": "Invalid parameters or body",
    "401": "Missing, unknown or revoked API key where one is needed",
    "403": "The key's role or region does not allow this",
    "404": "Not found",
    "429": "Too many invalid API keys from this address lately; Retry-After says when to try again",
    "500": "Internal error (details are in the server log, never in the response)",
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
#: The mark (``openapi_extra``) of an operation whose errors are HTML pages; taken out of the document.
HTML_ERRORS = "x-html-errors"
#: The errors of a console page: a console page saying what went wrong.
_HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` by a generator that documents the error shape on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes, tags=app.openapi_tags)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if _is_fastapi_422(responses.get("422", {})):
                    del responses["422"]
                for status, description in COMMON_ERRORS.items():
                    responses.setdefault(status, {"description": description})
                if "requestBody" in operation:
                    responses.setdefault("413", {"description": "The request body is larger than accepted here"})
                    responses.setdefault("422", {"description": "The input was rejected, or asks for more than a "
                                                                "limit allows (code limit_exceeded)"})
                html = operation.pop(HTML_ERRORS, False)
                content = _HTML_PAGE if html else {"application/json": {"schema": _ERROR_REF}}
                for status, response in responses.items():
                    if status[0] in "45":
                        response["content"] = content
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _is_fastapi_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))
