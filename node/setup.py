"""Creating networks on disk: keys, genesis.toml, node.toml and trust.json.

Used by ``vcledger-node init`` (one validator) and by the local network
script (several).  Files are written as commented TOML so an operator can
read and edit them; every file is loaded back through the same validating
loaders the node uses, so a file this module writes always starts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from client.keys import KeyPair, write_key_file
from client.note import SIG_COSIGNATURE_V1, verifier_key
from client.trust import format_trust
from node.config import Genesis, load_genesis, load_node_config
from node.errors import ConfigError

DEFAULT_ORIGIN = "vcledger.local/devnet"


def _toml_string(value: str) -> str:
    # JSON string syntax is valid TOML basic-string syntax for the ASCII
    # values we write (names, keys, paths, URLs).
    assert value.isascii(), value
    return json.dumps(value)


@dataclass(frozen=True)
class NodeFiles:
    name: str
    directory: Path
    listen: str
    config: Path
    key: Path


def genesis_toml(
    origin: str,
    validators: Sequence[tuple[str, bytes]],
    governance: Sequence[tuple[str, str]],
    *,
    genesis_time: dt.datetime,
    consensus: dict[str, int] | None = None,
) -> str:
    lines = [
        "# vcledger genesis file: identical on every node of the network.",
        "# Its hash starts the hash chain, so changing anything here makes a new network.",
        "",
        "# The network's name: the origin line of every checkpoint (a schema-less URL).",
        f"origin = {_toml_string(origin)}",
        f"genesis_time = {genesis_time.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "",
    ]
    for name, public_key in validators:
        vkey = verifier_key(name, public_key, sig_type=SIG_COSIGNATURE_V1)
        lines += [
            "# A validator: votes in consensus and cosigns checkpoints (C2SP cosignature/v1).",
            "[[validators]]",
            f"name = {_toml_string(name)}",
            f"verifier_key = {_toml_string(vkey)}",
            "",
        ]
    for name, did in governance:
        lines += [
            "# A governance key: the only keys that may register issuers.",
            "[[governance]]",
            f"name = {_toml_string(name)}",
            f"did = {_toml_string(did)}",
            "",
        ]
    lines += [
        "[consensus]",
        "# Largest block, in events (a rule: a block with more is invalid).",
        f"max_block_events = {(consensus or {}).get('max_block_events', 2000)}",
        "# Seal a block this long after the first pending event arrived.",
        f"block_interval_ms = {(consensus or {}).get('block_interval_ms', 200)}",
        "# With nothing to do, still seal an empty block this often (fresh checkpoints).",
        f"empty_block_interval_ms = {(consensus or {}).get('empty_block_interval_ms', 5000)}",
    ]
    for key in ("timeout_propose_ms", "timeout_prevote_ms", "timeout_precommit_ms",
                "timeout_delta_ms", "max_clock_skew_ms"):
        if consensus and key in consensus:
            lines.append(f"{key} = {consensus[key]}")
    return "\n".join(lines) + "\n"


def node_toml(*, role: str, key: str | None, listen: str, peers: Sequence[str],
              genesis: str = "genesis.toml", signature_workers: int | None = None) -> str:
    lines = [
        "# vcledger node configuration.  Relative paths are relative to this file.",
        f"genesis = {_toml_string(genesis)}",
        f"role = {_toml_string(role)}   # \"validator\" or \"observer\"",
    ]
    if key is not None:
        lines.append(f"key = {_toml_string(key)}   # this node's validator key (mode 0600)")
    lines += [
        "data_dir = \"data\"",
        f"listen = {_toml_string(listen)}",
        "peers = [" + ", ".join(_toml_string(p) for p in peers) + "]",
        *([] if signature_workers is None else [
            "# Processes verifying signatures (default: one per core); 1 when nodes share a host.",
            f"signature_workers = {signature_workers}"]),
        "",
        "[mempool]",
        "max_events = 50000",
        "",
        "[api]",
        "max_body_bytes = 4194304",
        "max_connections = 512",
        "request_timeout_s = 30",
        "max_wait_s = 30",
    ]
    return "\n".join(lines) + "\n"


def _refuse_existing(paths: Sequence[Path]) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise ConfigError("refusing to overwrite existing files: " + ", ".join(existing))


def init_single_node(directory: Path, *, origin: str = DEFAULT_ORIGIN,
                     listen: str = "127.0.0.1:7700",
                     now: dt.datetime | None = None) -> Genesis:
    """Create a one-validator network in ``directory`` (refuses to overwrite)."""
    files = [directory / n for n in ("genesis.toml", "node.toml", "validator.key",
                                     "governance.key", "trust.json")]
    _refuse_existing(files)
    directory.mkdir(parents=True, exist_ok=True)
    validator = KeyPair.generate()
    governance = KeyPair.generate()
    name = f"{origin}/validator"
    genesis_text = genesis_toml(origin, [(name, validator.public_key)],
                                [("governance", governance.did)],
                                genesis_time=now or dt.datetime.now(dt.UTC))
    _check_genesis(genesis_text, directory)
    write_key_file(directory / "validator.key", validator.seed)
    write_key_file(directory / "governance.key", governance.seed)
    (directory / "genesis.toml").write_text(genesis_text)
    (directory / "node.toml").write_text(node_toml(role="validator", key="validator.key",
                                                   listen=listen, peers=[]))
    genesis = load_genesis(directory / "genesis.toml")
    load_node_config(directory / "node.toml")
    (directory / "trust.json").write_text(format_trust(genesis.trust()))
    return genesis


def _check_genesis(text: str, directory: Path) -> None:
    """Validate generated genesis text before anything is written."""
    probe = directory / f".genesis-check-{os.getpid()}.toml"
    probe.write_text(text)
    try:
        load_genesis(probe)
    finally:
        probe.unlink()
