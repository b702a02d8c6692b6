"""``vcledger bundle``, ``status``, ``refresh`` and ``verify``: fetching and checking a
credential's proofs.  ``verify`` is fully offline; the others load the HTTP client lazily.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client import credentials
from client.bundle import (
    MAX_BUNDLE_SIZE,
    CredentialReceipt,
    format_bundle,
)
from client.bundle_checks import ProvenStatusRecord, verify_status_record
from client.cli_shared import (
    add_common_options,
    add_max_age_option,
    checked_did,
    chosen_max_age,
    network_origin,
    now,
    parse_moment,
    read_receipt,
    read_trust,
    report_result,
    run_async,
    with_node,
)
from client.durations import describe_age, describe_duration
from client.errors import InvalidEncoding, LedgerError, UsageError, VerificationError
from client.files import InputFileError, read_input_file, write_output_file
from client.hashes import Hash
from client.state import CheckpointMemory, state_file
from client.status import (
    CredentialRecord,
    batch_status_key,
    credential_status_key,
    issuer_status_key,
)
from client.trust import Trust
from client.verdict import TRUST_POLICY, TrustPolicy, Verdict, format_time
from client.verify import verify_bundle, verify_bundle_without_trust

if TYPE_CHECKING:
    from client.http import NodeClient


class StaleCheckpoint(LedgerError):
    """The node's newest checkpoint is older than the check allows."""

    code = "stale"
    exit_code = 5


def _issuer_of(args: argparse.Namespace, credential_json: bytes,
               receipt: CredentialReceipt | None) -> str:
    if args.issuer:
        return checked_did(args.issuer, "--issuer")
    if receipt is not None:
        return receipt.issuer
    field = credentials.named_issuer(credentials.parse_credential(credential_json))
    if field is None:
        raise UsageError(f"credential {args.credential} has no issuer id; pass --issuer DID")
    if not field.startswith("did:key:"):
        raise UsageError(f"credential {args.credential} names its issuer {field}, not a did:key; "
                         "pass --issuer DID: the did:key it was issued under")
    return checked_did(field, f"the issuer of credential {args.credential}")


def _credential_and_receipt(args: argparse.Namespace
                            ) -> tuple[bytes, Hash, CredentialReceipt | None, str]:
    data = read_input_file(args.credential, "credential file", credentials.MAX_CREDENTIAL_SIZE)
    try:
        digest = credentials.digest(data)
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {args.credential}: {exc.diagnostics()}") from exc
    receipt = read_receipt(args.receipt) if args.receipt else None
    if receipt is not None and receipt.credential_digest != digest:
        raise UsageError(f"receipt {args.receipt} is for credential "
                         f"{receipt.credential_digest.hex()}, not {args.credential} "
                         f"({digest.hex()})")
    return data, digest, receipt, _issuer_of(args, data, receipt)


STATUS_MAX_AGE = 300
"""``vcledger status`` asks a node now, so it demands a checkpoint at most 5 minutes old:
an idle network still cosigns a fresh one every few seconds (docs/operations.md)."""


async def _fetch_and_verify(node: NodeClient, trust: Trust | None, *, data: bytes,
                            digest: Hash, receipt: CredentialReceipt | None,
                            issuer: str, max_age: int | TrustPolicy | None = TRUST_POLICY,
                            expected_issuer: str | None = None,
                            memory: CheckpointMemory | None = None) -> tuple[Any, Verdict]:
    """Fetch the credential's bundle and verify it; with ``memory``, every checkpoint
    that passed is checked against the remembered one and remembered."""
    from client.http import NodeRejected, fetch_bundle  # noqa: PLC0415 - verify must not load aiohttp

    origin = await network_origin(node, trust)
    try:
        bundle = await fetch_bundle(node, issuer=issuer, credential_digest=digest,
                                    receipt=receipt,
                                    min_cosignatures=1 if trust is None else trust.threshold)
    except NodeRejected as exc:
        if exc.error_code not in ("unknown_credential", "unknown_batch", "unknown_issuer") \
                or trust is None:
            raise
        # The node's own words are not repeated: only what is proven.
        return None, await _never_recorded(node, trust, issuer=issuer, digest=digest,
                                           receipt=receipt, memory=memory,
                                           max_age=max_age)
    if trust is None:
        verdict = verify_bundle_without_trust(bundle, origin, credential_json=data, now=now())
    else:
        verdict = verify_bundle(bundle, trust, credential_json=data, now=now(),
                                max_age=max_age, expected_issuer=expected_issuer)
        if verdict.status != "invalid" and memory is not None:
            # A node (or a mirror in front of it) must not take us back in time.
            await memory.check_and_remember(node, bundle.event_proof.checkpoint_note, now())
    return bundle, verdict


async def _never_recorded(node: NodeClient, trust: Trust, *, issuer: str,
                          digest: Hash, receipt: CredentialReceipt | None,
                          memory: CheckpointMemory | None,
                          max_age: int | TrustPolicy | None) -> Verdict:
    """The node says it has no record of the credential: prove it before saying so.

    A forgery is the verdict ``invalid`` (exit 4), never an outage; but a node's word
    alone must not turn a genuine credential into a forgery, so the absence is proven
    under the trust file like any bundle's status, and an absence proven only at an old
    checkpoint is ``stale``, not ``invalid``: the credential may have been issued since.
    """
    from client.http import NodeResponseError, fetch_status_record  # noqa: PLC0415

    async def prove(which: str, key: bytes) -> ProvenStatusRecord:
        note, header, path, entry = await fetch_status_record(
            node, status=which, issuer=issuer, credential_digest=digest,
            batch_id=None if receipt is None else receipt.batch_id,
            min_cosignatures=trust.threshold)
        try:
            proven = verify_status_record(note, header, path, entry, status_key=key,
                                          trust=trust, now=now())
        except VerificationError as exc:
            raise NodeResponseError(f"node {node.url} says it has no record of this "
                                    f"credential, but its proof does not verify: "
                                    f"{exc.diagnostics()}") from exc
        if memory is not None:
            await memory.check_and_remember(node, note, now())
        return proven

    proven = await prove("issuer", issuer_status_key(issuer))
    if proven.record is None:
        what = f"{issuer} is not a registered issuer"
    else:
        which, key = (("batch", batch_status_key(issuer, receipt.batch_id))
                      if receipt is not None
                      else ("credential", credential_status_key(issuer, digest)))
        proven = await prove(which, key)
        record = proven.record
        if record is not None and not (isinstance(record, CredentialRecord)
                                       and record.issued is None):
            raise NodeResponseError(f"node {node.url} says it has no record of this "
                                    "credential, but proves one: ask another node")
        what = (f"issuer {issuer} anchored no batch {receipt.batch_id!r}" if receipt is not None
                else f"issuer {issuer} never issued credential {digest.hex()} on its own")
    age = max(0, now() - proven.checkpoint_time)
    limit = trust.max_age_seconds if max_age is TRUST_POLICY else max_age
    assert not isinstance(limit, TrustPolicy)
    as_of = (f"as proven at checkpoint {proven.tree_size} "
             f"({format_time(proven.checkpoint_time)}, {describe_age(age)} old)")
    registered = not what.endswith("is not a registered issuer")
    hint = ("; if it was anchored in a batch, pass its --receipt"
            if receipt is None and registered else "")
    common: dict[str, Any] = {
        "issuer_did": issuer, "credential_digest": digest.hex(), "credential_checked": True,
        "tree_size": proven.tree_size, "checkpoint_time": proven.checkpoint_time,
        "checkpoint_age": age, "max_age": limit}
    if limit is not None and age > limit:
        return Verdict(
            status="stale", **common,
            message=f"stale: the node's newest checkpoint, {proven.tree_size}, is "
                    f"{describe_age(age)} old; this check allows {describe_duration(limit)}. "
                    f"As of then: {what}{hint}",
            notes=("a newer checkpoint is needed: ask a node that is up to date",))
    return Verdict(status="invalid", step=10, step_name="credential status", **common,
                   message=f"invalid: not issued by {issuer}: {what}, {as_of}{hint}")


def cmd_bundle(args: argparse.Namespace) -> int:
    data, digest, receipt, issuer = _credential_and_receipt(args)
    trust = read_trust(args.trust) if args.trust else None
    out = Path(args.out)
    if trust is None and args.max_age is not None:
        raise UsageError("--max-age bounds the checkpoint's age under a trust file: pass --trust")
    max_age = chosen_max_age(args, STATUS_MAX_AGE) if trust is not None else None
    with contextlib.ExitStack() as stack:
        memory = (None if trust is None
                  else stack.enter_context(CheckpointMemory(state_file(trust.origin), trust)))
        bundle, verdict = run_async(with_node(
            args, lambda node: _fetch_and_verify(node, trust, data=data, digest=digest,
                                                 receipt=receipt, issuer=issuer, memory=memory,
                                                 max_age=max_age)))
    if bundle is None:  # the node proved it has no record, or proved it too old to tell
        raise (StaleCheckpoint if verdict.status == "stale" else VerificationError)(
            f"no bundle was written: {verdict.message}")
    if verdict.status == "invalid":
        raise VerificationError(f"the bundle assembled from {args.node or 'the node'} does not "
                                f"verify, so it was not written: {verdict.message}")
    write_output_file(out, format_bundle(bundle))
    notes = () if trust is not None else (
        "checkpoint signatures not checked: pass --trust to check them too",)
    report_result(args, {"bundle": str(out), "verdict": verdict.as_json()},
                  [f"wrote {out}", *(f"  {line}" for line in verdict.lines()),
                   *(f"  note: {n}" for n in notes)])
    return verdict.exit_code


def cmd_status(args: argparse.Namespace) -> int:
    data, digest, receipt, issuer = _credential_and_receipt(args)
    trust = read_trust(args.trust)
    max_age = chosen_max_age(args, STATUS_MAX_AGE)
    # The state file is read once for the run, however many checkpoints it checks.
    with CheckpointMemory(state_file(trust.origin), trust) as memory:
        _, verdict = run_async(with_node(
            args, lambda node: _fetch_and_verify(node, trust, data=data, digest=digest,
                                                 receipt=receipt, issuer=issuer,
                                                 max_age=max_age, memory=memory)))
    report_result(args, verdict.as_json(), verdict.lines())
    return verdict.exit_code


def cmd_refresh(args: argparse.Namespace) -> int:
    from client.bundle import parse_bundle  # noqa: PLC0415
    from client.refresh import refresh_bundle  # noqa: PLC0415

    trust = read_trust(args.trust)
    source = Path(args.bundle)
    out = Path(args.out) if args.out else source
    try:
        old = parse_bundle(read_input_file(source, "bundle file", MAX_BUNDLE_SIZE + 1), str(source))
    except InvalidEncoding as exc:
        raise VerificationError(f"bundle {source} cannot be read: {exc.diagnostics()}") from exc
    credential = (None if args.credential is None
                  else read_input_file(args.credential, "credential file",
                                       credentials.MAX_CREDENTIAL_SIZE))
    new = run_async(with_node(args, lambda node: refresh_bundle(node, old, trust,
                                                                   now=now())))
    verdict = verify_bundle(new, trust, credential_json=credential,
                            digest_only=credential is None, now=now())
    if verdict.status == "invalid":
        raise VerificationError(f"the refreshed bundle does not verify, so it was not written: "
                                f"{verdict.message}")
    write_output_file(out, format_bundle(new))
    old_size = old.event_proof.checkpoint().tree_size
    report_result(args, {"bundle": str(out), "previous_tree_size": old_size,
                         "verdict": verdict.as_json()},
                  [f"wrote {out}: checkpoint {old_size} -> {verdict.tree_size}",
                   *(f"  {line}" for line in verdict.lines())])
    return verdict.exit_code


def cmd_verify(args: argparse.Namespace) -> int:
    if (args.credential is None) == (not args.digest_only):
        raise UsageError("pass --credential CREDENTIAL.json (the file the holder presents), or "
                         "--digest-only to check the bundle alone"
                         if args.credential is None else
                         "--credential and --digest-only exclude each other")
    trust = read_trust(args.trust)
    max_age = chosen_max_age(args)
    at = parse_moment(args.at, "--at")
    expected = args.expected_issuer
    bundle = read_input_file(args.bundle, "bundle file", MAX_BUNDLE_SIZE + 1)
    credential = (None if args.credential is None
                  else read_input_file(args.credential, "credential file",
                                       credentials.MAX_CREDENTIAL_SIZE))
    verdict = verify_bundle(bundle, trust, credential_json=credential,
                            digest_only=args.digest_only, now=now(), max_age=max_age, at=at,
                            expected_issuer=expected)
    report_result(args, verdict.as_json(), verdict.lines())
    return verdict.exit_code


def add_verification_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """bundle, status, refresh and verify."""
    for name, helptext, func in (
        ("bundle", "fetch and check an offline proof bundle for a credential", cmd_bundle),
        ("status", "check a credential online (every proof still verified)", cmd_status),
    ):
        description = (
            "Fetch everything needed to check CREDENTIAL offline at the newest checkpoint, "
            "verify it, and only then write the bundle." if name == "bundle" else
            "Fetch the credential's proofs from the node and verify them like an offline "
            "bundle.  Exit 0 valid, 3 revoked, 4 invalid (also: never issued by that issuer), "
            "5 stale, 6 expired or not yet valid.")
        p = sub.add_parser(name, help=helptext, description=description)
        p.add_argument("credential", metavar="CREDENTIAL.json")
        p.add_argument("--receipt", metavar="RECEIPT", help="the receipt of a batched credential")
        p.add_argument("--issuer", metavar="DID",
                       help="the issuer (default: the receipt's, or the credential's issuer)")
        if name == "bundle":
            p.add_argument("--out", required=True, metavar="BUNDLE", help="bundle file to write")
            p.add_argument("--trust", metavar="TRUSTFILE",
                           help="also check the checkpoint's cosignatures under this trust file")
            add_max_age_option(p, f"{STATUS_MAX_AGE // 60} minutes, with --trust")
        else:
            p.add_argument("--trust", required=True, metavar="TRUSTFILE",
                           help="the network's trust file")
            add_max_age_option(p, f"{STATUS_MAX_AGE // 60} minutes")
        add_common_options(p, node=True)
        p.set_defaults(func=func)

    p = sub.add_parser("refresh", help="bring a bundle up to a node's newest checkpoint",
                       description="Verify the bundle, fetch the node's newest cosigned "
                                   "checkpoint, prove it extends the bundle's (and the newest "
                                   "this machine has seen), fetch and verify the new proofs, and "
                                   "write the new bundle atomically.  A node that is behind or "
                                   "forked is refused and the file is left as it was.  Exit 0 "
                                   "valid, 3 revoked since, 4 invalid.")
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--trust", required=True, metavar="TRUSTFILE", help="the network's trust file")
    p.add_argument("--out", metavar="FILE", help="write here instead of replacing BUNDLE")
    p.add_argument("--credential", metavar="CREDENTIAL.json",
                   help="also check the refreshed bundle against this credential file")
    add_common_options(p, node=True)
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("verify", help="verify a proof bundle offline",
                       description="Verify a bundle with no network access.  Prints the "
                                   "verdict; exit 0 valid, 3 revoked, 4 invalid, 5 stale, "
                                   "6 expired or not yet valid.")
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--trust", required=True, metavar="TRUSTFILE", help="the network's trust file")
    p.add_argument("--credential", metavar="CREDENTIAL.json",
                   help="the credential file the holder presents: its digest, issuer and "
                        "validity dates are checked")
    p.add_argument("--digest-only", action="store_true",
                   help="check the bundle alone, without the credential file (the verdict "
                        "says the file was not checked)")
    p.add_argument("--issuer", dest="expected_issuer", metavar="ID",
                   help="the issuer you expect (its did:key or one of its identifiers, e.g. "
                        "https://uni.example/issuers/1); any other is invalid")
    p.add_argument("--at", metavar="TIME",
                   help="check the credential's validity dates at this moment (ISO 8601) "
                        "instead of now")
    add_max_age_option(p, "the trust file's max_age_seconds")
    add_common_options(p)
    p.set_defaults(func=cmd_verify)
