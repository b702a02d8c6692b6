"""client.bundle: the receipt and bundle documents, built, formatted and parsed strictly."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.batch import build_batch, verify_receipt
from client.bundle import (
    MAX_BUNDLE_SIZE,
    Bundle,
    BundleFormatError,
    CredentialReceipt,
    ReceiptFormatError,
    build_bundle,
    bundle_json,
    format_batch_receipts,
    format_bundle,
    format_receipt,
    parse_bundle,
    parse_receipt,
    receipt_json,
)
from client.credentials import digest as credential_digest
from client.errors import LedgerError, UsageError
from client.events import BatchMembership
from client.hashes import Hash
from client.merkle import leaf_hash, root_from_inclusion_proof
from client.smt import SmtProof

ROOT = Path(__file__).resolve().parents[2]
VALID = json.loads((ROOT / "tests" / "vectors" / "bundle_valid.json").read_text())
CASES = {case["name"]: case for case in VALID["cases"]}
DIRECT = CASES["direct_valid"]["bundle"]
BATCHED = CASES["batch_valid"]["bundle"]
DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def text(document: dict[str, Any]) -> str:
    return json.dumps(document)


def mutated(document: dict[str, Any], path: str, value: Any) -> str:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return json.dumps(changed)


# -- vectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID["cases"], ids=lambda c: c["name"])
def test_vector_bundles_roundtrip(case: dict[str, Any]) -> None:
    bundle = parse_bundle(text(case["bundle"]))
    assert bundle_json(bundle) == case["bundle"]
    assert format_bundle(bundle) == json.dumps(case["bundle"], indent=2) + "\n"
    assert parse_bundle(format_bundle(bundle)) == bundle
    assert bundle.credential_digest == credential_digest(case["credential_json"].encode())


@pytest.mark.parametrize("case", [c for c in VALID["cases"] if c["receipt"]],
                         ids=lambda c: c["name"])
def test_vector_receipts(case: dict[str, Any]) -> None:
    receipt = parse_receipt(text(case["receipt"]))
    assert receipt_json(receipt) == case["receipt"]
    assert parse_receipt(format_receipt(receipt)) == receipt
    # The receipt leads from the credential's digest to the anchored root.
    verify_receipt(credential_digest(case["credential_json"].encode()), receipt.batch_receipt(),
                   receipt.batch_root, receipt.batch_size)
    assert receipt.membership() == BatchMembership(receipt.batch_id, receipt.index,
                                                   receipt.audit_path)


def test_bundle_proofs_are_standard_tlog_proofs() -> None:
    bundle = parse_bundle(text(DIRECT))
    for proof, leaf in ((bundle.event_proof, bundle.event), (bundle.header_proof, bundle.header)):
        assert DIRECT["event_proof"].startswith("c2sp.org/tlog-proof@v1\nindex ")
        checkpoint = proof.checkpoint()
        assert root_from_inclusion_proof(proof.index, checkpoint.tree_size, leaf_hash(leaf),
                                         proof.proof) == checkpoint.root
    assert bundle.header_proof.index == bundle.header_proof.checkpoint().tree_size - 1


# -- receipts --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_fast_receipt_formatting_is_byte_identical(size: int) -> None:
    digests = [Hash(hashlib.sha256(b"%d" % i).digest()) for i in range(size)]
    tree = build_batch(digests)
    anchor = Hash(hashlib.sha256(b"anchor").digest())
    origin = 'example.org/\u00e9"quoted"'  # escaping must match json.dumps
    fast = list(format_batch_receipts(origin=origin, issuer=DID, batch_id="b-1",
                                      anchor_event_hash=anchor, receipts=tree.receipts(),
                                      digests=digests))
    assert len(fast) == size
    for receipt, fast_text in fast:
        slow = format_receipt(CredentialReceipt(origin, DID, "b-1", receipt.batch_root,
                                                receipt.batch_size, receipt.index,
                                                digests[receipt.index], receipt.audit_path,
                                                anchor))
        assert fast_text == slow
        assert parse_receipt(fast_text).audit_path == receipt.audit_path


RECEIPT = CASES["batch_valid"]["receipt"]


@pytest.mark.parametrize(("path", "value", "fragment"), [
    ("format", "vcledger-receipt/v2", "format"),
    ("index", 5, "outside the batch"),
    ("index", -1, "index"),
    ("index", True, "index"),
    ("batch_size", 0, "batch_size"),
    ("batch_root", "AB" * 32, "batch_root"),
    ("credential_digest", "00" * 31, "credential_digest"),
    ("audit_path", ["00" * 32] * 21, "audit_path"),
    ("issuer", "did:key:zNotAKey", "issuer"),
    ("batch_id", "-leading-dash", "batch id"),
    ("anchor_event_hash", KeyError, "anchor_event_hash"),
    ("extra", 1, "extra"),
])
def test_receipt_parsing_is_strict(path: str, value: Any, fragment: str) -> None:
    with pytest.raises(ReceiptFormatError) as caught:
        parse_receipt(mutated(RECEIPT, path, value))
    assert fragment in caught.value.diagnostics()


def test_receipt_documents_are_capped_and_strict_json() -> None:
    with pytest.raises(ReceiptFormatError, match="limit"):
        parse_receipt(b" " * 9000)
    duplicated = text(RECEIPT)[:-1] + ', "index": 0}'
    with pytest.raises(ReceiptFormatError, match="duplicate"):
        parse_receipt(duplicated)
    with pytest.raises(ReceiptFormatError, match="not JSON"):
        parse_receipt(b"{")


# -- bundles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "value", "fragment"), [
    ("format", "vcledger-bundle/v0", "format"),
    ("origin", "", "origin"),
    ("issuer", "did:web:example.org", "issuer"),
    ("credential_digest", "g" * 64, "credential_digest"),
    ("event", "!!!!", "event"),
    ("event", "AB==", "canonical base64"),
    ("header", DIRECT["header"] + "\n", "header"),
    ("event_proof", "c2sp.org/tlog-proof@v1\nindex 1\n", "blank line"),
    ("event_proof", DIRECT["event_proof"].replace("index ", "extra AQ==\nindex ", 1),
     "extra"),
    ("event_proof", DIRECT["event_proof"].replace("index ", "index 0", 1), "leading zeros"),
    ("header_proof", DIRECT["header_proof"].replace("\u2014", "-"), "em dash"),
    ("status.issuer.value", None, "must show a record"),
    ("status.issuer.proof", DIRECT["status"]["issuer"]["proof"].upper(), "lowercase"),
    ("status.credential.proof", "01", "status-map proof"),
    ("status.batch", {"value": None, "proof": "00"}, "must show a record"),
    ("status.credential", KeyError, "credential"),
    ("receipt", {"format": "vcledger-receipt/v1"}, "receipt"),
    ("status.issuer.value", 12, "value"),
    ("block_headers", [], "block_headers"),
    ("block_headers", KeyError, "block_headers"),
    ("block_headers", [DIRECT["block_headers"][0]] * 2, "ascending index order, each once"),
    ("block_headers", [{**DIRECT["block_headers"][0], "index": -1}], "index"),
    ("block_headers", [{**DIRECT["block_headers"][0], "extra": 1}], "extra"),
    ("block_headers", [{**DIRECT["block_headers"][0], "audit_path": ["AB" * 32]}],
     "audit_path"),
    ("block_headers", [{**DIRECT["block_headers"][0], "header": "AB=="}], "canonical base64"),
])
def test_bundle_parsing_is_strict(path: str, value: Any, fragment: str) -> None:
    with pytest.raises(BundleFormatError) as caught:
        parse_bundle(mutated(DIRECT, path, value))
    assert fragment in caught.value.diagnostics()


def test_bundle_documents_are_capped_and_strict_json() -> None:
    with pytest.raises(BundleFormatError, match="limit"):
        parse_bundle(b" " * (MAX_BUNDLE_SIZE + 1))
    with pytest.raises(BundleFormatError, match="duplicate"):
        parse_bundle(text(DIRECT)[:-1] + ', "origin": "x"}')
    with pytest.raises(BundleFormatError, match="NaN"):
        parse_bundle(text(DIRECT).replace('"receipt": null', '"receipt": NaN'))
    with pytest.raises(BundleFormatError, match="byte order mark"):
        parse_bundle(b"\xef\xbb\xbf" + text(DIRECT).encode())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_parsing_garbage_raises_only_format_errors(data: st.DataObject) -> None:
    source = text(BATCHED).encode()
    position = data.draw(st.integers(0, len(source) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=4))
    damaged = source[:position] + junk + source[position + len(junk):]
    with contextlib.suppress(BundleFormatError):  # anything else fails the test
        parse_bundle(damaged)


def test_build_bundle_checks_its_preconditions() -> None:
    bundle = parse_bundle(text(DIRECT))
    pieces: dict[str, Any] = {
        "origin": bundle.origin, "issuer": bundle.issuer,
        "credential_digest": bundle.credential_digest, "event": bundle.event,
        "event_index": bundle.event_proof.index, "event_audit_path": bundle.event_proof.proof,
        "checkpoint_note": bundle.event_proof.checkpoint_note, "header": bundle.header,
        "header_audit_path": bundle.header_proof.proof, "receipt": None,
        "status": bundle.status, "block_headers": bundle.block_headers,
    }
    assert build_bundle(**pieces) == bundle
    with pytest.raises(UsageError, match="1 to 2 distinct block headers"):
        build_bundle(**{**pieces, "block_headers": ()})
    with pytest.raises(UsageError, match="1 to 2 distinct block headers"):
        build_bundle(**{**pieces, "block_headers": bundle.block_headers * 2})
    with pytest.raises(UsageError, match="32 bytes"):
        build_bundle(**{**pieces, "credential_digest": b"short"})
    with pytest.raises(UsageError, match="outside"):
        build_bundle(**{**pieces, "event_index": 10_000})
    with pytest.raises(UsageError):
        build_bundle(**{**pieces, "checkpoint_note": "not a note"})


def test_status_entries_keep_their_proofs() -> None:
    bundle = parse_bundle(text(BATCHED))
    assert isinstance(bundle, Bundle) and bundle.status.batch is not None
    assert bundle.status.batch.proof == SmtProof.from_hex(BATCHED["status"]["batch"]["proof"])
    assert bundle.status.credential.value is None  # anchored, never revoked: no record
    assert bundle.receipt is not None and bundle.receipt.index == 0


def test_errors_are_ledger_errors_with_exit_code_4() -> None:
    with pytest.raises(LedgerError) as caught:
        parse_bundle("{}")
    assert caught.value.exit_code == 4 and caught.value.code == "bad_bundle"
