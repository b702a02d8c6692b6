"""What a verdict promises (issues 10 and 11), against the node's own ledger code.

Each test replays one attack or one situation a relying party meets and checks the
verdict a person reads: who issued it (by name and identifier), whether the file
presented is the credential, its own validity dates, when the ledger recorded it,
whether a stolen key voided it, and whether the checkpoint is recent enough.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.credentials import CredentialError, canonical_json, check_ijson, parse_credential
from client.errors import UsageError
from client.events import (
    CredentialIssue,
    CredentialRevoke,
    IssuerCompromise,
    IssuerRegister,
    IssuerRotate,
    IssuerUpdate,
    RevocationReason,
)
from client.hashes import sha256
from client.vc import add_proof
from client.verdict import Verdict
from client.verify import verify_bundle
from tests.client.test_verify import GOVERNANCE, ISSUER, InProcessLedger, key

UNI_IDS = ("did:web:uni.example", "https://uni.example/issuers/1")
EVIL = key("evil")
THIEF = key("thief")
DAY = 86400


def credential(issuer: object, **extra: Any) -> bytes:
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "ExampleDegreeCredential"],
        "issuer": issuer,
        "credentialSubject": {"id": "did:example:alice", "degree": "Doctor of Medicine"},
        **extra,
    }
    return json.dumps(document, indent=2).encode()


def digest(data: bytes) -> Any:
    return sha256(canonical_json(parse_credential(data)))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[InProcessLedger]:
    built = InProcessLedger(tmp_path)
    built.commit(built.sign(IssuerRegister(ISSUER.did, "Example University", ISSUER.public_key,
                                           UNI_IDS), GOVERNANCE))
    built.commit(built.sign(IssuerRegister(EVIL.did, "Evil Academy", EVIL.public_key),
                            GOVERNANCE))
    yield built
    built.close()


def issue(ledger: InProcessLedger, data: bytes, signer: Any = ISSUER, did: str | None = None
          ) -> int:
    return ledger.commit(ledger.sign(CredentialIssue(did or signer.did, digest(data)), signer))


def check(ledger: InProcessLedger, data: bytes, did: str = ISSUER.did, **kwargs: Any
          ) -> Verdict:
    kwargs.setdefault("now", ledger.time_ms // 1000 + 1)
    return verify_bundle(ledger.bundle(did, digest(data)), ledger.trust(), credential_json=data,
                         **kwargs)


def test_the_verdict_names_the_issuer_by_name_identifier_and_date(
        ledger: InProcessLedger) -> None:
    alice = credential({"id": "https://uni.example/issuers/1", "name": "Example University"})
    issue(ledger, alice)
    verdict = check(ledger, alice)
    assert verdict.status == "valid" and verdict.exit_code == 0, verdict.message
    day = verdict.issued_time_ms
    assert day == ledger.time_ms  # the block's time, set by the proposer, not the issuer
    assert verdict.message.startswith(
        f'valid: "Example University" (https://uni.example/issuers/1, {ISSUER.did}) issued '
        "this credential on 2026-05-28; not revoked as of checkpoint ")
    document = verdict.as_json()
    assert document["issuer"] == {"did": ISSUER.did, "name": "Example University",
                                  "ids": list(UNI_IDS), "standing": "active",
                                  "current_name": "Example University",
                                  "retired_at_index": None, "compromised_since_index": None}
    assert document["credential_checked"] is True
    assert document["embedded_proof"] == "none"
    assert verdict.notes == ("the credential carries no embedded proof: its own signature was "
                             "not checked (the ledger's record of its digest was)",)


def test_a_second_issuer_cannot_issue_a_file_that_names_another_issuer(
        ledger: InProcessLedger) -> None:
    # UNI's credential, revoked for fraud, re-issued by EVIL under its own did:key: the
    # ledger only sees a digest, so the node accepts it; the verifier must not.
    for named in ({"id": "https://uni.example/issuers/1", "name": "Example University"},
                  ISSUER.did, "did:web:uni.example"):
        forged = credential(named)
        issue(ledger, forged, signer=EVIL)
        verdict = check(ledger, forged, did=EVIL.did)
        assert (verdict.status, verdict.step, verdict.exit_code) == ("invalid", 11, 4), \
            verdict.message
        assert '"Evil Academy"' in verdict.message


def test_a_credential_without_an_issuer_is_not_tied_to_anyone(ledger: InProcessLedger) -> None:
    anonymous = credential(None)
    issue(ledger, anonymous)
    verdict = check(ledger, anonymous)
    assert (verdict.status, verdict.step) == ("invalid", 11)
    assert "names no issuer" in verdict.message


def test_a_pinned_issuer_must_be_the_one(ledger: InProcessLedger) -> None:
    own = credential(EVIL.did)
    issue(ledger, own, signer=EVIL)
    assert check(ledger, own, did=EVIL.did).status == "valid"
    pinned = check(ledger, own, did=EVIL.did, expected_issuer="https://uni.example/issuers/1")
    assert (pinned.status, pinned.step) == ("invalid", 11)
    alice = credential(ISSUER.did)
    issue(ledger, alice)
    assert check(ledger, alice, expected_issuer="did:web:uni.example").status == "valid"


def test_identifiers_are_those_valid_at_the_event(ledger: InProcessLedger) -> None:
    early = credential("https://uni.example/issuers/1")
    issue(ledger, early)
    ledger.commit(ledger.sign(IssuerUpdate(ISSUER.did, "Example University of Science",
                                           ("https://science.uni.example",)), GOVERNANCE))
    # Issued before the update: judged by the identity then, and the new name is noted.
    verdict = check(ledger, early)
    assert verdict.status == "valid", verdict.message
    assert verdict.message.startswith('valid: "Example University" (')
    assert verdict.notes[-1] == 'the issuer is now called "Example University of Science"'
    late = credential("https://uni.example/issuers/1", id="urn:late")
    issue(ledger, late)
    assert check(ledger, late).step == 11  # that identifier was withdrawn before this event
    newer = credential("https://science.uni.example")
    issue(ledger, newer)
    assert check(ledger, newer).status == "valid"


def test_a_stolen_key_is_recovered_by_governance(ledger: InProcessLedger) -> None:
    honest = credential(ISSUER.did, id="urn:honest")
    issue(ledger, honest)
    since = ledger.ledger.head.tree_size  # the thief's first event lands here
    minted = credential(ISSUER.did, id="urn:minted-by-the-thief")
    assert issue(ledger, minted) == since
    ledger.commit(ledger.sign(IssuerRotate(ISSUER.did, THIEF.public_key), ISSUER))
    after_rotation = credential(ISSUER.did, id="urn:after-rotation")
    issue(ledger, after_rotation, signer=THIEF, did=ISSUER.did)
    # Before governance acts, the thief's credentials verify: that is the attack.
    assert check(ledger, after_rotation).status == "valid"
    compromise_index = ledger.commit(ledger.sign(
        IssuerCompromise(ISSUER.did, since, "key found on a public server"), GOVERNANCE))
    for stolen in (minted, after_rotation):
        verdict = check(ledger, stolen)
        assert (verdict.status, verdict.exit_code) == ("revoked", 3), verdict.message
        assert verdict.revocation is not None
        assert (verdict.revocation.scope, verdict.revocation.reason, verdict.revocation.by,
                verdict.revocation.index) == ("issuer", "key_compromise", "governance",
                                              compromise_index)
        assert verdict.revocation.time_ms == ledger.time_ms
        assert verdict.message.startswith("revoked on 2026-05-28 by governance because the "
                                          "issuer's key was compromised (key_compromise")
    kept = check(ledger, honest)
    assert kept.status == "valid", kept.message
    assert kept.issuer is not None and kept.issuer.standing == "compromised"
    assert any("compromised from log index" in note for note in kept.notes)


def test_governance_revokes_and_the_verdict_says_so(ledger: InProcessLedger) -> None:
    alice = credential(ISSUER.did)
    issue(ledger, alice)
    ledger.commit(ledger.sign(CredentialRevoke(ISSUER.did, digest(alice),
                                               RevocationReason.FRAUD), GOVERNANCE))
    verdict = check(ledger, alice)
    assert verdict.status == "revoked" and verdict.revocation is not None
    assert verdict.revocation.by == "governance"
    assert verdict.as_json()["revocation"]["by"] == "governance"  # type: ignore[index]
    assert "by governance" in verdict.message


@pytest.mark.parametrize(("dates", "status"), [
    ({"validUntil": "2020-01-01T00:00:00Z"}, "expired"),
    ({"expirationDate": "2020-01-01T00:00:00Z", "issuanceDate": "2019-01-01T00:00:00Z"},
     "expired"),
    ({"validFrom": "2099-01-01T00:00:00Z"}, "not_yet_valid"),
    ({"validFrom": "2020-01-01T00:00:00Z", "validUntil": "2099-01-01T00:00:00Z"}, "valid"),
])
def test_the_credentials_own_dates(ledger: InProcessLedger, dates: dict[str, str],
                                   status: str) -> None:
    dated = credential(ISSUER.did, **dates)
    issue(ledger, dated)
    verdict = check(ledger, dated)
    assert verdict.status == status, verdict.message
    assert verdict.exit_code == (0 if status == "valid" else 6)


def test_at_checks_the_dates_at_another_moment(ledger: InProcessLedger) -> None:
    dated = credential(ISSUER.did, validUntil="2020-01-01T00:00:00Z")
    issue(ledger, dated)
    then = 1_500_000_000  # 2017
    assert check(ledger, dated, at=then).status == "valid"
    assert check(ledger, dated).status == "expired"


def test_a_revoked_and_expired_credential_is_revoked(ledger: InProcessLedger) -> None:
    dated = credential(ISSUER.did, validUntil="2020-01-01T00:00:00Z")
    issue(ledger, dated)
    ledger.commit(ledger.sign(CredentialRevoke(ISSUER.did, digest(dated),
                                               RevocationReason.WITHDRAWN), ISSUER))
    assert check(ledger, dated).status == "revoked"


def test_without_the_credential_file_the_verdict_says_so(ledger: InProcessLedger) -> None:
    alice = credential(ISSUER.did)
    issue(ledger, alice)
    bundle = ledger.bundle(ISSUER.did, digest(alice))
    with pytest.raises(UsageError):
        verify_bundle(bundle, ledger.trust())
    with pytest.raises(UsageError):
        verify_bundle(bundle, ledger.trust(), credential_json=alice, digest_only=True)
    checked = verify_bundle(bundle, ledger.trust(), credential_json=alice)
    unchecked = verify_bundle(bundle, ledger.trust(), digest_only=True)
    assert unchecked.status == "valid"
    assert unchecked.as_json()["credential_checked"] is False
    assert checked.as_json()["credential_checked"] is True
    assert any("credential file was not checked" in note for note in unchecked.notes)
    assert unchecked.lines() != checked.lines()


def test_numbers_that_collapse_in_a_double_are_refused(ledger: InProcessLedger) -> None:
    genuine = credential(ISSUER.did, nationalId=12345678901234567890)
    with pytest.raises(CredentialError, match="IEEE 754"):
        check_ijson(parse_credential(genuine))
    # A hand-made bundle for the genuine digest cannot be matched by the copy: both
    # files are refused before any digest is compared.
    safe = credential(ISSUER.did, nationalId="12345678901234567890")
    issue(ledger, safe)
    copy = safe.replace(b'"12345678901234567890"', b"12345678901234568000")
    verdict = verify_bundle(ledger.bundle(ISSUER.did, digest(safe)), ledger.trust(),
                            credential_json=copy)
    assert (verdict.status, verdict.step) == ("invalid", 7), verdict.message
    assert "IEEE 754" in verdict.message


def test_an_old_checkpoint_is_stale(ledger: InProcessLedger) -> None:
    alice = credential(ISSUER.did)
    issue(ledger, alice)
    bundle = ledger.bundle(ISSUER.did, digest(alice))
    cosigned = ledger.time_ms // 1000
    fresh = verify_bundle(bundle, ledger.trust(), credential_json=alice, now=cosigned + DAY)
    assert fresh.status == "valid" and fresh.checkpoint_age == DAY
    old = verify_bundle(bundle, ledger.trust(), credential_json=alice, now=cosigned + 9 * DAY)
    assert (old.status, old.exit_code) == ("stale", 5)
    assert old.message.startswith(f"stale: checkpoint {old.tree_size} is 9 days old; this "
                                  "network allows 7 days")
    assert "not revoked" in old.message  # it still says what the bundle says
    short = verify_bundle(bundle, ledger.trust(), credential_json=alice, now=cosigned + 312,
                          max_age=300)
    assert short.status == "stale"
    # Just past the bound, the age still reads as more than the bound.
    assert "is 5 minutes 12 seconds old; this check allows 5 minutes" in short.message
    unbounded = verify_bundle(bundle, ledger.trust(), credential_json=alice,
                              now=cosigned + 900 * DAY, max_age=None)
    assert unbounded.status == "valid"
    assert any("not bounded" in note for note in unbounded.notes)
    assert unbounded.as_json()["max_age_seconds"] is None


def test_a_revoked_credential_stays_revoked_however_old_the_checkpoint(
        ledger: InProcessLedger) -> None:
    alice = credential(ISSUER.did)
    issue(ledger, alice)
    ledger.commit(ledger.sign(CredentialRevoke(ISSUER.did, digest(alice),
                                               RevocationReason.FRAUD), ISSUER))
    verdict = check(ledger, alice, now=ledger.time_ms // 1000 + 90 * DAY)
    assert verdict.status == "revoked"


def test_a_second_compromise_statement_keeps_the_first_ones_dates(
        ledger: InProcessLedger) -> None:
    early = credential(ISSUER.did, id="urn:early")
    early_index = issue(ledger, early)
    late = credential(ISSUER.did, id="urn:late")
    late_index = issue(ledger, late)
    first = ledger.commit(ledger.sign(IssuerCompromise(ISSUER.did, late_index, ""),
                                      GOVERNANCE))
    first_time = ledger.time_ms
    assert check(ledger, early).status == "valid"
    # Governance learns the theft began earlier: only the credentials between the two
    # starts are voided by the new statement, and from its date.
    second = ledger.commit(ledger.sign(IssuerCompromise(ISSUER.did, early_index, "earlier"),
                                       GOVERNANCE))
    for data, index, time_ms in ((late, first, first_time), (early, second, ledger.time_ms)):
        verdict = check(ledger, data)
        assert verdict.status == "revoked" and verdict.revocation is not None
        assert (verdict.revocation.index, verdict.revocation.time_ms) == (index, time_ms)
        assert "it was put on the ledger with the key of" in verdict.message
    assert first_time < ledger.time_ms


# -- the credential's own signature: embedded eddsa-jcs-2022 proofs (issue 12) ---------------


def signed(data: bytes, key: Any, created: str = "2026-05-28T00:00:00Z") -> bytes:
    return json.dumps(add_proof(json.loads(data), key, created=created), indent=2).encode()


def test_an_embedded_proof_by_the_issuers_key_is_verified(ledger: InProcessLedger) -> None:
    alice = signed(credential({"id": "https://uni.example/issuers/1"}), ISSUER)
    issue(ledger, alice)
    verdict = check(ledger, alice)
    assert verdict.status == "valid", verdict.message
    assert verdict.as_json()["embedded_proof"] == "verified"
    assert verdict.notes == ("the credential's own eddsa-jcs-2022 signature was verified (the "
                             "issuer's key at the event)",)


def test_a_broken_or_foreign_embedded_proof_is_invalid(ledger: InProcessLedger) -> None:
    good = json.loads(signed(credential(ISSUER.did, id="urn:broken"), ISSUER))
    good["proof"]["proofValue"] = good["proof"]["proofValue"][:-2] + "11"
    broken = json.dumps(good).encode()
    foreign = signed(credential(ISSUER.did, id="urn:foreign"), EVIL)
    for data in (broken, foreign):
        issue(ledger, data)
        verdict = check(ledger, data)
        assert (verdict.status, verdict.step) == ("invalid", 11), verdict.message
        assert "embedded proof" in verdict.message


def test_an_embedded_proof_by_a_rotated_out_key_is_invalid(ledger: InProcessLedger) -> None:
    before = signed(credential(ISSUER.did, id="urn:before"), ISSUER)
    issue(ledger, before)
    ledger.commit(ledger.sign(IssuerRotate(ISSUER.did, THIEF.public_key), ISSUER))
    # Signed with the old key but put on the ledger after the rotation: not its key then.
    after = signed(credential(ISSUER.did, id="urn:after"), ISSUER)
    issue(ledger, after, signer=THIEF, did=ISSUER.did)
    assert check(ledger, before).as_json()["embedded_proof"] == "verified"
    verdict = check(ledger, after)
    assert (verdict.status, verdict.step) == ("invalid", 11), verdict.message
    assert "the issuer's original key (the one its did:key names) was rotated out at log " \
        "index" in verdict.message


def test_other_proof_types_are_named_not_passed(ledger: InProcessLedger) -> None:
    other = credential(ISSUER.did, proof={"type": "Ed25519Signature2020", "proofValue": "z1"})
    issue(ledger, other)
    verdict = check(ledger, other)
    assert verdict.status == "valid"
    assert verdict.as_json()["embedded_proof"] == "not_checked"
    assert ("the credential's embedded proof of type Ed25519Signature2020 was not checked: only "
            "eddsa-jcs-2022 Data Integrity proofs are") in verdict.notes
