"""The browser verifier (client/web/) in a real headless Chromium, against client.verify.

Every case of tests/webcases.py (the bundle vectors, other clocks and bounds, every
single-byte change of a direct and a batch bundle, and credential files carrying embedded
eddsa-jcs-2022 proofs of every kind) must get from ``window.vcledger.verify`` exactly the
verdict ``verify_bundle(...).as_json()`` gives, and every embedded proof alone the answer
of ``client.vc.verify_embedded_proof``.
Then the page as a person uses it: opened as a file with no network, as the node serves
it with the trust file built in, and over plain http from a host name that is not this
computer's loopback, where the browser withholds WebCrypto and the page must say what to
do instead.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` package,
which drives that binary (it downloads no browser of its own).  Without Chromium the
tests skip, and scripts/test says so plainly; under CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.trust import format_trust
from node.web_verifier import verify_page
from tests import nodeutil, webcases

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "client" / "web"
SCREENSHOT = ROOT / "docs" / "img" / "browser-verifier.png"
CHROMIUM = os.environ.get("VCLEDGER_CHROMIUM") or shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # A host name that is not loopback, served from 127.0.0.1: the browser treats the
    # origin as an ordinary plain-http site (no secure context) and no traffic leaves
    # this machine.
    f"--host-resolver-rules=MAP {'vcledger-node.test'} 127.0.0.1",
]
INSECURE_HOST = "vcledger-node.test"
BATCH = 400
"""Cases per page call: one call each keeps the transfer small and the run short."""
VERIFY_MANY = """cases => window.vcledger.verifyMany(cases.map(c => c.options.credentialLatin1
    ? {...c, credential: Uint8Array.from(c.credential, ch => ch.charCodeAt(0))} : c))"""
"""A credential that is not UTF-8 travels as Latin-1 text and reaches the verifier as bytes."""


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A persistent Chromium context with a fresh profile directory."""
    if CHROMIUM is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1000, "height": 1200},
            device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.network_requests = requests
    try:
        yield page
    finally:
        page.close()


def _file_url(path: Path) -> str:
    return path.resolve().as_uri()


# -- the same verdicts as Python ---------------------------------------------------------------


def test_browser_verdicts_equal_python_on_every_case(page: Any) -> None:
    cases = webcases.all_cases()
    assert len(cases) > 5000
    page.goto(_file_url(WEB / "index.html"))
    assert page.evaluate("window.isSecureContext && window.vcledger.hasWebCrypto()")
    differences = []
    statuses: dict[str, int] = {}
    for start in range(0, len(cases), BATCH):
        chunk = cases[start:start + BATCH]
        got = page.evaluate(VERIFY_MANY, chunk)
        for case, verdict in zip(chunk, got, strict=True):
            want = webcases.expected(case)
            statuses[want["status"]] = statuses.get(want["status"], 0) + 1
            if verdict != want:
                differences.append((case["name"], want, verdict))
    assert not differences, "\n".join(
        f"{name}:\n  python:  {json.dumps(want)}\n  browser: {json.dumps(got)}"
        for name, want, got in differences[:5]) + f"\n({len(differences)} differ)"
    # The set covers every verdict.
    assert set(statuses) == {"valid", "revoked", "invalid", "stale", "expired", "not_yet_valid"}
    assert len({case["name"] for case in cases}) == len(cases), "case names are unique"
    assert all(url.startswith("file:") for url in page.network_requests), "it went online"


def test_every_step_fails_somewhere_in_the_browser_cases() -> None:
    steps = {webcases.expected(case)["step"] for case in webcases.vector_cases()}
    assert steps == {None, *range(1, 13)}


def test_script_api_refuses_what_python_refuses(page: Any) -> None:
    page.goto(_file_url(WEB / "index.html"))
    vector = webcases.VALID["cases"][0]
    bundle = json.dumps(vector["bundle"])
    errors = page.evaluate("""async ([bundle, trust, credential]) => {
        const out = [];
        for (const call of [
            () => window.vcledger.verify(bundle, trust, null, {}),
            () => window.vcledger.verify(bundle, trust, credential, {digestOnly: true}),
            () => window.vcledger.verify(bundle, '{"origin": "x"}', credential, {}),
        ]) {
            try { await call(); out.push(null); } catch (e) { out.push(e.diagnostics()); }
        }
        return out;
    }""", [bundle, webcases.TRUST_TEXT, vector["credential_json"]])
    assert errors[0] == ("give the credential file, or digest_only=True to check the bundle "
                         "alone")
    assert errors[1] == "give either the credential file or digest_only=True, not both"
    assert errors[2].startswith("trust file: threshold: Field required")


# -- the page as a person uses it --------------------------------------------------------------


def _vector(name: str) -> dict[str, Any]:
    return next(case for case in webcases.VALID["cases"] if case["name"] == name)


def _write_files(directory: Path, vector: dict[str, Any], *, credential: str | None = None,
                 trust: bool = True) -> dict[str, Path]:
    paths = {"credential": directory / "diploma.json", "bundle": directory / "diploma.bundle.json"}
    paths["credential"].write_text(credential or vector["credential_json"])
    paths["bundle"].write_text(json.dumps(vector["bundle"], indent=2) + "\n")
    if trust:
        paths["trust"] = directory / "trust.json"
        paths["trust"].write_text(webcases.TRUST_TEXT)
    return paths


def _check(page: Any, paths: dict[str, Path], now: int) -> None:
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(now, dt.UTC))
    for role, path in paths.items():
        page.set_input_files(f"#file-{role}", str(path))
    page.click("#check")
    page.wait_for_selector("#result .headline")


def test_page_from_a_file_shows_the_verdict_with_no_network(page: Any, tmp_path: Path) -> None:
    vector = _vector("direct_valid")
    page.route("http*://**", lambda route: route.abort())
    page.goto(_file_url(WEB / "index.html"))
    assert page.is_hidden("#insecure")
    _check(page, _write_files(tmp_path, vector), vector["verify"]["now"])
    assert page.inner_text("#result .headline").endswith("Valid")
    assert page.inner_text(".issuer-name") == "Example University"
    ids = page.inner_text(".ids")
    assert "https://uni.example/issuers/1" in ids and vector["bundle"]["issuer"] in ids
    facts = page.inner_text(".facts")
    assert "Issued on" in facts and "2026-05-29" in facts and "1 hour old" in facts
    assert all(url.startswith("file:") for url in page.network_requests)
    # The picture in docs/workflow.md.  Re-taken into docs/img/ with VCLEDGER_SCREENSHOTS=1.
    target = (SCREENSHOT if os.environ.get("VCLEDGER_SCREENSHOTS") == "1"
              else tmp_path / SCREENSHOT.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1000, "height": 600})
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000


def test_page_names_the_failed_step_in_plain_words(page: Any, tmp_path: Path) -> None:
    vector = _vector("direct_valid")
    changed = vector["credential_json"].replace("Bachelor", "Master")
    assert changed != vector["credential_json"]
    page.goto(_file_url(WEB / "index.html"))
    _check(page, _write_files(tmp_path, vector, credential=changed), vector["verify"]["now"])
    assert page.inner_text("#result .headline").endswith("Not valid")
    failure = page.inner_text(".failure")
    assert "Check 7 of 12 failed (digest)" in failure
    assert "The credential file is not the one the ledger recorded" in failure


def test_page_shows_revocation_and_notes(page: Any, tmp_path: Path) -> None:
    vector = _vector("compromised_issuer_voided")
    page.goto(_file_url(WEB / "index.html"))
    _check(page, _write_files(tmp_path, vector), vector["verify"]["now"])
    assert page.inner_text("#result .headline").endswith("Revoked")
    assert "Revoked on" in page.inner_text(".facts")
    assert "compromised" in page.inner_text(".notes")


def test_page_says_whether_the_files_own_signature_was_verified(page: Any,
                                                                tmp_path: Path) -> None:
    for name, words in (("direct_embedded_proof", "verified (eddsa-jcs-2022"),
                        ("direct_valid", "none (only the ledger vouches"),
                        ("direct_embedded_proof_other_suite", "not checked (a proof type")):
        vector = _vector(name)
        directory = tmp_path / name
        directory.mkdir()
        page.goto(_file_url(WEB / "index.html"))
        _check(page, _write_files(directory, vector), vector["verify"]["now"])
        assert page.inner_text("#result .headline").endswith("Valid")
        assert f"Issuer's signature in the file\n{words}" in page.inner_text(".facts")


# -- as a node serves it -----------------------------------------------------------------------


@contextlib.contextmanager
def serving_page(page_text: str, policy: str) -> Iterator[int]:
    """Serves ``page_text`` at /verify from 127.0.0.1 with ``policy`` as its
    Content-Security-Policy, as a node's GET /verify does; yields the port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_text.encode()
            self.send_response(200 if self.path == "/verify" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with nodeutil.serving(Handler) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def served_page() -> Iterator[int]:
    """The page exactly as GET /verify serves it (a node's /verify is tested over HTTP in
    test_web_api.py; here only the page matters)."""
    with serving_page(*verify_page(format_trust(webcases.TRUST))) as port:
        yield port


def test_served_page_has_the_trust_file_built_in(page: Any, served_page: int,
                                                 tmp_path: Path) -> None:
    vector = _vector("batch_valid")
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"http://127.0.0.1:{served_page}/verify")
    assert "built in: network vcledger.example/bundles" in page.inner_text("#chosen-trust")
    _check(page, _write_files(tmp_path, vector, trust=False), vector["verify"]["now"])
    assert page.inner_text("#result .headline").endswith("Valid")
    assert not [line for line in console if "Content Security Policy" in line], console


def test_plain_http_from_another_host_tells_the_person_what_to_do(
        page: Any, served_page: int) -> None:
    page.goto(f"http://{INSECURE_HOST}:{served_page}/verify")
    assert page.evaluate("window.isSecureContext") is False
    assert page.evaluate("typeof crypto.subtle") == "undefined"
    assert page.is_visible("#insecure")
    notice = page.inner_text("#insecure")
    assert "https://" in notice and "save this page" in notice
    assert page.is_disabled("#check") and page.is_disabled("#file-bundle")
    # The script API refuses too, rather than answering without cryptography.
    refused = page.evaluate("""async () => {
        try { await window.vcledger.verify('{}', '{}', null, {digestOnly: true}); return null; }
        catch (e) { return e.diagnostics(); } }""")
    assert "not a secure context" in refused


# -- eddsa-jcs-2022: the proof checks alone, against client.vc ---------------------------------

PROOF_CHECKS = """async (cases) => {
    const e = window.vcledger.embedded;
    const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    const out = [];
    for (const c of cases) {
        let doc;
        try { doc = e.parseCredential(new TextEncoder().encode(c.text)); }
        catch (exc) { out.push({parse: exc.diagnostics()}); continue; }
        let proofs;
        try { proofs = e.embeddedProofs(doc); }
        catch (exc) { out.push({document: [exc.kind, exc.diagnostics()]}); continue; }
        const results = [];
        for (const proof of proofs) {
            try {
                const key = await e.verifyEmbeddedProof(
                    doc, proof, {now: c.now, expectedProofPurpose: c.purpose});
                results.push({key: hex(key)});
            } catch (exc) {
                results.push(exc instanceof window.vcledger.LedgerError
                    ? {error: exc.kind, message: exc.diagnostics()} : {error: String(exc)});
            }
        }
        out.push({proofs: results});
    }
    return out;
}"""
"""Each proof of each file through verifyEmbeddedProof: its key, or its error's kind (the
Python class name) and message."""


def test_embedded_proof_checks_equal_client_vc(page: Any) -> None:
    """Every proof of every file of webcases.proof_variants (ours, tests/vectors/
    eddsa_jcs_2022_cases.json and the W3C example), with and without a clock, for a
    credential's purpose and for any: the same key or the same error class and message."""
    cases = webcases.proof_check_cases()
    page.goto(_file_url(WEB / "index.html"))
    differences = []
    kinds: set[str] = set()
    for start in range(0, len(cases), BATCH):
        chunk = cases[start:start + BATCH]
        for case, got in zip(chunk, page.evaluate(PROOF_CHECKS, chunk), strict=True):
            want = webcases.expected_proof_checks(case)
            kinds.update(result.get("error", "key") for result in want.get("proofs", []))
            if got != want:
                differences.append((case["name"], want, got))
    assert not differences, "\n".join(
        f"{name}:\n  python:  {json.dumps(want)}\n  browser: {json.dumps(got)}"
        for name, want, got in differences[:5]) + f"\n({len(differences)} differ)"
    assert kinds == {"key", "UnsupportedProof", "ProofEncodingError", "EmbeddedProofError",
                     "ProofSignatureError", "CredentialError"}


def test_embedded_proof_reproduces_the_w3c_vector(page: Any) -> None:
    """verifyEmbeddedProof verifies the signed credential of W3C vc-di-eddsa's
    eddsa-jcs-2022 example under its key and refuses it with one changed character."""
    vector = json.loads((ROOT / "tests" / "vectors" / "eddsa_jcs_2022.json").read_text())
    page.goto(_file_url(WEB / "index.html"))
    results = page.evaluate("""async (texts) => {
        const e = window.vcledger.embedded;
        const out = [];
        for (const text of texts) {
            const doc = e.parseCredential(new TextEncoder().encode(text));
            try { out.push(e.didKey(await e.verifyEmbeddedProof(doc, e.embeddedProofs(doc)[0]))); }
            catch (exc) { out.push(`refused (${exc.kind}): ${exc.diagnostics()}`); }
        }
        return out;
    }""", [vector["signedText"], vector["signedText"].replace("Alumni", "Alumnx", 1)])
    method = vector["signed"]["proof"]["verificationMethod"]
    assert results[0] == method.partition("#")[0]
    assert results[1].startswith(
        "refused (ProofSignatureError): the eddsa-jcs-2022 proof's signature does not verify")


def test_every_verdict_names_the_embedded_proof() -> None:
    """embedded_proof is in every verdict, invalid ones too: verified, none and not_checked
    with the credential file, null without it or before step 11 decided."""
    seen = {str(webcases.expected(case)["embedded_proof"])
            for case in webcases.embedded_proof_cases() + webcases.vector_cases()}
    assert seen == {"verified", "none", "not_checked", "None"}
