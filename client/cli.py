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
import sys
from collections.abc import Sequence
from typing import NoReturn

from client.cli_issuance import add_issuance_commands
from client.cli_issuers import add_issuer_commands
from client.cli_monitor import add_monitor_command
from client.cli_pathways import add_pathway_commands
from client.cli_shared import (
    PROG,
    print_json,
    printable,
)
from client.cli_verification import add_verification_commands
from client.errors import LedgerError, UsageError
from client.state import ForkDetected
from client.version import installed_version


class _ArgumentError(UsageError):
    code = "usage"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so :func:`main` reports usage errors like
    every other error (one JSON form under --json)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _ArgumentError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Issue, anchor, revoke and verify credentials on a vcledger network.",
        epilog="Exit codes: 0 success/valid/complete, 1 node or file error, 2 usage error, "
               "3 revoked, 4 invalid, 5 stale, 6 expired or not yet valid, 7 incomplete "
               "(pathway verify), 8 unexpected events (monitor --issuer).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_issuer_commands(sub)
    add_issuance_commands(sub)
    add_verification_commands(sub)
    add_pathway_commands(sub)
    add_monitor_command(sub)
    return parser


def _fail(args: argparse.Namespace | None, exc: LedgerError) -> int:
    message = exc.diagnostics()
    if args is not None and getattr(args, "json", False):
        as_json = getattr(exc, "as_json", None)
        detail = as_json() if callable(as_json) else {"code": exc.code, "message": message}
        print_json({"error": detail})
    # A fork's evidence is two multi-line notes, printed line by line (each escaped);
    # every other message is one line, whatever control characters it quotes.
    first, *rest = message.split("\n") if isinstance(exc, ForkDetected) else [message]
    print(f"{PROG}: error: {printable(first)}", file=sys.stderr)
    for line in rest:
        print(f"  {printable(line)}", file=sys.stderr)
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

