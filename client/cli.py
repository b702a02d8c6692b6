"""``vcledger``: the command line for issuers and verifiers.

Commands are thin over the client library.  ``verify`` is fully offline: it
never imports the HTTP client (client.http is imported lazily by the
commands that talk to a node).

Exit codes (docs/workflow.md): 0 success, valid or complete; 1 error talking to
a node or reading a file; 2 usage error; 3 revoked; 4 invalid (a proof,
signature, digest or issuer check failed, or the ledger never recorded the
credential; for ``pathway verify``: the pathway bundle); 5 stale (the checkpoint
is older than the allowed age); 6 expired or not yet valid (the credential's own
dates); 7 incomplete (``pathway verify``: the credentials do not meet the
pathway).  Every error is caught once, in :func:`main`, and printed as one line
from its ``diagnostics()``; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from client import anchoring, credentials
from client.batch import build_batch
from client.bundle import (
    MAX_BUNDLE_SIZE,
    MAX_RECEIPT_SIZE,
    CredentialReceipt,
    format_bundle,
    parse_receipt,
)
from client.durations import describe_age, describe_duration, parse_max_age
from client.errors import InvalidEncoding, LedgerError, UsageError, VerificationError
from client.events import (
    BATCH_ID_PATTERN,
    MAX_COMPROMISE_REASON,
    BatchAnchor,
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
    check_pathway_id,
    issuer_ids,
    sign_event,
)
from client.files import InputFileError, read_input_file, write_output_file
from client.hashes import Hash, hash_from_hex
from client.keys import KeyPair, public_key_from_did, read_key_file, write_key_file
from client.note import SIG_COSIGNATURE_V1, verifier_key
from client.state import ForkDetected
from client.status import (
    CredentialRecord,
    IssuerRecord,
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
)
from client.trust import MAX_TRUST_FILE_SIZE, Trust, parse_trust
from client.verify import (
    TRUST_POLICY,
    ProvenStatusRecord,
    TrustPolicy,
    Verdict,
    format_time,
    verify_bundle,
    verify_bundle_without_trust,
    verify_status_record,
)

if TYPE_CHECKING:
    from client.http import NodeClient
    from client.pathway import Definition, PathwayBundle
    from client.pathway_verify import PathwayBundleVerdict

PROG = "vcledger"
NODE_ENV = "VCLEDGER_NODE"

T = TypeVar("T")


class UnknownIssuer(LedgerError):
    """The node has no record of the issuer a command signs for."""

    code = "unknown_issuer"
    exit_code = 1


class StaleCheckpoint(LedgerError):
    """The node's newest checkpoint is older than the check allows."""

    code = "stale"
    exit_code = 5


# -- small helpers ------------------------------------------------------------------------


def _credential_digest(path: str) -> Hash:
    data = read_input_file(path, "credential file", credentials.MAX_CREDENTIAL_SIZE)
    try:
        return credentials.digest(data)
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {path}: {exc.diagnostics()}") from exc


def _receipt(path: str) -> CredentialReceipt:
    data = read_input_file(path, "receipt file", MAX_RECEIPT_SIZE)
    try:
        return parse_receipt(data, f"receipt file {path}")
    except InvalidEncoding as exc:
        raise InputFileError(exc.diagnostics()) from exc


def _trust(path: str) -> Trust:
    return parse_trust(read_input_file(path, "trust file", MAX_TRUST_FILE_SIZE), path)


def _did(text: str, what: str) -> str:
    try:
        public_key_from_did(text)
    except InvalidEncoding as exc:
        raise UsageError(f"{what}: {exc.diagnostics()}") from exc
    return text


def _node_url(args: argparse.Namespace) -> str:
    url: str | None = args.node or os.environ.get(NODE_ENV)
    if not url:
        raise UsageError(f"no node given: pass --node URL or set {NODE_ENV}")
    return url


def _now() -> int:
    return int(time.time())


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2))


def _run_async(coroutine: Awaitable[T]) -> T:
    async def runner() -> T:
        return await coroutine
    return asyncio.run(runner())


async def _with_node(args: argparse.Namespace, action: Callable[[NodeClient], Awaitable[T]]
                     ) -> T:
    from client.http import NodeClient  # noqa: PLC0415 - verify must not load aiohttp

    async with NodeClient(_node_url(args), timeout=args.timeout) as node:
        return await action(node)


async def _network_origin(node: NodeClient, trust: Trust | None) -> str:
    origin = await node.origin()
    if trust is not None and trust.origin != origin:
        raise UsageError(f"node {node.url} serves network {origin!r}, but the trust file is "
                         f"for {trust.origin!r}")
    return origin


async def _submit(node: NodeClient, payload: Payload, key: KeyPair, what: str,
                  trust: Trust | None = None) -> tuple[SignedEvent, dict[str, Any]]:
    origin = await _network_origin(node, trust)
    event = sign_event(payload, origin=origin, key=key, created=_now())
    result = await node.submit(event.encoded, event_hash=event.hash, what=what)
    if result.status != "committed":
        raise InputFileError(
            f"the {what} event {event.hash.hex()} was accepted by {node.url} but not committed "
            f"in time; check later with GET /v1/events/{event.hash.hex()}")
    return event, {"event_hash": event.hash.hex(), "kind": payload.kind.value,
                   "event_index": result.index, "height": result.height, "origin": origin}


_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Cc: controls (escape sequences, carriage return); Cf: format characters
(bidirectional overrides, zero-width spaces that hide a difference); Cs: lone
surrogates; Zl/Zp: line and paragraph separators, which terminals may break on."""


def _escape(char: str) -> str:
    if unicodedata.category(char) not in _UNPRINTABLE_CATEGORIES:
        return char
    code = ord(char)
    return (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
            else f"\\U{code:08x}")


def _printable(text: str) -> str:
    """``text`` as one line that cannot steer the terminal.

    Messages quote untrusted files (a member name of a hostile trust file or
    bundle): a carriage return or an escape sequence in one could overwrite
    "invalid" with "valid" on the screen, and bidirectional overrides could
    reorder it.  They are shown as ``\\xNN`` / ``\\uNNNN`` escapes instead.
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(map(_escape, text))


def _report(args: argparse.Namespace, document: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        _print_json(document)
    else:
        for line in lines:
            print(_printable(line))


# -- keygen and issuer governance ---------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    key = KeyPair.generate()
    path = Path(args.out)
    write_key_file(path, key.seed)
    name = args.name or path.stem
    vkey = verifier_key(name, key.public_key, sig_type=SIG_COSIGNATURE_V1)
    _report(args, {"key_file": str(path), "did": key.did, "public_key": key.public_key.hex(),
                   "verifier_key": vkey},
            [f"wrote {path} (mode 0600)", f"did:           {key.did}",
             f"verifier key:  {vkey}"])
    return 0


def _event_lines(info: dict[str, Any]) -> list[str]:
    return [f"committed {info['kind']} event {info['event_hash']}",
            f"  log index {info['event_index']}, block height {info['height']}"]


def _ids(values: Sequence[str] | None) -> tuple[str, ...]:
    try:
        return issuer_ids(values or ())
    except InvalidEncoding as exc:
        raise UsageError(f"--id: {exc.diagnostics()}") from exc


def _identity_lines(name: str, ids: Sequence[str]) -> list[str]:
    return [f"  name: {name!r}", f"  identifiers: {', '.join(ids) or '(none: only its did:key)'}"]


def cmd_issuer_register(args: argparse.Namespace) -> int:
    issuer = _did(args.issuer, "--issuer")
    ids = _ids(args.id)
    admin = read_key_file(args.admin_key)
    payload = IssuerRegister(issuer, args.name, public_key_from_did(issuer), ids)
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, admin,
                                                                 "issuer.register")))
    info.update(issuer=issuer, name=args.name, ids=list(ids))
    _report(args, info, [f"registered issuer {issuer}", *_identity_lines(args.name, ids),
                         *_event_lines(info)])
    return 0


async def _issuer_record(node: NodeClient, issuer: str) -> IssuerRecord:
    """The node's (unverified) record of ``issuer``: used to fill defaults and refuse early,
    never to decide a verdict."""
    status = await node.issuer_status(issuer)
    if status.value is None:
        raise UnknownIssuer(f"issuer {issuer} is not registered on node {node.url} "
                            "(unknown_issuer); governance registers it with `vcledger issuer "
                            "register`")
    try:
        record = decode_record(status.value)
    except InvalidEncoding as exc:
        raise InputFileError(f"node {node.url} served an unreadable issuer record: "
                             f"{exc.diagnostics()}") from exc
    if not isinstance(record, IssuerRecord):
        raise InputFileError(f"node {node.url} served no issuer record for {issuer}")
    return record


def cmd_issuer_update(args: argparse.Namespace) -> int:
    issuer = _did(args.issuer, "--issuer")
    if args.name is None and args.id is None:
        raise UsageError("give --name, --id (repeatable), or both: they replace the current ones")
    admin = read_key_file(args.admin_key)

    async def update(node: NodeClient) -> tuple[IssuerUpdate, dict[str, Any]]:
        record = await _issuer_record(node, issuer)
        payload = IssuerUpdate(issuer, record.name if args.name is None else args.name,
                               record.ids if args.id is None else _ids(args.id))
        _, info = await _submit(node, payload, admin, "issuer.update")
        return payload, info

    payload, info = _run_async(_with_node(args, update))
    info.update(issuer=issuer, name=payload.name, ids=list(payload.ids))
    _report(args, info, [f"updated issuer {issuer}; events from now on name it as",
                         *_identity_lines(payload.name, payload.ids), *_event_lines(info)])
    return 0


def cmd_issuer_compromised(args: argparse.Namespace) -> int:
    issuer = _did(args.issuer, "--issuer")
    if args.since_index < 0:
        raise UsageError("--since-index must be a log index (0 or more)")
    size = len(args.reason.encode("utf-8", "surrogatepass"))
    if size > MAX_COMPROMISE_REASON:
        raise UsageError(f"--reason is {size} bytes of UTF-8; at most {MAX_COMPROMISE_REASON}")
    admin = read_key_file(args.admin_key)
    payload = IssuerCompromise(issuer, args.since_index, args.reason)
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, admin,
                                                                 "issuer.compromise")))
    info.update(issuer=issuer, since_index=args.since_index, reason=args.reason)
    _report(args, info, [
        f"issuer {issuer} is marked compromised from log index {args.since_index} and retired",
        "  everything it issued, anchored or rotated at that index or later now verifies "
        "revoked (key_compromise); earlier credentials keep their verdict",
        *_event_lines(info),
        "  register the institution again under a new did:key with the same --id values"])
    return 0


def cmd_issuer_rotate(args: argparse.Namespace) -> int:
    old = read_key_file(args.key)
    new = read_key_file(args.new_key)
    issuer = _issuer_for_key(args, old)
    payload = IssuerRotate(issuer, new.public_key)
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, old,
                                                                 "issuer.rotate")))
    info.update(issuer=issuer, new_public_key=new.public_key.hex())
    _report(args, info, [f"issuer {issuer} now signs with {new.public_key.hex()}",
                         *_event_lines(info),
                         f"  sign from now on with --key {args.new_key} --issuer {issuer}"])
    return 0


def cmd_issuer_retire(args: argparse.Namespace) -> int:
    key = read_key_file(args.key)
    issuer = _issuer_for_key(args, key)
    payload = IssuerRetire(issuer)
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, key,
                                                                 "issuer.retire")))
    info["issuer"] = issuer
    _report(args, info, [f"retired issuer {issuer}; its earlier credentials keep their history",
                         *_event_lines(info)])
    return 0


def _issuer_for_key(args: argparse.Namespace, key: KeyPair) -> str:
    return _did(args.issuer, "--issuer") if args.issuer else key.did


# -- sign ----------------------------------------------------------------------------------


def cmd_sign(args: argparse.Namespace) -> int:
    from client import vc  # noqa: PLC0415 - only this command signs documents

    source = Path(args.credential)
    out = Path(args.out) if args.out else source
    data = read_input_file(source, "credential file", credentials.MAX_CREDENTIAL_SIZE)
    key = read_key_file(args.key)
    try:
        document = credentials.parse_credential(data)
        credentials.check_ijson(document)
        existing = vc.embedded_proofs(document)
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {source}: {exc.diagnostics()}") from exc
    others = [p.get("verificationMethod") for p in existing
              if p.get("verificationMethod") != f"{key.did}#{key.did.removeprefix('did:key:')}"]
    if existing and not others:
        raise UsageError(f"credential file {source} already carries this key's proof; "
                         "nothing to add")
    if existing and not args.add:
        raise UsageError(f"credential file {source} already carries a proof by "
                         f"{', '.join(str(o) for o in others)}; pass --add to add this key's "
                         "to its proof set")
    created = dt.datetime.fromtimestamp(_now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        secured = vc.add_proof(document, key, created=created)
        text = credentials.canonical_json(secured)  # the same numbers, exactly
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {source}: {exc.diagnostics()}") from exc
    pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    write_output_file(out, pretty)
    proof = vc.embedded_proofs(json.loads(text))[-1]
    _report(args, {"credential": str(out), "verification_method": proof["verificationMethod"],
                   "created": created, "proofs": len(existing) + 1},
            [f"signed {out} with an eddsa-jcs-2022 proof",
             f"  verification method {proof['verificationMethod']}",
             "  issue or anchor the signed file as it is: its digest covers the proof"])
    return 0


# -- issue ---------------------------------------------------------------------------------


def cmd_issue(args: argparse.Namespace) -> int:
    data = read_input_file(args.credential, "credential file", credentials.MAX_CREDENTIAL_SIZE)
    digest, error, named, proof_keys = anchoring.digest_credential(data)
    if digest is None:
        raise InputFileError(f"credential file {args.credential}: {error}")
    key = read_key_file(args.key)
    issuer = _issuer_for_key(args, key)
    payload = CredentialIssue(issuer, Hash(digest))

    async def issue(node: NodeClient) -> tuple[SignedEvent, dict[str, Any]]:
        record = await _issuer_record(node, issuer)
        anchoring.check_named_issuers(record, [(args.credential, named)])
        anchoring.check_proof_keys(key, [(args.credential, proof_keys)])
        return await _submit(node, payload, key, "credential.issue")

    _, info = _run_async(_with_node(args, issue))
    info.update(issuer=issuer, credential_digest=digest.hex())
    _report(args, info, [f"issued credential {digest.hex()}", f"  issuer {issuer}",
                         *_event_lines(info)[1:], f"  event {info['event_hash']}"])
    return 0


# -- anchor --------------------------------------------------------------------------------


def cmd_anchor(args: argparse.Namespace) -> int:
    started = time.monotonic()
    key = read_key_file(args.key)
    issuer = _issuer_for_key(args, key)
    outdir = Path(args.receipts)
    if (outdir / "index.jsonl").exists():
        raise UsageError(f"{outdir} already holds the receipts of a batch (index.jsonl); "
                         "choose a new --receipts folder")
    if args.batch_id is not None and not BATCH_ID_PATTERN.fullmatch(args.batch_id):
        raise UsageError(f"--batch-id {args.batch_id!r} is not a batch id (1..128 of "
                         "A-Z a-z 0-9 . _ : -, starting with a letter or digit)")
    _node_url(args)  # fail on a missing --node before the long part
    show_progress = not args.json and sys.stderr.isatty()
    order, digests, named, proof_keys = anchoring.digest_all(
        anchoring.collect_sources(args.sources), workers=args.workers,
        show_progress=show_progress)
    anchoring.check_duplicates(order, digests)
    digested = time.monotonic()
    tree = build_batch(digests)
    batch_id = args.batch_id or anchoring.default_batch_id(tree.root, dt.datetime.now(dt.UTC))
    payload = BatchAnchor(issuer, batch_id, tree.root, tree.size)

    async def anchor(node: NodeClient) -> tuple[SignedEvent, dict[str, Any]]:
        anchoring.check_named_issuers(await _issuer_record(node, issuer), named)
        anchoring.check_proof_keys(key, proof_keys)
        # Made only once nothing stands in the way, and before signing: receipts must
        # have somewhere to go once the batch is on the ledger.
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFileError(f"cannot create {outdir}: {exc.strerror}") from exc
        return await _submit(node, payload, key, "batch.anchor")

    event, info = _run_async(_with_node(args, anchor))
    anchored = time.monotonic()
    anchoring.write_receipts(outdir, order, digests, tree, origin=info["origin"],
                             issuer=issuer, batch_id=batch_id, anchor_hash=event.hash,
                             show_progress=show_progress)
    finished = time.monotonic()
    info.update(issuer=issuer, batch_id=batch_id, batch_root=tree.root.hex(),
                batch_size=tree.size, receipts=str(outdir),
                seconds={"digest": round(digested - started, 3),
                         "anchor": round(anchored - digested, 3),
                         "receipts": round(finished - anchored, 3),
                         "total": round(finished - started, 3)})
    _report(args, info, [
        f"anchored batch {batch_id!r}: {tree.size} credentials, root {tree.root.hex()}",
        *_event_lines(info),
        f"  wrote {tree.size} receipts and index.jsonl to {outdir} "
        f"in {finished - started:.1f} s",
    ])
    return 0


# -- revoke --------------------------------------------------------------------------------


def _reason(text: str) -> RevocationReason:
    try:
        return RevocationReason.parse(text)
    except InvalidEncoding as exc:
        raise UsageError(f"--reason: {exc.diagnostics()}") from exc


def cmd_revoke(args: argparse.Namespace) -> int:
    chosen = [name for name, value in (("CREDENTIAL.json", args.credential),
                                       ("--digest", args.digest), ("--batch", args.batch))
              if value is not None]
    if len(chosen) != 1:
        raise UsageError("name exactly one of CREDENTIAL.json, --digest HEX or --batch ID "
                         f"(got {', '.join(chosen) or 'none'})")
    reason = _reason(args.reason)
    if args.batch is not None and args.receipt is not None:
        raise UsageError("--receipt goes with a credential, not with --batch")
    if args.admin_key is not None:
        if not args.issuer:
            raise UsageError("a governance revocation names the issuer: pass --issuer DID")
        key = read_key_file(args.admin_key)
    else:
        key = read_key_file(args.key)
    issuer = _issuer_for_key(args, key)
    by = "governance" if args.admin_key is not None else "issuer"
    payload: Payload
    info_extra: dict[str, Any] = {"issuer": issuer, "reason": reason.label, "by": by}
    if args.batch is not None:
        if not BATCH_ID_PATTERN.fullmatch(args.batch):
            raise UsageError(f"--batch {args.batch!r} is not a batch id")
        payload = BatchRevoke(issuer, args.batch, reason)
        info_extra["batch_id"] = args.batch
        what = f"every credential of batch {args.batch!r}"
    else:
        if args.digest is not None:
            try:
                digest = hash_from_hex(args.digest, "--digest")
            except InvalidEncoding as exc:
                raise UsageError(exc.diagnostics()) from exc
        else:
            digest = _credential_digest(args.credential)
        membership = None
        if args.receipt is not None:
            receipt = _receipt(args.receipt)
            if receipt.credential_digest != digest:
                raise UsageError(f"receipt {args.receipt} is for credential "
                                 f"{receipt.credential_digest.hex()}, not {digest.hex()}")
            if receipt.issuer != issuer:
                raise UsageError(f"receipt {args.receipt} is from issuer {receipt.issuer}, not "
                                 f"{issuer}; pass --issuer")
            membership = receipt.membership()
            info_extra["batch_id"] = receipt.batch_id
        payload = CredentialRevoke(issuer, digest, reason, membership)
        info_extra["credential_digest"] = digest.hex()
        what = f"credential {digest.hex()}"
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, key,
                                                                 payload.kind.value)))
    info.update(info_extra)
    _report(args, info, [f"revoked {what} ({reason.label}, by {by})", *_event_lines(info)])
    return 0


# -- bundle, status, verify ------------------------------------------------------------------


def _issuer_of(args: argparse.Namespace, credential_json: bytes,
               receipt: CredentialReceipt | None) -> str:
    if args.issuer:
        return _did(args.issuer, "--issuer")
    if receipt is not None:
        return receipt.issuer
    field = credentials.named_issuer(credentials.parse_credential(credential_json))
    if field is None:
        raise UsageError(f"credential {args.credential} has no issuer id; pass --issuer DID")
    if not field.startswith("did:key:"):
        raise UsageError(f"credential {args.credential} names its issuer {field}, not a did:key; "
                         "pass --issuer DID: the did:key it was issued under")
    return _did(field, f"the issuer of credential {args.credential}")


def _credential_and_receipt(args: argparse.Namespace
                            ) -> tuple[bytes, Hash, CredentialReceipt | None, str]:
    data = read_input_file(args.credential, "credential file", credentials.MAX_CREDENTIAL_SIZE)
    try:
        digest = credentials.digest(data)
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {args.credential}: {exc.diagnostics()}") from exc
    receipt = _receipt(args.receipt) if args.receipt else None
    if receipt is not None and receipt.credential_digest != digest:
        raise UsageError(f"receipt {args.receipt} is for credential "
                         f"{receipt.credential_digest.hex()}, not {args.credential} "
                         f"({digest.hex()})")
    return data, digest, receipt, _issuer_of(args, data, receipt)


STATUS_MAX_AGE = 300
"""``vcledger status`` asks a node now, so it demands a checkpoint at most 5 minutes old:
an idle network still cosigns a fresh one every few seconds (docs/operations.md)."""


def _moment(text: str | None, what: str) -> int | None:
    """An ISO 8601 date or date-time (``2026-12-05``, ``2026-12-05T10:00:00Z``) as POSIX
    seconds; a time without a zone is UTC."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not an ISO 8601 date or date-time, e.g. "
                         "2026-12-05 or 2026-12-05T10:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _max_age(args: argparse.Namespace, default: int | None = None) -> int | TrustPolicy | None:
    """--max-age as seconds, None for ``none``, or the trust file's policy."""
    if args.max_age is None:
        return TRUST_POLICY if default is None else default
    return parse_max_age(args.max_age)


async def _fetch_and_verify(node: NodeClient, trust: Trust | None, *, data: bytes,
                            digest: Hash, receipt: CredentialReceipt | None,
                            issuer: str, max_age: int | TrustPolicy | None = TRUST_POLICY,
                            expected_issuer: str | None = None,
                            remember: bool = False) -> tuple[Any, Verdict]:
    from client.http import NodeRejected, fetch_bundle  # noqa: PLC0415 - verify must not load aiohttp

    origin = await _network_origin(node, trust)
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
                                           receipt=receipt, remember=remember,
                                           max_age=max_age)
    if trust is None:
        verdict = verify_bundle_without_trust(bundle, origin, credential_json=data, now=_now())
    else:
        verdict = verify_bundle(bundle, trust, credential_json=data, now=_now(),
                                max_age=max_age, expected_issuer=expected_issuer)
        if verdict.status != "invalid" and remember:
            await _remember(node, bundle.event_proof.checkpoint_note, trust)
    return bundle, verdict


async def _remember(node: NodeClient, checkpoint_note: str, trust: Trust) -> None:
    from client.state import check_and_remember  # noqa: PLC0415

    # A node (or a mirror in front of it) must not take us back in time.
    await check_and_remember(node, checkpoint_note, trust, _now())


async def _never_recorded(node: NodeClient, trust: Trust, *, issuer: str,
                          digest: Hash, receipt: CredentialReceipt | None,
                          remember: bool, max_age: int | TrustPolicy | None) -> Verdict:
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
                                          trust=trust, now=_now())
        except VerificationError as exc:
            raise NodeResponseError(f"node {node.url} says it has no record of this "
                                    f"credential, but its proof does not verify: "
                                    f"{exc.diagnostics()}") from exc
        if remember:
            await _remember(node, note, trust)
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
    age = max(0, _now() - proven.checkpoint_time)
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
    trust = _trust(args.trust) if args.trust else None
    out = Path(args.out)
    if trust is None and args.max_age is not None:
        raise UsageError("--max-age bounds the checkpoint's age under a trust file: pass --trust")
    max_age = _max_age(args, STATUS_MAX_AGE) if trust is not None else None
    bundle, verdict = _run_async(_with_node(
        args, lambda node: _fetch_and_verify(node, trust, data=data, digest=digest, receipt=receipt,
                                       issuer=issuer, remember=trust is not None,
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
    _report(args, {"bundle": str(out), "verdict": verdict.as_json()},
            [f"wrote {out}", *(f"  {line}" for line in verdict.lines()),
             *(f"  note: {n}" for n in notes)])
    return verdict.exit_code


def cmd_status(args: argparse.Namespace) -> int:
    data, digest, receipt, issuer = _credential_and_receipt(args)
    trust = _trust(args.trust)
    max_age = _max_age(args, STATUS_MAX_AGE)
    _, verdict = _run_async(_with_node(
        args, lambda node: _fetch_and_verify(node, trust, data=data, digest=digest, receipt=receipt,
                                       issuer=issuer, max_age=max_age, remember=True)))
    _report(args, verdict.as_json(), verdict.lines())
    return verdict.exit_code


def cmd_refresh(args: argparse.Namespace) -> int:
    from client.bundle import parse_bundle  # noqa: PLC0415
    from client.refresh import refresh_bundle  # noqa: PLC0415

    trust = _trust(args.trust)
    source = Path(args.bundle)
    out = Path(args.out) if args.out else source
    try:
        old = parse_bundle(read_input_file(source, "bundle file", MAX_BUNDLE_SIZE + 1), str(source))
    except InvalidEncoding as exc:
        raise VerificationError(f"bundle {source} cannot be read: {exc.diagnostics()}") from exc
    credential = (None if args.credential is None
                  else read_input_file(args.credential, "credential file",
                                       credentials.MAX_CREDENTIAL_SIZE))
    new = _run_async(_with_node(args, lambda node: refresh_bundle(node, old, trust,
                                                                   now=_now())))
    verdict = verify_bundle(new, trust, credential_json=credential,
                            digest_only=credential is None, now=_now())
    if verdict.status == "invalid":
        raise VerificationError(f"the refreshed bundle does not verify, so it was not written: "
                                f"{verdict.message}")
    write_output_file(out, format_bundle(new))
    old_size = old.event_proof.checkpoint().tree_size
    _report(args, {"bundle": str(out), "previous_tree_size": old_size,
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
    trust = _trust(args.trust)
    max_age = _max_age(args)
    at = _moment(args.at, "--at")
    expected = args.expected_issuer
    bundle = read_input_file(args.bundle, "bundle file", MAX_BUNDLE_SIZE + 1)
    credential = (None if args.credential is None
                  else read_input_file(args.credential, "credential file",
                                       credentials.MAX_CREDENTIAL_SIZE))
    verdict = verify_bundle(bundle, trust, credential_json=credential,
                            digest_only=args.digest_only, now=_now(), max_age=max_age, at=at,
                            expected_issuer=expected)
    _report(args, verdict.as_json(), verdict.lines())
    return verdict.exit_code


# -- pathways ------------------------------------------------------------------------------


def _definition(path: str) -> Definition:
    from client.pathway import MAX_DEFINITION_SIZE, parse_definition  # noqa: PLC0415

    data = read_input_file(path, "definition file", MAX_DEFINITION_SIZE)
    try:
        definition: Definition = parse_definition(data, f"definition file {path}")
    except InvalidEncoding as exc:
        raise InputFileError(exc.diagnostics()) from exc
    return definition


def _pathway_id(text: str) -> str:
    try:
        return check_pathway_id(text, "PATHWAY_ID")
    except InvalidEncoding as exc:
        raise UsageError(exc.diagnostics()) from exc


def cmd_pathway_define(args: argparse.Namespace) -> int:
    definition = _definition(args.definition)
    model = definition.model
    key = read_key_file(args.key)
    owner = _issuer_for_key(args, key)
    if model.owner is not None and model.owner != owner:
        raise UsageError(f"definition file {args.definition} names owner {model.owner}; it "
                         f"would be signed for {owner} (pass --issuer, or fix the file)")
    payload = PathwayDefine(owner, model.id, model.version, definition.digest)
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, key,
                                                                 "pathway.define")))
    info.update(owner=owner, pathway_id=model.id, version=model.version, name=model.name,
                definition_digest=definition.digest.hex(), rule=model.rule_text())
    _report(args, info, [
        f'defined pathway "{model.name}" version {model.version}: {model.id}',
        f"  owner {owner}", f"  rule: {model.rule_text()}",
        f"  definition digest {definition.digest.hex()}", *_event_lines(info)[1:],
        f"  publish {args.definition} unchanged at {model.id}: only its digest is on the "
        "ledger"])
    return 0


def cmd_pathway_retire(args: argparse.Namespace) -> int:
    pathway_id = _pathway_id(args.pathway_id)
    if args.admin_key is not None:
        if not args.issuer:
            raise UsageError("a governance retirement names the owner: pass --issuer DID")
        key = read_key_file(args.admin_key)
    else:
        key = read_key_file(args.key)
    owner = _issuer_for_key(args, key)
    payload = PathwayRetire(owner, pathway_id)
    _, info = _run_async(_with_node(args, lambda node: _submit(node, payload, key,
                                                                 "pathway.retire")))
    by = "governance" if args.admin_key is not None else "owner"
    info.update(owner=owner, pathway_id=pathway_id, by=by)
    _report(args, info, [f"retired pathway {pathway_id} of {owner} (by {by}); no version of it "
                         "verifies any more", *_event_lines(info)])
    return 0


def cmd_pathway_bundle(args: argparse.Namespace) -> int:
    from client.http import fetch_definition, fetch_pathway_bundle  # noqa: PLC0415
    from client.pathway import format_pathway_bundle, parse_definition  # noqa: PLC0415
    from client.pathway_verify import verify_pathway_bundle  # noqa: PLC0415

    pathway_id = _pathway_id(args.pathway_id)
    owner = _did(args.issuer, "--issuer")
    trust = _trust(args.trust)
    out = Path(args.out)
    max_age = _max_age(args)

    async def fetch(node: NodeClient) -> tuple[PathwayBundle, PathwayBundleVerdict]:
        await _network_origin(node, trust)
        if args.definition is not None:
            definition = _definition(args.definition)
        else:
            try:
                definition = parse_definition(await fetch_definition(pathway_id,
                                                                     timeout=args.timeout),
                                              f"the definition published at {pathway_id}")
            except InvalidEncoding as exc:
                raise InputFileError(exc.diagnostics()) from exc
        bundle = await fetch_pathway_bundle(node, owner=owner, pathway_id=pathway_id,
                                            definition=definition.document,
                                            min_cosignatures=trust.threshold)
        verdict = verify_pathway_bundle(bundle, trust, now=_now(), max_age=max_age)
        if verdict.status != "invalid":
            await _remember(node, bundle.event_proof.checkpoint_note, trust)
        return bundle, verdict

    bundle, verdict = _run_async(_with_node(args, fetch))
    if verdict.status == "invalid":
        raise VerificationError(f"the pathway bundle assembled from {args.node or 'the node'} "
                                f"does not verify, so it was not written: {verdict.message}")
    write_output_file(out, format_pathway_bundle(bundle))
    _report(args, {"bundle": str(out), "verdict": verdict.as_json()},
            [f"wrote {out}", *(f"  {line}" for line in verdict.lines())])
    return verdict.exit_code


def cmd_pathway_verify(args: argparse.Namespace) -> int:
    from client.pathway import MAX_PATHWAY_BUNDLE_SIZE  # noqa: PLC0415
    from client.pathway_verify import verify_pathway  # noqa: PLC0415

    bundles = args.bundle or []
    files = args.credential or []
    if len(bundles) != len(files):
        raise UsageError(f"give one --bundle per --credential, in the same order (got "
                         f"{len(bundles)} bundles and {len(files)} credentials)")
    trust = _trust(args.trust)
    max_age = _max_age(args)
    pathway = read_input_file(args.pathway_bundle, "pathway bundle file",
                              MAX_PATHWAY_BUNDLE_SIZE + 1)
    pairs = [(read_input_file(b, "bundle file", MAX_BUNDLE_SIZE + 1),
              read_input_file(c, "credential file", credentials.MAX_CREDENTIAL_SIZE))
             for b, c in zip(bundles, files, strict=True)]
    verdict = verify_pathway(pathway, pairs, trust, now=_now(), max_age=max_age,
                             holder=args.holder, expected_owner=args.owner, labels=files)
    _report(args, verdict.as_json(), verdict.lines())
    return verdict.exit_code


# -- monitor -------------------------------------------------------------------------------


def cmd_monitor(args: argparse.Namespace) -> int:
    from client.http import NodeClient  # noqa: PLC0415
    from client.monitor import monitor_once  # noqa: PLC0415

    trust = _trust(args.trust)
    urls = args.node or ([os.environ[NODE_ENV]] if os.environ.get(NODE_ENV) else [])
    if not urls:
        raise UsageError(f"no node given: pass --node URL (repeatable) or set {NODE_ENV}")
    state_path = Path(args.state) if args.state else None
    if args.issuer is not None:
        return _watch_issuer(args, trust, urls, state_path)
    if args.expect or args.rescan:
        raise UsageError("--expect and --rescan go with --issuer DID")
    rounds = 1 if args.once else args.max_rounds
    if args.interval <= 0:
        raise UsageError("--interval must be positive")

    async def run() -> int:
        clients = [NodeClient(url, timeout=args.timeout) for url in urls]
        worst = 0
        try:
            for client in clients:
                await client.__aenter__()
            number = 0
            while rounds is None or number < rounds:
                if number:
                    await asyncio.sleep(args.interval)
                number += 1
                report = await monitor_once(clients, trust, now=_now(), state_path=state_path)
                _print_round(args, number, report)
                worst = max(worst, report.exit_code)
                if report.exit_code == 4:
                    break  # evidence printed; a split view needs a human
        finally:
            for client in clients:
                await client.close()
        return worst

    return _run_async(run())


def _watch_issuer(args: argparse.Namespace, trust: Trust, urls: list[str],
                  state_path: Path | None) -> int:
    from client.http import NodeClient  # noqa: PLC0415
    from client.issuer_watch import load_records  # noqa: PLC0415
    from client.monitor import watch_issuer  # noqa: PLC0415

    issuer = _did(args.issuer, "--issuer")
    if len(urls) != 1:
        raise UsageError("--issuer reads the log from one node: give one --node URL")
    records = load_records([Path(path) for path in args.expect or ()])

    async def run() -> Any:
        async with NodeClient(urls[0], timeout=args.timeout) as node:
            return await watch_issuer(node, trust, issuer, records, now=_now(),
                                      state_path=state_path, rescan=args.rescan)

    report = _run_async(run())
    _report(args, report.as_json(), report.lines())
    return int(report.exit_code)


def _print_round(args: argparse.Namespace, number: int, report: Any) -> None:
    if args.json:
        print(json.dumps({"round": number, **report.as_json()}), flush=True)
        return
    document = report.as_json()
    # Node messages and served notes are untrusted text: escaped like every other line.
    lines = [f"round {number}: {document['result']}"]
    for node in report.nodes:
        where = "" if node.tree_size is None else f" tree size {node.tree_size}"
        lines.append(f"  {node.node}: {node.status}{where}: {node.message}")
    for split in report.split_views:
        lines.append(f"  SPLIT VIEW: {split.description}")
        for label, evidence in (("first", split.first), ("second", split.second)):
            lines.append(f"  {label} checkpoint, from {evidence.node}:")
            lines.extend(f"    {line}" for line in evidence.note.splitlines())
    if report.state is not None:
        verb = "recorded" if report.advanced else "unchanged"
        lines.append(f"  state {verb}: tree size {report.state.tree_size} "
                     f"from {report.state.node}")
    for line in lines:
        print(_printable(line))
    sys.stdout.flush()


# -- the parser ------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, node: bool = False) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    if node:
        parser.add_argument("--node", metavar="URL",
                            help=f"node API URL, e.g. http://127.0.0.1:7700 (default: ${NODE_ENV})")
        parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                            help="give up on the node after this long (default 60)")


def _max_age_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--max-age", metavar="DURATION",
                        help="the oldest checkpoint to accept, e.g. 90s, 15m, 24h, 7d, or "
                             f"'none' (default: {default}); older gives 'stale', exit 5")


def _governance_options(parser: argparse.ArgumentParser) -> None:
    """--admin-key and --issuer, both required: an issuer command signed by governance."""
    parser.add_argument("--admin-key", required=True, metavar="KEYFILE",
                        help="governance key file")
    parser.add_argument("--issuer", required=True, metavar="DID", help="the issuer's did:key")


class _ArgumentError(UsageError):
    code = "usage"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so :func:`main` reports usage errors like
    every other error (one JSON form under --json)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _ArgumentError(f"{self.prog}: {message}")


def _installed_version() -> str:
    try:
        return version("vcledger")
    except PackageNotFoundError:  # run from a source tree that pip never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Issue, anchor, revoke and verify credentials on a vcledger network.",
        epilog="Exit codes: 0 success/valid/complete, 1 node or file error, 2 usage error, "
               "3 revoked, 4 invalid, 5 stale, 6 expired or not yet valid, 7 incomplete "
               "(pathway verify), 8 unexpected events (monitor --issuer).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("keygen", help="create a new Ed25519 key file (mode 0600)",
                       description="Create a new Ed25519 key file and print its did:key and "
                                   "its note verifier key.")
    p.add_argument("--out", required=True, metavar="KEYFILE", help="file to create (never "
                   "overwritten)")
    p.add_argument("--name", help="key name in the verifier key (default: the file name)")
    _common(p)
    p.set_defaults(func=cmd_keygen)

    issuer = sub.add_parser("issuer", help="register, update, rotate or retire an issuer, or "
                                            "declare its key compromised",
                            description="Issuer governance: register, update or declare "
                                        "compromised (governance key); rotate or retire "
                                        "(issuer key; retire also by governance).")
    isub = issuer.add_subparsers(dest="issuer_command", required=True, metavar="ACTION")
    p = isub.add_parser("register", help="admit an issuer (signed by a governance key)",
                        description="Admit an issuer: signed by a governance key named in the "
                                    "genesis file.")
    _governance_options(p)
    p.add_argument("--name", required=True, help="the issuer's display name")
    p.add_argument("--id", action="append", metavar="ID",
                   help="an identifier its credentials may name as 'issuer' besides the did:key: "
                        "an https URL or a DID such as did:web:uni.example (repeatable)")
    _common(p, node=True)
    p.set_defaults(func=cmd_issuer_register)
    p = isub.add_parser("update", help="replace an issuer's name or identifiers (governance)",
                        description="Replace the display name and/or the identifiers of an "
                                    "issuer for events from now on; earlier events keep the "
                                    "identity they were made under.  Signed by a governance "
                                    "key.")
    _governance_options(p)
    p.add_argument("--name", help="the new display name (default: keep the current one)")
    p.add_argument("--id", action="append", metavar="ID",
                   help="the new identifiers, replacing all current ones (repeatable; default: "
                        "keep them)")
    _common(p, node=True)
    p.set_defaults(func=cmd_issuer_update)
    p = isub.add_parser("compromised", help="declare an issuer's key stolen (governance)",
                        description="Declare that the issuer's key material is untrustworthy "
                                    "from log index N on: the issuer is retired, and every "
                                    "issuance, batch anchor and key rotation it signed at N or "
                                    "later verifies revoked (key_compromise, by governance).  "
                                    "Signed by a governance key.")
    _governance_options(p)
    p.add_argument("--since-index", required=True, type=int, metavar="N",
                   help="the first log index the thief may have signed at: the index of "
                        "the first event the issuer does not recognise (each command prints "
                        "its event's log index; GET /v1/events/HASH and /v1/blocks/HEIGHT show "
                        "the others)")
    p.add_argument("--reason", default="", metavar="TEXT",
                   help=f"why, in words (at most {MAX_COMPROMISE_REASON} bytes of UTF-8)")
    _common(p, node=True)
    p.set_defaults(func=cmd_issuer_compromised)
    p = isub.add_parser("rotate", help="replace the issuer's signing key",
                        description="Replace the issuer's signing key; signed by the current "
                                    "key.")
    p.add_argument("--key", required=True, metavar="OLDKEY", help="the current key file")
    p.add_argument("--new-key", required=True, metavar="NEWKEY", help="the new key file")
    p.add_argument("--issuer", metavar="DID", help="the issuer (default: the did:key of --key)")
    _common(p, node=True)
    p.set_defaults(func=cmd_issuer_rotate)
    p = isub.add_parser("retire", help="stop all further issuance by an issuer",
                        description="Retire an issuer: no more issuance; earlier credentials "
                                    "keep their history.  Signed by the issuer's current key "
                                    "or a governance key.")
    p.add_argument("--key", required=True, metavar="KEYFILE",
                   help="the issuer's current key or a governance key")
    p.add_argument("--issuer", metavar="DID", help="the issuer (default: the did:key of --key)")
    _common(p, node=True)
    p.set_defaults(func=cmd_issuer_retire)

    p = sub.add_parser("sign", help="add an eddsa-jcs-2022 Data Integrity proof to a credential",
                       description="Secure a credential with a W3C Data Integrity proof "
                                   "(DataIntegrityProof, eddsa-jcs-2022) by KEY, as Open Badges "
                                   "3.0 and VC 2.0 verifiers expect; then issue or anchor the "
                                   "signed file.  Refuses a file that already has a proof "
                                   "unless --add.")
    p.add_argument("credential", metavar="CREDENTIAL.json")
    p.add_argument("--key", required=True, metavar="KEYFILE",
                   help="the issuer's current key file")
    p.add_argument("--out", metavar="FILE", help="write here instead of replacing the file")
    p.add_argument("--add", action="store_true",
                   help="add this proof to a proof set when the file already has a proof")
    _common(p)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("issue", help="put one credential's digest on the ledger",
                       description="Compute the credential's RFC 8785 digest, sign a "
                                   "credential.issue event, submit it and wait for commit.")
    p.add_argument("credential", metavar="CREDENTIAL.json")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the issuer's key file")
    p.add_argument("--issuer", metavar="DID",
                   help="the issuer, if not the did:key of --key (after a rotation)")
    _common(p, node=True)
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("anchor", help="anchor a whole batch of credentials in one event",
                       description="Digest every credential (a folder of .json files, .json "
                                   "files, or .jsonl files with one credential per line), build "
                                   "the batch tree, submit one batch.anchor event, wait for "
                                   "commit, and write one receipt per credential (OUTDIR/"
                                   "<digest>.json) plus OUTDIR/index.jsonl.")
    p.add_argument("sources", nargs="+", metavar="DIR_OR_FILE")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the issuer's key file")
    p.add_argument("--receipts", required=True, metavar="OUTDIR", help="folder for receipts")
    p.add_argument("--batch-id", metavar="ID",
                   help="batch identifier (default: the date and the root's first 12 hex digits)")
    p.add_argument("--issuer", metavar="DID",
                   help="the issuer, if not the did:key of --key (after a rotation)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="digesting processes (default: one per CPU, at most 8)")
    _common(p, node=True)
    p.set_defaults(func=cmd_anchor)

    p = sub.add_parser("revoke", help="revoke a credential or a whole batch",
                       description="Revoke one credential (by file or digest; a batched one "
                                   "needs its --receipt) or a whole batch.")
    p.add_argument("credential", nargs="?", metavar="CREDENTIAL.json")
    p.add_argument("--digest", metavar="HEX", help="the credential digest instead of the file")
    p.add_argument("--batch", metavar="ID", help="revoke every credential of this batch")
    p.add_argument("--receipt", metavar="RECEIPT", help="the receipt of a batched credential")
    p.add_argument("--reason", required=True, metavar="CODE",
                   help="by name or code: " + ", ".join(
                       f"{r.label} ({r.value})" for r in RevocationReason))
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--key", metavar="KEYFILE", help="the issuer's key file")
    signer.add_argument("--admin-key", metavar="KEYFILE",
                        help="a governance key file: revoke any issuer's credential (with "
                             "--issuer)")
    p.add_argument("--issuer", metavar="DID",
                   help="the issuer, if not the did:key of --key (after a rotation, or with "
                        "--admin-key)")
    _common(p, node=True)
    p.set_defaults(func=cmd_revoke)

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
            _max_age_option(p, f"{STATUS_MAX_AGE // 60} minutes, with --trust")
        else:
            p.add_argument("--trust", required=True, metavar="TRUSTFILE",
                           help="the network's trust file")
            _max_age_option(p, f"{STATUS_MAX_AGE // 60} minutes")
        _common(p, node=True)
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
    _common(p, node=True)
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
    _max_age_option(p, "the trust file's max_age_seconds")
    _common(p)
    p.set_defaults(func=cmd_verify)

    pathway = sub.add_parser("pathway", help="define, retire, bundle and verify pathways",
                             description="Pathways: composite qualifications made of several "
                                         "credentials (docs/pathways.md).")
    psub = pathway.add_subparsers(dest="pathway_command", required=True, metavar="ACTION")
    p = psub.add_parser("define", help="publish a version of a pathway definition",
                        description="Check DEFINITION.json against the pathway schema "
                                    "(docs/protocol.md §17.1), sign a pathway.define with its "
                                    "digest and wait for commit.  Version 1 starts a pathway; "
                                    "each next version supersedes the one before.")
    p.add_argument("definition", metavar="DEFINITION.json")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the owner's current key")
    p.add_argument("--issuer", metavar="DID",
                   help="the owner, if not the did:key of --key (after a rotation)")
    _common(p, node=True)
    p.set_defaults(func=cmd_pathway_define)
    p = psub.add_parser("retire", help="retire a pathway: no version of it verifies any more",
                        description="Retire a pathway; signed by the owner's current key "
                                    "(also after the owner retired) or a governance key.")
    p.add_argument("pathway_id", metavar="PATHWAY_ID")
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--key", metavar="KEYFILE", help="the owner's key file")
    signer.add_argument("--admin-key", metavar="KEYFILE",
                        help="a governance key file (with --issuer)")
    p.add_argument("--issuer", metavar="DID",
                   help="the owner, if not the did:key of --key (after a rotation, or with "
                        "--admin-key)")
    _common(p, node=True)
    p.set_defaults(func=cmd_pathway_retire)
    p = psub.add_parser("bundle", help="fetch and check an offline proof of a pathway",
                        description="Fetch the proofs of the current version of the pathway, "
                                    "verify them with the definition document under the trust "
                                    "file, and only then write the pathway bundle.  Exit 0 "
                                    "valid, 5 stale, 4 (nothing written) invalid.")
    p.add_argument("pathway_id", metavar="PATHWAY_ID")
    p.add_argument("--issuer", required=True, metavar="DID", help="the owner's did:key")
    p.add_argument("--trust", required=True, metavar="TRUSTFILE", help="the network's trust file")
    p.add_argument("--out", required=True, metavar="FILE", help="pathway bundle file to write")
    p.add_argument("--definition", metavar="DEFINITION.json",
                   help="the definition document (default: fetched from PATHWAY_ID; only its "
                        "digest is on the ledger)")
    _max_age_option(p, "the trust file's max_age_seconds")
    _common(p, node=True)
    p.set_defaults(func=cmd_pathway_bundle)
    p = psub.add_parser("verify", help="check credentials against a pathway, offline",
                        description="Verify the pathway bundle and every credential (each as "
                                    "`vcledger verify` does), then evaluate the pathway's rule. "
                                    " Exit 0 complete, 7 incomplete, 4 invalid pathway bundle.")
    p.add_argument("pathway_bundle", metavar="PATHWAY_BUNDLE")
    p.add_argument("--bundle", action="append", metavar="BUNDLE",
                   help="a credential's bundle (repeatable; pairs with --credential in order)")
    p.add_argument("--credential", action="append", metavar="CREDENTIAL.json",
                   help="the credential file of the --bundle at the same position")
    p.add_argument("--trust", required=True, metavar="TRUSTFILE", help="the network's trust file")
    p.add_argument("--holder", metavar="ID",
                   help="the holder every credential must name as credentialSubject.id "
                        "(default: the subject of the first credential that verifies)")
    p.add_argument("--owner", metavar="ID",
                   help="the pathway owner you expect (its did:key or one of its identifiers)")
    _max_age_option(p, "the trust file's max_age_seconds")
    _common(p)
    p.set_defaults(func=cmd_pathway_verify)

    p = sub.add_parser("monitor", help="watch nodes for split views",
                       description="Fetch each node's checkpoint, verify it under the trust "
                                   "file, prove it consistent with the last recorded one and "
                                   "with the other nodes', and record the newest in --state.  "
                                   "Exit 4 with both signed checkpoints on a split view.")
    p.add_argument("--node", action="append", metavar="URL",
                   help=f"node API URL (repeatable; default: ${NODE_ENV})")
    p.add_argument("--trust", required=True, metavar="TRUSTFILE", help="the network's trust file")
    p.add_argument("--state", metavar="FILE",
                   help="where the last verified checkpoint is kept (default: the network's "
                        "file in $VCLEDGER_STATE_DIR or $XDG_STATE_HOME/vcledger, shared with "
                        "status and refresh)")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.add_argument("--interval", type=float, default=10.0, metavar="SECONDS",
                   help="pause between rounds (default 10)")
    p.add_argument("--max-rounds", type=int, metavar="N", help="stop after N rounds")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="give up on a node after this long (default 30)")
    p.add_argument("--issuer", metavar="DID",
                   help="instead, read every new log entry once and report the events under "
                        "this did:key that --expect does not account for (exit 8)")
    p.add_argument("--expect", action="append", metavar="RECORDS",
                   help="with --issuer: a folder of the issuer's records (vcledger --json "
                        "outputs, anchor receipts) or a file of event hashes (repeatable)")
    p.add_argument("--rescan", action="store_true",
                   help="with --issuer: read the log from the start and report again")
    p.add_argument("--json", action="store_true", help="print one JSON object per round")
    p.set_defaults(func=cmd_monitor)
    return parser


def _fail(args: argparse.Namespace | None, exc: LedgerError) -> int:
    message = exc.diagnostics()
    if args is not None and getattr(args, "json", False):
        as_json = getattr(exc, "as_json", None)
        detail = as_json() if callable(as_json) else {"code": exc.code, "message": message}
        _print_json({"error": detail})
    # A fork's evidence is two multi-line notes, printed line by line (each escaped);
    # every other message is one line, whatever control characters it quotes.
    first, *rest = message.split("\n") if isinstance(exc, ForkDetected) else [message]
    print(f"{PROG}: error: {_printable(first)}", file=sys.stderr)
    for line in rest:
        print(f"  {_printable(line)}", file=sys.stderr)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
    except _ArgumentError as exc:
        return _fail(argparse.Namespace(json="--json" in arguments), exc)
    except SystemExit as exc:  # --help and --version (0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        result: int = args.func(args)
        return result
    except LedgerError as exc:
        return _fail(args, exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place that keeps tracebacks from users
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
