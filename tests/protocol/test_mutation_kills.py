"""Checks that no other test noticed missing, found by mutation testing (scripts/mutation).

Each test here was written against a change to the code that every other test let
through (a "surviving mutant"): a boundary moved by one, a condition inverted or
dropped, a field of the verdict left out.  docs/reliability.md ("Mutation testing")
lists the figures and the survivors judged harmless.  Grouped by the file they
guard: client/verify.py (the verdict: its text, its JSON form, the steps a faulty
ledger can reach), node/rules.py, client/smt.py, client/batch.py, client/checkpoint.py.

Faulty ledgers (a status map that the ledger rules would never write) are built with
the hand-made ledger of the bundle vectors (scripts/vectorgen/bundle.py), whose
records can be set at will; honest ones with node.Ledger in process (test_verify).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from client import batch as batch_module
from client.batch import MAX_BATCH_SIZE, build_batch, root_from_receipt
from client.checkpoint import verify_checkpoint
from client.credentials import digest as credential_digest
from client.credentials import named_issuer
from client.durations import describe_age, describe_duration
from client.errors import InvalidEncoding, InvalidProof, SignatureError, UsageError
from client.events import (
    BatchAnchor,
    BatchMembership,
    BatchRevoke,
    CredentialIssue,
    CredentialRevoke,
    IssuerCompromise,
    IssuerRegister,
    IssuerRetire,
    IssuerRotate,
    RevocationReason,
)
from client.hashes import Hash
from client.note import SIG_COSIGNATURE_V1, cosign, verifier_key
from client.smt import (
    EMPTY,
    MAX_PROOF_SIZE,
    MAX_VALUE_SIZE,
    SmtLeaf,
    SmtProof,
    leaf_hash,
    value_hash,
    verify_membership,
)
from client.status import (
    CredentialRecord,
    IssuerRecord,
    Position,
    Revocation,
    credential_status_key,
    decode_record,
    issuer_status_key,
)
from client.verdict import format_time
from client.verify import STEPS, verify_bundle, verify_bundle_without_trust
from node.errors import RuleViolation
from node.rules import BlockState, admit_event, apply_event, execute_events
from tests.client.test_verify import GOVERNANCE as VERIFY_GOVERNANCE
from tests.client.test_verify import (
    INVALID,
    VALID,
    VECTOR_TRUST,
    InProcessLedger,
    _vector_options,
    digest_of,
)
from tests.client.test_verify import ISSUER as VERIFY_ISSUER
from tests.node.test_rules import BLOCK_TIME_MS, CONTEXT, Ledger
from tests.protocol_fixtures import (
    BATCH,
    BATCH_DIGESTS,
    CREATED,
    GOVERNANCE,
    ISSUER,
    ISSUER_NEXT,
    bundle_vectorgen,
    fixed_digest,
)

VECTOR_ORIGIN = VALID["trust"]["origin"]
CASES = {case["name"]: case for case in VALID["cases"]}
INVALID_CASES = {case["name"]: case for case in INVALID["cases"]}


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _verify_case(case: dict[str, Any], **changes: Any) -> Any:
    options = {**_vector_options(case), **changes}
    return verify_bundle(json.dumps(case["bundle"]), VECTOR_TRUST, **options)


# == client/verify.py: the verdict as text and JSON ===========================================
#
# docs/protocol.md ("Verdicts") fixes the text forms and the JSON members; these
# expectations are built from each vector case's expected fields, not from the code.


def _who(case: dict[str, Any]) -> str:
    issuer = case["expected"]["issuer"]
    named = None
    if case["expected"]["credential_checked"]:
        named = named_issuer(json.loads(case["credential_json"]))
    ids = [named] if named in issuer["ids"] else issuer["ids"]
    return f'"{issuer["name"]}" ({", ".join([*ids, issuer["did"]])})'


def _expected_message(case: dict[str, Any]) -> str:
    expected, verify = case["expected"], case["verify"]
    who = _who(case)
    digest = case["bundle"]["credential_digest"]
    subject = ("this credential" if expected["credential_checked"]
               else f"the credential with digest {digest[:16]}…")
    issued_on = _iso(expected["issued_time_ms"] // 1000)[:10]
    as_of = (f"as of checkpoint {expected['tree_size']} ({_iso(expected['checkpoint_time'])}, "
             f"{describe_age(expected['checkpoint_age'])} old)")
    status = expected["status"]
    if status == "valid":
        return f"valid: {who} issued {subject} on {issued_on}; not revoked {as_of}"
    if status == "revoked":
        revocation = expected["revocation"]
        scope = {"credential": "", "batch": " with its whole batch",
                 "issuer": " because the issuer's key was compromised"}[revocation["scope"]]
        by = "governance" if revocation["by_governance"] else "issuer"
        origin = (f"it was put on the ledger with the key of {who} on {issued_on}"
                  if revocation["scope"] == "issuer"
                  else f"{who} issued {subject} on {issued_on}")
        return (f"revoked on {_iso(revocation['time_ms'] // 1000)[:10]} by {by}{scope} "
                f"({revocation['reason']}, log index {revocation['index']}); {origin}; {as_of}")
    moment = verify["at"] if verify["at"] is not None else verify["now"]
    if status == "expired":
        what = f"expired on {_iso(expected['valid_until'])}"
    elif status == "not_yet_valid":
        what = f"is not valid until {_iso(expected['valid_from'])}"
    else:
        assert status == "stale"
        # The vectors' bound is the trust file's: "this network allows".
        return (f"stale: checkpoint {expected['tree_size']} is "
                f"{describe_age(expected['checkpoint_age'])} old; this network allows "
                f"{describe_duration(expected['max_age'])}. As of then: {who} issued {subject} "
                f"on {issued_on}, not revoked")
    return (f"{status.replace('_', ' ')}: the credential {what} (checked at {_iso(moment)}); "
            f"{who} issued it on {issued_on}, not revoked {as_of}")


NO_PROOF_NOTE = ("the credential carries no embedded proof: its own signature was not checked "
                 "(the ledger's record of its digest was)")


def _expected_notes(case: dict[str, Any]) -> list[str]:
    """docs/protocol.md §13.4 "Notes", in their order, restated from the vector case."""
    vectorgen = bundle_vectorgen()
    expected, verify = case["expected"], case["verify"]
    issuer = expected["issuer"]
    notes = []
    if expected["credential_checked"]:
        document = json.loads(case["credential_json"])
        proofs = document.get("proof", [])
        proofs = proofs if isinstance(proofs, list) else [proofs]
        unchecked = [f"{p['type']}/{p['cryptosuite']}" if "cryptosuite" in p else p["type"]
                     for p in proofs
                     if (p.get("type"), p.get("cryptosuite")) != ("DataIntegrityProof",
                                                                    "eddsa-jcs-2022")]
        were = (f"proof of type {unchecked[0]} was" if len(unchecked) == 1
                else f"proofs of type {', '.join(unchecked)} were")
        verified = ("the credential's own eddsa-jcs-2022 signature was verified (the "
                    "issuer's key at the event)")
        if expected["embedded_proof"] == "none":
            notes.append(NO_PROOF_NOTE)
        elif expected["embedded_proof"] == "not_checked":
            notes.append(f"the credential's embedded {were} not checked: only eddsa-jcs-2022 "
                         "Data Integrity proofs are")
        elif unchecked:
            notes.append(f"{verified}; its {were} not checked")
        else:
            notes.append(verified)
    else:
        notes.append("the credential file was not checked: this verdict is about digest "
                     f"{case['bundle']['credential_digest']}, whatever file is shown, and that "
                     "file's issuer and dates were not compared with the ledger's")
    if issuer["standing"] == "compromised":
        # The statements are in the issuer record the bundle proves, newest first.
        record = decode_record(base64.b64decode(case["bundle"]["status"]["issuer"]["value"]))
        assert isinstance(record, IssuerRecord) and record.compromises
        said = "; then ".join(
            f"from log index {c.since_index} (at index {c.position.index}: "
            f"{c.reason or 'no reason given'})" for c in reversed(record.compromises))
        assert vectorgen.COMPROMISE_REASON in said
        notes.append(f"governance declared this issuer's key compromised {said}; credentials "
                     f"issued before index {record.compromises[-1].since_index} keep their "
                     "verdict")
    elif issuer["retired_at_index"] is not None:
        notes.append(f"the issuer retired at log index {issuer['retired_at_index']}; "
                     "credentials it issued before keep their verdict")
    if issuer["current_name"] != issuer["name"]:
        notes.append(f'the issuer is now called "{issuer["current_name"]}"')
    if verify["at"] is not None and expected["validity_checked_at"] is not None:
        notes.append(f"the credential's validity dates were checked at {_iso(verify['at'])}, "
                     "not now")
    if expected["status"] == "stale":
        notes.append("a newer checkpoint is needed: refresh the bundle from a node that is up "
                     "to date")
    return notes


def _expected_json(case: dict[str, Any]) -> dict[str, Any]:
    expected = case["expected"]
    revocation = expected["revocation"]
    dated = (expected["valid_from"], expected["valid_until"], expected["validity_checked_at"])
    return {
        "status": expected["status"],
        "message": _expected_message(case),
        "notes": _expected_notes(case),
        "step": None,
        "step_name": None,
        "issuer": expected["issuer"],
        "credential_digest": case["bundle"]["credential_digest"],
        "credential_checked": expected["credential_checked"],
        "embedded_proof": expected["embedded_proof"],
        "batch_id": expected["batch_id"],
        "event_index": expected["event_index"],
        "issued_at": _iso(expected["issued_time_ms"] // 1000),
        "checkpoint": {
            "tree_size": expected["tree_size"],
            "time": expected["checkpoint_time"],
            "time_utc": _iso(expected["checkpoint_time"]),
            "age_seconds": expected["checkpoint_age"],
            "signatures_checked": True,
        },
        "max_age_seconds": expected["max_age"],
        "validity": None if dated == (None, None, None) else {
            "valid_from": None if dated[0] is None else _iso(dated[0]),
            "valid_until": None if dated[1] is None else _iso(dated[1]),
            "checked_at": None if dated[2] is None else _iso(dated[2]),
        },
        "revocation": None if revocation is None else {
            "scope": revocation["scope"],
            "event_index": revocation["index"],
            "height": revocation["height"],
            "reason": revocation["reason"],
            "reason_code": revocation["reason_code"],
            "by": "governance" if revocation["by_governance"] else "issuer",
            "revoked_at": _iso(revocation["time_ms"] // 1000),
        },
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_text_and_json_follow_the_protocol(name: str) -> None:
    case = CASES[name]
    verdict = _verify_case(case)
    expected = _expected_json(case)
    assert verdict.issuer_did == case["bundle"]["issuer"]
    assert verdict.message == expected["message"]
    assert list(verdict.notes) == expected["notes"]
    document = verdict.as_json()
    assert document == expected
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    assert verdict.lines() == [expected["message"], *(f"  note: {n}" for n in expected["notes"])]


@pytest.mark.parametrize("name", sorted(INVALID_CASES))
def test_invalid_verdict_json_carries_only_what_was_checked(name: str) -> None:
    case = INVALID_CASES[name]
    verdict = _verify_case(case)
    step = case["step"]
    document = verdict.as_json()
    assert set(document) == set(_expected_json(CASES["direct_valid"]))
    assert (document["status"], document["step"], document["step_name"]) == (
        "invalid", step, STEPS[step - 1])
    assert document["notes"] == [] and document["checkpoint"] is None
    assert document["revocation"] is None and document["issued_at"] is None
    assert document["credential_checked"] is ("credential_json" in _vector_options(case))
    assert verdict.checkpoint_signatures_checked is True
    if step == 1:  # the document did not parse: nothing in it can be named
        assert document["issuer"] is None and document["credential_digest"] is None
        return
    bundle = case["bundle"]
    assert document["credential_digest"] == bundle["credential_digest"]
    issuer = document["issuer"]
    assert issuer["did"] == bundle["issuer"]
    if step <= 8:  # the issuer record is proven at step 8: before that, only the claim
        assert issuer == {"did": bundle["issuer"], "name": None, "ids": [], "standing": None,
                          "current_name": None, "retired_at_index": None,
                          "compromised_since_index": None}
    else:
        assert isinstance(issuer["name"], str)
        assert issuer["standing"] in ("active", "retired", "compromised")


# What each failed check tells the user (docs/protocol.md §13.4: the step, then a
# diagnostic naming the problem).  Patterns where the text quotes log indices, which
# move whenever the vector ledger grows.
DIAGNOSTICS: dict[str, str | re.Pattern[str]] = {
    "other_origin": "the bundle is for network 'vcledger.example/another-network'; the trust "
                    "file is for 'vcledger.example/bundles'",
    "header_other_note": "embed different checkpoint notes",
    "wrong_kind": "the event is of kind issuer.register",
    "other_issuer": "the event was made by issuer ",
    "direct_other_digest": "the credential.issue event is for digest ",
    "receipt_other_batch_id": "the receipt does not match the anchored batch: batch_id differ",
    "batch_without_receipt": "the event anchors a batch but the bundle has no receipt",
    "signer_not_issuer_key": "was not a key of ",
    "issued_after_retirement": re.compile(r"retired at index \d+, before the event at \d+"),
    "batch_status_missing": "the bundle has no status proof for the anchored batch",
    "direct_record_hidden": "a directly issued credential must have a status record",
    "credential_bad_date": 'validUntil "end of 2030" is not an XML Schema date-time',
    "expected_other_issuer": "you expected issuer ",
    "second_issuer_names_other_institution": 'put on the ledger by "Evil Diplomas Ltd" '
                                             "(https://evil.example, did:key:z6Mk",
    "revocation_header_missing": "the bundle must carry exactly the headers of blocks [2, 3]",
    "block_header_outside_tree": re.compile(r"a block header claims index (\d+), outside the "
                                            r"checkpoint's tree of \1\b"),
    "block_header_is_an_event": "the leaf at index 4 is not the block header it claims to be",
    "header_does_not_hold_event": re.compile(r"block \d+ holds log indices \d+\.\.\d+, not "
                                             r"the issuing event at \d+"),
}


@pytest.mark.parametrize("name", sorted(DIAGNOSTICS))
def test_each_failed_check_says_what_failed(name: str) -> None:
    verdict = _verify_case(INVALID_CASES[name])
    assert verdict.status == "invalid"
    expected = DIAGNOSTICS[name]
    if isinstance(expected, str):
        assert expected in verdict.message, verdict.message
    else:
        assert expected.search(verdict.message), verdict.message


def test_a_checkpoint_exactly_max_age_old_is_not_stale() -> None:
    case = CASES["direct_valid"]
    limit = VECTOR_TRUST.max_age_seconds
    checkpoint_time = case["expected"]["checkpoint_time"]
    at_limit = _verify_case(case, now=checkpoint_time + limit)
    assert (at_limit.status, at_limit.checkpoint_age) == ("valid", limit)
    past = _verify_case(case, now=checkpoint_time + limit + 1)
    assert (past.status, past.checkpoint_age) == ("stale", limit + 1)


def test_a_checkpoint_of_this_second_is_zero_seconds_old() -> None:
    case = CASES["direct_valid"]
    # The clock decides which cosignatures count, so which is the checkpoint's time:
    # take the time a first run found and check again at exactly that second.
    checkpoint_time = _verify_case(case, now=case["expected"]["checkpoint_time"]).checkpoint_time
    verdict = _verify_case(case, now=checkpoint_time)
    assert verdict.status == "valid" and verdict.checkpoint_time == checkpoint_time
    assert verdict.checkpoint_age == 0


def test_without_a_clock_or_an_age_bound_the_verdict_says_what_was_not_checked() -> None:
    case = CASES["direct_valid"]  # its credential has validFrom
    no_clock = _verify_case(case, now=None)
    assert no_clock.status == "valid"
    assert no_clock.notes == (
        NO_PROOF_NOTE,
        "the credential's validity dates were not checked: no clock was given",
        "the checkpoint's age was not checked: no clock was given",
    )
    assert no_clock.checkpoint_age is None and no_clock.validity_checked_at is None
    expected = case["expected"]
    assert no_clock.message.endswith(f"; not revoked as of checkpoint {expected['tree_size']} "
                                     f"({_iso(expected['checkpoint_time'])})")
    assert no_clock.as_json()["validity"] == {
        "valid_from": _iso(case["expected"]["valid_from"]), "valid_until": None,
        "checked_at": None}
    unbounded = _verify_case(case, max_age=None)
    assert unbounded.notes == (NO_PROOF_NOTE, "the checkpoint's age was not bounded: a "
                               "revocation after it would not show")
    assert unbounded.max_age is None


def test_counted_signatures_are_the_cosignatures_and_the_event_signature() -> None:
    # 4 trusted cosignatures (none from the future an hour after the checkpoint) + 1 event.
    assert _verify_case(CASES["direct_valid"]).signatures_verified == 5
    assert _verify_case(INVALID_CASES["direct_other_digest"]).signatures_verified == 5
    assert _verify_case(INVALID_CASES["too_few_cosignatures"]).signatures_verified == 0


def test_without_trust_every_other_check_uses_the_file_and_the_clock() -> None:
    """verify_bundle_without_trust (vcledger bundle without a trust file) checks the
    credential file and its dates like verify_bundle, and says the cosignatures were not."""
    case = CASES["direct_valid"]
    verdict = verify_bundle_without_trust(json.dumps(case["bundle"]), VECTOR_ORIGIN,
                                          credential_json=case["credential_json"].encode(),
                                          now=case["verify"]["now"])
    assert verdict.status == "valid", verdict.message
    assert verdict.credential_checked and not verdict.checkpoint_signatures_checked
    assert verdict.notes == (NO_PROOF_NOTE,)
    assert (verdict.max_age, verdict.checkpoint_age, verdict.checkpoint_time) == (None, None, None)
    assert verdict.message.endswith(
        f"as of checkpoint {case['expected']['tree_size']} (its cosignatures were not checked)")
    assert verdict.as_json()["checkpoint"]["signatures_checked"] is False
    expired = CASES["direct_expired"]
    verdict = verify_bundle_without_trust(json.dumps(expired["bundle"]), VECTOR_ORIGIN,
                                          credential_json=expired["credential_json"].encode(),
                                          now=expired["verify"]["now"])
    assert verdict.status == "expired", verdict.message
    other_file = verify_bundle_without_trust(json.dumps(case["bundle"]), VECTOR_ORIGIN,
                                             credential_json=expired["credential_json"].encode())
    assert (other_file.status, other_file.step) == ("invalid", 7)
    assert other_file.checkpoint_signatures_checked is False
    digest_only = verify_bundle_without_trust(json.dumps(case["bundle"]), VECTOR_ORIGIN)
    assert digest_only.status == "valid" and not digest_only.credential_checked
    assert digest_only.notes[0].startswith("the credential file was not checked")


def test_format_time_is_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert format_time(0) == "1970-01-01T00:00:00Z"
        assert format_time(1_780_000_000) == "2026-05-28T20:26:40Z"
    finally:
        monkeypatch.undo()
        time.tzset()


# -- client/verify.py on an honest ledger (node.Ledger in process) ---------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    built = InProcessLedger(tmp_path)
    built.commit(built.sign(IssuerRegister(VERIFY_ISSUER.did, "Example University",
                                           VERIFY_ISSUER.public_key), VERIFY_GOVERNANCE))
    yield built
    built.close()


def _check(ledger: InProcessLedger, digest: Hash, **kwargs: Any) -> Any:
    return verify_bundle(ledger.bundle(VERIFY_ISSUER.did, digest, kwargs.pop("receipt", None)),
                         ledger.trust(), digest_only=True, now=ledger.time_ms // 1000 + 1,
                         **kwargs)


def test_the_earliest_of_two_revocations_is_the_one_reported(ledger: InProcessLedger) -> None:
    """A compromise statement voiding the event, then a later revocation of the credential
    itself: the credential stopped being valid at the compromise, whichever is listed first."""
    digest = digest_of("revoked twice")
    issued = ledger.commit(ledger.sign(CredentialIssue(VERIFY_ISSUER.did, digest),
                                       VERIFY_ISSUER))
    compromise = ledger.commit(ledger.sign(
        IssuerCompromise(VERIFY_ISSUER.did, issued, "key stolen"), VERIFY_GOVERNANCE))
    revoke = ledger.commit(ledger.sign(
        CredentialRevoke(VERIFY_ISSUER.did, digest, RevocationReason.FRAUD), VERIFY_GOVERNANCE))
    assert issued < compromise < revoke
    verdict = _check(ledger, digest)
    assert verdict.status == "revoked", verdict.message
    assert verdict.revocation is not None
    assert (verdict.revocation.scope, verdict.revocation.index) == ("issuer", compromise)
    assert verdict.message.startswith("revoked on ")
    assert " by governance because the issuer's key was compromised (key_compromise, log " \
           f"index {compromise}); it was put on the ledger with the key of " in verdict.message


def test_a_member_revoked_before_its_batch_reports_its_own_revocation(
        ledger: InProcessLedger) -> None:
    from tests.client.test_verify import _receipts

    members = [digest_of(f"member {i}") for i in range(3)]
    tree = build_batch(members)
    anchor = ledger.sign(BatchAnchor(VERIFY_ISSUER.did, "b", tree.root, tree.size), VERIFY_ISSUER)
    ledger.commit(anchor)
    receipt = _receipts(ledger, members, "b", anchor)[1]
    member_revoke = ledger.commit(ledger.sign(CredentialRevoke(
        VERIFY_ISSUER.did, members[1], RevocationReason.FRAUD, receipt.membership()),
        VERIFY_ISSUER))
    batch_revoke = ledger.commit(ledger.sign(BatchRevoke(
        VERIFY_ISSUER.did, "b", RevocationReason.ISSUED_IN_ERROR), VERIFY_ISSUER))
    verdict = _check(ledger, members[1], receipt=receipt)
    assert verdict.revocation is not None and member_revoke < batch_revoke
    assert (verdict.revocation.scope, verdict.revocation.index) == ("credential", member_revoke)
    assert verdict.message.startswith("revoked on ")
    assert f" by issuer (fraud, log index {member_revoke}); " in verdict.message


def test_a_retired_issuers_earlier_credential_says_so(ledger: InProcessLedger) -> None:
    digest = digest_of("kept")
    ledger.commit(ledger.sign(CredentialIssue(VERIFY_ISSUER.did, digest), VERIFY_ISSUER))
    retired = ledger.commit(ledger.sign(IssuerRetire(VERIFY_ISSUER.did), VERIFY_GOVERNANCE))
    verdict = _check(ledger, digest)
    assert verdict.status == "valid", verdict.message
    assert verdict.notes[1:] == (f"the issuer retired at log index {retired}; credentials it "
                                 "issued before keep their verdict",)
    assert verdict.as_json()["issuer"]["standing"] == "retired"
    assert verdict.as_json()["issuer"]["retired_at_index"] == retired


def test_a_compromise_after_retirement_dates_from_the_statement(ledger: InProcessLedger) -> None:
    """Retired first, declared compromised later (without a reason): the issuer's standing
    is the compromise's, and the retirement keeps its own index."""
    digest = digest_of("before both")
    ledger.commit(ledger.sign(CredentialIssue(VERIFY_ISSUER.did, digest), VERIFY_ISSUER))
    retired = ledger.commit(ledger.sign(IssuerRetire(VERIFY_ISSUER.did), VERIFY_GOVERNANCE))
    statement = ledger.commit(ledger.sign(IssuerCompromise(VERIFY_ISSUER.did, retired, ""),
                                          VERIFY_GOVERNANCE))
    verdict = _check(ledger, digest)
    assert verdict.status == "valid", verdict.message
    assert verdict.issuer is not None and verdict.issuer.standing == "compromised"
    # The retirement keeps its own index; the compromise is named by its statement.
    assert verdict.issuer.retired_at_index == retired
    assert verdict.issuer.compromised_since_index == retired
    assert verdict.notes[1:] == (
        f"governance declared this issuer's key compromised from log index {retired} (at "
        f"index {statement}: no reason given); credentials issued before index {retired} keep "
        "their verdict",)


def test_a_credential_with_only_an_end_date_shows_it_in_json(ledger: InProcessLedger) -> None:
    document = json.dumps({"issuer": VERIFY_ISSUER.did, "validUntil": "2099-01-01T00:00:00Z",
                           "credentialSubject": {"id": "did:example:alice"}}).encode()
    digest = credential_digest(document)
    ledger.commit(ledger.sign(CredentialIssue(VERIFY_ISSUER.did, digest), VERIFY_ISSUER))
    now = ledger.time_ms // 1000 + 1
    verdict = verify_bundle(ledger.bundle(VERIFY_ISSUER.did, digest), ledger.trust(),
                            credential_json=document, now=now)
    assert verdict.status == "valid", verdict.message
    assert verdict.as_json()["validity"] == {
        "valid_from": None, "valid_until": "2099-01-01T00:00:00Z", "checked_at": _iso(now)}


# -- client/verify.py against a faulty ledger -------------------------------------------------


class FaultyLedger:
    """Two issuers, two credentials of UNI in block 2; then ``tamper`` rewrites a status
    record as no rule would and commits it under the header of an empty block."""

    def __init__(self) -> None:
        vectorgen = self.vectorgen = bundle_vectorgen()
        self.chain = vectorgen._Chain()
        self.uni, self.evil = vectorgen.ISSUER.did, vectorgen.OTHER_ISSUER.did
        self.chain.block([
            (IssuerRegister(self.uni, "Example University", vectorgen.ISSUER.public_key),
             vectorgen.GOVERNANCE),
            (IssuerRegister(self.evil, "Evil", vectorgen.OTHER_ISSUER.public_key),
             vectorgen.GOVERNANCE),
        ])
        self.first, self.second = digest_of("first"), digest_of("second")
        self.first_index, self.second_index = self.chain.block([
            (CredentialIssue(self.uni, self.first), vectorgen.ISSUER),
            (CredentialIssue(self.uni, self.second), vectorgen.ISSUER),
        ])

    def tamper(self, key: bytes, record: Any) -> None:
        self.chain.records[key] = record
        self.chain.block([])

    def record(self, key: bytes) -> Any:
        return self.chain.records[key]

    def verdict(self, digest: Hash, index: int, heights: list[int]) -> Any:
        vectorgen, chain = self.vectorgen, self.chain
        note = chain.checkpoint_note()
        size = len(chain.leaves)
        bundle = {
            "format": "vcledger-bundle/v2",
            "origin": vectorgen.ORIGIN,
            "issuer": self.uni,
            "credential_digest": digest.hex(),
            "event": vectorgen._b64(chain.leaves[index]),
            "event_proof": chain.tlog_proof(index, note),
            "header": vectorgen._b64(chain.leaves[size - 1]),
            "header_proof": chain.tlog_proof(size - 1, note),
            "receipt": None,
            "status": {
                "issuer": chain.status_entry(issuer_status_key(self.uni)),
                "credential": chain.status_entry(credential_status_key(self.uni, digest)),
                "batch": None,
            },
            "block_headers": [chain.included_header(h) for h in heights],
        }
        return verify_bundle(json.dumps(bundle), VECTOR_TRUST, digest_only=True)


def test_faulty_ledger_baseline_is_valid() -> None:
    faulty = FaultyLedger()
    faulty.chain.block([])
    verdict = faulty.verdict(faulty.first, faulty.first_index, [2])
    assert verdict.status == "valid", verdict.message


@pytest.mark.parametrize("kind", ["another issuer's record", "a credential record"])
def test_the_issuer_key_must_hold_that_issuers_record(kind: str) -> None:
    faulty = FaultyLedger()
    key = issuer_status_key(faulty.uni)
    record = faulty.record(key)
    assert isinstance(record, IssuerRecord)
    forged = (dataclasses.replace(record, issuer=faulty.evil) if kind.startswith("another")
              else CredentialRecord(Position(faulty.first_index, 2), None, None))
    faulty.tamper(key, forged)
    verdict = faulty.verdict(faulty.first, faulty.first_index, [2])
    assert (verdict.status, verdict.step) == ("invalid", 8), verdict.message
    assert "does not hold its record" in verdict.message


def test_a_direct_issue_must_be_recorded_at_its_own_index() -> None:
    """The status map says the digest was issued by the other event of the same block."""
    faulty = FaultyLedger()
    key = credential_status_key(faulty.uni, faulty.first)
    faulty.tamper(key, CredentialRecord(Position(faulty.second_index, 2), None, None))
    verdict = faulty.verdict(faulty.first, faulty.first_index, [2])
    assert (verdict.status, verdict.step) == ("invalid", 10), verdict.message
    assert f"as issued at index {faulty.first_index}" in verdict.message


def test_a_revocation_cannot_sit_at_a_block_headers_own_index() -> None:
    faulty = FaultyLedger()
    key = credential_status_key(faulty.uni, faulty.first)
    header_index = faulty.chain.header_index[2]
    record = faulty.record(key)
    faulty.tamper(key, dataclasses.replace(record, revoked=Revocation(
        Position(header_index, 2), RevocationReason.FRAUD)))
    verdict = faulty.verdict(faulty.first, faulty.first_index, [2])
    assert (verdict.status, verdict.step) == ("invalid", 12), verdict.message
    assert f"not the revocation at {header_index}" in verdict.message


# == node/rules.py ============================================================================


@pytest.fixture
def rules_ledger() -> Ledger:
    built = Ledger()
    built.submit(IssuerRegister(ISSUER.did, "Example University", ISSUER.public_key), GOVERNANCE)
    return built


def _rule(excinfo: pytest.ExceptionInfo[RuleViolation]) -> str:
    return excinfo.value.code


def test_mempool_admission_applies_the_rules_and_changes_nothing(rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    before = dict(ledger.records)

    def admit(event: Any, **kwargs: Any) -> None:
        admit_event(CONTEXT, ledger, event, next_index=ledger.size, next_height=ledger.height + 1,
                    now_ms=kwargs.pop("now_ms", BLOCK_TIME_MS), **kwargs)

    admit(ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("admitted")), ISSUER))
    admit(ledger.sign(IssuerRegister(GOVERNANCE.did, "Another", GOVERNANCE.public_key),
                      GOVERNANCE))
    assert ledger.records == before
    foreign = ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("foreign")), ISSUER,
                          origin="vcledger.example/another-network")
    with pytest.raises(RuleViolation) as caught:
        admit(foreign)
    assert _rule(caught) == "bad_signature"
    admit(foreign, signature_checked=True)  # the caller vouches (a signature worker did it)
    with pytest.raises(RuleViolation) as caught:
        admit(ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("early")), ISSUER),
              now_ms=CREATED * 1000 - CONTEXT.max_clock_skew_ms - 1)
    assert _rule(caught) == "created_in_future"
    with pytest.raises(RuleViolation) as caught:
        admit(ledger.sign(CredentialIssue(GOVERNANCE.did, fixed_digest("unknown")), GOVERNANCE))
    assert _rule(caught) == "unknown_issuer"


def test_apply_event_verifies_the_signature_unless_told_otherwise(rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    foreign = ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("foreign")), ISSUER,
                          origin="vcledger.example/another-network")
    state = BlockState(ledger)
    with pytest.raises(RuleViolation) as caught:
        apply_event(CONTEXT, state, foreign, Position(ledger.size, ledger.height + 1),
                    BLOCK_TIME_MS)
    assert _rule(caught) == "bad_signature" and state.changes == {}
    executed = execute_events(CONTEXT, ledger, [foreign], first_index=ledger.size,
                              height=ledger.height + 1, block_time_ms=BLOCK_TIME_MS,
                              drop_invalid=True, signatures_checked={foreign.hash})
    assert executed.accepted == [foreign] and executed.rejected == []


def test_an_event_created_exactly_at_the_skew_limit_is_accepted(rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    event = ledger.sign(CredentialIssue(ISSUER.did, fixed_digest("edge")), ISSUER)
    limit_ms = event.created * 1000 - CONTEXT.max_clock_skew_ms

    def run(block_time_ms: int) -> Any:
        return execute_events(CONTEXT, ledger, [event], first_index=ledger.size,
                              height=ledger.height + 1, block_time_ms=block_time_ms,
                              drop_invalid=True)

    assert run(limit_ms).accepted == [event]
    (_, violation), = run(limit_ms - 1).rejected
    assert violation.code == "created_in_future"


def test_a_second_compromise_statement_must_start_earlier(rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    ledger.submit(CredentialIssue(ISSUER.did, fixed_digest("one")), ISSUER)
    since = ledger.size - 2
    ledger.submit(IssuerCompromise(ISSUER.did, since, "first"), GOVERNANCE)
    ledger.rejects(IssuerCompromise(ISSUER.did, since, "same start"), GOVERNANCE,
                   "already_compromised")
    ledger.submit(IssuerCompromise(ISSUER.did, since - 1, "earlier"), GOVERNANCE)


def test_a_compromise_keeps_an_earlier_retirement(rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    ledger.submit(IssuerRetire(ISSUER.did), ISSUER)
    retired = Position(ledger.size - 2, ledger.height)
    ledger.submit(IssuerCompromise(ISSUER.did, 1, "found later"), GOVERNANCE)
    record = ledger.record(issuer_status_key(ISSUER.did))
    assert isinstance(record, IssuerRecord)
    assert record.retired == retired
    assert record.compromises[0].position == Position(ledger.size - 2, ledger.height)


def test_a_rotated_in_key_is_valid_from_the_next_index(rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    new_key = ISSUER_NEXT
    ledger.submit(IssuerRotate(ISSUER.did, new_key.public_key), ISSUER)
    rotation = ledger.size - 2
    record = ledger.record(issuer_status_key(ISSUER.did))
    assert isinstance(record, IssuerRecord)
    old, new = record.keys
    assert (old.valid_until, new.valid_from, new.valid_until) == (rotation + 1, rotation + 1, None)
    assert not record.key_valid_at(new_key.public_key, rotation)
    assert record.key_valid_at(new_key.public_key, rotation + 1)


def test_revoking_a_batch_member_keeps_its_direct_issue(rules_ledger: Ledger) -> None:
    """A digest issued on its own and also anchored in a batch, then revoked through the
    batch: its record keeps the direct issue, so its direct bundle still verifies (revoked)."""
    ledger = rules_ledger
    digest = BATCH_DIGESTS[2]
    ledger.submit(CredentialIssue(ISSUER.did, digest), ISSUER)
    issued = Position(ledger.size - 2, ledger.height)
    ledger.submit(BatchAnchor(ISSUER.did, "b", BATCH.root, BATCH.size), ISSUER)
    ledger.submit(CredentialRevoke(ISSUER.did, digest, RevocationReason.FRAUD,
                                   BatchMembership("b", 2, BATCH.receipt(2).audit_path)), ISSUER)
    record = ledger.record(credential_status_key(ISSUER.did, digest))
    assert isinstance(record, CredentialRecord)
    assert record.issued == issued and record.batch == ("b", 2)
    assert record.revoked is not None


def test_a_member_index_equal_to_the_batch_size_is_not_in_the_batch(rules_ledger: Ledger
                                                                    ) -> None:
    ledger = rules_ledger
    ledger.submit(BatchAnchor(ISSUER.did, "b", BATCH.root, BATCH.size), ISSUER)
    path = BATCH.receipt(BATCH.size - 1).audit_path
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[-1], RevocationReason.FRAUD,
                                    BatchMembership("b", BATCH.size, path)), ISSUER,
                   "not_in_batch")


def test_a_malformed_batch_receipt_is_the_rule_violation_not_in_batch(
        rules_ledger: Ledger) -> None:
    ledger = rules_ledger
    ledger.submit(BatchAnchor(ISSUER.did, "b", BATCH.root, BATCH.size), ISSUER)
    ledger.rejects(CredentialRevoke(ISSUER.did, BATCH_DIGESTS[1], RevocationReason.FRAUD,
                                    BatchMembership("b", 1, ())), ISSUER, "not_in_batch")


# == client/smt.py ============================================================================


def test_proof_hex_is_a_bounded_string() -> None:
    for value in (None, b"00", 0):
        with pytest.raises(InvalidEncoding, match="expected a hex string"):
            SmtProof.from_hex(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidEncoding, match="over twice"):
        SmtProof.from_hex("00" * (MAX_PROOF_SIZE + 1))


def test_proofs_made_in_code_are_checked_for_shape() -> None:
    key = hashlib.sha256(b"key").digest()
    with pytest.raises(InvalidEncoding, match="depth 257 exceeds 256"):
        SmtProof((EMPTY,) * 257, None)
    with pytest.raises(InvalidEncoding, match="sibling at depth 1"):
        SmtProof((EMPTY, Hash(b"short")), None)
    with pytest.raises(InvalidEncoding, match="terminal must be None or an SmtLeaf"):
        SmtProof((), (key, EMPTY))  # type: ignore[arg-type]
    with pytest.raises(InvalidEncoding, match="leaf key"):
        SmtProof((), SmtLeaf(key[:31], EMPTY))
    with pytest.raises(InvalidEncoding, match="leaf value hash"):
        SmtProof((), SmtLeaf(key, Hash(b"short")))


def test_a_status_value_of_exactly_the_limit_is_accepted() -> None:
    key = hashlib.sha256(b"key").digest()
    for size, accepted in ((MAX_VALUE_SIZE, True), (MAX_VALUE_SIZE + 1, False)):
        value = b"v" * size
        # A map with one entry: its root is that entry's leaf.
        proof = SmtProof((), SmtLeaf(key, value_hash(value)))
        root = leaf_hash(key, value)
        if accepted:
            verify_membership(root, key, value, proof)
        else:
            with pytest.raises(InvalidProof, match="the limit is"):
                verify_membership(root, key, value, proof)


# == client/batch.py ==========================================================================


def test_a_batch_of_exactly_the_maximum_size_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A million digests take seconds to hash: the bound is checked on a smaller maximum.
    monkeypatch.setattr(batch_module, "MAX_BATCH_SIZE", 4)
    digests = [fixed_digest(f"max {i}") for i in range(5)]
    assert build_batch(digests[:4]).size == 4
    with pytest.raises(UsageError, match="at most 4"):
        build_batch(digests)


def test_a_receipt_may_name_a_batch_of_exactly_the_maximum_size() -> None:
    path = tuple(Hash(bytes(32)) for _ in range(20))  # log2(1,000,000) rounded up
    root_from_receipt(fixed_digest("m"), 0, MAX_BATCH_SIZE, path)
    with pytest.raises(InvalidProof, match=r"outside 1\.\."):
        root_from_receipt(fixed_digest("m"), 0, MAX_BATCH_SIZE + 1, path)


# == client/checkpoint.py =====================================================================


def _cosigned_note(signers: int, *, future: int = 0) -> tuple[str, list[str], int]:
    vectorgen = bundle_vectorgen()
    body = f"{vectorgen.ORIGIN}\n5\n{'A' * 43}=\n"
    now = 1_780_000_000
    lines = []
    keys = []
    for i, (name, key) in enumerate(vectorgen.VALIDATORS):
        keys.append(verifier_key(name, key.public_key, sig_type=SIG_COSIGNATURE_V1))
        if i < signers:
            lines.append(cosign(body, name, key.seed, now - 10))
        elif i < signers + future:
            lines.append(cosign(body, name, key.seed, now + 3600))
    return body + "\n" + "".join(lines), keys, now


def test_cosigners_carry_the_key_ids_of_the_trusted_keys() -> None:
    note_text, keys, now = _cosigned_note(3)
    verified = verify_checkpoint(note_text, VECTOR_ORIGIN, keys, 3, now=now)
    by_name = {key.split("+")[0]: key.split("+")[1] for key in keys}
    assert [(c.name, c.key_id.hex()) for c in verified.cosigners] == [
        (c.name, by_name[c.name]) for c in verified.cosigners]
    assert len(verified.cosigners) == 3


def test_the_clock_is_blamed_only_for_cosignatures_from_the_future() -> None:
    note_text, keys, now = _cosigned_note(2)
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(note_text, VECTOR_ORIGIN, keys, 3, now=now)
    assert caught.value.diagnostics().endswith("the trust policy requires 3")
    note_text, keys, now = _cosigned_note(2, future=1)
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(note_text, VECTOR_ORIGIN, keys, 3, now=now)
    assert "(1 more dated over 60 s in the future were not counted; is this computer's " \
           "clock right?)" in caught.value.diagnostics()

