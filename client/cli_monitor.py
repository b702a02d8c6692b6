"""``vcledger monitor``: watch nodes for split views, or one issuer's events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from client.cli_shared import (
    NODE_ENV,
    checked_did,
    now,
    printable,
    read_trust,
    report_result,
    run_async,
)
from client.errors import UsageError
from client.trust import Trust


def cmd_monitor(args: argparse.Namespace) -> int:
    from client.http import NodeClient  # noqa: PLC0415
    from client.monitor import monitor_once  # noqa: PLC0415

    trust = read_trust(args.trust)
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
                report = await monitor_once(clients, trust, now=now(), state_path=state_path)
                _print_round(args, number, report)
                worst = max(worst, report.exit_code)
                if report.exit_code == 4:
                    break  # evidence printed; a split view needs a human
        finally:
            for client in clients:
                await client.close()
        return worst

    return run_async(run())


def _watch_issuer(args: argparse.Namespace, trust: Trust, urls: list[str],
                  state_path: Path | None) -> int:
    from client.http import normalize_node_url  # noqa: PLC0415
    from client.issuer_watch import load_records  # noqa: PLC0415
    from client.monitor import watch_issuer_on_any  # noqa: PLC0415

    issuer = checked_did(args.issuer, "--issuer")
    # Every URL checked now: a typo in a fallback must not wait for the first node's outage.
    nodes = [normalize_node_url(url) for url in urls]
    records = load_records([Path(path) for path in args.expect or ()])
    report = run_async(watch_issuer_on_any(nodes, trust, issuer, records, timeout=args.timeout,
                                           now=now(), state_path=state_path,
                                           rescan=args.rescan))
    report_result(args, report.as_json(), report.lines())
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
        print(printable(line))
    sys.stdout.flush()


def add_monitor_command(sub: argparse._SubParsersAction[Any]) -> None:
    """monitor."""
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
