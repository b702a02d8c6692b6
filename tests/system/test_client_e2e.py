"""End to end: the ``vcledger`` commands against a real node process on 127.0.0.1.

One node (``vcledger-node init`` + ``run``, with a 20 ms block interval) serves
the whole module.  An issuer is registered, issues two credentials, anchors a
batch of 1,000 generated W3C VC 2.0 style credentials, revokes one member and
one direct credential; bundles are fetched and verified offline (valid,
revoked, untouched sibling).  The monitor runs twice against the node and
once against a forged, validly cosigned checkpoint (a split view).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.batch import verify_receipt
from client.bundle import parse_receipt
from client.checkpoint import format_checkpoint
from client.cli import main
from client.credentials import digest as credential_digest
from client.events import CredentialIssue, sign_event
from client.http import NodeClient, fetch_bundle
from client.keys import read_key_file
from client.note import cosign
from client.trust import load_trust
from client.verify import verify_bundle
from tests.nodeutil import serving, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BATCH_SIZE = 1000
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def cli(*argv: str) -> tuple[int, Any, str]:
    """Run ``vcledger ARGV --json`` in process; (exit code, parsed stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--json"])
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None, err.getvalue()


def ok(*argv: str) -> Any:
    code, document, err = cli(*argv)
    assert code == 0, f"vcledger {' '.join(argv)} -> {code}: {err}"
    return document


def credential(issuer: str, number: int, *, kind: str = "ExampleDegreeCredential"
               ) -> dict[str, Any]:
    """A W3C VC 2.0 style credential (unsigned: only its digest reaches the ledger)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2",
                     "https://www.w3.org/ns/credentials/examples/v2"],
        "id": f"urn:uuid:6a1f0000-0000-4000-8000-{number:012d}",
        "type": ["VerifiableCredential", kind],
        "issuer": {"id": issuer, "name": "Example University"},
        "validFrom": "2026-06-15T09:00:00Z",
        "name": "Bachelor of Science",
        "credentialSubject": {
            "id": f"did:example:graduate-{number}",
            "degree": {"type": "ExampleBachelorDegree", "name": "Bachelor of Science",
                       "field": ["Physics", "Chemistry", "Mathematics"][number % 3]},
            "grade": round(2.0 + (number % 20) / 10, 1),
        },
    }


@dataclass
class Node:
    directory: Path
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def healthz(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
            document: dict[str, Any] = json.load(response)
        return document


def _start(directory: Path) -> Node:
    port = free_port()
    subprocess.run([sys.executable, "-m", "node.cli", "init", "--dir", str(directory),
                    "--listen", f"127.0.0.1:{port}", "--origin", "vcledger.example/e2e"],
                   check=True, capture_output=True, timeout=60, cwd=ROOT)
    genesis = directory / "genesis.toml"
    # Blocks 20 ms after the first pending event keep the test fast; the genesis
    # file may be edited until the node first runs (its hash is taken then).
    genesis.write_text(re.sub(r"block_interval_ms = \d+", "block_interval_ms = 20",
                              genesis.read_text(), count=1))
    log = directory / "node.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--config", str(directory / "node.toml")],
            stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    node = Node(directory, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if node.healthz()["tree_size"] >= 1:
                return node
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError):
            pass
        time.sleep(0.05)
    _stop(node)
    raise RuntimeError(f"the node did not start within {START_TIMEOUT} s:\n{log.read_text()}")


def _stop(node: Node) -> None:
    if node.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGTERM)
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(timeout=10)


@contextlib.contextmanager
def serving_node(directory: Path) -> Iterator[Node]:
    """A node started under ``directory`` and named by ``VCLEDGER_NODE`` for the ``with``
    block; always stopped after it."""
    try:
        started = _start(directory / "a")
    except RuntimeError as exc:
        if "address already in use" not in str(exc).lower():
            raise
        started = _start(directory / "b")  # the free port was taken meanwhile; once more
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("VCLEDGER_NODE", started.url)  # every command finds the node so
            yield started
    finally:
        _stop(started)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with serving_node(tmp_path_factory.mktemp("node")) as started:
        yield started


@dataclass
class World:
    node: Node
    work: Path
    trust: Path
    issuer: str
    key: Path
    direct: Path
    direct_revoked: Path
    folder: Path
    receipts: Path
    revoked_member: int
    results: dict[str, Any] = field(default_factory=dict)

    def member(self, index: int) -> Path:
        return self.folder / f"graduate-{index:04d}.json"

    def receipt(self, index: int) -> Path:
        digest = credential_digest(self.member(index).read_bytes())
        return self.receipts / f"{digest.hex()}.json"


@pytest.fixture(scope="module")
def world(node: Node, tmp_path_factory: pytest.TempPathFactory) -> World:
    work = tmp_path_factory.mktemp("issuer")
    key = work / "issuer.key"
    issuer = ok("keygen", "--out", str(key))["did"]
    registered = ok("issuer", "register", "--admin-key", str(node.directory / "governance.key"),
                    "--issuer", issuer, "--name", "Example University")
    assert registered["kind"] == "issuer.register"

    direct, direct_revoked = work / "diploma-1.json", work / "diploma-2.json"
    direct.write_text(json.dumps(credential(issuer, 1), indent=2))
    direct_revoked.write_text(json.dumps(credential(issuer, 2), indent=2))
    folder = work / "class-of-2026"
    folder.mkdir()
    for number in range(BATCH_SIZE):
        (folder / f"graduate-{number:04d}.json").write_text(
            json.dumps(credential(issuer, 1000 + number), indent=2))

    world = World(node, work, node.directory / "trust.json", issuer, key, direct,
                  direct_revoked, folder, work / "receipts", revoked_member=10)
    world.results["issued"] = ok("issue", str(direct), "--key", str(key))
    world.results["issued_revoked"] = ok("issue", str(direct_revoked), "--key", str(key))
    started = time.monotonic()
    world.results["anchor"] = ok("anchor", str(folder), "--key", str(key), "--receipts",
                                 str(world.receipts), "--batch-id", "class-of-2026")
    world.results["anchor_seconds"] = time.monotonic() - started
    world.results["revoke_member"] = ok(
        "revoke", str(world.member(10)), "--receipt", str(world.receipt(10)), "--reason",
        "issued_in_error", "--key", str(key))
    world.results["revoke_direct"] = ok("revoke", str(direct_revoked), "--reason", "3",
                                        "--key", str(key))
    return world


def bundle_and_verify(world: World, credential_file: Path, receipt: Path | None,
                      name: str) -> tuple[int, dict[str, Any]]:
    out = world.work / f"{name}.bundle.json"
    extra = ["--receipt", str(receipt)] if receipt is not None else []
    code, written, err = cli("bundle", str(credential_file), *extra, "--trust",
                             str(world.trust), "--out", str(out))
    assert code in (0, 3), err  # bundle exits like verify: 3 for a revoked credential
    assert written["bundle"] == str(out) and out.exists()
    # Offline from here on: the verifier has the bundle, the credential and the trust file.
    code, verdict, err = cli("verify", str(out), "--trust", str(world.trust), "--credential",
                             str(credential_file))
    assert err == "", err
    return code, verdict


def test_issue_and_anchor_report_positions(world: World) -> None:
    issued = world.results["issued"]
    assert issued["credential_digest"] == credential_digest(world.direct.read_bytes()).hex()
    assert issued["event_index"] > 0 and issued["height"] > 0
    anchor = world.results["anchor"]
    assert (anchor["batch_size"], anchor["batch_id"]) == (BATCH_SIZE, "class-of-2026")
    assert anchor["event_index"] > world.results["issued_revoked"]["event_index"]
    assert world.results["anchor_seconds"] < 20


def test_receipts_and_index(world: World) -> None:
    index_lines = (world.receipts / "index.jsonl").read_text().splitlines()
    assert len(index_lines) == BATCH_SIZE
    assert len(list(world.receipts.glob("*.json"))) == BATCH_SIZE
    anchor = world.results["anchor"]
    for line in index_lines[::97]:
        entry = json.loads(line)
        source = Path(entry["source"])
        digest = credential_digest(source.read_bytes())
        assert entry["digest"] == digest.hex() and entry["line"] is None
        receipt = parse_receipt((world.receipts / entry["receipt"]).read_bytes())
        assert receipt.index == entry["index"] and receipt.credential_digest == digest
        assert receipt.anchor_event_hash.hex() == anchor["event_hash"]
        verify_receipt(digest, receipt.batch_receipt(), bytes.fromhex(anchor["batch_root"]),
                       BATCH_SIZE)


def test_offline_verdicts(world: World) -> None:
    code, verdict = bundle_and_verify(world, world.direct, None, "direct")
    assert (code, verdict["status"]) == (0, "valid")
    assert verdict["event_index"] == world.results["issued"]["event_index"]
    assert verdict["message"].startswith(f'valid: "Example University" ({world.issuer}) issued '
                                         "this credential on ")
    assert verdict["issued_at"] is not None

    code, verdict = bundle_and_verify(world, world.direct_revoked, None, "direct-revoked")
    assert (code, verdict["status"]) == (3, "revoked")
    assert verdict["revocation"]["event_index"] == world.results["revoke_direct"]["event_index"]
    assert verdict["revocation"]["reason"] == "superseded"

    member = world.revoked_member
    code, verdict = bundle_and_verify(world, world.member(member), world.receipt(member),
                                      "member-revoked")
    assert (code, verdict["status"]) == (3, "revoked")
    revocation = {k: v for k, v in verdict["revocation"].items() if k != "revoked_at"}
    assert revocation == {
        "scope": "credential", "event_index": world.results["revoke_member"]["event_index"],
        "height": world.results["revoke_member"]["height"], "reason": "issued_in_error",
        "reason_code": 2, "by": "issuer"}
    assert verdict["revocation"]["revoked_at"] is not None
    for sibling in (member - 1, member + 1, BATCH_SIZE - 1):
        code, verdict = bundle_and_verify(world, world.member(sibling), world.receipt(sibling),
                                          f"member-{sibling}")
        assert (code, verdict["status"]) == (0, "valid"), verdict["message"]
        assert verdict["batch_id"] == "class-of-2026"
        assert verdict["event_index"] == world.results["anchor"]["event_index"]

    # The sibling's bundle does not vouch for another credential file.
    code, verdict, _ = cli("verify", str(world.work / f"member-{member + 1}.bundle.json"),
                           "--trust", str(world.trust), "--credential",
                           str(world.member(member + 2)))
    assert (code, verdict["step"]) == (4, 7)


def test_online_status(world: World) -> None:
    code, verdict, _ = cli("status", str(world.member(3)), "--receipt", str(world.receipt(3)),
                           "--trust", str(world.trust))
    assert (code, verdict["status"]) == (0, "valid")
    code, verdict, _ = cli("status", str(world.direct_revoked), "--trust", str(world.trust))
    assert (code, verdict["status"]) == (3, "revoked")


def test_bundle_without_trust_then_verified_with_it(world: World) -> None:
    out = world.work / "untrusted.bundle.json"
    written = ok("bundle", str(world.member(5)), "--receipt", str(world.receipt(5)), "--out",
                 str(out))
    assert written["verdict"]["checkpoint"]["signatures_checked"] is False
    code, verdict, _ = cli("verify", str(out), "--trust", str(world.trust), "--credential",
                           str(world.member(5)))
    assert (code, verdict["status"]) == (0, "valid")


def test_node_rejections_are_explained(world: World) -> None:
    # A batched credential without its receipt has no record on the ledger.
    code, _, err = cli("bundle", str(world.member(4)), "--out", str(world.work / "x.json"))
    assert code == 1 and "pass its --receipt" in err and not (world.work / "x.json").exists()
    # With the trust file, the node's "no record" is proven before it is believed.
    code, _, err = cli("bundle", str(world.member(4)), "--trust", str(world.trust),
                       "--out", str(world.work / "x.json"))
    assert code == 4 and "not issued by" in err and "as proven at checkpoint" in err
    assert not (world.work / "x.json").exists()
    code, _, err = cli("revoke", str(world.member(10)), "--receipt", str(world.receipt(10)),
                       "--reason", "fraud", "--key", str(world.key))
    assert code == 1 and "already_revoked" in err and world.node.url in err
    stranger = world.work / "stranger.key"
    ok("keygen", "--out", str(stranger))
    code, _, err = cli("issue", str(world.direct), "--key", str(stranger))
    assert code == 1 and "unknown_issuer" in err


def test_json_lines_rotation_and_retirement(world: World) -> None:
    admin = str(world.node.directory / "governance.key")
    old, new = world.work / "second-old.key", world.work / "second-new.key"
    issuer = ok("keygen", "--out", str(old))["did"]
    ok("keygen", "--out", str(new))
    ok("issuer", "register", "--admin-key", admin, "--issuer", issuer, "--name", "Second")
    ok("issuer", "rotate", "--key", str(old), "--new-key", str(new))
    lines = world.work / "second.jsonl"
    lines.write_text("".join(json.dumps(credential(issuer, 5000 + n)) + "\n" for n in range(3)))
    receipts = world.work / "second-receipts"
    anchored = ok("anchor", str(lines), "--key", str(new), "--issuer", issuer, "--receipts",
                  str(receipts))
    entries = [json.loads(line) for line in (receipts / "index.jsonl").read_text().splitlines()]
    assert [(e["source"], e["line"]) for e in entries] == [(str(lines), n) for n in (1, 2, 3)]
    ok("issuer", "retire", "--key", admin, "--issuer", issuer)
    second = world.work / "second-2.json"
    second.write_text(lines.read_text().splitlines()[1])
    code, verdict = bundle_and_verify(world, second, receipts / entries[1]["receipt"], "second")
    assert (code, verdict["status"]) == (0, "valid"), verdict["message"]
    assert verdict["event_index"] == anchored["event_index"]
    code, _, err = cli("issue", str(second), "--key", str(new), "--issuer", issuer)
    assert code == 1 and "issuer_retired" in err


def test_monitor_twice_then_a_split_view(world: World) -> None:
    state = world.work / "monitor.json"
    code, report, _ = cli("monitor", "--node", world.node.url, "--trust", str(world.trust),
                          "--state", str(state), "--once")
    assert code == 0 and report["result"] == "consistent" and report["state_advanced"]
    first = report["state"]["tree_size"]
    third = world.work / "diploma-3.json"
    third.write_text(json.dumps(credential(world.issuer, 3)))
    ok("issue", str(third), "--key", str(world.key))  # the log grows between the rounds
    code, report, _ = cli("monitor", "--node", world.node.url, "--trust", str(world.trust),
                          "--state", str(state), "--once")
    assert code == 0 and report["result"] == "consistent"
    assert report["state"]["tree_size"] > first
    assert json.loads(state.read_text())["checkpoint"].startswith("vcledger.example/e2e\n")

    # A checkpoint validly cosigned by the network's own validator key, for a
    # history the node never had: the monitor must show both notes and exit 4.
    trust = json.loads(world.trust.read_text())
    validator = read_key_file(world.node.directory / "validator.key")
    body = format_checkpoint(trust["origin"], first, bytes(range(32)))
    forged = body + "\n" + cosign(body, trust["validators"][0]["name"], validator.seed,
                                  int(time.time()))
    forged_state = world.work / "forged.json"
    forged_state.write_text(json.dumps({"format": "vcledger-monitor/v1",
                                        "origin": trust["origin"], "node": "elsewhere",
                                        "checkpoint": forged}))
    code, report, _ = cli("monitor", "--node", world.node.url, "--trust", str(world.trust),
                          "--state", str(forged_state), "--once")
    assert code == 4 and report["result"] == "split_view_or_invalid"
    (split,) = report["split_views"]
    assert split["first"]["checkpoint"] == forged
    assert split["second"]["node"] == world.node.url
    assert split["second"]["checkpoint"].startswith(trust["origin"] + "\n")
    assert not report["state_advanced"]
    assert json.loads(forged_state.read_text())["checkpoint"] == forged



# -- who issued it, and a stolen key (issue 10), through the CLI against a real node -----------


def test_issuer_identity_second_issuer_and_stolen_key(world: World) -> None:
    admin = str(world.node.directory / "governance.key")
    uni_key, evil_key, thief_key = (world.work / f"{n}.key" for n in ("uni", "evil", "thief"))
    uni = ok("keygen", "--out", str(uni_key))["did"]
    evil = ok("keygen", "--out", str(evil_key))["did"]
    ok("keygen", "--out", str(thief_key))
    registered = ok("issuer", "register", "--admin-key", admin, "--issuer", uni, "--name",
                    "Uni", "--id", "https://uni.example/issuers/1", "--id", "did:web:uni.example")
    assert registered["ids"] == ["did:web:uni.example", "https://uni.example/issuers/1"]
    ok("issuer", "register", "--admin-key", admin, "--issuer", evil, "--name", "Evil")

    def named(issuer: object, number: int) -> Path:
        path = world.work / f"named-{number}.json"
        document = credential(uni, number)
        document["issuer"] = issuer
        path.write_text(json.dumps(document))
        return path

    alice = named({"id": "https://uni.example/issuers/1", "name": "Uni"}, 7001)
    ok("issue", str(alice), "--key", str(uni_key))
    code, verdict = bundle_and_verify_issuer(world, alice, uni, "alice")
    assert code == 0 and verdict["message"].startswith(
        f'valid: "Uni" (https://uni.example/issuers/1, {uni}) issued this credential on ')
    assert verdict["issuer"]["ids"] == ["did:web:uni.example", "https://uni.example/issuers/1"]

    # EVIL cannot put UNI's credential on the ledger through the client ...
    code, _, err = cli("issue", str(alice), "--key", str(evil_key))
    assert code == 1 and "1 credential does not name this issuer" in err
    assert "nothing was signed" in err
    folder = world.work / "evil-batch"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(credential(evil, 7002)))
    (folder / "b.json").write_text(alice.read_text())
    code, _, err = cli("anchor", str(folder), "--key", str(evil_key), "--receipts",
                       str(world.work / "evil-receipts"))
    assert code == 1 and "1 credential does not name this issuer" in err
    assert not (world.work / "evil-receipts" / "index.jsonl").exists()

    # ... and a hand-made event that skips the client is caught by the verifier.

    forged = named({"id": "https://uni.example/issuers/1", "name": "Uni"}, 7003)
    event = sign_event(CredentialIssue(evil, credential_digest(forged.read_bytes())),
                       origin="vcledger.example/e2e", key=read_key_file(evil_key),
                       created=int(time.time()))

    async def submit() -> None:
        async with NodeClient(world.node.url) as client:
            result = await client.submit(event.encoded, event_hash=event.hash, what="forgery")
            assert result.status == "committed"

    asyncio.run(submit())
    # `vcledger bundle` checks as it assembles, and writes nothing ...
    out = world.work / "forged.bundle.json"
    code, _, err = cli("bundle", str(forged), "--issuer", evil, "--out", str(out))
    assert code == 4 and "step 11 (credential)" in err and not out.exists()

    # ... and the offline verifier, given the same proofs, says invalid too.
    async def fetch() -> Any:
        async with NodeClient(world.node.url) as client:
            return await fetch_bundle(client, issuer=evil,
                                      credential_digest=credential_digest(forged.read_bytes()),
                                      receipt=None, min_cosignatures=1)

    verdict = verify_bundle(asyncio.run(fetch()), load_trust(world.trust),
                            credential_json=forged.read_bytes(), now=int(time.time()))
    assert (verdict.status, verdict.step) == ("invalid", 11), verdict.message
    assert '"Evil"' in verdict.message and "https://uni.example/issuers/1" in verdict.message

    # A never-issued credential is a forgery, not an outage.
    never = named(uni, 7004)
    code, verdict, _ = cli("status", str(never), "--trust", str(world.trust), "--issuer", uni)
    assert (code, verdict["status"]) == (4, "invalid") and "not issued by" in verdict["message"]

    # The stolen key: the thief issues, rotates to its own key, issues again.
    stolen_first = named(uni, 7005)
    since = ok("issue", str(stolen_first), "--key", str(uni_key))["event_index"]
    ok("issuer", "rotate", "--key", str(uni_key), "--new-key", str(thief_key))
    stolen_second = named(uni, 7006)
    ok("issue", str(stolen_second), "--key", str(thief_key), "--issuer", uni)
    code, _, err = cli("revoke", str(stolen_second), "--reason", "key_compromise", "--key",
                       str(uni_key))
    assert code == 1 and "wrong_key" in err
    ok("issuer", "compromised", "--admin-key", admin, "--issuer", uni, "--since-index",
       str(since), "--reason", "signing key found on a public server")
    for number, stolen in ((1, stolen_first), (2, stolen_second)):
        code, verdict = bundle_and_verify_issuer(world, stolen, uni, f"stolen-{number}")
        assert (code, verdict["status"]) == (3, "revoked"), verdict["message"]
        assert (verdict["revocation"]["scope"], verdict["revocation"]["by"],
                verdict["revocation"]["reason"]) == ("issuer", "governance", "key_compromise")
    code, verdict = bundle_and_verify_issuer(world, alice, uni, "alice-after")
    assert code == 0 and verdict["issuer"]["standing"] == "compromised"

    # Governance revokes another issuer's credential; the verdict says who.
    own = world.work / "evil-own.json"
    own.write_text(json.dumps({**credential(evil, 7007), "issuer": evil}))
    ok("issue", str(own), "--key", str(evil_key))
    revoked = ok("revoke", str(own), "--reason", "fraud", "--admin-key", admin, "--issuer", evil)
    assert revoked["by"] == "governance"
    code, verdict = bundle_and_verify(world, own, None, "evil-own")
    assert code == 3 and verdict["revocation"]["by"] == "governance"
    assert "by governance" in verdict["message"]


def bundle_and_verify_issuer(world: World, credential_file: Path, issuer: str,
                             name: str) -> tuple[int, dict[str, Any]]:
    """Bundle under an explicit issuer DID (the file names another), then verify offline."""
    out = world.work / f"{name}.bundle.json"
    code, _, err = cli("bundle", str(credential_file), "--issuer", issuer, "--trust",
                       str(world.trust), "--out", str(out))
    assert code in (0, 3, 4), err
    code, verdict, err = cli("verify", str(out), "--trust", str(world.trust), "--credential",
                             str(credential_file))
    assert err == "", err
    return code, verdict


# -- is it still true now (issue 11): a mirror frozen on an old checkpoint ----------------------


class _FrozenMirror(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the node, but serves a fixed older checkpoint."""

    upstream = ""
    frozen = b""

    def do_GET(self) -> None:
        if self.path.startswith("/v1/checkpoint"):
            self._send(200, "text/plain; charset=utf-8", self.frozen)
            return
        try:
            with urllib.request.urlopen(self.upstream + self.path, timeout=10) as response:
                self._send(response.status, response.headers["Content-Type"], response.read())
        except urllib.error.HTTPError as error:
            self._send(error.code, error.headers["Content-Type"], error.read())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_status_through_a_mirror_frozen_on_an_old_checkpoint(world: World) -> None:
    with urllib.request.urlopen(world.node.url + "/v1/checkpoint", timeout=10) as response:
        old_note = response.read()
    newer = world.work / "diploma-9.json"
    newer.write_text(json.dumps(credential(world.issuer, 9)))
    ok("issue", str(newer), "--key", str(world.key))  # the log grows past the old note
    code, verdict, _ = cli("status", str(world.direct), "--trust", str(world.trust))
    assert (code, verdict["status"]) == (0, "valid")  # seen through the real node

    handler = type("Mirror", (_FrozenMirror,), {"upstream": world.node.url, "frozen": old_note})
    with serving(handler) as mirror:
        code, _, err = cli("status", str(world.direct), "--trust", str(world.trust),
                           "--node", mirror)
    assert code == 1, err
    assert "already verified" in err and "it may be stale or hiding events" in err


def test_a_never_issued_verdict_needs_a_fresh_proof(world: World) -> None:
    """A node frozen on an old checkpoint proves only that the ledger had no record then:
    that is stale (exit 5), not a forgery (exit 4)."""
    with urllib.request.urlopen(world.node.url + "/v1/checkpoint", timeout=10) as response:
        old_note = response.read()
    fetched = time.time()  # the note was cosigned at or before this moment
    unknown = world.work / "never-issued.json"
    unknown.write_text(json.dumps(credential(world.issuer, 8123)))
    handler = type("Mirror", (_FrozenMirror,), {"upstream": world.node.url, "frozen": old_note})
    with serving(handler) as mirror:
        # Fresh enough: the absence is proven, and the verdict is invalid.
        code, verdict, _ = cli("status", str(unknown), "--trust", str(world.trust),
                               "--node", mirror)
        assert (code, verdict["status"]) == (4, "invalid"), verdict
        assert "as proven at checkpoint" in verdict["message"]
        # The same proof judged against a bound it no longer meets: stale.
        wait_until(lambda: time.time() - fetched >= 2.5, timeout=5, what="the note to age",
                   interval=0.1)
        code, verdict, _ = cli("status", str(unknown), "--trust", str(world.trust),
                               "--node", mirror, "--max-age", "2s")
        assert (code, verdict["status"]) == (5, "stale"), verdict
        assert "this check allows 2 seconds" in verdict["message"]


def test_sign_issue_bundle_verify_round_trip(world: World) -> None:
    diploma = world.work / "signed-diploma.json"
    diploma.write_text(json.dumps(credential(world.issuer, 9001)))
    ok("sign", str(diploma), "--key", str(world.key))
    ok("issue", str(diploma), "--key", str(world.key))
    code, verdict = bundle_and_verify(world, diploma, None, "signed-diploma")
    assert (code, verdict["embedded_proof"]) == (0, "verified"), verdict["message"]
    # A file signed by another key is refused before anything is signed.
    stranger = world.work / "stranger-signer.key"
    ok("keygen", "--out", str(stranger))
    other = world.work / "signed-by-a-stranger.json"
    other.write_text(json.dumps(credential(world.issuer, 9002)))
    ok("sign", str(other), "--key", str(stranger))
    code, _, err = cli("issue", str(other), "--key", str(world.key))
    assert code == 1 and "1 credential carries an embedded proof that the verifier would " \
        "refuse" in err and "nothing was signed" in err
    # The holder cannot edit the signed file: its digest and its proof both cover it.
    edited = json.loads(diploma.read_text())
    edited["credentialSubject"]["degree"]["name"] = "Doctor of Medicine"
    forged = world.work / "signed-diploma-edited.json"
    forged.write_text(json.dumps(edited))
    code, verdict, _ = cli("verify", str(world.work / "signed-diploma.bundle.json"), "--trust",
                           str(world.trust), "--credential", str(forged))
    assert (code, verdict["step"]) == (4, 7)
