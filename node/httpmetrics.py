"""HTTP request metrics of the node's API: an aiohttp middleware over :class:`NodeMetrics`.

Labels are the route *template* (``/v1/entries/{index}``, never the path a client typed),
the method and the status, so a client cannot mint new series: paths that match no route
share ``unmatched``, and methods outside HTTP's usual few share ``other``.  The
middleware goes outermost, so the status it records is the one the client got, after the
error middleware turned exceptions into JSON answers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from node.metrics import NodeMetrics

UNMATCHED_ROUTE: Final = "unmatched"
OTHER_METHOD: Final = "other"
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    """The template of the route ``request`` matched, or :data:`UNMATCHED_ROUTE`."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


def method_label(request: web.Request) -> str:
    return request.method if request.method in KNOWN_METHODS else OTHER_METHOD


def http_metrics_middleware(metrics: NodeMetrics) -> Middleware:
    """A middleware that counts every answered request and times it (see the module note)."""

    @web.middleware
    async def record_http_metrics(request: web.Request,
                                  handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects and the like, raised past the errors
            _record(metrics, request, exc.status, time.monotonic() - started)
            raise
        except Exception:
            # aiohttp answers 500 for whatever escapes; a cancelled request (the client
            # went away) is a BaseException and is not counted: nobody got an answer.
            _record(metrics, request, 500, time.monotonic() - started)
            raise
        # A WebSocket's handler returns when the connection closes: its duration is the
        # peer's session, not the latency of a request.
        elapsed = None if isinstance(response, web.WebSocketResponse) else (
            time.monotonic() - started)
        _record(metrics, request, response.status, elapsed)
        return response

    return record_http_metrics


def _record(metrics: NodeMetrics, request: web.Request, status: int,
            elapsed: float | None) -> None:
    route = route_label(request)
    method = method_label(request)
    metrics.http_requests.labels(route=route, method=method, status=str(status)).inc()
    if elapsed is not None:
        metrics.http_latency.labels(route=route, method=method).observe(elapsed)
