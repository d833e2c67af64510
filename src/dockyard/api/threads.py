"""Threads for the routes' blocking calls that wait on the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio.lowlevel import RunVar

#: Threads for calls that wait on the engine (an exec, a create): apart from the thread
#: pool every other blocking call uses, so that slow execs, however many, never hold a
#: thread a touch or a listing needs.
ENGINE_THREADS = 128
#: One limiter per event loop (as anyio keeps its default one).
_engine_threads: RunVar[anyio.CapacityLimiter] = RunVar("dockyard_engine_threads")

T = TypeVar("T")


def engine_threads() -> anyio.CapacityLimiter:
    """The engine calls' limiter of the running event loop."""
    try:
        return _engine_threads.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(ENGINE_THREADS)
        _engine_threads.set(limiter)
        return limiter


async def on_engine(work: Callable[[], T]) -> T:
    """``work()`` (blocking, waiting on the engine) on the engine calls' own threads."""
    return await anyio.to_thread.run_sync(work, limiter=engine_threads())
