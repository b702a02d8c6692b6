"""``vcledger sign``, ``issue``, ``anchor`` and ``revoke``: the commands that put a
credential's life on the ledger.  Digesting and receipts for ``anchor`` live in
client/anchoring.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client import anchoring, credentials
from client.batch import build_batch
from client.cli_shared import (
    add_common_options,
    event_lines,
    issuer_for_key,
    issuer_record,
    node_url,
    now,
    read_receipt,
    report_result,
    run_async,
    submit,
    with_node,
)
from client.errors import InvalidEncoding, UsageError
from client.events import (
    BATCH_ID_PATTERN,
    BatchAnchor,
    BatchRevoke,
    CredentialIssue,
    CredentialRevoke,
    Payload,
    RevocationReason,
    SignedEvent,
)
from client.files import InputFileError, read_input_file, write_output_file
from client.hashes import Hash, hash_from_hex
from client.keys import read_key_file

if TYPE_CHECKING:
    from client.http import NodeClient


def _credential_digest(path: str) -> Hash:
    data = read_input_file(path, "credential file", credentials.MAX_CREDENTIAL_SIZE)
    try:
        return credentials.digest(data)
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {path}: {exc.diagnostics()}") from exc


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
    created = dt.datetime.fromtimestamp(now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        secured = vc.add_proof(document, key, created=created)
        text = credentials.canonical_json(secured)  # the same numbers, exactly
    except InvalidEncoding as exc:
        raise InputFileError(f"credential file {source}: {exc.diagnostics()}") from exc
    pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    write_output_file(out, pretty)
    proof = vc.embedded_proofs(json.loads(text))[-1]
    report_result(args, {"credential": str(out), "verification_method": proof["verificationMethod"],
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
    issuer = issuer_for_key(args, key)
    payload = CredentialIssue(issuer, Hash(digest))

    async def issue(node: NodeClient) -> tuple[SignedEvent, dict[str, Any]]:
        record = await issuer_record(node, issuer)
        anchoring.check_named_issuers(record, [(args.credential, named)])
        anchoring.check_proof_keys(key, [(args.credential, proof_keys)])
        return await submit(node, payload, key, "credential.issue")

    _, info = run_async(with_node(args, issue))
    info.update(issuer=issuer, credential_digest=digest.hex())
    report_result(args, info, [f"issued credential {digest.hex()}", f"  issuer {issuer}",
                               *event_lines(info)[1:], f"  event {info['event_hash']}"])
    return 0


# -- anchor --------------------------------------------------------------------------------


def cmd_anchor(args: argparse.Namespace) -> int:
    started = time.monotonic()
    key = read_key_file(args.key)
    issuer = issuer_for_key(args, key)
    outdir = Path(args.receipts)
    if (outdir / "index.jsonl").exists():
        raise UsageError(f"{outdir} already holds the receipts of a batch (index.jsonl); "
                         "choose a new --receipts folder")
    if args.batch_id is not None and not BATCH_ID_PATTERN.fullmatch(args.batch_id):
        raise UsageError(f"--batch-id {args.batch_id!r} is not a batch id (1..128 of "
                         "A-Z a-z 0-9 . _ : -, starting with a letter or digit)")
    node_url(args)  # fail on a missing --node before the long part
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
        anchoring.check_named_issuers(await issuer_record(node, issuer), named)
        anchoring.check_proof_keys(key, proof_keys)
        # Made only once nothing stands in the way, and before signing: receipts must
        # have somewhere to go once the batch is on the ledger.
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFileError(f"cannot create {outdir}: {exc.strerror}") from exc
        return await submit(node, payload, key, "batch.anchor")

    event, info = run_async(with_node(args, anchor))
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
    report_result(args, info, [
        f"anchored batch {batch_id!r}: {tree.size} credentials, root {tree.root.hex()}",
        *event_lines(info),
        f"  wrote {tree.size} receipts and index.jsonl to {outdir} "
        f"in {finished - started:.1f} s",
    ])
    return 0


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
    issuer = issuer_for_key(args, key)
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
            receipt = read_receipt(args.receipt)
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
    _, info = run_async(with_node(args, lambda node: submit(node, payload, key,
                                                                 payload.kind.value)))
    info.update(info_extra)
    report_result(args, info, [f"revoked {what} ({reason.label}, by {by})", *event_lines(info)])
    return 0


def add_issuance_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """sign, issue, anchor and revoke."""
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
    add_common_options(p)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("issue", help="put one credential's digest on the ledger",
                       description="Compute the credential's RFC 8785 digest, sign a "
                                   "credential.issue event, submit it and wait for commit.")
    p.add_argument("credential", metavar="CREDENTIAL.json")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the issuer's key file")
    p.add_argument("--issuer", metavar="DID",
                   help="the issuer, if not the did:key of --key (after a rotation)")
    add_common_options(p, node=True)
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
    add_common_options(p, node=True)
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
    add_common_options(p, node=True)
    p.set_defaults(func=cmd_revoke)
