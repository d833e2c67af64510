"""The ASGI application of ``dockyard serve``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from dockyard import __version__
from dockyard.api import errors
from dockyard.api.guard import Guard
from dockyard.api.routes import files, router
from dockyard.api.runtime import Runtime

OPENAPI_URL = "/api/v1/openapi.json"
STATIC = Path(__file__).parent / "static"
#: The page loads only its own files: no CDN, no inline script, no framing. Styles may
#: be inline: the terminal (xterm.js) writes its colours and cell sizes into a <style>
#: element it makes, and offers no nonce; the page never renders data as HTML.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(runtime: Runtime, *, start_reconciler: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start(reconciler=start_reconciler)
        try:
            yield
        finally:  # after in-flight requests finished (uvicorn's graceful shutdown)
            runtime.close()

    app = FastAPI(
        title="dockyard",
        version=__version__,
        description="Persistent, self-cleaning container workspaces: the HTTP API.",
        openapi_url=OPENAPI_URL,
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(
        Guard,
        lookup=lambda digest: runtime.dy.principal(digest, admin_hash=None),
        admin_hash=runtime.admin_hash,
        body_limit=files.body_limit(runtime.dy.settings),
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        """The dashboard: a static page that talks to the API with the user's token."""
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Any:
        """200 when the store and the engine answer; 503 (with what failed) otherwise."""
        checks = runtime.dy.health()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ok": ok, **checks}, 200 if ok else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
