"""Issuer-watch state file vectors (``vcledger-issuer-watch/v1``, docs/protocol.md §10.4).

The file name beside a network's state file (§10.3) for a DID, and one watch document
whose peaks are computed over the leaves it lists with vectorgen.bundle's hashlib tree
hash (RFC 9162 §2.1.1).
Checked by tests/protocol/test_issuer_watch_vectors.py.
"""

from __future__ import annotations

import hashlib
import json

from vectorgen import bundle, state

ORIGIN = "vcledger.example/bundles"
ISSUERS = ["did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
           "did:web:uni.example:issuers:1"]


def _peaks(leaves: list[bytes]) -> list[bytes]:
    """The roots of the complete subtrees the binary digits of the size give, leftmost first."""
    hashes = [bundle._leaf_hash(leaf) for leaf in leaves]
    peaks, start = [], 0
    for level in range(len(hashes).bit_length() - 1, -1, -1):
        if len(hashes) >> level & 1:
            peaks.append(bundle._mth(hashes[start:start + (1 << level)]))
            start += 1 << level
    return peaks


def _text(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2) + "\n"


def generate() -> dict[str, object]:
    checkpoint_state = state._name(ORIGIN)
    leaves = [f"leaf {i}".encode() for i in range(11)]
    reported = sorted(hashlib.sha256(f"event {i}".encode()).hexdigest() for i in (2, 1))
    document = {"format": "vcledger-issuer-watch/v1", "origin": ORIGIN, "issuer": ISSUERS[0],
                "tree_size": len(leaves), "peaks": [p.hex() for p in _peaks(leaves)],
                "reported": reported}
    empty = {**document, "tree_size": 0, "peaks": [], "reported": []}

    def bad(why: str, **change: object) -> dict[str, object]:
        return {"why": why, "text": _text({**document, **change})}

    return {"issuer_watch.json": {
        "description": "Issuer-watch state files of monitor --issuer (docs/protocol.md §10.4). "
                       "'file_names': the watch file of 'issuer' beside the network's state "
                       "file (§10.3). 'documents': watch files for 'origin' and 'issuer' (the "
                       "text is json.dumps(indent=2) plus a newline, members in this order); "
                       "'leaves' (hex) are the log's first tree_size leaves, whose peaks the "
                       "file keeps. 'invalid': texts refused for that origin and issuer.",
        "origin": ORIGIN,
        "issuer": ISSUERS[0],
        "file_names": [
            {"state_file": checkpoint_state, "issuer": did,
             "file_name": checkpoint_state.removesuffix(".json") + ".issuer-"
             + hashlib.sha256(did.encode()).hexdigest()[:16] + ".json"}
            for did in ISSUERS],
        "documents": [
            {"leaves": [leaf.hex() for leaf in leaves], "text": _text(document)},
            {"leaves": [], "text": _text(empty)},
        ],
        "invalid": [
            bad("another format", format="vcledger-issuer-watch/v2"),
            bad("another origin", origin="other.example/log"),
            bad("another issuer", issuer=ISSUERS[1]),
            bad("one peak too few", peaks=document["peaks"][:-1]),  # type: ignore[index]
            bad("a peak not 64 hex digits", peaks=[p[:-2] for p in document["peaks"]]),  # type: ignore[attr-defined]
            bad("a reported hash not hex", reported=["zz" * 32]),
            bad("a tree size above 2**64 - 1", tree_size=2**64, peaks=[]),
            bad("a member too many", extra=1),
        ],
    }}
