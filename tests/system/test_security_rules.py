"""Every security rule of the ledger, with a test that tries to break it.

Where a rule is enforced by the node, the attack goes end to end: two real
``vcledger-node`` processes (network A, and a twin network B with the same
name but its own validator and governance keys) and the ``vcledger`` command
(run in process) or hand-signed events posted to the API.  Where a rule is
enforced by the offline verifier, the attack is a forged bundle or checkpoint
given to ``verify_bundle`` and to ``vcledger verify``.

The rules:

* an issuer can only revoke its own credentials;
* only a governance key registers an issuer;
* a signed event counts once, however often and however late it is replayed
  (after many blocks and a restart too);
* a rotated-out key and a retired issuer cannot issue;
* a bundle mixing proofs from two networks is invalid;
* only distinct trusted validator keys count towards a checkpoint's threshold;
* a proof is only good for its own leaf and its own tree size;
* a key file that group or others can read is refused (CLI and node);
* an event signed for another network is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client import encoding, note
from client.checkpoint import verify_checkpoint
from client.cli import main as cli_main
from client.credentials import digest as credential_digest
from client.errors import InvalidProof, VerificationError
from client.events import (
    CredentialIssue,
    CredentialRevoke,
    IssuerRegister,
    IssuerRotate,
    RevocationReason,
    SignedEvent,
    sign_event,
)
from client.keys import KeyPair, write_key_file
from client.merkle import leaf_hash, verify_inclusion
from client.trust import load_trust, parse_trust
from client.verify import verify_bundle
from node.api import EVENT_CONTENT_TYPE
from node.errors import PeerProtocolError
from tests.nodeutil import (
    FAST_CONSENSUS,
    ROOT,
    TEST_ORIGIN,
    NetworkFiles,
    NodeProcess,
    http_get,
    node_command,
    running_nodes,
    wait_until,
    write_network,
)
from tests.system.test_hostile_api import Reply, exchange, request_bytes

VECTORS = ROOT / "tests" / "vectors"
VALID = json.loads((VECTORS / "bundle_valid.json").read_text())
VECTOR_TRUST = parse_trust(json.dumps(VALID["trust"]))
CASES = {case["name"]: case for case in VALID["cases"]}


# -- tools -----------------------------------------------------------------------------------------


def cli(*argv: str) -> tuple[int, str, str]:
    """``vcledger ARGV`` in process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def refused(code: int, err: str, rule: str) -> None:
    """The CLI reports the node's refusal: exit 1 and the rule's code, on one line."""
    assert code == 1, (code, err)
    assert err.startswith("vcledger: error: ") and f"({rule})" in err, err
    assert len(err.splitlines()) == 1


def credential_file(directory: Path, issuer: str, label: str) -> Path:
    path = directory / f"{label}.json"
    path.write_text(json.dumps({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"], "issuer": issuer, "id": f"urn:test:{label}",
        "credentialSubject": {"id": f"did:example:{label}", "name": label}}))
    return path


@dataclass
class Party:
    """An issuer (or any key holder) with a key file."""

    name: str
    key: KeyPair
    key_file: Path

    @property
    def did(self) -> str:
        return self.key.did


@dataclass
class Ledger:
    """One running network: its files, its node, and the URLs the CLI needs."""

    network: NetworkFiles
    node: NodeProcess

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def trust(self) -> str:
        return str(self.network.trust)

    @property
    def governance_file(self) -> str:
        return str(self.network.directory / "governance.key")

    def post(self, event: SignedEvent | bytes) -> Reply:
        data = event if isinstance(event, bytes) else event.encoded
        return exchange(self.node.port, request_bytes(
            "POST", "/v1/events?wait=commit", data, content_type=EVENT_CONTENT_TYPE), timeout=20)

    def get_json(self, path: str) -> Any:
        status, body = http_get(self.url + path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def tree_size(self) -> int:
        return int(self.get_json("/healthz")["tree_size"])


@dataclass
class World:
    a: Ledger
    b: Ledger
    directory: Path
    parties: dict[str, Party]

    def party(self, name: str) -> Party:
        if name not in self.parties:
            key = KeyPair.generate()
            path = self.directory / f"{name}.key"
            write_key_file(path, key.seed)
            self.parties[name] = Party(name, key, path)
        return self.parties[name]

    def register(self, ledger: Ledger, name: str) -> Party:
        party = self.party(name)
        code, _, err = cli("issuer", "register", "--admin-key", ledger.governance_file,
                           "--issuer", party.did, "--name", name, "--node", ledger.url)
        assert code == 0, err
        return party


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Network A and its twin B: same name, other validator and governance keys."""
    directory = tmp_path_factory.mktemp("security")
    networks = [write_network(directory / name, consensus=FAST_CONSENSUS) for name in "ab"]
    configs = [net.nodes[0].config for net in networks]
    with running_nodes(configs[:1], directory / "a") as (node_a,), \
            running_nodes(configs[1:], directory / "b") as (node_b,):
        yield World(Ledger(networks[0], node_a), Ledger(networks[1], node_b), directory, {})


# -- revocation is the issuer's alone --------------------------------------------------------------


@pytest.mark.slow
def test_an_issuer_cannot_revoke_another_issuers_credential(world: World) -> None:
    a = world.a
    alice = world.register(a, "alice")
    mallory = world.register(a, "mallory")
    diploma = credential_file(world.directory, alice.did, "alice-diploma")
    code, _, err = cli("issue", str(diploma), "--key", str(alice.key_file), "--node", a.url)
    assert code == 0, err
    digest = credential_digest(diploma.read_bytes())

    # In alice's namespace with mallory's key: the CLI, then a hand-made event.
    code, _, err = cli("revoke", str(diploma), "--issuer", alice.did, "--reason", "fraud",
                       "--key", str(mallory.key_file), "--node", a.url)
    refused(code, err, "wrong_key")
    forged = sign_event(CredentialRevoke(alice.did, digest, RevocationReason.FRAUD),
                        origin=TEST_ORIGIN, key=mallory.key, created=1_780_000_000)
    reply = a.post(forged)
    assert reply.status == 422 and json.loads(reply.body)["error"]["code"] == "wrong_key"
    # In mallory's own namespace it revokes nothing: she never issued it.
    code, _, err = cli("revoke", str(diploma), "--issuer", mallory.did, "--reason", "fraud",
                       "--key", str(mallory.key_file), "--node", a.url)
    refused(code, err, "unknown_credential")
    # alice's credential is still valid, online and in a fresh bundle.
    code, out, err = cli("status", str(diploma), "--trust", a.trust, "--node", a.url)
    assert code == 0 and out.startswith("valid: "), (out, err)
    record = a.get_json(f"/v1/status/{alice.did}/{digest.hex()}")["record"]
    assert record["revoked"] is None


# -- governance ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_registering_an_issuer_needs_a_governance_key(world: World) -> None:
    a, b = world.a, world.b
    hopeful = world.party("hopeful")
    validator_key = str(a.network.nodes[0].key)
    for admin in (str(hopeful.key_file), validator_key, b.governance_file,
                  str(world.party("stranger").key_file)):
        code, _, err = cli("issuer", "register", "--admin-key", admin, "--issuer", hopeful.did,
                           "--name", "Hopeful", "--node", a.url)
        refused(code, err, "not_governance")
    record = a.get_json(f"/v1/issuers/{hopeful.did}")["record"]
    assert record is None
    diploma = credential_file(world.directory, hopeful.did, "hopeful-diploma")
    code, _, err = cli("issue", str(diploma), "--key", str(hopeful.key_file), "--node", a.url)
    refused(code, err, "unknown_issuer")
    # The network's own governance key does it (the control).
    world.register(a, "hopeful")
    assert a.get_json(f"/v1/issuers/{hopeful.did}")["record"]["issuer"] == hopeful.did


# -- replay ----------------------------------------------------------------------------------------


def _occurrences(ledger: Ledger, leaf: bytes) -> list[int]:
    found = []
    for index in range(ledger.tree_size()):
        status, body = http_get(f"{ledger.url}/v1/entries/{index}")
        assert status == 200
        if body == leaf:
            found.append(index)
    return found


@pytest.mark.slow
def test_a_replayed_event_counts_once_even_long_after(world: World) -> None:
    a = world.a
    dora = world.register(a, "dora")
    old_key = dora.key
    new_key = KeyPair.generate()
    issue = sign_event(CredentialIssue(dora.did, credential_digest(b'{"n": "dora 1"}')),
                       origin=TEST_ORIGIN, key=old_key, created=1_780_000_000)
    rotate = sign_event(IssuerRotate(dora.did, new_key.public_key), origin=TEST_ORIGIN,
                        key=old_key, created=1_780_000_001)
    first = json.loads(a.post(issue).body)
    assert first["status"] == "committed"
    assert json.loads(a.post(rotate).body)["status"] == "committed"
    revoke = sign_event(CredentialRevoke(dora.did, issue.payload.digest,  # type: ignore[union-attr]
                                         RevocationReason.SUPERSEDED),
                        origin=TEST_ORIGIN, key=new_key, created=1_780_000_002)
    assert json.loads(a.post(revoke).body)["status"] == "committed"

    def replay_all() -> None:
        # The same bytes again: answered with the original position, never applied again.
        for event in (issue, rotate, revoke):
            reply = a.post(event)
            assert reply.status == 200, reply
            document = json.loads(reply.body)
            assert document["status"] == "committed", document
        assert json.loads(a.post(issue).body)["index"] == first["index"]

    replay_all()
    # Much later: many blocks on, and after a restart (replay protection is on disk).
    for number in range(20):
        event = sign_event(CredentialIssue(dora.did, credential_digest(
            json.dumps({"n": number}).encode())), origin=TEST_ORIGIN, key=new_key,
            created=1_780_000_100 + number)
        assert json.loads(a.post(event).body)["status"] == "committed"
    assert a.node.terminate() == 0
    a.node.start_healthy(retry_port=False)
    replay_all()
    # Each event is in the log exactly once; the rotation was not undone or redone.
    for event in (issue, rotate, revoke):
        assert len(_occurrences(a, event.encoded)) == 1
    keys = a.get_json(f"/v1/issuers/{dora.did}")["record"]["keys"]
    assert [k["public_key"] for k in keys] == [old_key.public_key.hex(),
                                               new_key.public_key.hex()]
    # An old event re-signed by the rotated-out key is a new event, and refused.
    stale = sign_event(CredentialIssue(dora.did, credential_digest(b'{"n": "late"}')),
                       origin=TEST_ORIGIN, key=old_key, created=1_780_000_000)
    assert json.loads(a.post(stale).body)["error"]["code"] == "wrong_key"


# -- rotated-out and retired keys ------------------------------------------------------------------


@pytest.mark.slow
def test_rotated_out_and_retired_keys_cannot_issue(world: World) -> None:
    a = world.a
    carol = world.register(a, "carol")
    first = credential_file(world.directory, carol.did, "carol-1")
    code, _, err = cli("issue", str(first), "--key", str(carol.key_file), "--node", a.url)
    assert code == 0, err
    new = world.party("carol-new")
    code, _, err = cli("issuer", "rotate", "--key", str(carol.key_file), "--new-key",
                       str(new.key_file), "--node", a.url)
    assert code == 0, err
    second = credential_file(world.directory, carol.did, "carol-2")
    code, _, err = cli("issue", str(second), "--key", str(carol.key_file), "--node", a.url)
    refused(code, err, "wrong_key")
    # Rotating back to the old key is refused too: it was rotated out.
    code, _, err = cli("issuer", "rotate", "--key", str(new.key_file), "--new-key",
                       str(carol.key_file), "--issuer", carol.did, "--node", a.url)
    refused(code, err, "key_reused")
    code, _, err = cli("issue", str(second), "--key", str(new.key_file), "--issuer", carol.did,
                       "--node", a.url)
    assert code == 0, err
    code, _, err = cli("issuer", "retire", "--key", str(new.key_file), "--issuer", carol.did,
                       "--node", a.url)
    assert code == 0, err
    third = credential_file(world.directory, carol.did, "carol-3")
    for key in (new, carol):
        code, _, err = cli("issue", str(third), "--key", str(key.key_file), "--issuer",
                           carol.did, "--node", a.url)
        refused(code, err, "issuer_retired")  # checked before whose key it is
    # What carol issued before keeps its history: both bundles verify offline.
    for diploma in (first, second):
        out = world.directory / f"{diploma.stem}.bundle.json"
        code, stdout, err = cli("bundle", str(diploma), "--out", str(out), "--trust", a.trust,
                                "--node", a.url)
        assert code == 0, err
        code, stdout, err = cli("verify", str(out), "--trust", a.trust, "--credential",
                                str(diploma))
        assert code == 0 and stdout.startswith("valid: "), (stdout, err)


# -- two networks ----------------------------------------------------------------------------------


def _bundle(world: World, ledger: Ledger, diploma: Path, name: str) -> dict[str, Any]:
    out = world.directory / f"{name}.bundle.json"
    # The twins share an origin, which real networks must not (the client remembers the
    # newest checkpoint per origin and would rightly refuse the twin's): one state
    # directory per network here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VCLEDGER_STATE_DIR", str(world.directory / f"state-{ledger.url[-5:]}"))
        code, _, err = cli("bundle", str(diploma), "--out", str(out), "--trust", ledger.trust,
                           "--node", ledger.url)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def _verdict(world: World, document: dict[str, Any], trust: str) -> tuple[int, str]:
    path = world.directory / "mixed.bundle.json"
    path.write_text(json.dumps(document))
    code, out, err = cli("verify", str(path), "--trust", trust, "--digest-only")
    assert err == "", err
    return code, out


@pytest.mark.slow
def test_a_bundle_mixing_two_networks_is_invalid(world: World,
                                                 record_figure: Callable[..., None]) -> None:
    a, b = world.a, world.b
    # The same issuer key, registered on both networks, issues the same credential on each;
    # another issuer on B first, so that B's positions and status map differ from A's.
    world.register(b, "erin's neighbour on B")
    erin = world.register(a, "erin")
    world.register(b, "erin")
    diploma = credential_file(world.directory, erin.did, "erin-diploma")
    code, _, err = cli("issue", str(diploma), "--key", str(erin.key_file), "--node", a.url)
    assert code == 0, err
    # The twins share a name, so the same event signed in the same second would be the
    # same bytes on both (an event is bound to the network's name): sign B's a second on.
    signed_at = int(time.time())
    wait_until(lambda: int(time.time()) > signed_at, timeout=3, what="the next second")
    code, _, err = cli("issue", str(diploma), "--key", str(erin.key_file), "--node", b.url)
    assert code == 0, err
    from_a, from_b = _bundle(world, a, diploma, "erin-a"), _bundle(world, b, diploma, "erin-b")
    assert from_a["event"] != from_b["event"] and from_a["status"] != from_b["status"]
    assert _verdict(world, from_a, a.trust)[0] == 0
    assert _verdict(world, from_b, b.trust)[0] == 0
    # A network's bundle under the twin's trust file: same name, other validators.
    code, out = _verdict(world, from_a, b.trust)
    assert code == 4 and out.startswith("invalid: step 3 (checkpoint): "), out
    mixes = {
        "event proof from A, checkpoint and header from B":
            {**from_b, "event": from_a["event"], "event_proof": from_a["event_proof"]},
        "header from B under A's checkpoint":
            {**from_a, "header": from_b["header"], "header_proof": from_b["header_proof"]},
        "A's event with B's inclusion proof":
            {**from_b, "event": from_a["event"]},
        "B's status proofs in A's bundle": {**from_a, "status": from_b["status"]},
        "A's proofs, B's checkpoint note in both": {
            **from_a,
            "event_proof": _with_note(from_a["event_proof"], from_b["event_proof"]),
            "header_proof": _with_note(from_a["header_proof"], from_b["event_proof"])},
    }
    steps = {}
    for name, mixed in mixes.items():
        for trust in (a.trust, b.trust):
            code, out = _verdict(world, mixed, trust)
            assert code == 4 and out.startswith("invalid: step "), (name, out)
            steps[f"{name} / {Path(trust).parent.name}"] = out.split(":")[0]
    assert len(steps) == 2 * len(mixes)
    record_figure("inputs_tried", len(steps), edge="bundles mixing two networks", steps=steps)


def _with_note(proof_text: str, note_source: str) -> str:
    head, _, _ = proof_text.partition("\n\n")
    _, _, note_text = note_source.partition("\n\n")
    return head + "\n\n" + note_text


# -- cosignatures that must not count (offline, on the vector network of 4 validators) -------------


def _cosigned(body: str, lines: list[str]) -> str:
    return body + "\n" + "".join(lines)


def _bundle_with_note(name: str, note_text: str) -> dict[str, Any]:
    bundle = dict(CASES[name]["bundle"])
    bundle["event_proof"] = _with_note(bundle["event_proof"], "x\n\n" + note_text)
    bundle["header_proof"] = _with_note(bundle["header_proof"], "x\n\n" + note_text)
    return bundle


def test_only_trusted_validator_keys_count_towards_the_threshold(
        tmp_path: Path, record_figure: Callable[..., None]) -> None:
    assert VECTOR_TRUST.threshold == 3 and len(VECTOR_TRUST.validators) == 4
    checkpoint_note = VALID["checkpoint_note"]
    body = checkpoint_note.partition("\n\n")[0] + "\n"
    lines = [line + "\n" for line in checkpoint_note.partition("\n\n")[2].splitlines()]
    assert len(lines) >= 3
    two = lines[:2]
    names = [v.name for v in VECTOR_TRUST.validators]
    counted = {line.split(" ")[1] for line in two}
    missing = next(n for n in names if n not in counted)
    outsider = KeyPair.generate()
    timestamp = 1_780_000_000
    forgeries = {
        "a cosignature by an untrusted key": note.cosign(body, "outsider.example", outsider.seed,
                                                         timestamp),
        "a validator's name with another key": note.cosign(body, missing, outsider.seed,
                                                           timestamp),
        "a counted validator's line twice": two[0],
        "an Ed25519 (not cosignature/v1) signature by a validator's name":
            note.sign(body, missing, outsider.seed).partition("\n\n")[2],
    }
    # Sanity: the two kept lines are good ones, and three good ones would pass.
    verify_checkpoint(_cosigned(body, lines[:3]), VECTOR_TRUST.origin, VECTOR_TRUST.verifiers(),
                      3)
    trust_path = tmp_path / "trust.json"
    trust_path.write_text(json.dumps(VALID["trust"]))
    for name, forged in forgeries.items():
        text = _cosigned(body, [*two, forged])
        with pytest.raises(VerificationError, match=r"requires 3|cosignatures by 2"):
            verify_checkpoint(text, VECTOR_TRUST.origin, VECTOR_TRUST.verifiers(), 3)
        bundle = _bundle_with_note("direct_valid", text)
        verdict = verify_bundle(json.dumps(bundle), VECTOR_TRUST, digest_only=True)
        assert (verdict.status, verdict.step) == ("invalid", 3), (name, verdict.message)
        path = tmp_path / "forged.bundle.json"
        path.write_text(json.dumps(bundle))
        code, out, _ = cli("verify", str(path), "--trust", str(trust_path), "--digest-only")
        assert code == 4 and out.startswith("invalid: step 3 (checkpoint): "), (name, out)
    # A line that claims a trusted (name, key ID) but carries a bad signature is not
    # skipped: it makes the whole note unverifiable (signed-note; a later line by the
    # same key would not repair it).
    good = lines[2]
    raw = encoding.decode_base64(good.rstrip("\n").split(" ")[2], "line")
    broken = good.split(" ")[0] + " " + good.split(" ")[1] + " " + encoding.encode_base64(
        raw[:-1] + bytes([raw[-1] ^ 1])) + "\n"
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(_cosigned(body, [*lines[:2], broken, lines[2]]), VECTOR_TRUST.origin,
                          VECTOR_TRUST.verifiers(), 3)
    record_figure("inputs_tried", len(forgeries) + 1, edge="forged checkpoint cosignatures")


@pytest.mark.slow
def test_a_node_does_not_keep_a_non_validator_cosignature(world: World) -> None:
    """The node verifies cosignature lines gossiped by peers before it serves them."""
    from tests.system.test_hostile_api import GOVERNANCE, LiveNode

    node = LiveNode.single(world.directory / "cosign-node")
    try:
        node.commit(node.issuer.register(GOVERNANCE).encoded)  # a block to cosign

        async def attempt() -> list[str]:
            checkpoints = node.service.checkpoints
            size = node.service.ledger.head.tree_size
            body = node.service.ledger.checkpoint_body(size)
            outsider = KeyPair.generate()
            outcomes = []
            for line in (note.cosign(body, "outsider", outsider.seed, 1_780_000_000),
                         note.cosign(body, "node0", outsider.seed, 1_780_000_000)):
                try:
                    checkpoints.add(size, line)
                except PeerProtocolError:
                    outcomes.append("refused")
                else:
                    outcomes.append("kept")
            return outcomes

        outcomes = node.run(attempt())
        assert outcomes == ["refused", "refused"], outcomes
        trust = node.network.genesis.trust()
        reply = node.get("/v1/checkpoint")
        verified = verify_checkpoint(reply.body.decode(), trust.origin, trust.verifiers(), 1)
        assert [c.name for c in verified.cosigners] == ["node0"]
    finally:
        node.stop()


# -- proofs for another leaf or another tree size --------------------------------------------------


def test_a_proof_is_only_good_for_its_leaf_and_tree_size() -> None:
    direct, revoked = CASES["direct_valid"]["bundle"], CASES["direct_revoked"]["bundle"]
    assert direct["event_proof"] != revoked["event_proof"]
    swaps = {
        "another event under this proof": {**direct, "event": revoked["event"]},
        "this event under another leaf's proof": {**direct,
                                                 "event_proof": revoked["event_proof"]},
        "the header leaf under the event's proof": {**direct, "event": direct["header"]},
        "the proof's index moved by one": {
            **direct, "event_proof": direct["event_proof"].replace(
                f"index {_index(direct)}\n", f"index {_index(direct) + 1}\n", 1)},
    }
    for name, bundle in swaps.items():
        verdict = verify_bundle(json.dumps(bundle), VECTOR_TRUST, digest_only=True)
        assert verdict.status == "invalid" and verdict.step in (4, 5, 6, 7), (name,
                                                                              verdict.message)


def _index(bundle: dict[str, Any]) -> int:
    line = next(t for t in bundle["event_proof"].splitlines() if t.startswith("index "))
    return int(line.split(" ")[1])


@pytest.mark.slow
def test_a_served_proof_is_only_good_for_its_leaf_and_tree_size(world: World) -> None:
    a = world.a
    frank = world.register(a, "frank")
    diploma = credential_file(world.directory, frank.did, "frank-diploma")
    code, _, err = cli("issue", str(diploma), "--key", str(frank.key_file), "--node", a.url)
    assert code == 0, err
    older = a.get_json("/v1/blocks/latest")["tree_size"]
    code, _, err = cli("issue", str(credential_file(world.directory, frank.did, "frank-2")),
                       "--key", str(frank.key_file), "--node", a.url)
    assert code == 0, err
    newer = a.get_json("/v1/blocks/latest")["tree_size"]
    trust = load_trust(a.trust)
    roots = {}
    for size in (older, newer):
        status, body = http_get(f"{a.url}/v1/checkpoint?tree_size={size}")
        assert status == 200
        roots[size] = verify_checkpoint(body.decode(), trust.origin, trust.verifiers(),
                                        trust.threshold).checkpoint.root
    index = older - 2  # frank's first credential.issue, just before its block header
    status, leaf = http_get(f"{a.url}/v1/entries/{index}")
    other_status, other_leaf = http_get(f"{a.url}/v1/entries/{index - 1}")
    assert status == other_status == 200
    proof = [bytes.fromhex(h) for h in a.get_json(
        f"/v1/proof/inclusion?index={index}&tree_size={older}")["proof"]]
    verify_inclusion(leaf_hash(leaf), index, older, proof, roots[older])  # the control
    attempts = [
        (leaf_hash(other_leaf), index, older, roots[older]),    # another leaf
        (leaf_hash(leaf), index - 1, older, roots[older]),      # another index
        (leaf_hash(leaf), index, newer, roots[newer]),          # another tree size
        (leaf_hash(leaf), index, older, roots[newer]),          # another tree's root
    ]
    for leaf_value, at, size, root in attempts:
        with pytest.raises(InvalidProof):
            verify_inclusion(leaf_value, at, size, proof, root)


# -- key files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_the_cli_refuses_a_key_file_others_can_read(tmp_path: Path, mode: int) -> None:
    key = tmp_path / "issuer.key"
    write_key_file(key, KeyPair.generate().seed)
    os.chmod(key, mode)
    diploma = credential_file(tmp_path, KeyPair.generate().did, "d")
    for argv in (["issue", str(diploma), "--key", str(key), "--node", "http://127.0.0.1:1"],
                 ["issuer", "register", "--admin-key", str(key), "--issuer",
                  KeyPair.generate().did, "--name", "x", "--node", "http://127.0.0.1:1"]):
        code, out, err = cli(*argv)
        assert code == 1 and out == "", (code, out, err)
        assert f"mode {mode:04o}" in err and f"chmod 600 {key}" in err, err


@pytest.mark.slow
def test_the_node_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    network = write_network(tmp_path / "net")
    key = network.nodes[0].key
    os.chmod(key, 0o640)
    result = subprocess.run([*node_command(), "run", "--config", str(network.nodes[0].config)],
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert f"chmod 600 {key}" in result.stderr and "mode 0640" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_cli_refuses_a_loose_key_file_in_a_real_process(tmp_path: Path) -> None:
    key = tmp_path / "governance.key"
    write_key_file(key, KeyPair.generate().seed)
    os.chmod(key, 0o604)
    result = subprocess.run(
        [sys.executable, "-m", "client.cli", "issuer", "register", "--admin-key", str(key),
         "--issuer", KeyPair.generate().did, "--name", "x", "--node", "http://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr == (f"vcledger: error: key file {key} has mode 0604, which lets group "
                             f"or others access it; run: chmod 600 {key}\n")


# -- events signed for another network -------------------------------------------------------------


@pytest.mark.slow
def test_an_event_signed_for_another_network_is_refused(world: World) -> None:
    a = world.a
    gina = world.register(a, "gina")
    elsewhere = "vcledger.example/elsewhere"
    for payload, key in (
            (CredentialIssue(gina.did, credential_digest(b'{"g": 1}')), gina.key),
            (IssuerRegister(world.party("henry").did, "Henry",
                            world.party("henry").key.public_key), a.network.governance)):
        event = sign_event(payload, origin=elsewhere, key=key, created=1_780_000_000)
        reply = a.post(event)
        assert reply.status == 422, reply
        assert json.loads(reply.body)["error"]["code"] == "bad_signature"
        # The same payload signed for this network is accepted: only the origin differed.
        event = sign_event(payload, origin=TEST_ORIGIN, key=key, created=1_780_000_000)
        assert json.loads(a.post(event).body)["status"] == "committed"
