"""``vcledger-node``: create a network (``init``, or ``keygen`` + ``genesis`` for a
consortium), run a node (``run``), or try a whole network on one machine (``localnet``)."""

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
from client.version import installed_version
from node import localnet
from node.assembly import assemble_node, wall_clock_from_environment
from node.config import load_genesis, load_node_config, parse_listen
from node.connlimits import LINGER_S, GuardedSite
from node.errors import ConfigError
from node.logs import (
    FORMAT_VARIABLE,
    LEVEL_VARIABLE,
    LOG_FORMATS,
    LOG_LEVELS,
    configure_logging,
    default_format,
    default_level,
)
from node.provision import (
    DEFAULT_ORIGIN,
    assemble_genesis,
    generate_validator_key,
    init_single_node,
    parse_consensus_setting,
    parse_governance,
)

log = logging.getLogger("vcledger.node")


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


def _keygen(args: argparse.Namespace) -> int:
    key_path = Path(args.out)
    announced = generate_validator_key(key_path, args.name)
    print(announced)
    print(f"wrote {key_path} (keep it on this host, mode 0600); send the line above, your "
          "verifier key, to whoever assembles the genesis file", file=sys.stderr)
    return 0


def _genesis(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    governance = [parse_governance(text) for text in args.governance]
    consensus = dict(parse_consensus_setting(text) for text in args.consensus)
    genesis = assemble_genesis(directory, origin=args.origin, validator_keys=args.validator,
                               governance=governance, consensus=consensus)
    print(f"created the genesis of {genesis.origin!r}: {len(genesis.validators)} validators, "
          f"{genesis.quorum} of them needed to commit and to cosign a trusted checkpoint")
    print(f"  every validator runs with: {directory / 'genesis.toml'} (identical on every host)")
    print(f"  verifiers trust:           {directory / 'trust.json'}")
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


def _localnet(args: argparse.Namespace) -> int:
    if not 1 <= args.base_port <= 65535 - 32:
        raise UsageError(f"--base-port must be between 1 and {65535 - 32}")
    timeout = localnet.READY_TIMEOUT if args.ready_timeout is None else args.ready_timeout
    return localnet.run(Path(args.dir).resolve(), args.nodes, args.base_port, args.fresh, timeout)



def _dump_tasks() -> None:
    """`kill -USR2 PID`: log where every asyncio task of the node is waiting."""
    for task in asyncio.all_tasks():
        stream = io.StringIO()
        task.print_stack(file=stream)
        log.warning("task %s:\n%s", task.get_name(), stream.getvalue())


def _run(args: argparse.Namespace) -> int:
    # Only the long-running node logs; the one-shot commands print.  Configuring the whole
    # process's logging here, not in main, keeps them (and tests that call main) from
    # replacing whatever logging their caller set up.
    configure_logging(args.log_level, args.log_format)
    # `kill -USR1 PID` writes every thread's stack to the log: for diagnosing a stuck node.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    return 0 if asyncio.run(_serve(Path(args.config))) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcledger-node",
                                     description="Run a vcledger ledger node.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a one-validator network in a directory")
    init.add_argument("--dir", required=True, help="directory to create the files in")
    init.add_argument("--origin", default=DEFAULT_ORIGIN,
                      help=f"network name / checkpoint origin (default {DEFAULT_ORIGIN})")
    init.add_argument("--listen", default="127.0.0.1:7700", help="HOST:PORT to serve on")
    init.set_defaults(func=_init)
    keygen = sub.add_parser("keygen", help="create this validator's key for a new network and "
                                           "print the verifier key to send to the consortium")
    keygen.add_argument("--name", required=True,
                        help="this validator's name in the network, e.g. example.org/university")
    keygen.add_argument("--out", default="validator.key",
                        help="key file to create (default validator.key)")
    keygen.set_defaults(func=_keygen)
    genesis = sub.add_parser("genesis", help="assemble genesis.toml and trust.json from the "
                                             "validators' verifier keys")
    genesis.add_argument("--dir", required=True, help="directory to create the files in")
    genesis.add_argument("--origin", required=True, help="network name / checkpoint origin")
    genesis.add_argument("--validator", action="append", default=[], metavar="VERIFIER_KEY",
                         help="a validator's verifier key as `keygen` printed it (repeat)")
    genesis.add_argument("--governance", action="append", default=[], metavar="NAME=DID",
                         help="a governance key: a name and its did:key (repeat)")
    genesis.add_argument("--consensus", action="append", default=[], metavar="NAME=VALUE",
                         help="a [consensus] setting other than its default, e.g. "
                              "timeout_propose_ms=3000 for validators far apart (repeat)")
    genesis.set_defaults(func=_genesis)
    run = sub.add_parser("run", help="run a node")
    run.add_argument("--config", required=True, help="path of node.toml")
    run.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=default_level(),
                     help=f"default INFO, or ${LEVEL_VARIABLE}")
    run.add_argument("--log-format", type=str.lower, choices=LOG_FORMATS,
                     default=default_format(),
                     help=f"text (default, or ${FORMAT_VARIABLE}) or json: one object a line")
    run.set_defaults(func=_run)
    localnet = sub.add_parser(
        "localnet", help="run a whole network on 127.0.0.1 to try vcledger (not for production)",
        description="Create (once) and run a network of validators on 127.0.0.1, one process "
                    "each, with an issuer key and sample credentials; Ctrl-C stops every node.")
    localnet.add_argument("--nodes", type=int, default=None,
                          help="number of validator nodes (default 4, or the existing network's)")
    localnet.add_argument("--dir", default=".localnet",
                          help="network directory (default .localnet)")
    localnet.add_argument("--base-port", type=int, default=7700,
                          help="port of node0; node K listens on base+K (default 7700)")
    localnet.add_argument("--fresh", action="store_true", help="delete DIR and start over")
    localnet.add_argument("--ready-timeout", type=float, help=argparse.SUPPRESS)
    localnet.set_defaults(func=_localnet)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "log_level", "INFO") not in LOG_LEVELS:  # argparse skips defaults
        parser.error(f"{LEVEL_VARIABLE} must be one of {', '.join(LOG_LEVELS)}")
    if getattr(args, "log_format", "text") not in LOG_FORMATS:
        parser.error(f"{FORMAT_VARIABLE} must be one of {', '.join(LOG_FORMATS)}")
    try:
        return int(args.func(args))
    except LedgerError as exc:
        print(f"vcledger-node: error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
