"""Deterministic keys and sample events shared by protocol tests and vector generators."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType

from client.batch import build_batch
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
    IssuerUpdate,
    PathwayDefine,
    PathwayRetire,
    Payload,
    RevocationReason,
    SignedEvent,
    sign_event,
)
from client.hashes import Hash
from client.keys import KeyPair

ORIGIN = "vcledger.example/test"
CREATED = 1_780_000_000


def fixed_key(label: str) -> KeyPair:
    """A key derived from a label, so vectors are reproducible."""
    return KeyPair.from_seed(hashlib.sha256(b"vcledger test key " + label.encode()).digest())


GOVERNANCE = fixed_key("governance")
ISSUER = fixed_key("issuer")
ISSUER_NEXT = fixed_key("issuer rotated")
OTHER_ISSUER = fixed_key("other issuer")


def fixed_digest(label: str) -> Hash:
    return Hash(hashlib.sha256(b"credential " + label.encode()).digest())


ISSUER_IDS = ("did:web:uni.example", "https://uni.example/issuers/1")
"""The identifiers governance registers for ISSUER (sorted, as events carry them)."""

PATHWAY_ID = "https://uni.example/pathways/data-analyst-professional"
"""The pathway ISSUER defines in the samples."""

BATCH_DIGESTS = [fixed_digest(f"batch member {i}") for i in range(5)]
BATCH = build_batch(BATCH_DIGESTS)


def sample_payloads() -> list[tuple[Payload, KeyPair]]:
    """One payload of every kind with the key that is meant to sign it."""
    receipt = BATCH.receipt(3)
    return [
        (IssuerRegister(ISSUER.did, "Example University", ISSUER.public_key, ISSUER_IDS),
         GOVERNANCE),
        (IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER),
        (IssuerUpdate(ISSUER.did, "Example University of Science",
                      (*ISSUER_IDS, "https://uni.example/issuers/2")), GOVERNANCE),
        (CredentialIssue(ISSUER.did, fixed_digest("diploma 1")), ISSUER_NEXT),
        (BatchAnchor(ISSUER.did, "2026-spring", BATCH.root, BATCH.size), ISSUER_NEXT),
        (CredentialRevoke(ISSUER.did, fixed_digest("diploma 1"), RevocationReason.SUPERSEDED),
         ISSUER_NEXT),
        (CredentialRevoke(ISSUER.did, BATCH_DIGESTS[3], RevocationReason.FRAUD,
                          BatchMembership("2026-spring", 3, receipt.audit_path)), ISSUER_NEXT),
        (BatchRevoke(ISSUER.did, "2026-spring", RevocationReason.ISSUED_IN_ERROR), ISSUER_NEXT),
        (CredentialRevoke(ISSUER.did, fixed_digest("diploma 2"), RevocationReason.FRAUD),
         GOVERNANCE),
        (PathwayDefine(ISSUER.did, PATHWAY_ID, 1, fixed_digest("pathway definition v1")),
         ISSUER_NEXT),
        (PathwayRetire(ISSUER.did, PATHWAY_ID), ISSUER_NEXT),
        (IssuerCompromise(ISSUER.did, 3, "signing key found on a public server"), GOVERNANCE),
        (IssuerRetire(ISSUER.did), ISSUER_NEXT),
    ]


def sample_events() -> list[SignedEvent]:
    return [sign_event(p, origin=ORIGIN, key=k, created=CREATED + i)
            for i, (p, k) in enumerate(sample_payloads())]


SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def bundle_vectorgen() -> ModuleType:
    """scripts/vectorgen/bundle.py, the generator of the bundle vectors and their
    hand-built ledger, imported from the scripts directory."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module("vectorgen.bundle")
