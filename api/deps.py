"""Dependency aliases that keep the routers short: the store, the settings and the caller.

The dependencies that only look things up are ``async`` so they run on the event loop instead of
costing a thread hand-off each; the handlers that read the database stay plain ``def``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.security import Principal, reader, requires
from api.service_settings import ServiceSettings
from coverage.store.storage import Store


async def get_store(request: Request) -> Store:
    """The app's store (built by the app factory)."""
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> ServiceSettings:
    """The app's settings (built once, by the caller of the app factory)."""
    settings: ServiceSettings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
#: Anyone (or any key holder, where reads need a key); region-limited keys narrow what they see.
ReaderDep = Annotated[Principal, Depends(reader)]
#: A key with role auditor or admin.
AuditorDep = Annotated[Principal, Depends(requires("auditor"))]
#: A key with role admin.
AdminDep = Annotated[Principal, Depends(requires("admin"))]
