"""API keys with roles, stored hashed, and the FastAPI dependency that checks them.

Roles: ``ops`` (metrics), ``marketer`` (graph queries), ``crm`` (alert subscriptions), ``admin``
(keys and imports; admin passes every check). Health (``/healthz``, ``/readyz``) needs no key.

A key is ``gsk_`` + 43 random URL-safe characters (256 bits), so its SHA-256 is a safe digest to
store (no salt or slow hash needed for a random secret; a key given in the settings is hashed the
same way). Keys live in SQLite at ``data_dir/api_keys.sqlite3``, shared by every API process on the
machine; a revoked key stops working on the next request. A request carries its key as
``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.

Bootstrap: ``settings.api_admin_key`` (and ``api_ops_key``) are stored at start; without an
admin key in the settings and none in the store, one is generated at the first start, logged
once and written to ``data_dir/api-admin.key`` (mode 0600) for the local demo user.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from groundswell.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "gsk_"
MAX_KEY_CHARS = 512
ADMIN_KEY_FILE = "api-admin.key"


class Role(StrEnum):
    OPS = "ops"
    MARKETER = "marketer"
    CRM = "crm"
    ADMIN = "admin"


ALL_ROLES = tuple(Role)


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    created_at: float
    revoked_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"role": self.role.value, "active": self.revoked_at is None}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """Hashed API keys in one SQLite file (opened per call: cheap, and safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    @classmethod
    def for_settings(cls, settings: Settings) -> KeyStore:
        return cls(settings.data_dir / "api_keys.sqlite3")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10.0)) as con, con:
            if not self._ready:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, digest TEXT UNIQUE "
                    "NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL, "
                    "revoked_at REAL)"
                )
                self._ready = True
            yield con

    @staticmethod
    def _row(row: tuple[Any, ...]) -> ApiKey:
        return ApiKey(row[0], row[1], Role(row[2]), float(row[3]), row[4])

    def add(self, secret: str, name: str, role: Role | str) -> ApiKey:
        """Store ``secret`` (hashed) with a role; an already stored secret is returned as is."""
        role = Role(role)
        h = digest(secret)
        with self._db() as con:
            found = con.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys WHERE digest = ?", (h,)
            ).fetchone()
            if found is not None:
                return self._row(found)
            key = ApiKey(secrets.token_hex(6), name, role, time.time())
            con.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                (key.key_id, h, key.name, key.role.value, key.created_at),
            )
            return key

    def create(self, name: str, role: Role | str) -> tuple[ApiKey, str]:
        """A new random key: (its record, the secret, shown once)."""
        secret = new_secret()
        return self.add(secret, name, role), secret

    def verify(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""
        if not secret or len(secret) > MAX_KEY_CHARS:
            return None
        with self._db() as con:
            row = con.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys "
                "WHERE digest = ? AND revoked_at IS NULL",
                (digest(secret),),
            ).fetchone()
        return self._row(row) if row is not None else None

    def list(self) -> list[ApiKey]:
        with self._db() as con:
            rows = con.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [self._row(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key (idempotent); None if there is no such key. Refuses (ValueError) to revoke
        the last active admin key: that would lock every admin out."""
        with self._db() as con:
            row = con.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            if row is None:
                return None
            key = self._row(row)
            if key.revoked_at is not None:
                return key
            if key.role is Role.ADMIN:
                (admins,) = con.execute(
                    "SELECT count(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL"
                ).fetchone()
                if admins <= 1:
                    raise ValueError("this is the last active admin key: create another one first")
            at = time.time()
            con.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (at, key_id))
            return ApiKey(key.key_id, key.name, key.role, key.created_at, at)

    def has_active(self, role: Role) -> bool:
        with self._db() as con:
            row = con.execute(
                "SELECT 1 FROM api_keys WHERE role = ? AND revoked_at IS NULL LIMIT 1", (role.value,)
            ).fetchone()
        return row is not None


def bootstrap(settings: Settings, keys: KeyStore) -> str | None:
    """Store the keys named in the settings; generate an admin key when there is none at all.
    Returns the generated secret (None when nothing was generated)."""
    admin = settings.api_admin_key.get_secret_value()
    if admin:
        keys.add(admin, "bootstrap admin (settings)", Role.ADMIN)
    ops = settings.api_ops_key.get_secret_value()
    if ops:
        keys.add(ops, "ops (settings)", Role.OPS)
    if keys.has_active(Role.ADMIN):
        return None
    _, secret = keys.create("bootstrap admin (generated)", Role.ADMIN)
    path = settings.data_dir / ADMIN_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(secret + "\n")
    log.warning("generated the admin API key (shown once; also in %s): %s", path, secret)
    return secret


# -- FastAPI ---------------------------------------------------------------------------------------
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="api_key")
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer")


def require_role(*roles: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency admitting an active key of one of ``roles`` (admin always): 401 without a
    valid key, 403 with a key of another role. The app keeps its ``KeyStore`` in
    ``app.state.api_keys``."""
    allowed = frozenset(Role(r) for r in roles) | {Role.ADMIN}

    async def check(
        request: Request,
        api_key: Annotated[str | None, Security(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> ApiKey:
        secret = api_key or (bearer.credentials if bearer is not None else None)
        if not secret:
            raise HTTPException(
                status_code=401,
                detail="an API key is required (X-API-Key header or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        store: KeyStore = request.app.state.api_keys
        key = store.verify(secret)
        if key is None:
            raise HTTPException(
                status_code=401, detail="invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if key.role not in allowed:
            needed = ", ".join(sorted(r.value for r in allowed))
            detail = f"role {key.role.value!r} may not do this (needs {needed})"
            raise HTTPException(status_code=403, detail=detail)
        request.state.api_key = key
        return key

    return check


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .@:-]+$")
    role: Role


def create_auth_router() -> APIRouter:
    """Admin endpoints: create, list and revoke keys; and ``/whoami`` for any key."""
    router = APIRouter(tags=["access"])

    @router.get("/whoami")
    async def whoami(key: Annotated[ApiKey, Depends(require_role(*ALL_ROLES))]) -> dict[str, Any]:
        """The key this request carries: its id, name and role."""
        return key.to_dict()

    @router.post("/admin/keys", status_code=201, dependencies=[Depends(require_role(Role.ADMIN))])
    async def create_key(body: NewKey, request: Request) -> dict[str, Any]:
        """A new key; the secret is in this answer only (stored hashed)."""
        keys: KeyStore = request.app.state.api_keys
        key, secret = keys.create(body.name, body.role)
        return key.to_dict() | {"key": secret}

    @router.get("/admin/keys", dependencies=[Depends(require_role(Role.ADMIN))])
    async def list_keys(request: Request) -> dict[str, Any]:
        return {"keys": [k.to_dict() for k in request.app.state.api_keys.list()]}

    @router.delete("/admin/keys/{key_id}", dependencies=[Depends(require_role(Role.ADMIN))])
    async def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
        if len(key_id) > 64:
            raise HTTPException(status_code=404, detail="no such key")
        try:
            key = request.app.state.api_keys.revoke(key_id)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        if key is None:
            raise HTTPException(status_code=404, detail="no such key")
        result: dict[str, Any] = key.to_dict()
        return result

    return router
