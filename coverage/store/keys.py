"""API keys: roles, region limits and salted scrypt hashes at rest.

A key reads ``v5g_<id>_<secret>``. The ``id`` (12 hex digits) is stored in clear so a presented key
finds its record in one indexed read; only a salted scrypt hash of the ``secret`` (32 random bytes,
URL-safe base64) is stored, so a copy of the database does not hand out working keys. The plain
key is shown once, when it is made.

Roles, weakest first:

``viewer``
    reads (needed only where reads are keyed).
``auditor``
    reads, and uploads measurements (field audit tests are measurements).
``admin``
    everything: uploads of every kind and analysis runs.

A key limited to a region code (2, 4, 6, 9 or 12 digits of the NBS division code) sees and changes
only the villages whose code starts with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from coverage.errors import ConfigError, NotFoundError
from coverage.store.storage import Store
from coverage.store.tables import api_keys, key_sessions

__all__ = ["ROLES", "SESSION_HOURS", "ApiKey", "close_session", "create_key", "list_keys",
           "open_session", "revoke_key", "role_allows", "session_key", "validate_region", "verify_key"]

#: Roles in increasing power; a role may do everything the roles before it may.
ROLES: tuple[str, ...] = ("viewer", "auditor", "admin")

#: Lengths of NBS division code prefixes: province, city, county, township, village.
REGION_LENGTHS = (2, 4, 6, 9, 12)

_PREFIX = "v5g"
_ID = re.compile(r"^[0-9a-f]{12}$")
# scrypt cost: 16 MiB and some tens of milliseconds per check; the API caches verified keys briefly.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


#: Hours a console session lasts.
SESSION_HOURS = 12


@dataclass(frozen=True)
class ApiKey:
    """What a key may do (never its secret)."""

    id: str
    role: str
    region_code: str | None
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    def allows(self, role: str) -> bool:
        """True when this key's role is ``role`` or stronger."""
        return role_allows(self.role, role)


def role_allows(held: str, needed: str) -> bool:
    """True when role ``held`` may do what ``needed`` may."""
    return ROLES.index(held) >= ROLES.index(needed)


def validate_region(region_code: str | None) -> str | None:
    """A region code as stored (digits of a division prefix), None for none; ConfigError otherwise."""
    if region_code is None or region_code == "":
        return None
    code = region_code.strip()
    if not code.isdigit() or len(code) not in REGION_LENGTHS:
        raise ConfigError(f"区域代码 {region_code!r} 应为 2、4、6、9 或 12 位数字的区划代码 "
                          f"(region code {region_code!r} must be 2, 4, 6, 9 or 12 digits of a division code)")
    return code


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)


def create_key(store: Store, *, role: str, region_code: str | None = None,
               label: str | None = None) -> tuple[ApiKey, str]:
    """Make and store a new key; return its record and the plain key (shown once, never stored)."""
    if role not in ROLES:
        raise ConfigError(f"未知的角色 {role!r}；请用 {'、'.join(ROLES)} 之一 (unknown role {role!r}; use one of "
                          f"{', '.join(ROLES)})")
    region = validate_region(region_code)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.engine.begin() as conn:
        conn.execute(api_keys.insert().values(
            id=key_id, role=role, region_code=region, label=label, salt=salt,
            secret_hash=_hash(secret, salt), created_at=now,
        ))
    return ApiKey(key_id, role, region, label, now), f"{_PREFIX}_{key_id}_{secret}"


def verify_key(store: Store, presented: str) -> ApiKey | None:
    """The record of a valid, unrevoked key, or None (malformed, unknown, revoked or wrong secret).

    The secret is compared in constant time; a malformed or unknown key costs one hash as well, so
    timing does not tell which part was wrong.
    """
    parts = presented.strip().split("_", 2)
    well_formed = len(parts) == 3 and parts[0] == _PREFIX and bool(_ID.match(parts[1])) and bool(parts[2])
    row = None
    if well_formed:
        with store.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == parts[1])).mappings().first()
    salt = bytes(row["salt"]) if row is not None else b"\0" * 16
    computed = _hash(parts[2] if well_formed else presented, salt)
    expected = bytes(row["secret_hash"]) if row is not None else b"\1" * 32
    if not hmac.compare_digest(computed, expected) or row is None or row["revoked_at"] is not None:
        return None
    return _record(row)


def list_keys(store: Store) -> list[ApiKey]:
    """Every key's record, oldest first (revoked ones included)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)).mappings().all()
    return [_record(r) for r in rows]


def revoke_key(store: Store, key_id: str) -> ApiKey:
    """Revoke a key by its id (the part after ``v5g_``); NotFoundError when there is none."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.engine.begin() as conn:
        done = conn.execute(api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                            .values(revoked_at=now))
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"没有编号为 {key_id!r} 的 API 密钥 (no API key with id {key_id!r})")
    if done.rowcount == 0 and row["revoked_at"] is None:
        raise NotFoundError(f"API 密钥 {key_id!r} 未能吊销 (API key {key_id!r} could not be revoked)")
    return _record(row)


def _record(row: object) -> ApiKey:
    r = dict(row)  # type: ignore[call-overload]
    return ApiKey(r["id"], r["role"], r["region_code"], r["label"], r["created_at"], r["revoked_at"])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def open_session(store: Store, key: ApiKey, *, hours: float = SESSION_HOURS) -> tuple[str, str]:
    """A new session of the (verified) ``key``: its token (for the cookie, never stored) and its CSRF
    token. Expired sessions are removed on the way."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.engine.begin() as conn:
        conn.execute(key_sessions.delete().where(key_sessions.c.expires_at < now))
        conn.execute(key_sessions.insert().values(token_hash=_token_hash(token), key_id=key.id, csrf=csrf,
                                                  created_at=now, expires_at=now + dt.timedelta(hours=hours)))
    return token, csrf


def session_key(store: Store, token: str) -> tuple[ApiKey, str] | None:
    """The key and CSRF token of a live session (not expired, not closed, its key not revoked), or None."""
    if not token or len(token) > 200:
        return None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(api_keys, key_sessions.c.csrf)
            .join_from(key_sessions, api_keys, key_sessions.c.key_id == api_keys.c.id)
            .where(key_sessions.c.token_hash == _token_hash(token), key_sessions.c.expires_at > now,
                   api_keys.c.revoked_at.is_(None))).mappings().first()
    return None if row is None else (_record(row), str(row["csrf"]))


def close_session(store: Store, token: str) -> None:
    """End a session (signing out): its token no longer works anywhere."""
    with store.engine.begin() as conn:
        conn.execute(key_sessions.delete().where(key_sessions.c.token_hash == _token_hash(token)))
