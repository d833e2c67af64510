"""Every error as JSON: ``{"error": {"code": ..., "message": ...}}`` with a fitting status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dockyard.api.auth import Forbidden, Unauthorized
from dockyard.core.errors import (
    Conflict,
    DockyardError,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    Unavailable,
)

#: Retry hint for 503: the engine or the store is down; a few seconds is a fair guess.
RETRY_AFTER_S = 5


def status_of(exc: DockyardError) -> int:
    for kind, status in (
        (Unauthorized, 401),
        (Forbidden, 403),
        (InvalidInput, 400),
        (NotFound, 404),
        (Conflict, 409),
        (QuotaExceeded, 429),
        (Unavailable, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 500 if exc.code == "internal" else 502 if exc.code.startswith("engine") else 500


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install(app: FastAPI) -> None:
    @app.exception_handler(DockyardError)
    async def dockyard_error(_request: Request, exc: DockyardError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(error_body(exc.code, exc.message), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse(error_body("invalid_input", "; ".join(problems)), 422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)
