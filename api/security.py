"""Who is asking: API keys from ``X-API-Key`` or ``Authorization: Bearer``, roles and region limits.

Writes need a key whose role is strong enough (:data:`coverage.store.keys.ROLES`). Reads are open unless
``VILLAGE5G_READS_NEED_KEY`` is set; a key presented on an open read still counts, so a
region-limited key sees only its region. A wrong, revoked or malformed key is a 401 even where no
key is needed: a client that sends one expects it to work.

Verified keys are remembered for ``key_cache_s`` seconds (by a SHA-256 of the key, in memory), so
the deliberately slow scrypt check runs once per key and worker, not once per request. Invalid
keys are remembered too (the same wrong key costs nothing the second time), and a client address
that sent ``failed_key_limit`` invalid keys within ``failed_key_window_s`` gets 429 without any
check until the window has passed (each 429 held a second, on a timer): guessing keys cannot
starve legitimate callers of CPU. Checks run one at a time on a thread of their own.

Uploads (POST under :data:`UPLOAD_PREFIXES`) are authenticated by :class:`KeyBeforeBodyMiddleware`
before their body is read: an anonymous or wrong-key 200 MB upload is refused at its headers.

The web console signs in once (``POST /console/login`` with a key) and then holds a session in an
HttpOnly cookie (:data:`SESSION_COOKIE`, :func:`coverage.store.keys.open_session`). A request with no key
header is the session's key holder; a session's POST must also carry the session's CSRF token
(``X-CSRF-Token``), else 403. A stale or closed session's cookie counts as no key.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, error_response
from coverage.store.keys import ApiKey, role_allows, session_key, verify_key
from coverage.store.storage import Store

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key made with `village5g keys create`.")
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="village5g"'}

#: The Chinese of the roles, for messages: 审核员（auditor）.
ROLE_NAMES = {"viewer": "查看者", "auditor": "审核员", "admin": "管理员"}


def role_zh(role: str) -> str:
    """A role as a Chinese message names it, its identifier in brackets: ``审核员（auditor）``."""
    return f"{ROLE_NAMES.get(role, role)}（{role}）"


def needs_key(action: str, role: str, english: str) -> str:
    """The 401 of ``action`` (Chinese) without a key: it needs one of ``role`` or above."""
    return f"{action}需要{role_zh(role)}或更高角色的 API 密钥 ({english})"


def needs_role(action: str, role: str, held: str, english: str) -> str:
    """The 403 of ``action`` (Chinese) with a key of too weak a role ``held``."""
    return f"{action}需要{role_zh(role)}或更高角色，此密钥的角色是{role_zh(held)} ({english})"


#: The 401 of a key that does not verify.
INVALID_KEY = "API 密钥无效（不存在、已吊销或输入有误） (the API key is not valid (unknown, revoked or mistyped))"


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


#: Seconds a refused (429) key check is held before it is answered.
TARPIT_S = 1.0

#: Paths of file uploads (a body of up to ``max_upload_mb``), authenticated before the body is read.
UPLOAD_PREFIXES = ("/ingest/", "/audits/", "/whatif")


class KeyCache:
    """Verified keys by SHA-256 of the key text, for a limited time; bounded in size.

    Also remembers invalid keys (for the same time) and counts key checks per client address
    (:meth:`admit`; a check that finds a valid key does not count): :meth:`blocked` says when an
    address has had ``failed_limit`` of them within ``failed_window_s``. Bounded: ``size`` keys of
    each kind, ``16 * size`` addresses of ``failed_limit`` times each.
    """

    def __init__(self, ttl_s: float, size: int = 1024, *, failed_limit: int = 20,
                 failed_window_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.failed_limit = failed_limit
        self.failed_window_s = failed_window_s
        self._items: OrderedDict[bytes, tuple[float, ApiKey]] = OrderedDict()
        self._invalid: OrderedDict[bytes, float] = OrderedDict()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        #: The thread that checks keys (started at the first check)
        self.checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="village5g-key-check")

    def _recent(self, client: str, now: float) -> deque[float]:
        """``client``'s checks within the window (call with the lock held)."""
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.failed_window_s:
            times.popleft()
        return times

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may present keys again (0: it may now)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            return times[0] + self.failed_window_s - now if len(times) >= self.failed_limit else 0.0

    def admit(self, client: str) -> float:
        """Take one of ``client``'s key checks: 0 when taken, else seconds until one is free.

        A check counts as failed from the start until :meth:`passed` says otherwise, so requests
        sent at the same moment cannot run more than ``failed_limit`` checks between them.
        """
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) >= self.failed_limit:
                return times[0] + self.failed_window_s - now
            self._failures.pop(client, None)
            times.append(now)
            self._failures[client] = times  # most recent last: the oldest address is dropped first
            while len(self._failures) > 16 * self.size:
                self._failures.popitem(last=False)
            return 0.0

    def passed(self, client: str) -> None:
        """The check :meth:`admit` took for ``client`` found a valid key: it does not count."""
        with self._lock:
            times = self._failures.get(client)
            if times:
                times.pop()

    def known_invalid(self, presented: str) -> bool:
        """True when ``presented`` failed verification less than ``ttl_s`` ago."""
        digest = self._digest(presented)
        with self._lock:
            until = self._invalid.get(digest)
            return until is not None and until > time.monotonic()

    def failed(self, presented: str) -> None:
        """Remember that ``presented`` is not a valid key (its check was counted by :meth:`admit`)."""
        with self._lock:
            self._invalid[self._digest(presented)] = time.monotonic() + max(self.ttl_s, 1.0)
            while len(self._invalid) > self.size:
                self._invalid.popitem(last=False)

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
        if self.known_invalid(presented):
            return None
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


async def authenticate(state: Any, presented: str | None, client: str) -> Principal:
    """The caller presenting ``presented`` (None: anonymous) from address ``client``.

    ApiError 401 for a key that does not verify, 429 for an address that sent too many invalid
    keys lately. A key is checked (a database read and a deliberately slow hash) unless it was
    verified, or found invalid, moments ago: on the key cache's own thread, one check at a time,
    so keys being guessed never take more than one core nor a thread of the request handlers.
    """
    if presented is None:
        return Principal()
    cache: KeyCache = state.key_cache
    key = cache.cached(presented)
    if key is None:
        wait = cache.blocked(client)
        if wait == 0 and cache.known_invalid(presented):
            raise ApiError(401, INVALID_KEY, headers=_CHALLENGE)
        if wait == 0:
            wait = cache.admit(client)
        if wait > 0:
            # held for a moment (it costs the server a timer, not a thread): a client guessing keys
            # in a loop gets one answer a second instead of taking its share of the server
            await asyncio.sleep(min(wait, TARPIT_S))
            raise ApiError(429, f"来自此地址的无效 API 密钥过多，请 {wait:.0f} 秒后再试 "
                                f"(too many invalid API keys from this address; try again in {wait:.0f} s)",
                           headers={"Retry-After": str(max(1, round(wait)))})
        key = await asyncio.get_running_loop().run_in_executor(cache.checks, cache.verify, state.store, presented)
        if key is None:
            cache.failed(presented)
            raise ApiError(401, INVALID_KEY, headers=_CHALLENGE)
        cache.passed(client)
    return Principal(key)


#: The console's session cookie (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "village5g_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def session_principal(state: Any, token: str | None, method: str, csrf: str | None
                            ) -> tuple[Principal, str] | None:
    """The holder of the console session ``token`` and the session's CSRF token (None: no live
    session); ApiError 403 for a write without that CSRF token."""
    if not token:
        return None
    found = await asyncio.get_running_loop().run_in_executor(None, session_key, state.store, token)
    if found is None:
        return None
    key, expected = found
    # compared as bytes: a header with characters beyond ASCII is a wrong token, not an error
    given = (csrf or "").encode("utf-8", "surrogateescape")
    if method not in _SAFE_METHODS and not (given and secrets.compare_digest(given, expected.encode("utf-8"))):
        raise ApiError(403, "此会话的请求缺少 CSRF 令牌（X-CSRF-Token）：请刷新页面 "
                           "(this session's request needs its CSRF token (X-CSRF-Token): reload the page)",
                       code="forbidden")
    return Principal(key), expected


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


async def get_principal(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The caller, from whichever key header is present; 401 for a key that does not verify.

    Anonymous callers cost nothing; see :func:`authenticate`.
    """
    presented = _presented(api_key, credentials)
    principal = await authenticate(request.app.state, presented, _client(request.scope))
    if presented is None:
        session = await session_principal(request.app.state, request.cookies.get(SESSION_COOKIE), request.method,
                                          request.headers.get(CSRF_HEADER))
        if session is not None:
            principal, request.state.csrf = session
    if principal.key is not None:
        request.state.key_id = principal.key.id
    return principal


def _cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie header, or None."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class KeyBeforeBodyMiddleware:
    """Authenticate uploads (POST under ``prefixes``) from their headers, before the body is read.

    Every upload needs a key of role ``role`` or above (the route then checks its own, stricter
    role); without one the answer is 401 or 403 at once, and the body is never received.
    """

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...] = UPLOAD_PREFIXES, role: str = "auditor") -> None:
        self.app = app
        self.prefixes = prefixes
        self.role = role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").startswith(
                self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        presented = headers.get("x-api-key") or None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if presented is None and scheme.lower() == "bearer" and token.strip():
            presented = token.strip()
        try:
            session = None
            if presented is None:
                cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
                session = await session_principal(scope["app"].state, cookie, "POST", headers.get(CSRF_HEADER))
            if presented is None and session is None:
                raise ApiError(401, needs_key("上传", self.role,
                                              f"uploads need an API key with role {self.role} or above"),
                               headers=_CHALLENGE)
            principal = session[0] if session else await authenticate(scope["app"].state, presented, _client(scope))
            assert principal.key is not None
            if not role_allows(principal.key.role, self.role):
                raise ApiError(403, needs_role("上传", self.role, principal.key.role,
                                               f"uploads need role {self.role} or above; the key has role "
                                               f"{principal.key.role}"))
        except ApiError as exc:
            response = error_response(exc.status, exc.message, code=exc.code, details=exc.details, headers=exc.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def reader(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """The caller of a read: anyone, or any key holder where reads need a key."""
    if principal.key is None and request.app.state.settings.reads_need_key:
        raise ApiError(401, "读取数据需要 API 密钥（X-API-Key 请求头或 Authorization: Bearer） "
                           "(reads need an API key (X-API-Key header or Authorization: Bearer))",
                       headers=_CHALLENGE)
    return principal


def requires(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through keys of ``role`` or stronger (401 without a key, 403 too weak)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.key is None:
            raise ApiError(401, needs_key("此操作", role, f"this needs an API key with role {role} or above"),
                           headers=_CHALLENGE)
        if not role_allows(principal.key.role, role):
            raise ApiError(403, needs_role("此操作", role, principal.key.role,
                                      f"this needs role {role} or above; the key has role {principal.key.role}"))
        return principal

    return check
