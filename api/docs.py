"""``/docs``: Swagger UI served from vendored files (``api/static/swagger-ui``), so it works offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: The vendored swagger-ui-dist files (see ``api/static/README.md``).
SWAGGER_DIR = Path(__file__).parent / "static" / "swagger-ui"


def install_docs(app: FastAPI, *, path: str = "/docs") -> None:
    """Serve Swagger UI at ``path`` for the app's OpenAPI document, with every asset local.

    The app must be created with ``docs_url=None``; relative asset URLs keep the page working
    behind a reverse proxy that mounts the service under a prefix.
    """
    app.mount(f"{path}/static", StaticFiles(directory=SWAGGER_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(path, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f".{openapi_url}" if openapi_url.startswith("/") else openapi_url,
            title=f"{app.title} - API documentation",
            swagger_js_url="./docs/static/swagger-ui-bundle.js",
            swagger_css_url="./docs/static/swagger-ui.css",
            swagger_favicon_url="./docs/static/favicon-32x32.png",
        )
