"""The trust file: everything an offline verifier trusts, and nothing else.

``trust.json`` names the network (the checkpoint origin), its validators'
C2SP verifier keys (signature type 0x04, cosignature/v1), how many distinct
validators must cosign a checkpoint before a verifier believes it, and the
network's freshness policy: how old a checkpoint may be before what it says
is no longer taken as current::

    {"origin": "vcledger.example/net", "threshold": 3, "max_age_seconds": 604800,
     "validators": [{"name": "node0", "verifier_key": "node0+1a2b3c4d+BH..."}]}

Verifiers receive it out of band; ``vcledger-node init`` and the local network
write it.  ``max_age_seconds`` was added later: a file without it means
:data:`DEFAULT_MAX_AGE_SECONDS`.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator

from client import strictjson
from client.errors import LedgerError, UsageError
from client.note import SIG_COSIGNATURE_V1, Verifier, parse_verifier_key
from client.strictmodel import StrictModel, describe_validation_error

MAX_TRUST_FILE_SIZE = 1024 * 1024
MAX_VALIDATORS = 100

DEFAULT_MAX_AGE_SECONDS = 7 * 86400
"""A week: the default bound on a checkpoint's age (see :attr:`Trust.max_age_seconds`).

Between the two forces on it: long enough that a holder who refreshes a
bundle once a week (``vcledger refresh``) always presents a fresh one, and
shorter than the two weeks CometBFT light clients trust a header for; short
enough that a revocation for fraud reaches every offline verifier within a
working week, since a bundle from before it goes ``stale`` after seven days.
"""

MIN_MAX_AGE_SECONDS = 60
"""A shorter bound would reject checkpoints younger than cosigners' clock drift."""


class TrustFileError(UsageError):
    """The trust file cannot be used: unreadable, malformed or inconsistent."""

    code = "bad_trust_file"


class TrustedValidator(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    verifier_key: Annotated[str, Field(min_length=1, max_length=400)]

    @model_validator(mode="after")
    def _key_matches_name(self) -> TrustedValidator:
        try:
            verifier = parse_verifier_key(self.verifier_key)
        except LedgerError as exc:
            raise ValueError(exc.diagnostics()) from exc
        if verifier.name != self.name:
            raise ValueError(f"verifier key is for {verifier.name!r}, not {self.name!r}")
        if verifier.sig_type != SIG_COSIGNATURE_V1:
            raise ValueError("validator keys must be cosignature/v1 verifier keys (type 0x04)")
        return self

    @cached_property
    def verifier(self) -> Verifier:
        return parse_verifier_key(self.verifier_key)

    @property
    def public_key(self) -> bytes:
        return self.verifier.public_key


class Trust(StrictModel):
    origin: Annotated[str, Field(min_length=1, max_length=200)]
    threshold: Annotated[int, Field(ge=1)]
    max_age_seconds: Annotated[int, Field(ge=MIN_MAX_AGE_SECONDS)] = DEFAULT_MAX_AGE_SECONDS
    """The oldest checkpoint (by its time, see :mod:`client.checkpoint`) whose word on
    a credential's status a verifier accepts as current; older is ``stale``."""
    validators: Annotated[list[TrustedValidator], Field(min_length=1, max_length=MAX_VALIDATORS)]

    @field_validator("validators")
    @classmethod
    def _distinct(cls, validators: list[TrustedValidator]) -> list[TrustedValidator]:
        names = [v.name for v in validators]
        keys = [v.public_key for v in validators]
        if len(set(names)) != len(names) or len(set(keys)) != len(keys):
            raise ValueError("validator names and keys must be distinct")
        return validators

    @model_validator(mode="after")
    def _reachable_threshold(self) -> Trust:
        if self.threshold > len(self.validators):
            raise ValueError(
                f"threshold {self.threshold} exceeds the {len(self.validators)} validators listed"
            )
        return self

    def verifiers(self) -> list[Verifier]:
        return [v.verifier for v in self.validators]


def parse_trust(text: str | bytes, source: str = "trust file") -> Trust:
    """Parse and check trust JSON; errors name the bad field."""
    try:
        document = strictjson.loads(text, what=source, max_size=MAX_TRUST_FILE_SIZE)
        return Trust.model_validate(document)
    except ValidationError as exc:
        raise TrustFileError(f"{source}: {describe_validation_error(exc)}") from exc
    except LedgerError as exc:
        raise TrustFileError(f"{source}: {exc.diagnostics()}") from exc


def load_trust(path: str | Path) -> Trust:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TRUST_FILE_SIZE + 1)
    except OSError as exc:
        raise TrustFileError(f"cannot read trust file {path}: {exc.strerror}") from exc
    return parse_trust(data, str(path))


def format_trust(trust: Trust) -> str:
    """The trust file text, every field written (``max_age_seconds`` too, when default)."""
    return json.dumps(trust.model_dump(), indent=2) + "\n"
