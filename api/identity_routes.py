"""Identity endpoints: CRM import, the review queue, manual link/unlink/split, erasure, a person's accounts.

Thin: validate, call ``identity.service.IdentityService`` / ``identity.erasure``, map
``IdentityError`` to its status. The acting key's name is recorded as the actor of every manual
decision (audit events on ``identity.links``, ``decided_by`` on ACCOUNT_OF, ManualRule.actor).

The CRM file is the raw request body (``Content-Type: text/csv`` or ``application/json``; the
optional ``filename`` query parameter helps tell them apart), so no multipart parser is needed:
``curl -H 'X-API-Key: ..' --data-binary @contacts.csv -H 'Content-Type: text/csv' .../customers/import``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from identity.crm_import import ImportFormatError, parse_file
from identity.erasure import erase_person, erase_record
from identity.service import IdentityError, IdentityService

MAX_IMPORT_BYTES = 50 * 1024 * 1024
RecordId = Field(min_length=1, max_length=2000)


class LinkRequest(BaseModel):
    a: str = RecordId
    b: str = RecordId


class UnlinkRequest(BaseModel):
    a: str = RecordId
    b: str | None = Field(default=None, min_length=1, max_length=2000)


class SplitRequest(BaseModel):
    record_ids: list[str] = Field(min_length=1, max_length=1000)


class EraseAccountRequest(BaseModel):
    record_id: str = RecordId
    reason: str = Field(default="account deleted or deactivated", max_length=500)


class EraseRequest(BaseModel):
    reason: str = Field(default="erasure request", max_length=500)


def _actor(request: Request) -> str:
    key = getattr(request.state, "api_key", None)
    name = getattr(key, "name", None)
    return f"user:{name}" if name else "user:unknown"


def _fail(e: IdentityError) -> HTTPException:
    return HTTPException(status_code=e.status, detail=e.message)


def create_identity_router(
    service: IdentityService | Callable[[], IdentityService], guard: Callable[..., Any]
) -> APIRouter:
    """``service``: the service, or a function returning it (when it is built in the app's lifespan).
    Mount it BEFORE the graph router: that one's ``/persons/{id:path}`` would take
    ``/persons/{id}/accounts`` otherwise."""
    router = APIRouter(tags=["identity"])
    admin = [Depends(guard("admin"))]
    marketer = [Depends(guard("marketer"))]
    reader = [Depends(guard("marketer", "crm"))]

    def svc() -> IdentityService:
        return service if isinstance(service, IdentityService) else service()

    @router.post("/customers/import", dependencies=admin)
    async def import_customers(request: Request, filename: str = Query("", max_length=300)) -> dict[str, Any]:
        """Import a CRM contact export (CSV or JSON) from the request body. Every row that fails is
        in ``errors`` with its reason; re-importing the same file changes nothing."""
        body = await request.body()
        if len(body) > MAX_IMPORT_BYTES:
            raise HTTPException(status_code=413, detail=f"file larger than {MAX_IMPORT_BYTES} bytes")
        ctype = request.headers.get("content-type", "")
        name = filename or (
            "upload.json" if "json" in ctype else "upload.csv" if "csv" in ctype else "upload"
        )
        try:
            parsed = parse_file(name, body)
        except ImportFormatError as e:
            raise HTTPException(status_code=400, detail=str(e)) from e
        try:
            report = await svc().import_customers(parsed, cause=f"crm-import:{_actor(request)}")
        except IdentityError as e:
            raise _fail(e) from e
        return report.to_dict()

    @router.get("/review", dependencies=marketer)
    async def review_queue(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """Pairs the matcher was unsure about, most likely first, with its evidence."""
        return {"items": await svc().review_queue(limit)}

    async def decide(review_id: str, accept: bool, request: Request) -> dict[str, Any]:
        try:
            events = await svc().decide_review(review_id, accept, _actor(request))
        except IdentityError as e:
            raise _fail(e) from e
        return {"review_id": review_id, "events": [e.to_dict() for e in events]}

    @router.post("/review/{review_id}/accept", dependencies=marketer)
    async def accept(review_id: str, request: Request) -> dict[str, Any]:
        """The two records are one person: link them (kept together from now on)."""
        return await decide(review_id, True, request)

    @router.post("/review/{review_id}/reject", dependencies=marketer)
    async def reject(review_id: str, request: Request) -> dict[str, Any]:
        """The two records are different people: never merge them automatically."""
        return await decide(review_id, False, request)

    @router.post("/identity/link", dependencies=admin)
    async def link(body: LinkRequest, request: Request) -> dict[str, Any]:
        """Records ``a`` and ``b`` are one person (a must-link rule; persons merge, oldest id kept)."""
        try:
            events = await svc().link(body.a, body.b, _actor(request))
        except IdentityError as e:
            raise _fail(e) from e
        return {"events": [e.to_dict() for e in events]}

    @router.post("/identity/unlink", dependencies=admin)
    async def unlink(body: UnlinkRequest, request: Request) -> dict[str, Any]:
        """Record ``a`` is not ``b``'s person (or, without ``b``, leaves its person): cannot-link rules."""
        try:
            events = await svc().unlink(body.a, body.b, _actor(request))
        except IdentityError as e:
            raise _fail(e) from e
        return {"events": [e.to_dict() for e in events]}

    @router.post("/persons/{person_id}/split", dependencies=admin)
    async def split(person_id: str, body: SplitRequest, request: Request) -> dict[str, Any]:
        """Move some records of a person into another one (their old person id when they had one)."""
        try:
            new_person, events = await svc().split(person_id, body.record_ids, _actor(request))
        except IdentityError as e:
            raise _fail(e) from e
        return {"person_id": new_person, "events": [e.to_dict() for e in events]}

    @router.post("/persons/{person_id}/erase", dependencies=admin)
    async def erase(person_id: str, request: Request, body: EraseRequest | None = None) -> dict[str, Any]:
        """Right to be forgotten: personal fields, post texts, embeddings and caches of every record."""
        try:
            report = await erase_person(svc(), person_id, _actor(request), (body or EraseRequest()).reason)
        except IdentityError as e:
            raise _fail(e) from e
        return report.to_dict()

    @router.post("/identity/erase-account", dependencies=admin)
    async def erase_account(body: EraseAccountRequest, request: Request) -> dict[str, Any]:
        """One account deleted or deactivated on its platform (or a CRM contact removed)."""
        report = await erase_record(svc(), body.record_id, body.reason, _actor(request))
        return report.to_dict()

    @router.get("/persons/{person_id}/accounts", dependencies=reader)
    async def accounts(person_id: str) -> dict[str, Any]:
        """A person's accounts with the decision behind each (an alias id answers for its survivor)."""
        try:
            return await svc().person_accounts(person_id)
        except IdentityError as e:
            raise _fail(e) from e

    return router
