"""``vcledger keygen`` and ``vcledger issuer ...``: making keys and issuer governance
(register, update, compromised, rotate, retire).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.cli_shared import (
    add_common_options,
    checked_did,
    event_lines,
    issuer_for_key,
    issuer_record,
    report_result,
    run_async,
    submit,
    with_node,
)
from client.errors import InvalidEncoding, UsageError
from client.events import (
    MAX_COMPROMISE_REASON,
    IssuerCompromise,
    IssuerRegister,
    IssuerRetire,
    IssuerRotate,
    IssuerUpdate,
    issuer_ids,
)
from client.keys import KeyPair, public_key_from_did, read_key_file, write_key_file
from client.note import SIG_COSIGNATURE_V1, verifier_key

if TYPE_CHECKING:
    from client.http import NodeClient


def cmd_keygen(args: argparse.Namespace) -> int:
    key = KeyPair.generate()
    path = Path(args.out)
    write_key_file(path, key.seed)
    name = args.name or path.stem
    vkey = verifier_key(name, key.public_key, sig_type=SIG_COSIGNATURE_V1)
    report_result(args, {"key_file": str(path), "did": key.did, "public_key": key.public_key.hex(),
                         "verifier_key": vkey},
                  [f"wrote {path} (mode 0600)", f"did:           {key.did}",
                   f"verifier key:  {vkey}"])
    return 0


def _ids(values: Sequence[str] | None) -> tuple[str, ...]:
    try:
        return issuer_ids(values or ())
    except InvalidEncoding as exc:
        raise UsageError(f"--id: {exc.diagnostics()}") from exc


def _identity_lines(name: str, ids: Sequence[str]) -> list[str]:
    return [f"  name: {name!r}", f"  identifiers: {', '.join(ids) or '(none: only its did:key)'}"]


def cmd_issuer_register(args: argparse.Namespace) -> int:
    issuer = checked_did(args.issuer, "--issuer")
    ids = _ids(args.id)
    admin = read_key_file(args.admin_key)
    payload = IssuerRegister(issuer, args.name, public_key_from_did(issuer), ids)
    _, info = run_async(with_node(args, lambda node: submit(node, payload, admin,
                                                                 "issuer.register")))
    info.update(issuer=issuer, name=args.name, ids=list(ids))
    report_result(args, info, [f"registered issuer {issuer}", *_identity_lines(args.name, ids),
                               *event_lines(info)])
    return 0


def cmd_issuer_update(args: argparse.Namespace) -> int:
    issuer = checked_did(args.issuer, "--issuer")
    if args.name is None and args.id is None:
        raise UsageError("give --name, --id (repeatable), or both: they replace the current ones")
    admin = read_key_file(args.admin_key)

    async def update(node: NodeClient) -> tuple[IssuerUpdate, dict[str, Any]]:
        record = await issuer_record(node, issuer)
        payload = IssuerUpdate(issuer, record.name if args.name is None else args.name,
                               record.ids if args.id is None else _ids(args.id))
        _, info = await submit(node, payload, admin, "issuer.update")
        return payload, info

    payload, info = run_async(with_node(args, update))
    info.update(issuer=issuer, name=payload.name, ids=list(payload.ids))
    report_result(args, info, [f"updated issuer {issuer}; events from now on name it as",
                               *_identity_lines(payload.name, payload.ids), *event_lines(info)])
    return 0


def cmd_issuer_compromised(args: argparse.Namespace) -> int:
    issuer = checked_did(args.issuer, "--issuer")
    if args.since_index < 0:
        raise UsageError("--since-index must be a log index (0 or more)")
    size = len(args.reason.encode("utf-8", "surrogatepass"))
    if size > MAX_COMPROMISE_REASON:
        raise UsageError(f"--reason is {size} bytes of UTF-8; at most {MAX_COMPROMISE_REASON}")
    admin = read_key_file(args.admin_key)
    payload = IssuerCompromise(issuer, args.since_index, args.reason)
    _, info = run_async(with_node(args, lambda node: submit(node, payload, admin,
                                                                 "issuer.compromise")))
    info.update(issuer=issuer, since_index=args.since_index, reason=args.reason)
    report_result(args, info, [
        f"issuer {issuer} is marked compromised from log index {args.since_index} and retired",
        "  everything it issued, anchored or rotated at that index or later now verifies "
        "revoked (key_compromise); earlier credentials keep their verdict",
        *event_lines(info),
        "  register the institution again under a new did:key with the same --id values"])
    return 0


def cmd_issuer_rotate(args: argparse.Namespace) -> int:
    old = read_key_file(args.key)
    new = read_key_file(args.new_key)
    issuer = issuer_for_key(args, old)
    payload = IssuerRotate(issuer, new.public_key)
    _, info = run_async(with_node(args, lambda node: submit(node, payload, old,
                                                                 "issuer.rotate")))
    info.update(issuer=issuer, new_public_key=new.public_key.hex())
    report_result(args, info, [f"issuer {issuer} now signs with {new.public_key.hex()}",
                               *event_lines(info),
                               f"  sign from now on with --key {args.new_key} --issuer {issuer}"])
    return 0


def cmd_issuer_retire(args: argparse.Namespace) -> int:
    key = read_key_file(args.key)
    issuer = issuer_for_key(args, key)
    payload = IssuerRetire(issuer)
    _, info = run_async(with_node(args, lambda node: submit(node, payload, key,
                                                                 "issuer.retire")))
    info["issuer"] = issuer
    report_result(args, info, [f"retired issuer {issuer}; its earlier credentials keep their "
                               "history", *event_lines(info)])
    return 0


def _governance_options(parser: argparse.ArgumentParser) -> None:
    """--admin-key and --issuer, both required: an issuer command signed by governance."""
    parser.add_argument("--admin-key", required=True, metavar="KEYFILE",
                        help="governance key file")
    parser.add_argument("--issuer", required=True, metavar="DID", help="the issuer's did:key")


def add_issuer_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """keygen, and ``issuer`` with its actions."""
    p = sub.add_parser("keygen", help="create a new Ed25519 key file (mode 0600)",
                       description="Create a new Ed25519 key file and print its did:key and "
                                   "its note verifier key.")
    p.add_argument("--out", required=True, metavar="KEYFILE", help="file to create (never "
                   "overwritten)")
    p.add_argument("--name", help="key name in the verifier key (default: the file name)")
    add_common_options(p)
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
    add_common_options(p, node=True)
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
    add_common_options(p, node=True)
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
    add_common_options(p, node=True)
    p.set_defaults(func=cmd_issuer_compromised)
    p = isub.add_parser("rotate", help="replace the issuer's signing key",
                        description="Replace the issuer's signing key; signed by the current "
                                    "key.")
    p.add_argument("--key", required=True, metavar="OLDKEY", help="the current key file")
    p.add_argument("--new-key", required=True, metavar="NEWKEY", help="the new key file")
    p.add_argument("--issuer", metavar="DID", help="the issuer (default: the did:key of --key)")
    add_common_options(p, node=True)
    p.set_defaults(func=cmd_issuer_rotate)
    p = isub.add_parser("retire", help="stop all further issuance by an issuer",
                        description="Retire an issuer: no more issuance; earlier credentials "
                                    "keep their history.  Signed by the issuer's current key "
                                    "or a governance key.")
    p.add_argument("--key", required=True, metavar="KEYFILE",
                   help="the issuer's current key or a governance key")
    p.add_argument("--issuer", metavar="DID", help="the issuer (default: the did:key of --key)")
    add_common_options(p, node=True)
    p.set_defaults(func=cmd_issuer_retire)
