"""Who is asking: API keys from ``X-API-Key`` or ``Authorization: Bearer``, roles and region limits.

Writes need a key whose role is strong enough (:data:`coverage.keys.ROLES`). Reads are open unless
``VILLAGE5G_READS_NEED_KEY`` is set; a key presented on an open read still counts, so a
region-limited key sees only its region. A wrong, revoked or malformed key is a 401 even where no
key is needed: a client that sends one expects it to work.

Verified keys are remembered for ``key_cache_s`` seconds (by a SHA-256 of the key, in memory), so
the deliberately slow scrypt check runs once per key and worker, not once per request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from coverage.keys import ApiKey, role_allows, verify_key
from coverage.storage import Store

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key made with `village5g keys create`.")
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="village5g"'}


@dataclass(frozen=True)
class Principal:
    """The caller: anonymous (``key`` None) or the holder of a key."""

    key: ApiKey | None = None

    @property
    def region(self) -> str | None:
        """The region code the caller is limited to, or None."""
        return self.key.region_code if self.key else None

    @property
    def regions(self) -> tuple[str, ...]:
        """Region limits as a tuple of code prefixes (empty: unlimited)."""
        return (self.key.region_code,) if self.key and self.key.region_code else ()


class KeyCache:
    """Verified keys by SHA-256 of the key text, for a limited time; bounded in size."""

    def __init__(self, ttl_s: float, size: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._items: OrderedDict[bytes, tuple[float, ApiKey]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(presented: str) -> bytes:
        return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()

    def cached(self, presented: str) -> ApiKey | None:
        """The key's record when it was verified less than ``ttl_s`` ago, else None."""
        digest = self._digest(presented)
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None and hit[0] > time.monotonic():
                self._items.move_to_end(digest)
                return hit[1]
        return None

    def verify(self, store: Store, presented: str) -> ApiKey | None:
        """The key's record (cached or freshly verified), or None when it is not valid."""
        hit = self.cached(presented)
        if hit is not None:
            return hit
        digest = self._digest(presented)
        now = time.monotonic()
        key = verify_key(store, presented)
        if key is not None and self.ttl_s > 0:
            with self._lock:
                self._items[digest] = (now + self.ttl_s, key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return key


def _presented(api_key: str | None, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if api_key:
        return api_key
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    return None


async def get_principal(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The caller, from whichever key header is present; 401 for a key that does not verify.

    Anonymous callers cost nothing; a key is checked on a worker thread (a database read and a
    deliberately slow hash) unless it was verified moments ago.
    """
    presented = _presented(api_key, credentials)
    if presented is None:
        return Principal()
    cache: KeyCache = request.app.state.key_cache
    key = cache.cached(presented)
    if key is None:
        key = await run_in_threadpool(cache.verify, request.app.state.store, presented)
    if key is None:
        raise ApiError(401, "the API key is not valid (unknown, revoked or mistyped)", headers=_CHALLENGE)
    request.state.key_id = key.id
    return Principal(key)


async def reader(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """The caller of a read: anyone, or any key holder where reads need a key."""
    if principal.key is None and request.app.state.settings.reads_need_key:
        raise ApiError(401, "reads need an API key (X-API-Key header or Authorization: Bearer)",
                       headers=_CHALLENGE)
    return principal


def requires(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through keys of ``role`` or stronger (401 without a key, 403 too weak)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.key is None:
            raise ApiError(401, f"this needs an API key with role {role} or above", headers=_CHALLENGE)
        if not role_allows(principal.key.role, role):
            raise ApiError(403, f"this needs role {role} or above; the key has role {principal.key.role}")
        return principal

    return check
