"""What every ``vcledger`` command uses: talking to a node, submitting a signed event,
reading the common input files, and printing results (one JSON document under ``--json``,
otherwise lines escaped so untrusted text cannot steer the terminal).

Nothing here imports client.http at module level: ``verify`` and ``pathway verify`` stay
offline, and :func:`with_node` loads the HTTP client only when a command needs a node.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from client.bundle import (
    MAX_RECEIPT_SIZE,
    CredentialReceipt,
    parse_receipt,
)
from client.durations import parse_max_age
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.events import (
    Payload,
    SignedEvent,
    sign_event,
)
from client.files import InputFileError, read_input_file
from client.keys import KeyPair, public_key_from_did
from client.status import (
    IssuerRecord,
    decode_record,
)
from client.trust import MAX_TRUST_FILE_SIZE, Trust, parse_trust
from client.verdict import (
    TRUST_POLICY,
    TrustPolicy,
)

if TYPE_CHECKING:
    from client.http import NodeClient


PROG = "vcledger"
NODE_ENV = "VCLEDGER_NODE"

T = TypeVar("T")


class UnknownIssuer(LedgerError):
    """The node has no record of the issuer a command signs for."""

    code = "unknown_issuer"
    exit_code = 1


def read_receipt(path: str) -> CredentialReceipt:
    data = read_input_file(path, "receipt file", MAX_RECEIPT_SIZE)
    try:
        return parse_receipt(data, f"receipt file {path}")
    except InvalidEncoding as exc:
        raise InputFileError(exc.diagnostics()) from exc


def read_trust(path: str) -> Trust:
    return parse_trust(read_input_file(path, "trust file", MAX_TRUST_FILE_SIZE), path)


def checked_did(text: str, what: str) -> str:
    try:
        public_key_from_did(text)
    except InvalidEncoding as exc:
        raise UsageError(f"{what}: {exc.diagnostics()}") from exc
    return text


def node_url(args: argparse.Namespace) -> str:
    url: str | None = args.node or os.environ.get(NODE_ENV)
    if not url:
        raise UsageError(f"no node given: pass --node URL or set {NODE_ENV}")
    return url


def now() -> int:
    return int(time.time())


def print_json(document: object) -> None:
    print(json.dumps(document, indent=2))


def run_async(coroutine: Awaitable[T]) -> T:
    async def runner() -> T:
        return await coroutine
    return asyncio.run(runner())


async def with_node(args: argparse.Namespace, action: Callable[[NodeClient], Awaitable[T]]
                    ) -> T:
    from client.http import NodeClient  # noqa: PLC0415 - verify must not load aiohttp

    async with NodeClient(node_url(args), timeout=args.timeout) as node:
        return await action(node)


async def network_origin(node: NodeClient, trust: Trust | None) -> str:
    origin = await node.origin()
    if trust is not None and trust.origin != origin:
        raise UsageError(f"node {node.url} serves network {origin!r}, but the trust file is "
                         f"for {trust.origin!r}")
    return origin


async def submit(node: NodeClient, payload: Payload, key: KeyPair, what: str,
                 trust: Trust | None = None) -> tuple[SignedEvent, dict[str, Any]]:
    origin = await network_origin(node, trust)
    event = sign_event(payload, origin=origin, key=key, created=now())
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


def printable(text: str) -> str:
    """``text`` as one line that cannot steer the terminal.

    Messages quote untrusted files (a member name of a hostile trust file or
    bundle): a carriage return or an escape sequence in one could overwrite
    "invalid" with "valid" on the screen, and bidirectional overrides could
    reorder it.  They are shown as ``\\xNN`` / ``\\uNNNN`` escapes instead.
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(map(_escape, text))


def report_result(args: argparse.Namespace, document: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        print_json(document)
    else:
        for line in lines:
            print(printable(line))


def event_lines(info: dict[str, Any]) -> list[str]:
    return [f"committed {info['kind']} event {info['event_hash']}",
            f"  log index {info['event_index']}, block height {info['height']}"]


async def issuer_record(node: NodeClient, issuer: str) -> IssuerRecord:
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


def issuer_for_key(args: argparse.Namespace, key: KeyPair) -> str:
    return checked_did(args.issuer, "--issuer") if args.issuer else key.did


def parse_moment(text: str | None, what: str) -> int | None:
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


def chosen_max_age(args: argparse.Namespace, default: int | None = None
                   ) -> int | TrustPolicy | None:
    """--max-age as seconds, None for ``none``, or the trust file's policy."""
    if args.max_age is None:
        return TRUST_POLICY if default is None else default
    return parse_max_age(args.max_age)


async def remember_checkpoint(node: NodeClient, checkpoint_note: str, trust: Trust) -> None:
    from client.state import check_and_remember  # noqa: PLC0415

    # A node (or a mirror in front of it) must not take us back in time.
    await check_and_remember(node, checkpoint_note, trust, now())


def add_common_options(parser: argparse.ArgumentParser, *, node: bool = False) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    if node:
        parser.add_argument("--node", metavar="URL",
                            help=f"node API URL, e.g. http://127.0.0.1:7700 (default: ${NODE_ENV})")
        parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                            help="give up on the node after this long (default 60)")


def add_max_age_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--max-age", metavar="DURATION",
                        help="the oldest checkpoint to accept, e.g. 90s, 15m, 24h, 7d, or "
                             f"'none' (default: {default}); older gives 'stale', exit 5")

