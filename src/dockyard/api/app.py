"""The ASGI application of ``dockyard serve``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from dockyard import __version__
from dockyard.api import errors
from dockyard.api.routes import router
from dockyard.api.runtime import Runtime
from dockyard.core.errors import DockyardError

OPENAPI_URL = "/api/v1/openapi.json"


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
    app.include_router(router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Any:
        """200 when the store and the engine answer; 503 (with what failed) otherwise."""
        checks: dict[str, str] = {}
        for name, probe in (
            ("store", runtime.dy.ctx.store.ping),
            ("engine", runtime.dy.ctx.engine.ping),
        ):
            try:
                probe()
                checks[name] = "ok"
            except DockyardError as exc:
                checks[name] = exc.message
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ok": ok, **checks}, 200 if ok else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
