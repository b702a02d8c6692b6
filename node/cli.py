"""``vcledger-node``: create a network (``init``) and run a node (``run``)."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import io
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from client.errors import LedgerError, UsageError
from client.keys import read_key_file
from node.api import LINGER_S, GuardedSite
from node.assembly import assemble_node, wall_clock_from_environment
from node.config import load_genesis, load_node_config, parse_listen
from node.errors import ConfigError
from node.setup import DEFAULT_ORIGIN, init_single_node

log = logging.getLogger("vcledger.node")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _init(args: argparse.Namespace) -> int:
    try:
        parse_listen(args.listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from exc
    directory = Path(args.dir)
    genesis = init_single_node(directory, origin=args.origin, listen=args.listen)
    print(f"created a one-validator network {genesis.origin!r} in {directory}")
    print(f"  run it:          vcledger-node run --config {directory / 'node.toml'}")
    print(f"  verifiers trust: {directory / 'trust.json'}")
    print(f"  governance key:  {directory / 'governance.key'} (registers issuers)")
    return 0


async def _serve(config_path: Path) -> bool:
    """Run the node until a signal; False if it had to stop because of a failure."""
    failed = False
    config = load_node_config(config_path)
    genesis = load_genesis(config.genesis)
    key = read_key_file(config.key) if config.key is not None else None
    node = assemble_node(config, genesis, key, clock=wall_clock_from_environment(os.environ))
    service, producer = node.service, node.producer
    runner: web.AppRunner | None = None
    try:
        access = logging.getLogger("vcledger.access")
        access.setLevel(logging.INFO if log.isEnabledFor(logging.DEBUG) else logging.WARNING)
        runner = web.AppRunner(node.app, access_log=access, shutdown_timeout=5.0,
                               keepalive_timeout=15, max_line_size=8190, max_field_size=8190,
                               lingering_time=LINGER_S)
        await runner.setup()
        # Guarded: a connection limit and deadlines, so slow clients cannot stall the node.
        site = GuardedSite(runner, config.host, config.port, backlog=config.api.max_connections)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {config.host}:{config.port}: "
                              f"{exc.strerror or exc}; is another node (or program) using that "
                              "port? Change `listen` in the node file") from exc
        await service.start(producer)
        log.info("node %s serving %s on http://%s:%d (height %d)",
                 service.validator_name or "observer", genesis.origin, config.host, config.port,
                 service.ledger.head.height)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR2, _dump_tasks)
        waiting: set[asyncio.Future[object]] = {asyncio.ensure_future(stop.wait())}
        if service.producer_task is not None:
            waiting.add(service.producer_task)  # type: ignore[arg-type]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            failed = True
            log.error("block production stopped unexpectedly; shutting the node down")
        log.info("stopping: finishing the block in flight and closing the database")
    finally:
        # Peers first (their sockets would hold the HTTP server open), then the
        # server, then the database.
        await service.stop_producer()
        if runner is not None:
            await runner.cleanup()
        await service.close()
    log.info("stopped cleanly" if not failed else "stopped after a failure")
    return not failed


def _dump_tasks() -> None:
    """`kill -USR2 PID`: log where every asyncio task of the node is waiting."""
    for task in asyncio.all_tasks():
        stream = io.StringIO()
        task.print_stack(file=stream)
        log.warning("task %s:\n%s", task.get_name(), stream.getvalue())


def _run(args: argparse.Namespace) -> int:
    # `kill -USR1 PID` writes every thread's stack to the log: for diagnosing a stuck node.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    return 0 if asyncio.run(_serve(Path(args.config))) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcledger-node",
                                     description="Run a vcledger ledger node.")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a one-validator network in a directory")
    init.add_argument("--dir", required=True, help="directory to create the files in")
    init.add_argument("--origin", default=DEFAULT_ORIGIN,
                      help=f"network name / checkpoint origin (default {DEFAULT_ORIGIN})")
    init.add_argument("--listen", default="127.0.0.1:7700", help="HOST:PORT to serve on")
    init.set_defaults(func=_init)
    run = sub.add_parser("run", help="run a node")
    run.add_argument("--config", required=True, help="path of node.toml")
    run.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                     default=os.environ.get("VCLEDGER_LOG_LEVEL", "INFO").upper(),
                     help="default INFO, or $VCLEDGER_LOG_LEVEL")
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "log_level", "INFO") not in LOG_LEVELS:  # argparse skips defaults
        parser.error(f"VCLEDGER_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(level=getattr(args, "log_level", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except LedgerError as exc:
        print(f"vcledger-node: error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
