"""Pathway-bundle vectors (``vcledger-pathway-bundle/v1``, docs/protocol.md §17.2-17.3).

A small ledger built by hand on :class:`vectorgen.bundle._Chain` (the same keys,
origin, clock and proofs as the credential-bundle vectors, but its own chain):
the owner is registered, publishes version 1 of a pathway, later version 2 (which
supersedes 1), and publishes and retires a second pathway.  The pathway rules of
§9 are restated here, not taken from node/rules.py.  Each case gives the bundle,
the clock and the expected outcome; the invalid ones change one thing and name the
step (§17.3) that refuses it.  Checked by tests/protocol/test_vectors_protocol.py (an
independent verifier) and tests/client/test_pathway.py (``verify_pathway_bundle``).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
from typing import Any

import rfc8785

from client import note
from client.events import IssuerRegister, PathwayDefine, PathwayRetire
from client.hashes import Hash
from client.status import PathwayRecord, PathwayVersion, Position, pathway_status_key
from vectorgen import bundle as base
from vectorgen.bundle import (
    GOVERNANCE,
    ISSUER,
    MAX_AGE_SECONDS,
    ORIGIN,
    UNI_HTTPS,
    UNI_NAME,
    UNI_WEB,
    _b64,
    _issuer_key,
    _refuse,
)

PATHWAY_ID = "https://uni.example/pathways/data-analyst"
RETIRED_ID = "https://uni.example/pathways/old-analyst"


def definition(pathway_id: str, version: int, *, at_least: int | None = None) -> dict[str, Any]:
    requirement = {
        "issuer": UNI_HTTPS, "achievement": "https://uni.example/achievements/statistics",
        "min_result": 70, "alignment": [{
            "targetFramework": "O*NET-SOC", "targetCode": "15-2051.00",
            "targetName": "Data Scientists",
            "targetUrl": "https://www.onetonline.org/link/summary/15-2051.00"}]}
    second = {"issuer": ISSUER.did, "achievement": "https://uni.example/achievements/sql",
              "min_result": None, "alignment": []}
    return {"id": pathway_id, "name": "Data Analyst", "version": version, "owner": ISSUER.did,
            "rule": {"all_of": True} if at_least is None else {"at_least": at_least},
            "max_span_days": 730, "requirements": [requirement, second]}


def _digest(document: dict[str, Any]) -> bytes:
    return hashlib.sha256(rfc8785.dumps(document)).digest()


class _PathwayChain(base._Chain):
    """The bundle chain with the pathway rules of docs/protocol.md §9 restated."""

    def _apply(self, payload: Any, signer: bytes, at: Position, *, check: bool) -> None:
        if not isinstance(payload, PathwayDefine | PathwayRetire):
            super()._apply(payload, signer, at, check=check)
            return
        owner = self._issuer(payload.owner)
        key = pathway_status_key(payload.owner, payload.pathway_id)
        record = self.records.get(key)
        assert record is None or isinstance(record, PathwayRecord)
        if owner.retired is not None or signer != self._current_key(owner):
            raise _refuse("wrong_key")
        if record is not None and record.retired is not None:
            raise _refuse("pathway_retired")
        if isinstance(payload, PathwayDefine):
            expected = 1 if record is None else record.current.version + 1
            if payload.version != expected:
                raise _refuse("bad_pathway_version")
            entry = PathwayVersion(payload.version, payload.definition_digest, at)
            self.records[key] = PathwayRecord(
                (entry,) if record is None else (*record.versions, entry), None)
        else:
            if record is None:
                raise _refuse("unknown_pathway")
            self.records[key] = dataclasses.replace(record, retired=at)


def _define(document: dict[str, Any]) -> tuple[PathwayDefine, Any]:
    return (PathwayDefine(ISSUER.did, document["id"], document["version"],
                          Hash(_digest(document))), ISSUER)


def _bundle(chain: _PathwayChain, pathway_id: str, document: dict[str, Any],
            event_index: int) -> dict[str, Any]:
    checkpoint = chain.checkpoint_note()
    size = len(chain.leaves)
    return {
        "format": "vcledger-pathway-bundle/v1",
        "origin": ORIGIN,
        "owner": ISSUER.did,
        "pathway_id": pathway_id,
        "definition": document,
        "event": _b64(chain.leaves[event_index]),
        "event_proof": chain.tlog_proof(event_index, checkpoint),
        "header": _b64(chain.leaves[size - 1]),
        "header_proof": chain.tlog_proof(size - 1, checkpoint),
        "status": {"owner": chain.status_entry(_issuer_key(ISSUER.did)),
                   "pathway": chain.status_entry(pathway_status_key(ISSUER.did, pathway_id))},
    }


def _build() -> dict[str, Any]:
    chain = _PathwayChain()
    chain.block([(IssuerRegister(ISSUER.did, UNI_NAME, ISSUER.public_key, (UNI_HTTPS, UNI_WEB)),
                  GOVERNANCE)])
    v1, v2 = definition(PATHWAY_ID, 1), definition(PATHWAY_ID, 2, at_least=1)
    old = definition(RETIRED_ID, 1)
    (v1_index,) = chain.block([_define(v1)])
    # A bundle of version 1 made while it was current, and its checkpoint's clock.
    v1_current = _bundle(chain, PATHWAY_ID, v1, v1_index)
    v1_now = chain.cosigned_at(len(base.VALIDATORS) - 1)
    (old_index,) = chain.block([_define(old)])
    (v2_index,) = chain.block([_define(v2)])
    chain.block([(PathwayRetire(ISSUER.did, RETIRED_ID), ISSUER)])
    now = chain.cosigned_at(len(base.VALIDATORS) - 1)
    v2_bundle = _bundle(chain, PATHWAY_ID, v2, v2_index)

    valid = [
        {"name": "current_version", "description": "version 2, the current one",
         "bundle": v2_bundle, "now": now,
         "expected": {"status": "valid", "version": 2, "event_index": v2_index,
                      "versions_published": 2, "tree_size": len(chain.leaves)}},
        {"name": "first_version_while_current",
         "description": "version 1 at a checkpoint before version 2 was published",
         "bundle": v1_current, "now": v1_now,
         "expected": {"status": "valid", "version": 1, "event_index": v1_index,
                      "versions_published": 1, "tree_size": v1_index + 2}},
        {"name": "current_version_stale",
         "description": "version 2 checked a second past max_age after its checkpoint",
         "bundle": v2_bundle, "now": now + MAX_AGE_SECONDS + 3661,
         "expected": {"status": "stale", "version": 2, "event_index": v2_index,
                      "versions_published": 2, "tree_size": len(chain.leaves)}},
    ]

    def mutated(name: str, step: int, description: str, change: Any,
                source: dict[str, Any] = v2_bundle) -> dict[str, Any]:
        bundle = copy.deepcopy(source)
        change(bundle)
        return {"name": name, "description": description, "bundle": bundle, "now": now,
                "step": step}

    def set_member(name: str, value: Any) -> Any:
        return lambda b: b.__setitem__(name, value)

    def flip_proof_line(member: str) -> Any:
        def change(b: dict[str, Any]) -> None:
            lines = b[member].split("\n")
            raw = bytearray(base64.b64decode(lines[2], validate=True))
            raw[0] ^= 1
            lines[2] = _b64(bytes(raw))
            b[member] = "\n".join(lines)
        return change

    def below_threshold(b: dict[str, Any]) -> None:
        for member in ("event_proof", "header_proof"):
            lines = b[member].rstrip("\n").split("\n")
            b[member] = "\n".join(lines[:-2]) + "\n"  # two of four cosignatures left

    def definition_change(b: dict[str, Any]) -> None:
        b["definition"]["requirements"][0]["min_result"] = 60

    invalid = [
        mutated("format_unknown_member", 1, "a member the format does not have",
                lambda b: b.__setitem__("extra", 1)),
        mutated("format_v2", 1, "format vcledger-pathway-bundle/v2",
                set_member("format", "vcledger-pathway-bundle/v2")),
        mutated("format_http_pathway_id", 1, "pathway_id is not an https URL",
                set_member("pathway_id", "http://uni.example/pathways/data-analyst")),
        mutated("origin_other_network", 2, "origin of another network",
                set_member("origin", base.OTHER_ORIGIN)),
        mutated("checkpoint_below_threshold", 3, "two cosignatures, the threshold is 3",
                below_threshold),
        mutated("header_proof_flipped", 4, "one bit of the header's audit path",
                flip_proof_line("header_proof")),
        mutated("event_proof_flipped", 5, "one bit of the event's audit path",
                flip_proof_line("event_proof")),
        mutated("event_other_pathway", 6, "pathway_id names the retired pathway, "
                "the event the data-analyst one", set_member("pathway_id", RETIRED_ID)),
        mutated("definition_changed", 7, "a requirement's min_result lowered after signing",
                definition_change),
        mutated("definition_other_version", 7, "version 1's document with version 2's event",
                set_member("definition", v1)),
        mutated("owner_status_other_record", 8, "the pathway record given as the owner's",
                lambda b: b["status"].__setitem__("owner", b["status"]["pathway"])),
        mutated("superseded", 9, "version 1's event and document at a checkpoint after "
                "version 2", lambda b: b.update(
                    event=_b64(chain.leaves[v1_index]),
                    event_proof=chain.tlog_proof(v1_index, chain.checkpoint_note()),
                    definition=v1)),
        {"name": "retired", "description": "the retired pathway's only version",
         "bundle": _bundle(chain, RETIRED_ID, old, old_index), "now": now, "step": 9},
    ]
    trust = {"origin": ORIGIN, "threshold": base.THRESHOLD, "max_age_seconds": MAX_AGE_SECONDS,
             "validators": [{"name": name, "verifier_key": note.verifier_key(
                 name, key.public_key, sig_type=note.SIG_COSIGNATURE_V1)}
                 for name, key in base.VALIDATORS]}
    return {"trust": trust, "valid": valid, "invalid": invalid}


def generate() -> dict[str, object]:
    built = _build()
    about = ("Pathway bundles (docs/protocol.md §17.2-17.3) from a ledger built by "
             "scripts/vectorgen/pathway_bundle.py. Verify each with `trust` at `now` "
             "(POSIX seconds) and the trust file's max_age_seconds.")
    return {
        "pathway_bundle_valid.json": {"description": about, "trust": built["trust"],
                                      "cases": built["valid"]},
        "pathway_bundle_invalid.json": {
            "description": about + " Each case changes one thing; `step` is the first "
                                   "step of §17.3 that refuses it.",
            "trust": built["trust"], "cases": built["invalid"]},
    }
