"""The one exception tree of the client package.

Every error raised on purpose derives from :class:`LedgerError`.  Each class
says how a user-facing edge reports it: ``exit_code`` for the CLI, and
``http_status`` plus a stable machine-readable ``code`` for the HTTP API.
Internal bugs are assertions and are never caught.
"""

from __future__ import annotations

from typing import ClassVar


class LedgerError(Exception):
    """Root of every error vcledger raises on purpose."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 400
    code: ClassVar[str] = "error"

    def diagnostics(self) -> str:
        """A message a user can act on (the CLI prints this, the API returns it)."""
        return str(self) or self.__class__.__name__


class UsageError(LedgerError):
    """The caller asked for something impossible: a bad argument, index or option."""

    exit_code = 2
    code = "bad_request"


class VerificationError(LedgerError):
    """Untrusted data failed a check: a proof, a signature, a digest or an encoding."""

    exit_code = 4
    code = "invalid"


class InvalidEncoding(VerificationError):
    """Bytes or text are not in the one canonical form the protocol allows."""

    code = "bad_encoding"


class InvalidProof(VerificationError):
    """A Merkle proof has the wrong shape for the tree it claims to be about."""

    code = "bad_proof"


class RootMismatch(InvalidProof):
    """A proof was well formed but led to a root other than the trusted one."""

    code = "root_mismatch"

    def __init__(self, what: str, expected: bytes, calculated: bytes) -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(
            f"{what}: calculated root {calculated.hex()} does not match expected {expected.hex()}"
        )


class SignatureError(VerificationError):
    """A signature did not verify, or no trusted key signed."""

    code = "bad_signature"


class KeyFileError(LedgerError):
    """A key file is missing, malformed, or has unsafe permissions."""

    code = "bad_key_file"
