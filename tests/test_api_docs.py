"""``/docs`` works offline: Swagger UI and its assets come from the project, never from a CDN."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

from fastapi.testclient import TestClient

from coverage.store.storage import Store
from tests.utils.api import app_for


def test_docs_page_loads_only_local_assets(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'docs.db'}")
    store.create_schema()
    with TestClient(app_for(store, tmp_path)) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "cdn" not in html.lower() and not re.search(r"""(src|href)=["']https?://""", html)
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
        for asset in assets:  # relative to the page, as a browser resolves them
            response = client.get(urljoin("http://testserver/docs", asset))
            assert response.status_code == 200, asset
            assert len(response.content) > 100, asset
        # the page asks for the app's own OpenAPI document, which is there
        spec_url = re.search(r"""url: ["']([^"']+)["']""", html)
        assert spec_url is not None
        spec = client.get(urljoin("http://testserver/docs", spec_url.group(1)))
        assert spec.status_code == 200 and spec.json()["info"]["title"] == "village5g"
    store.dispose()
