"""A city map of the seed world in headless Chromium with the network blocked: it draws villages of all
four legend classes, its popups and search work, and no request leaves the machine.

Skipped when Chromium is missing, unless VILLAGE5G_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coverage.model.verdicts import REASONS
from maps import MapOptions, MapSource, write_html
from maps import png as pngio
from maps.style import NO_BASEMAP_LAND, VILLAGE_CLASSES, VILLAGE_FILL_OPACITY, hex_rgb
from tests.utils.browser import assert_offline, open_page, require_browser

pytestmark = pytest.mark.slow

#: The city of the test: the seed world's biggest, with villages of every class (default scope).
CITY = "3203"


@pytest.fixture(scope="module")
def source(request: pytest.FixtureRequest) -> MapSource:
    """The seed world, analysed once (village committees, the default scope: the session's
    ``seed_store``), read for mapping."""
    require_browser()  # before the store is built: without a browser there is nothing to map
    return MapSource.load(request.getfixturevalue("seed_store"))


@pytest.fixture(scope="module")
def city_page(source: MapSource, tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = source.region(city=CITY, options=MapOptions(basemap="none"))
    return write_html(m, tmp_path_factory.mktemp("pages") / f"map_{CITY}.html", offline=True)


def blended(color: str) -> np.ndarray:
    """The colour a village fill shows on the land of the ``none`` basemap."""
    fill, land = np.array(hex_rgb(color), float), np.array(hex_rgb(NO_BASEMAP_LAND), float)
    return VILLAGE_FILL_OPACITY * fill + (1 - VILLAGE_FILL_OPACITY) * land


def class_pixels(screenshot: bytes, tolerance: int = 6) -> dict[str, int]:
    """Pixels of each legend class's colour in the screenshot."""
    rgb = pngio.decode(screenshot)[..., :3].astype(int)
    return {c.key: int((np.abs(rgb - blended(c.color)) <= tolerance).all(axis=2).sum()) for c in VILLAGE_CLASSES}


def test_city_map_draws_all_four_classes_without_the_network(city_page: Path, tmp_path: Path) -> None:
    result, proxy_requests = open_page(city_page)
    assert result.png is not None
    (tmp_path / "city.png").write_bytes(result.png)  # kept by pytest for a look when this fails
    assert_offline(result, proxy_requests)
    counts = class_pixels(result.png)
    assert all(n >= 200 for n in counts.values()), counts
    assert result.drawn_ms > 0


def test_popup_of_a_no_site_village_explains_its_reasons(city_page: Path) -> None:
    result, proxy_requests = open_page(city_page, screenshot=False, prepare="""(() => {
        let text = null;
        village5gMap.eachLayer(l => {
            if (text === null && l.feature && l.feature.properties.class === 'no_site') {
                l.openPopup();
                text = document.querySelector('.leaflet-popup-content').innerText;
            }
        });
        return text;
    })()""")
    assert_offline(result, proxy_requests)
    text = result.prepared
    assert text and "无站址" in text and REASONS["no_site"] in text and REASONS["committee_none"] in text


def test_search_finds_a_village_by_its_code(city_page: Path, source: MapSource) -> None:
    village = source.rows[source.rows["city_code"] == CITY].iloc[-1]
    # type the code, then click the one suggestion, as a user would
    result, proxy_requests = open_page(city_page, screenshot=False, prepare=f"""(() => {{
        const control = window[Object.keys(window).find(k => k.startsWith('village_search_'))];
        const later = (ms, f) => new Promise(resolve => setTimeout(() => resolve(f()), ms));
        control.searchText('{village["code"]}');
        return later(800, () => {{
            const tips = document.querySelectorAll('.search-tip');
            if (tips.length !== 1) {{ return 'suggestions: ' + tips.length; }}
            tips[0].click();
            return later(1200, () => {{
                const popup = document.querySelector('.leaflet-popup-content');
                return popup ? popup.innerText : 'no popup';
            }});
        }});
    }})()""")
    assert_offline(result, proxy_requests)
    assert village["code"] in result.prepared and village["name"] in result.prepared, result.prepared


def test_the_harness_sees_a_page_that_reaches_out(tmp_path: Path) -> None:
    require_browser()
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.com/pixel.png">'
                    '<script src="https://cdn.example.org/lib.js"></script>'
                    "<script>window.village5gReady = Promise.resolve(1);</script></body></html>", encoding="utf-8")
    result, proxy_requests = open_page(page, screenshot=False)
    assert any("example.com" in r for r in proxy_requests) and any("cdn.example.org" in r for r in proxy_requests)
    assert "http://example.com/pixel.png" in result.network_requests
