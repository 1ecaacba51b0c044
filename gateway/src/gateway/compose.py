"""A page's independent service calls, all at once: :func:`gather`.

``/home`` needs the customer's policies and documents — two services that do not depend on each other (whether
the customer has a declaration comes with the session check). One after another the page costs the sum of their latencies; here it costs the slowest one, bounded by a
deadline: a call still running then counts as :class:`ServiceUnavailable` for its box, never a hung page.

Each call runs in a copy of the request's context (``contextvars.copy_context``), so the correlation id and the
client's address reach the service exactly as from the request's own thread. The pool is one per gateway process,
made on first use (after gunicorn's fork) and bounded: a burst of pages queues for it instead of starting threads.
"""
from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable

from portal_common import logs

from .clients.http import ServiceUnavailable

log = logs.get_logger(__name__)
#: How long a page waits for its slowest box (seconds); the clients' own read timeout (10 s) ends the call later.
DEADLINE = 5.0
#: Threads per gateway process: 2 calls for each of gunicorn's 4 request threads, with room to spare.
THREADS = 16
_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="compose"))
        return _pool[1]


def gather(calls: dict[str, Callable[[], Any]], deadline: float | None = None) -> dict[str, Any]:
    """Run ``calls`` concurrently; ``{name: result or the exception it raised}``.

    A call not finished within ``deadline`` seconds (default :data:`DEADLINE`) is reported as
    :class:`ServiceUnavailable` with ``{"error": "timeout"}``; the caller decides per box what an exception means.
    """
    pool = _executor()
    futures: dict[str, Future] = {name: pool.submit(contextvars.copy_context().run, call)
                                  for name, call in calls.items()}
    wait(futures.values(), timeout=DEADLINE if deadline is None else deadline)
    results: dict[str, Any] = {}
    for name, future in futures.items():
        if not future.done():
            future.cancel()
            log.warning("compose_timeout", call=name)
            results[name] = ServiceUnavailable(name, 0, {"error": "timeout"})
        elif future.exception() is not None:
            results[name] = future.exception()
        else:
            results[name] = future.result()
    return results
