"""``vcledger pathway ...``: define, retire, bundle and verify pathways (docs/pathways.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client import credentials
from client.bundle import (
    MAX_BUNDLE_SIZE,
)
from client.cli_shared import (
    add_common_options,
    add_max_age_option,
    checked_did,
    chosen_max_age,
    event_lines,
    issuer_for_key,
    network_origin,
    now,
    read_trust,
    remember_checkpoint,
    report_result,
    run_async,
    submit,
    with_node,
)
from client.errors import InvalidEncoding, UsageError, VerificationError
from client.events import (
    PathwayDefine,
    PathwayRetire,
    check_pathway_id,
)
from client.files import InputFileError, read_input_file, write_output_file
from client.keys import read_key_file

if TYPE_CHECKING:
    from client.http import NodeClient
    from client.pathway import Definition, PathwayBundle
    from client.pathway_verdict import PathwayBundleVerdict


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
    owner = issuer_for_key(args, key)
    if model.owner is not None and model.owner != owner:
        raise UsageError(f"definition file {args.definition} names owner {model.owner}; it "
                         f"would be signed for {owner} (pass --issuer, or fix the file)")
    payload = PathwayDefine(owner, model.id, model.version, definition.digest)
    _, info = run_async(with_node(args, lambda node: submit(node, payload, key,
                                                                 "pathway.define")))
    info.update(owner=owner, pathway_id=model.id, version=model.version, name=model.name,
                definition_digest=definition.digest.hex(), rule=model.rule_text())
    report_result(args, info, [
        f'defined pathway "{model.name}" version {model.version}: {model.id}',
        f"  owner {owner}", f"  rule: {model.rule_text()}",
        f"  definition digest {definition.digest.hex()}", *event_lines(info)[1:],
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
    owner = issuer_for_key(args, key)
    payload = PathwayRetire(owner, pathway_id)
    _, info = run_async(with_node(args, lambda node: submit(node, payload, key,
                                                                 "pathway.retire")))
    by = "governance" if args.admin_key is not None else "owner"
    info.update(owner=owner, pathway_id=pathway_id, by=by)
    report_result(args, info, [f"retired pathway {pathway_id} of {owner} (by {by}); no version "
                               "of it verifies any more", *event_lines(info)])
    return 0


def cmd_pathway_bundle(args: argparse.Namespace) -> int:
    from client.http import fetch_definition, fetch_pathway_bundle  # noqa: PLC0415
    from client.pathway import format_pathway_bundle, parse_definition  # noqa: PLC0415
    from client.pathway_verify import verify_pathway_bundle  # noqa: PLC0415

    pathway_id = _pathway_id(args.pathway_id)
    owner = checked_did(args.issuer, "--issuer")
    trust = read_trust(args.trust)
    out = Path(args.out)
    max_age = chosen_max_age(args)

    async def fetch(node: NodeClient) -> tuple[PathwayBundle, PathwayBundleVerdict]:
        await network_origin(node, trust)
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
        verdict = verify_pathway_bundle(bundle, trust, now=now(), max_age=max_age)
        if verdict.status != "invalid":
            await remember_checkpoint(node, bundle.event_proof.checkpoint_note, trust)
        return bundle, verdict

    bundle, verdict = run_async(with_node(args, fetch))
    if verdict.status == "invalid":
        raise VerificationError(f"the pathway bundle assembled from {args.node or 'the node'} "
                                f"does not verify, so it was not written: {verdict.message}")
    write_output_file(out, format_pathway_bundle(bundle))
    report_result(args, {"bundle": str(out), "verdict": verdict.as_json()},
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
    trust = read_trust(args.trust)
    max_age = chosen_max_age(args)
    pathway = read_input_file(args.pathway_bundle, "pathway bundle file",
                              MAX_PATHWAY_BUNDLE_SIZE + 1)
    pairs = [(read_input_file(b, "bundle file", MAX_BUNDLE_SIZE + 1),
              read_input_file(c, "credential file", credentials.MAX_CREDENTIAL_SIZE))
             for b, c in zip(bundles, files, strict=True)]
    verdict = verify_pathway(pathway, pairs, trust, now=now(), max_age=max_age,
                             holder=args.holder, expected_owner=args.owner, labels=files)
    report_result(args, verdict.as_json(), verdict.lines())
    return verdict.exit_code


def add_pathway_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """``pathway`` with its actions."""
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
    add_common_options(p, node=True)
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
    add_common_options(p, node=True)
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
    add_max_age_option(p, "the trust file's max_age_seconds")
    add_common_options(p, node=True)
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
    add_max_age_option(p, "the trust file's max_age_seconds")
    add_common_options(p)
    p.set_defaults(func=cmd_pathway_verify)
