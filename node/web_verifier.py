"""The browser verifier as this node serves it, and the CORS rule that lets any page read.

``GET /verify`` returns client/web/index.html as one self-contained page with this
network's trust file built in and a Content-Security-Policy that lets nothing but
the page's own inline script and style run.  The read-only GET endpoints carry
``Access-Control-Allow-Origin: *`` so that page, or a saved copy of it, can fetch
proofs from any origin, and a CORS preflight to them is answered.  :mod:`node.api` mounts both.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import re
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from node.connlimits import Handler

_TRUST_SLOT = '<script type="application/json" id="vcledger-trust"></script>'
_STYLE_LINK = '<link rel="stylesheet" href="style.css">'
_SCRIPT_TAG = '<script src="verifier.js"></script>'
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _web_file(name: str) -> str:
    return (importlib.resources.files("client") / "web" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.lru_cache(maxsize=4)
def verify_page(trust_text: str) -> tuple[str, str]:
    """client/web/index.html as one self-contained page with the trust file built in.

    The style sheet and the verifier are inlined, so that a person who saves the page
    (for a computer without this node, or because plain http gives the page no
    WebCrypto) has all of it in one file.  The trust JSON goes into the page's
    ``application/json`` slot with ``<`` escaped, so it cannot end the element.
    Returns the page and its Content-Security-Policy: nothing but its own inline
    script and style (by hash) runs, and it loads and sends nothing.
    """
    page = _web_file("index.html")
    style, script = _web_file("style.css"), _web_file("verifier.js")
    assert "</style" not in style and "</script" not in script.lower(), "cannot inline"
    for slot in (_STYLE_LINK, _SCRIPT_TAG, _TRUST_SLOT):
        assert page.count(slot) == 1, f"client/web/index.html lost its {slot}"
    trust = trust_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = (page.replace(_STYLE_LINK, f"<style>{style}</style>")
                .replace(_SCRIPT_TAG, f"<script>{script}</script>")
                .replace(_TRUST_SLOT, _TRUST_SLOT.replace("></", f">{trust}</")))
    scripts = " ".join(_csp_hash(body) for body in _INLINE_SCRIPT.findall(page))
    styles = " ".join(_csp_hash(body) for body in _INLINE_STYLE.findall(page))
    policy = (f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return page, policy


def verify_page_response(trust_text: str) -> web.Response:
    """The response to GET /verify: :func:`verify_page` for ``trust_text``, with its policy.

    The page checks bundles in the browser; it sends nothing to this node or anywhere.
    """
    page, policy = verify_page(trust_text)
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers={
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    })


CORS_ALLOWED_HEADERS = "Accept, Cache-Control, If-Modified-Since, If-None-Match"
"""Request headers a page may add to a read (beyond the CORS-safelisted ones): the caching
headers a reader of proofs and tiles sends.  They change nothing the node answers."""

CORS_MAX_AGE_SECONDS = 7200
"""How long a browser may reuse a preflight answer: Chromium's own ceiling."""


def _is_preflight_for_cors_get(request: web.Request, exempt_paths: Collection[str]) -> bool:
    """Whether ``request`` is a CORS preflight (OPTIONS with Origin and
    Access-Control-Request-Method) for a GET or HEAD of an endpoint that answers GET with
    CORS: its route exists and takes GET, and it is not one of ``exempt_paths``."""
    if (request.method != "OPTIONS" or "Origin" not in request.headers
            or request.headers.get("Access-Control-Request-Method") not in ("GET", "HEAD")
            or request.path in exempt_paths):
        return False
    refused = request.match_info.http_exception
    return isinstance(refused, web.HTTPMethodNotAllowed) and "GET" in refused.allowed_methods


def cors_middleware(exempt_paths: Collection[str]) -> Middleware:
    """``Access-Control-Allow-Origin: *`` on the read-only GET endpoints, errors included,
    so a page of any origin (the browser verifier, a saved copy) can read proofs.

    A preflight for a GET of one of those endpoints, which a browser sends before a GET
    with a header outside the CORS safelist, is answered 204 allowing GET, the
    :data:`CORS_ALLOWED_HEADERS` and a :data:`CORS_MAX_AGE_SECONDS` cache; any other
    OPTIONS (a preflight for a POST, to the peer socket, or no preflight at all) falls
    through to the router's 405 (404 for no endpoint), JSON and without CORS headers.

    Never on what writes (POST) nor on ``exempt_paths`` (the peer socket): no page may
    submit events in a visitor's name, and peers are not browsers.  The API uses no
    cookies or other credentials, so ``*`` exposes nothing a plain HTTP client could
    not read.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_preflight_for_cors_get(request, exempt_paths):
            return web.Response(status=204, headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "GET",
                "Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS,
                "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
                "Allow": "GET, HEAD, OPTIONS",
            })
        response = await handler(request)
        if (request.method in ("GET", "HEAD") and request.path not in exempt_paths
                and not response.prepared):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    return middleware
