"""Every error as JSON: ``{"error": {"code": ..., "message": ...}}`` with a fitting status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dockyard.core.errors import (
    Conflict,
    DockyardError,
    EngineError,
    Forbidden,
    InvalidInput,
    InvalidValue,
    NotFound,
    ProvisionFailed,
    QuotaExceeded,
    RestoreFailed,
    SaveFailed,
    StoreError,
    TooLarge,
    Unauthorized,
    Unavailable,
    describe_validation,
)

log = logging.getLogger("dockyard.api")

#: Retry hint for 503: the engine or the store is down; a few seconds is a fair guess.
RETRY_AFTER_S = 5


#: The status of each kind of error, most specific first; anything else is a 500.
_STATUSES: tuple[tuple[type[DockyardError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (TooLarge, 413),
    (InvalidValue, 422),
    (InvalidInput, 400),
    (NotFound, 404),
    (Conflict, 409),
    (QuotaExceeded, 429),
    (Unavailable, 503),
    (ProvisionFailed, 422),  # the repo could not be cloned or checked out: the input's fault
    (SaveFailed, 409),  # nothing was removed; the workspace is save_failed
    (RestoreFailed, 409),  # the workspace stays parked
    (EngineError, 502),  # the engine refused
    (StoreError, 503),
)


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def status_of(exc: DockyardError) -> int:
    return next((status for kind, status in _STATUSES if isinstance(exc, kind)), 500)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(exc: DockyardError) -> JSONResponse:
    status = status_of(exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(exc.code, exc.message), status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DockyardError)
    async def dockyard_error(_request: Request, exc: DockyardError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # the code InvalidValue has: one code for a 422, whichever check found it
        return JSONResponse(error_body(InvalidValue.code, describe_validation(exc.errors())), 422)

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)  # the traceback goes to the log only
        return JSONResponse(error_body("internal", "internal error; see the server log"), 500)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, exc.headers)
