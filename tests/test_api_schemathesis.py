"""Property-based tests of the API against its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests (deterministic: hypothesis is
derandomised). No response may be a server error, or break the document: its status, content type,
headers and body must all be ones the document states. Requests go in through ASGI, against the
small world on SQLite; one viewer key is sent, so the keyed paths are exercised past the 401.

Not under pytest-xdist: there each test function ran as one test (of one operation) instead of one
test per operation, 3 tests instead of 65, silently; `make test` runs this file on its own afterwards.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from coverage.audit.rounds import draw_round
from coverage.audit.sampling import SamplingPlan
from coverage.store.storage import Store
from tests.utils.api import app_for, key
from tests.worlds.row import build_row_world

if os.environ.get("PYTEST_XDIST_WORKER"):
    pytest.fail("tests/test_api_schemathesis.py runs one test per API operation only in a single process: run it "
                "without -n (make test does, after the other tests)", pytrace=False)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


# The app exists at collection (schemathesis builds the tests from its document) over an empty
# SQLite file; the world is stored in it by the module fixture below, before any request.
_TMP = Path(tempfile.mkdtemp(prefix="village5g-schemathesis-"))
_STORE = Store(f"sqlite:///{_TMP / 'api.db'}")
# schemathesis sends hundreds of random keys from one address: the invalid-key limit (which holds
# each refused check for a second) is tested in test_limits.py, not here
_APP = app_for(_STORE, _TMP, failed_key_limit=1_000_000)
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)  # also when the module's tests are deselected
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)
# POST /plan plans for real (an analysis and every candidate's gain: up to 8 s a call on the test
# world); its boundary-value ("coverage") phase alone sent 60 of its 85 calls, 112 s of the suite:
# it gets the generated examples only
plan_schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)
plan_schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.fixture(scope="module")
def viewer_headers() -> Iterator[dict[str, str]]:
    """The small world stored, the app's lifespan running, and a viewer key's header."""
    build_row_world(_STORE)
    draw_round(_STORE, SamplingPlan(margin=0.3, seed=1))  # round 1, so the /audits/{round} routes find it
    with TestClient(_APP):
        yield key(_STORE, "viewer")
    _STORE.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_api_keeps_its_contract(case: schemathesis.Case, viewer_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=viewer_headers if "X-API-Key" not in (case.headers or {}) else None,
                           checks=CHECKS)


@pytest.fixture(scope="module")
def admin_headers(viewer_headers: dict[str, str]) -> dict[str, str]:
    """An admin key's header (the world and the app's lifespan as for the viewer)."""
    return key(_STORE, "admin")


def _call_as_admin(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("x-api-key", "authorization")}
    response = case.call_and_validate(headers=admin_headers, checks=CHECKS)
    assert response.status_code not in (401, 403, 429)


@pytest.mark.slow
@schema.include(method="POST").exclude(path="/console/login").exclude(path="/plan").parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_writes_with_an_admin_key_keep_the_contract(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    """Every write route, past authentication (the generated key headers replaced by the admin's):
    no server error, every answer as documented. Signing in takes its key in the body (a generated one
    is refused, as it should be): the viewer test above covers it."""
    _call_as_admin(case, admin_headers)


@pytest.mark.slow
@plan_schema.include(method="POST", path="/plan").parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_a_plan_with_an_admin_key_keeps_the_contract(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    """``POST /plan`` as the other writes, without the boundary-value phase (above)."""
    _call_as_admin(case, admin_headers)
