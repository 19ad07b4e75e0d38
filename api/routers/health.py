"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from api.deps import StoreDep
from api.errors import ApiError
from api.models import Health

router = APIRouter(tags=["Health"])


@router.get("/healthz", response_model=Health, response_model_exclude_none=True, summary="Liveness")
async def healthz() -> dict[str, Any]:
    """The process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Health, summary="Readiness",
            responses={503: {"description": "The database cannot be reached"}})
def readyz(store: StoreDep) -> dict[str, Any]:
    """The database answers and has the schema: the service can take traffic."""
    try:
        latest = store.latest_run_id()  # a query of the runs table: the database answers and has the schema
    except SQLAlchemyError:
        raise ApiError(503, "无法连接数据库 (the database cannot be reached)", code="unavailable") from None
    return {"status": "ready", "database": store.dialect, "latest_run": latest}
