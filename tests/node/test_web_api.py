"""GET /verify and the CORS header of node/api.py, through aiohttp's test server.

The page must carry this network's trust file and run nothing but its own inline code;
read-only GET answers (errors included) carry ``Access-Control-Allow-Origin: *`` so a
page of any origin can read proofs, a CORS preflight to exactly those endpoints is
answered (204), and nothing that writes (POST) nor the peer socket ever allows an origin.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from client.trust import format_trust, parse_trust
from node.api import EVENT_CONTENT_TYPE, PEER_PATH
from node.config import load_genesis, load_node_config
from node.service import NodeService
from node.web_verifier import verify_page
from tests.nodeutil import TestIssuer, assemble_in_process, fixed_key, write_network

GOVERNANCE = fixed_key("governance")
ISSUER = TestIssuer(fixed_key("issuer"))
CORS = "Access-Control-Allow-Origin"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[tuple[NodeService, TestClient[Any, Any]]]:
    net = write_network(tmp_path / "net", governance=GOVERNANCE,
                        settings={"max_body_bytes": 64 * 1024, "max_wait_s": 5})
    assembled = assemble_in_process(net)
    service = assembled.service
    await service.start(assembled.producer)
    client: TestClient[Any, Any] = TestClient(TestServer(assembled.app))
    await client.start_server()
    try:
        yield service, client
    finally:
        await client.close()
        await service.close()


def _trust_in(page: str) -> str:
    match = re.search(r'<script type="application/json" id="vcledger-trust">(.*?)</script>',
                      page, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_verify_serves_the_page_with_the_network_trust_file(node: Any) -> None:
    service, client = node
    response = await client.get("/verify")
    assert response.status == 200
    assert response.content_type == "text/html" and response.charset == "utf-8"
    page = await response.text()
    # The trust file is this network's, as vcledger-node init writes it.
    trust = parse_trust(_trust_in(page))
    assert trust == service.genesis.trust()
    # One self-contained page: the verifier and its style inline, nothing to fetch.
    assert "window.vcledger" in page or "global.vcledger = api" in page
    assert 'src="' not in page and 'href="' not in page
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; script-src 'sha256-")
    assert "connect-src" not in policy  # default-src 'none' forbids every fetch
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers[CORS] == "*"


def test_trust_text_cannot_end_its_script_element() -> None:
    hostile = json.dumps({"origin": "</script><script>alert(1)</script>&"})
    page, _ = verify_page(hostile)
    slot = _trust_in(page)
    assert "</" not in slot and json.loads(slot)["origin"].startswith("</script>")


def test_page_policy_allows_exactly_the_inline_code() -> None:
    import base64
    import hashlib

    page, policy = verify_page("{}")
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 2  # the verifier and the page's own code
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy


async def test_read_only_gets_allow_any_origin(node: Any) -> None:
    _, client = node
    for path, status in [("/healthz", 200), ("/metrics", 200), ("/verify", 200),
                         (f"/v1/issuers/{ISSUER.did}", 404), ("/v1/entries/0", 404),
                         ("/v1/checkpoint", 404), ("/v1/no-such-thing", 404)]:
        response = await client.get(path, headers={"Origin": "https://hr.example"})
        assert response.status == status, (path, await response.text())
        assert response.headers.get(CORS) == "*", path


async def test_writes_and_the_peer_socket_allow_no_origin(node: Any) -> None:
    _, client = node
    event = ISSUER.issue("a", 1_780_000_000)
    for path, body, headers in [
        ("/v1/events", event.encoded, {"Content-Type": EVENT_CONTENT_TYPE}),
        ("/v1/events/batch", b"{}", {"Content-Type": "application/json"}),
        ("/verify", b"", {}),
        ("/healthz", b"", {}),
    ]:
        response = await client.post(path, data=body,
                                     headers={"Origin": "https://evil.example", **headers})
        assert CORS not in response.headers, (path, response.status)
    response = await client.get(PEER_PATH, headers={"Origin": "https://evil.example"})
    assert CORS not in response.headers
    # No preflight is answered either: a browser may not send a non-simple request.
    response = await client.options("/v1/events", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert CORS not in response.headers


PREFLIGHT = {"Origin": "https://hr.example", "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "cache-control"}


async def test_preflight_to_a_read_only_endpoint_allows_the_get(node: Any) -> None:
    _, client = node
    for path in ("/healthz", "/metrics", "/verify", f"/v1/issuers/{ISSUER.did}",
                 "/v1/entries/0", "/v1/checkpoint", "/checkpoint", "/tile/0/000",
                 "/v1/proof/inclusion"):
        response = await client.options(path, headers=PREFLIGHT)
        assert response.status == 204, (path, await response.text())
        assert response.headers[CORS] == "*", path
        assert response.headers["Access-Control-Allow-Methods"] == "GET", path
        allowed = {h.strip().lower() for h in
                   response.headers["Access-Control-Allow-Headers"].split(",")}
        assert "cache-control" in allowed and "if-none-match" in allowed, path
        assert int(response.headers["Access-Control-Max-Age"]) > 0, path
        assert await response.read() == b"", path
    # The GET it cleared the way for still carries the header.
    response = await client.get("/healthz", headers={"Origin": "https://hr.example",
                                                     "Cache-Control": "no-cache"})
    assert response.status == 200 and response.headers[CORS] == "*"


async def test_preflight_elsewhere_is_refused_as_json_without_cors(node: Any) -> None:
    _, client = node
    # What writes, the peer socket, an endpoint that does not exist, a preflight for a
    # write to a read-only endpoint, and an OPTIONS that is no preflight at all.
    for path, method, status, code in [
            ("/v1/events", "POST", 405, "method_not_allowed"),
            ("/v1/events", "GET", 405, "method_not_allowed"),
            ("/v1/events/batch", "POST", 405, "method_not_allowed"),
            (PEER_PATH, "GET", 405, "method_not_allowed"),
            ("/v1/no-such-thing", "GET", 404, "not_found"),
            ("/healthz", "POST", 405, "method_not_allowed"),
            ("/healthz", "DELETE", 405, "method_not_allowed"),
            ("/healthz", None, 405, "method_not_allowed")]:
        headers = {name: value for name, value in PREFLIGHT.items()
                   if name != "Access-Control-Request-Method"}
        if method is not None:
            headers["Access-Control-Request-Method"] = method
        response = await client.options(path, headers=headers)
        assert response.status == status, (path, method, await response.text())
        assert response.content_type == "application/json", path
        assert (await response.json())["error"]["code"] == code, path
        assert CORS not in response.headers, path
        assert "Access-Control-Allow-Methods" not in response.headers, path


def test_trust_json_is_what_init_writes(tmp_path: Path) -> None:
    net = write_network(tmp_path / "net", governance=GOVERNANCE)
    genesis = load_genesis(load_node_config(net.nodes[0].config).genesis)
    assert parse_trust(format_trust(genesis.trust())) == genesis.trust()
