"""The ASGI application of ``dockyard serve``."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route
from starlette.types import ASGIApp

from dockyard import __version__
from dockyard.api import errors
from dockyard.api.guard import Guard
from dockyard.api.hot import HotTouches
from dockyard.api.routes import files, router
from dockyard.api.runtime import Runtime

OPENAPI_URL = "/api/v1/openapi.json"
MCP_PATH = "/api/v1/mcp"
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
    mcp = _mcp(runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start(reconciler=start_reconciler)
        try:
            async with mcp[1]() if mcp else nullcontext():
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
        # dockyard's metrics are /metrics (Prometheus); FastAPI's native OpenTelemetry
        # asks the global providers at every request (a third of a touch's cost here)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(HotTouches, runtime=runtime)  # behind the guard: the caller is known
    app.add_middleware(
        Guard,
        lookup=lambda digest: runtime.dy.principal(digest, admin_hash=None),
        admin_hash=runtime.admin_hash,
        body_limit=files.body_limit(runtime.dy.settings),
    )
    app.include_router(router)
    if mcp is not None:  # the guard checks its token as any route's
        app.router.routes.append(Route(MCP_PATH, mcp[0], methods=["GET", "POST", "DELETE"]))
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


def _mcp(
    runtime: Runtime,
) -> tuple[ASGIApp, Callable[[], AbstractAsyncContextManager[None]]] | None:
    """The MCP server for agents at ``MCP_PATH``, when the ``mcp`` extra is installed."""
    if importlib.util.find_spec("mcp") is None:
        return None
    from dockyard.mcp.server import http_app  # noqa: PLC0415 - the SDK only when installed

    return http_app(runtime.dy, path=MCP_PATH)
