"""Provisioning networks on disk: keys, genesis.toml, node.toml and trust.json.

Used by ``vcledger-node init`` (one validator), by ``vcledger-node keygen``
and ``vcledger-node genesis`` (a consortium: each validator makes its own key
and sends only its verifier key; one party assembles the genesis and trust
files from those), and by ``vcledger-node localnet`` (several on one machine).
Files are written as commented TOML so an operator can read
and edit them: the comments and table headers are fixed text, and every value
is written by ``tomli-w``, which quotes and escapes whatever a name or address
holds; each text is parsed back and compared with the values before it is
used.  :func:`init_single_node` and :func:`assemble_genesis` are all or nothing:
they validate everything in memory first and, if anything fails later,
remove exactly what they created.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from client.checkpoint import format_checkpoint
from client.errors import LedgerError, UsageError
from client.hashes import HASH_SIZE
from client.keys import KeyPair, write_key_file
from client.note import SIG_COSIGNATURE_V1, parse_verifier_key, verifier_key
from client.strictmodel import describe_validation_error
from client.trust import format_trust
from node.config import Genesis, ValidatorEntry, load_genesis, load_node_config
from node.errors import ConfigError

DEFAULT_ORIGIN = "vcledger.local/devnet"


def _toml_lines(**values: object) -> list[str]:
    """``key = value`` lines for top-level or in-table keys, written by tomli-w."""
    # Not splitlines(): that also splits at U+2028 and friends, which TOML strings may hold.
    return tomli_w.dumps(values).removesuffix("\n").split("\n")


def _checked(text: str, expected: Mapping[str, Any]) -> str:
    # The fixed text around the values must not change what they mean: a writer bug.
    assert tomllib.loads(text) == expected, text
    return text


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
    """The text of a genesis.toml; ``genesis_time`` (with a zone) is kept to the second, in UTC.

    Writes what it is given: :func:`node.config.load_genesis` judges it.
    """
    assert genesis_time.tzinfo is not None, "genesis_time needs a time zone"
    time = genesis_time.astimezone(dt.UTC).replace(microsecond=0)
    params = {
        "max_block_events": 2000, "block_interval_ms": 200, "empty_block_interval_ms": 5000,
        **(consensus or {}),
    }
    entries = [{"name": name, "verifier_key": verifier_key(name, public_key,
                                                           sig_type=SIG_COSIGNATURE_V1)}
               for name, public_key in validators]
    governors = [{"name": name, "did": did} for name, did in governance]
    lines = [
        "# vcledger genesis file: identical on every node of the network.",
        "# Its hash starts the hash chain, so changing anything here makes a new network.",
        "",
        "# The network's name: the origin line of every checkpoint (a schema-less URL).",
        *_toml_lines(origin=origin, genesis_time=time),
        "",
    ]
    for entry in entries:
        lines += [
            "# A validator: votes in consensus and cosigns checkpoints (C2SP cosignature/v1).",
            "[[validators]]",
            *_toml_lines(**entry),
            "",
        ]
    for governor in governors:
        lines += [
            "# A governance key: governance registers issuers, sets their names and",
            "# identifiers, declares a stolen issuer key and may revoke any credential.",
            "[[governance]]",
            *_toml_lines(**governor),
            "",
        ]
    lines += [
        "[consensus]",
        "# Largest block, in events (a rule: a block with more is invalid).",
        *_toml_lines(max_block_events=params["max_block_events"]),
        "# Seal a block this long after the first pending event arrived.",
        *_toml_lines(block_interval_ms=params["block_interval_ms"]),
        "# With nothing to do, still seal an empty block this often (fresh checkpoints).",
        *_toml_lines(empty_block_interval_ms=params["empty_block_interval_ms"]),
    ]
    for key, value in params.items():  # the timeouts, when given
        if key not in ("max_block_events", "block_interval_ms", "empty_block_interval_ms"):
            lines += _toml_lines(**{key: value})
    expected = {"origin": origin, "genesis_time": time, "validators": entries,
                "governance": governors, "consensus": params}
    return _checked("\n".join(lines) + "\n", expected)


def node_toml(*, role: str, key: str | None, listen: str, peers: Sequence[str],
              genesis: str = "genesis.toml", signature_workers: int | None = None) -> str:
    """The text of a node.toml; paths in it are relative to the file's folder."""
    expected: dict[str, Any] = {"genesis": genesis, "role": role}
    lines = [
        "# vcledger node configuration.  Relative paths are relative to this file.",
        *_toml_lines(genesis=genesis),
        _toml_lines(role=role)[0] + '   # "validator" or "observer"',
    ]
    if key is not None:
        expected["key"] = key
        lines.append(_toml_lines(key=key)[0] + "   # this node's validator key (mode 0600)")
    expected |= {"data_dir": "data", "listen": listen, "peers": list(peers)}
    lines += _toml_lines(data_dir="data", listen=listen, peers=list(peers))
    if signature_workers is not None:
        expected["signature_workers"] = signature_workers
        lines += [
            "# Processes verifying signatures (default: one per core); 1 when nodes share a host.",
            *_toml_lines(signature_workers=signature_workers),
        ]
    limits: dict[str, dict[str, int]] = {
        "mempool": {"max_events": 50000},
        "api": {"max_body_bytes": 4194304, "max_connections": 512, "request_timeout_s": 30,
                "max_wait_s": 30},
    }
    for table, values in limits.items():
        lines += ["", f"[{table}]", *_toml_lines(**values)]
    return _checked("\n".join(lines) + "\n", expected | limits)


def origin_problem(origin: str) -> str | None:
    """Why ``origin`` cannot name a network, or None if it can.

    Asks the two places that hold the rules instead of copying them: the
    checkpoint format (client/checkpoint.py: not empty, at most 255 UTF-8 bytes,
    no control characters), since every checkpoint starts with the origin, and
    genesis.toml's loader (node/config.py), which further allows only ASCII URL
    characters, so the origin reads the same in every file, log line and trust file.
    """
    try:
        format_checkpoint(origin, 0, bytes(HASH_SIZE))
    except UsageError as exc:
        return exc.diagnostics()
    try:
        Genesis.model_validate({"origin": origin})
    except ValidationError as exc:
        # The other fields are missing on purpose: only the origin's verdict is read.
        for error in exc.errors(include_url=False):
            if error["loc"] == ("origin",):
                return error["msg"].removeprefix("Value error, ")
    return None


def _refuse_existing(paths: Sequence[Path]) -> None:
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing:
        raise ConfigError("refusing to overwrite existing files: " + ", ".join(existing))


@contextlib.contextmanager
def _all_or_nothing() -> Iterator[list[Path]]:
    """Collects the paths a block creates; if the block fails, removes them, newest first.

    Only what was recorded goes, so a directory that existed before stays, and
    a directory someone else put a file into in the meantime is left (rmdir
    refuses it).  Removal is best effort: the original error is what matters.
    """
    created: list[Path] = []
    try:
        yield created
    except BaseException:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
        raise


def _make_directory(directory: Path, created: list[Path]) -> None:
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if path.is_dir():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir()
        except OSError as exc:
            raise ConfigError(f"cannot create directory {path}: {exc.strerror}") from exc
        created.append(path)


def _create(path: Path, data: bytes, created: list[Path]) -> None:
    """Write a new file; never replaces one (``O_EXCL``), even one made since the check."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
    created.append(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc


def init_single_node(directory: Path, *, origin: str = DEFAULT_ORIGIN,
                     listen: str = "127.0.0.1:7700",
                     now: dt.datetime | None = None) -> Genesis:
    """Create a one-validator network in ``directory``, all or nothing.

    The origin is checked first (:func:`origin_problem`, a :class:`UsageError`),
    then every file is made and validated in memory, and existing files are
    never overwritten (:class:`ConfigError`).  Only then is anything written; if
    a step fails after that, the files and directories this call created are
    removed again, and a directory that existed before is left as it was.
    """
    problem = origin_problem(origin)
    if problem is not None:
        raise UsageError(f"origin {origin!r} cannot name a network: {problem}")
    names = ("genesis.toml", "node.toml", "validator.key", "governance.key", "trust.json")
    _refuse_existing([directory / name for name in names])
    validator = KeyPair.generate()
    governance = KeyPair.generate()
    genesis_text = genesis_toml(origin, [(f"{origin}/validator", validator.public_key)],
                                [("governance", governance.did)],
                                genesis_time=now or dt.datetime.now(dt.UTC))
    try:
        genesis = Genesis.model_validate(tomllib.loads(genesis_text))
    except ValidationError as exc:
        raise ConfigError(f"the genesis file would be invalid: "
                          f"{describe_validation_error(exc)}") from exc
    files = {
        "genesis.toml": genesis_text,
        "node.toml": node_toml(role="validator", key="validator.key", listen=listen, peers=[]),
        "trust.json": format_trust(genesis.trust()),
    }
    try:
        contents = {name: text.encode("utf-8") for name, text in files.items()}
    except UnicodeEncodeError as exc:  # a lone surrogate, from undecodable command-line bytes
        raise UsageError(f"cannot write {exc.object[exc.start:exc.end]!r} as UTF-8") from exc
    with _all_or_nothing() as created:
        _make_directory(directory, created)
        for name, key in (("validator.key", validator), ("governance.key", governance)):
            write_key_file(directory / name, key.seed)
            created.append(directory / name)
        for name, data in contents.items():
            _create(directory / name, data, created)
        # The node's own loaders have the last word, as when it starts.
        written = load_genesis(directory / "genesis.toml")
        load_node_config(directory / "node.toml")
        if written.hash != genesis.hash:
            raise ConfigError(f"{directory / 'genesis.toml'} changed while init was writing it")
    return written


def generate_validator_key(path: Path, name: str) -> str:
    """Write a new validator key to ``path`` (mode 0600, never overwriting); return its
    verifier key (C2SP, cosignature/v1), the one line a validator sends to the consortium.

    ``name`` is how the validator appears in genesis.toml, in trust files and in
    every cosignature line; it is checked here so a bad one fails before a key exists.
    """
    try:
        # The genesis model judges the name, with a stand-in key (the real one comes later).
        ValidatorEntry(name=name,
                       verifier_key=verifier_key(name, bytes(32), sig_type=SIG_COSIGNATURE_V1))
    except LedgerError as exc:
        raise UsageError(f"validator name {name!r}: {exc.diagnostics()}") from exc
    except ValidationError as exc:
        raise UsageError(f"validator name {name!r}: {describe_validation_error(exc)}") from exc
    _refuse_existing([path])
    key = KeyPair.generate()
    write_key_file(path, key.seed)
    return verifier_key(name, key.public_key, sig_type=SIG_COSIGNATURE_V1)


def parse_governance(text: str) -> tuple[str, str]:
    """``NAME=did:key:...`` as given on the command line."""
    name, equals, did = text.partition("=")
    if not equals or not name or not did:
        raise UsageError(f"--governance {text!r}: expected NAME=did:key:...")
    return name, did


def parse_consensus_setting(text: str) -> tuple[str, int]:
    """``NAME=INTEGER`` as given on the command line; the genesis model judges name and range."""
    name, equals, value = text.partition("=")
    if not equals or not name or not value.strip().isdigit():
        raise UsageError(f"--consensus {text!r}: expected NAME=INTEGER, e.g. "
                         "timeout_propose_ms=3000")
    return name.strip(), int(value)


def assemble_genesis(directory: Path, *, origin: str, validator_keys: Sequence[str],
                     governance: Sequence[tuple[str, str]],
                     consensus: dict[str, int] | None = None,
                     now: dt.datetime | None = None) -> Genesis:
    """Write ``genesis.toml`` and ``trust.json`` for a consortium, all or nothing.

    ``validator_keys`` are the verifier keys the validators sent (what
    :func:`generate_validator_key` printed): only public keys travel, and each
    must be of type cosignature/v1, the type validators cosign checkpoints with.
    Everything is validated by the node's own genesis model before a byte is
    written; existing files are never overwritten (:class:`ConfigError`).
    """
    problem = origin_problem(origin)
    if problem is not None:
        raise UsageError(f"origin {origin!r} cannot name a network: {problem}")
    if not validator_keys:
        raise UsageError("give every validator's verifier key with --validator")
    validators: list[tuple[str, bytes]] = []
    for text in validator_keys:
        try:
            parsed = parse_verifier_key(text)
        except LedgerError as exc:
            raise UsageError(f"--validator: {exc.diagnostics()}") from exc
        if parsed.sig_type != SIG_COSIGNATURE_V1:
            raise UsageError(f"--validator {text!r} is not a cosignature/v1 key (type 0x04); "
                             "use the line `vcledger-node keygen` printed")
        validators.append((parsed.name, parsed.public_key))
    genesis_text = genesis_toml(origin, validators, governance,
                                genesis_time=now or dt.datetime.now(dt.UTC), consensus=consensus)
    try:
        genesis = Genesis.model_validate(tomllib.loads(genesis_text))
    except ValidationError as exc:
        raise UsageError(f"the genesis file would be invalid: "
                         f"{describe_validation_error(exc)}") from exc
    contents = {"genesis.toml": genesis_text.encode("utf-8"),
                "trust.json": format_trust(genesis.trust()).encode("utf-8")}
    _refuse_existing([directory / name for name in contents])
    with _all_or_nothing() as created:
        _make_directory(directory, created)
        for name, data in contents.items():
            _create(directory / name, data, created)
        written = load_genesis(directory / "genesis.toml")
        if written.hash != genesis.hash:
            raise ConfigError(f"{directory / 'genesis.toml'} changed while it was being written")
    return written
