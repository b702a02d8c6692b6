"""The two files an operator writes: ``genesis.toml`` (shared by the whole
network) and ``node.toml`` (one node's key, address, peers and limits).

Both are validated at start with frozen, strict pydantic models; every error
names the file and the field.  The genesis hash (:meth:`Genesis.hash`) starts
the hash chain: block 1's ``previous`` field is this hash, so nodes with
different genesis files can never agree on a block.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from client import encoding
from client.block import validator_set_hash
from client.errors import LedgerError
from client.hashes import Hash, sha256
from client.keys import public_key_from_did
from client.strictmodel import StrictModel, describe_validation_error
from client.trust import Trust, TrustedValidator
from node.errors import ConfigError

MAX_CONFIG_SIZE = 1024 * 1024
ORIGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,199}")


class ValidatorEntry(TrustedValidator):
    """A genesis validator: a name and its cosignature/v1 verifier key, exactly as in
    the trust file verifiers receive."""


class GovernanceEntry(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    did: str

    @field_validator("did")
    @classmethod
    def _check_did(cls, did: str) -> str:
        try:
            public_key_from_did(did)
        except LedgerError as exc:
            raise ValueError(exc.diagnostics()) from exc
        return did

    @property
    def public_key(self) -> bytes:
        return public_key_from_did(self.did)


class ConsensusParams(StrictModel):
    """Rules every node must share (block limits) and timing that should be shared."""

    max_block_events: Annotated[int, Field(ge=1, le=10_000)] = 2000
    block_interval_ms: Annotated[int, Field(ge=10, le=60_000)] = 200
    empty_block_interval_ms: Annotated[int, Field(ge=100, le=3_600_000)] = 5_000
    timeout_propose_ms: Annotated[int, Field(ge=10, le=60_000)] = 1_000
    timeout_prevote_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
    timeout_precommit_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
    timeout_delta_ms: Annotated[int, Field(ge=0, le=60_000)] = 500
    max_clock_skew_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 60_000


class Genesis(StrictModel):
    origin: str
    genesis_time: dt.datetime
    validators: Annotated[list[ValidatorEntry], Field(min_length=1, max_length=100)]
    governance: Annotated[list[GovernanceEntry], Field(min_length=1, max_length=100)]
    consensus: ConsensusParams = ConsensusParams()

    @field_validator("origin")
    @classmethod
    def _check_origin(cls, origin: str) -> str:
        if not ORIGIN_PATTERN.fullmatch(origin):
            raise ValueError(
                "origin must be 1..200 characters of A-Z a-z 0-9 . _ / : - "
                "(a schema-less URL such as example.org/vcledger)"
            )
        return origin

    @field_validator("genesis_time")
    @classmethod
    def _check_time(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("genesis_time needs a time zone, e.g. 2026-01-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Genesis:
        names = [v.name for v in self.validators]
        keys = [v.public_key for v in self.validators]
        if len(set(names)) != len(names) or len(set(keys)) != len(keys):
            raise ValueError("validator names and keys must be distinct")
        if len({g.did for g in self.governance}) != len(self.governance):
            raise ValueError("governance keys must be distinct")
        return self

    @property
    def genesis_time_ms(self) -> int:
        return int(self.genesis_time.timestamp() * 1000)

    @cached_property
    def validator_keys(self) -> tuple[bytes, ...]:
        return tuple(v.public_key for v in self.validators)

    @cached_property
    def governance_keys(self) -> frozenset[bytes]:
        return frozenset(g.public_key for g in self.governance)

    @cached_property
    def validator_set_hash(self) -> Hash:
        return validator_set_hash([(v.name, v.public_key) for v in self.validators])

    @property
    def quorum(self) -> int:
        """Distinct validators needed to commit or to trust a checkpoint (2f+1 of 3f+1)."""
        return 2 * len(self.validators) // 3 + 1

    def validator_name(self, public_key: bytes) -> str | None:
        for v in self.validators:
            if v.public_key == public_key:
                return v.name
        return None

    @cached_property
    def hash(self) -> Hash:
        """SHA-256 of the canonical encoding of every field: starts the hash chain."""
        c = self.consensus
        return sha256(encoding.pack([
            "vcledger/genesis/v1",
            self.origin,
            self.genesis_time_ms,
            [[v.name, v.public_key] for v in self.validators],
            [[g.name, g.public_key] for g in self.governance],
            [c.max_block_events, c.block_interval_ms, c.empty_block_interval_ms,
             c.timeout_propose_ms, c.timeout_prevote_ms, c.timeout_precommit_ms,
             c.timeout_delta_ms, c.max_clock_skew_ms],
        ]))

    def trust(self) -> Trust:
        """The trust file verifiers of this network need."""
        return Trust(
            origin=self.origin,
            threshold=self.quorum,
            validators=[TrustedValidator(name=v.name, verifier_key=v.verifier_key)
                        for v in self.validators],
        )


class MempoolSettings(StrictModel):
    max_events: Annotated[int, Field(ge=1, le=1_000_000)] = 50_000


class ApiSettings(StrictModel):
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 4 * 1024 * 1024
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 512
    request_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_wait_s: Annotated[float, Field(gt=0, le=600)] = 30.0


class NodeConfig(StrictModel):
    genesis: Path
    role: Literal["validator", "observer"] = "validator"
    key: Path | None = None
    data_dir: Path
    listen: str = "127.0.0.1:7700"
    # A pydantic field (copied per instance); ruff cannot see StrictModel is pydantic.
    peers: Annotated[list[str], Field(max_length=100)] = []  # noqa: RUF012
    mempool: MempoolSettings = MempoolSettings()
    api: ApiSettings = ApiSettings()
    signature_workers: Annotated[int, Field(ge=1, le=256)] | None = None
    """Processes that verify event signatures; None = one per core, 1 = in the node's
    own process (best when several nodes share a machine, as on a localnet)."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, listen: str) -> str:
        parse_listen(listen)
        return listen

    @field_validator("peers")
    @classmethod
    def _check_peers(cls, peers: list[str]) -> list[str]:
        for url in peers:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"peer {url!r} is not an http(s) URL such as http://127.0.0.1:7701")
        return peers

    @model_validator(mode="after")
    def _validator_needs_key(self) -> NodeConfig:
        if self.role == "validator" and self.key is None:
            raise ValueError("a validator needs `key` (its validator key file)")
        return self

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port_text = listen.rpartition(":")
    if (not sep or not host or not (port_text.isascii() and port_text.isdigit())
            or not 0 <= int(port_text) <= 65535):
        raise ValueError(f"listen must be HOST:PORT such as 127.0.0.1:7700, got {listen!r}")
    return host, int(port_text)


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_SIZE + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_CONFIG_SIZE:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_SIZE} bytes")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_genesis(path: str | Path) -> Genesis:
    path = Path(path)
    try:
        return Genesis.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc


def load_node_config(path: str | Path) -> NodeConfig:
    """Load ``node.toml``; relative paths in it are relative to the file's folder."""
    path = Path(path)
    raw = _read_toml(path)
    base = path.resolve().parent
    for field in ("genesis", "key", "data_dir"):
        value = raw.get(field)
        if isinstance(value, str):
            raw[field] = base / value
    try:
        return NodeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc
