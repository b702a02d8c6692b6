"""Offline bundle verification against the cost of its signatures alone.

Verifying a bundle checks Ed25519 signatures (every trusted cosignature on
the checkpoint, and the issuing event's) and does everything else besides:
strict JSON and encoding checks, two RFC 9162 inclusion proofs, a batch
receipt, three status-map proofs.  The baseline is what the signatures alone
cost at the machine's limit, libsodium on one core (benchmarks/signatures.py),
measured in the same run and interleaved with ours: a bundle that checks
``s`` signatures cannot verify faster than ``libsodium 1-core rate / s``.
Target: at least 0.5x of that bound, i.e. everything but the signatures
costs at most as much as they do.

The bundles are real: node.Ledger runs in process over a temporary LevelDB
(one block of direct issues and one anchored batch), every validator
cosigns, and each timed verification starts from the bundle's JSON text
(``verify_bundle(text, trust)``), half direct credentials, half batched.
Two networks: one validator (2 signatures per bundle) and four validators
with threshold 3, all four cosigning (5 signatures per bundle).

Every timed pass verifies bundles no earlier pass has seen, so the client's
parse caches hold only what a verifier of many credentials of one network
would really share between them: the trust file, the cosigned checkpoint
(both tlog proofs of every bundle embed the same note), the header leaf and
its proof, the issuer's status record and proof, the issuing block's header,
and for batched credentials the ``batch.anchor`` event, its audit path and
the batch's status record and proof.  Per bundle, and never seen before:
the credential digest, the ``credential.issue`` event and its audit path
(direct) or the receipt (batched), and the credential's status proof.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks import GOAL_BUNDLES_1, GOAL_BUNDLES_4, Row, best_of_interleaved
from benchmarks.signatures import signed_triples, verify_with_libsodium
from client.batch import build_batch
from client.bundle import (
    BundleStatus,
    CredentialReceipt,
    IncludedHeader,
    StatusEntry,
    build_bundle,
    dated_heights,
    format_bundle,
)
from client.events import BatchAnchor, CredentialIssue, IssuerRegister, sign_event
from client.hashes import Hash
from client.keys import KeyPair
from client.note import SIG_COSIGNATURE_V1, verifier_key
from client.status import (
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
)
from client.trust import Trust
from client.verdict import Verdict
from client.verify import verify_bundle
from node.config import Genesis
from node.cosignatures import Checkpoints
from node.ledger import Ledger
from node.store import Store

NAME = "verify_bundles"
TARGET = 0.5
ORIGIN = "vcledger.example/bench"
T0 = 1_780_000_000
CHECKED_AT = T0 + 3600
"""The verifier's clock, an hour after the checkpoint: every bundle is "valid".  The
machine's clock judges the bench's fixed checkpoint (2026-05-28) stale, and a stale
verdict is not the verification the target is about."""


def _key(label: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(f"bench key {label}".encode()).digest())


def _bundles(directory: Path, validators: int, count: int) -> tuple[list[str], Trust]:
    """``count`` distinct bundle texts (half direct, half batched) and the trust file."""
    named = [(f"{ORIGIN}/v{i}", _key(f"validator {i}")) for i in range(validators)]
    governance, issuer = _key("governance"), _key("issuer")
    genesis = Genesis.model_validate({
        "origin": ORIGIN, "genesis_time": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "validators": [{"name": n, "verifier_key": verifier_key(
            n, k.public_key, sig_type=SIG_COSIGNATURE_V1)} for n, k in named],
        "governance": [{"name": "governance", "did": governance.did}],
    })
    store = Store.open(directory, create=True)
    try:
        ledger = Ledger(store, genesis)
        checkpoints = Checkpoints(store, ledger, genesis)
        created = iter([T0] * (count + 10))  # all in one second: within the clock skew

        def commit(events: list[object], time_ms: int) -> int:
            block = ledger.prepare_block(events, time_ms=time_ms,  # type: ignore[arg-type]
                                         proposer=named[0][1].public_key, drop_invalid=False)
            ledger.commit(block)
            for offset, (name, key) in enumerate(named):
                checkpoints.cosign_head(name, key, time_ms // 1000 + offset)
            return block.header.first_index

        did = issuer.did
        commit([sign_event(IssuerRegister(did, "Bench University", issuer.public_key),
                           origin=ORIGIN, key=governance, created=next(created))], T0 * 1000)
        direct = [Hash(hashlib.sha256(b"direct %d" % i).digest()) for i in range(count // 2)]
        members = [Hash(hashlib.sha256(b"member %d" % i).digest()) for i in range(4096)]
        tree = build_batch(members)
        anchor = sign_event(BatchAnchor(did, "bench-batch", tree.root, tree.size),
                            origin=ORIGIN, key=issuer, created=next(created))
        first = commit([*(sign_event(CredentialIssue(did, d), origin=ORIGIN, key=issuer,
                                     created=next(created)) for d in direct), anchor],
                       T0 * 1000 + 1000)
        anchor_index = first + len(direct)
        size = ledger.head.tree_size
        note = checkpoints.note(size)
        assert note is not None
        header_path = ledger.inclusion_proof(size - 1, size)
        issuer_proof = ledger.status_proof(issuer_status_key(did), size)
        batch_proof = ledger.status_proof(batch_status_key(did, "bench-batch"), size)
        anchor_path = ledger.inclusion_proof(anchor_index, size)
        texts = []
        for i in range(count):
            if i % 2 == 0:
                digest, index, receipt = direct[i // 2], first + i // 2, None
                path = ledger.inclusion_proof(index, size)
            else:
                position = (i * 7919) % len(members)
                digest, index, path = members[position], anchor_index, anchor_path
                r = tree.receipt(position)
                receipt = CredentialReceipt(ORIGIN, did, "bench-batch", r.batch_root,
                                            r.batch_size, r.index, digest, r.audit_path,
                                            anchor.hash)
            credential = ledger.status_proof(credential_status_key(did, digest), size)
            heights = dated_heights(*(None if p is None or p.value is None
                                      else decode_record(p.value)
                                      for p in (issuer_proof, credential,
                                                None if receipt is None else batch_proof)),
                                    event_index=index)
            headers = [ledger.header(height) for height in sorted(heights)]
            bundle = build_bundle(
                origin=ORIGIN, issuer=did, credential_digest=digest, event=ledger.leaf(index),
                event_index=index, event_audit_path=path, checkpoint_note=note,
                header=issuer_proof.header.encoded, header_audit_path=header_path,
                receipt=receipt, status=BundleStatus(
                    StatusEntry(issuer_proof.value, issuer_proof.proof),
                    StatusEntry(credential.value, credential.proof),
                    None if receipt is None else StatusEntry(batch_proof.value,
                                                             batch_proof.proof)),
                block_headers=[IncludedHeader(h.encoded, h.index,
                                              tuple(ledger.inclusion_proof(h.index, size)))
                               for h in headers])
            texts.append(format_bundle(bundle))
        threshold = 3 if validators == 4 else 1
        return texts, genesis.trust().model_copy(update={"threshold": threshold})
    finally:
        store.close()


def run(quick: bool) -> list[Row]:
    # Many short interleaved runs: on a shared machine the best of them is the
    # least disturbed, for both sides alike.
    count = 40 if quick else 200
    repeats = 3 if quick else 11
    rows = []
    for validators in (1, 4):
        with tempfile.TemporaryDirectory(prefix="vcledger-bench-") as directory:
            texts, trust = _bundles(Path(directory), validators, count * repeats)
        # One slice of distinct bundles per timed pass (see the module docstring);
        # nothing is verified before its pass, so no pass finds its own bundles cached.
        passes = iter([texts[start:start + count] for start in range(0, len(texts), count)])
        verdicts: list[Verdict] = []

        def ours(passes: Iterator[list[str]] = passes, verdicts: list[Verdict] = verdicts,
                 trust: Trust = trust) -> None:
            for text in next(passes):
                verdicts.append(verify_bundle(text, trust, digest_only=True, now=CHECKED_AT))

        raw = signed_triples(count * (2 if validators == 1 else 5))
        ours_seconds, raw_seconds = best_of_interleaved(
            repeats, ours, functools.partial(verify_with_libsodium, raw))
        assert len(verdicts) == len(texts), "every bundle is verified in exactly one pass"
        assert all(v.status == "valid" for v in verdicts), next(
            v.message for v in verdicts if v.status != "valid")
        signatures = verdicts[0].signatures_verified
        assert all(v.signatures_verified == signatures for v in verdicts)
        assert len(raw) == count * signatures, "the baseline checks as many signatures as we do"
        rows.append(Row(
            benchmark=(f"verify {count} bundles offline, {validators} validator(s), "
                       f"{signatures} signatures each, distinct bundles every pass"),
            ours=ours_seconds,
            baseline_name=f"libsodium 1 process / {signatures} signatures",
            baseline=raw_seconds,
            target=TARGET,
            count=count,
            unit="bundles",
            goal=GOAL_BUNDLES_1 if validators == 1 else GOAL_BUNDLES_4,
        ))
    return rows
