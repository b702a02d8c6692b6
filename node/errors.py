"""The node package's exception tree, rooted in :class:`client.errors.LedgerError`.

Each class says who broke what: a client's request (``RuleViolation``,
``MempoolFull``), a peer (``PeerProtocolError``), the operator's files
(``ConfigError``) or the disk (``StoreCorrupted``).
"""

from __future__ import annotations

from client.errors import LedgerError


class NodeError(LedgerError):
    """Root of the errors the node raises on purpose."""

    code = "node_error"
    http_status = 500


class ConfigError(NodeError):
    """A genesis or node file is missing, malformed, or names a bad value."""

    code = "bad_config"
    exit_code = 2


class StoreCorrupted(NodeError):
    """The database disagrees with itself; the node refuses to serve it."""

    code = "store_corrupted"


class RuleViolation(NodeError):
    """An event breaks a ledger rule (wrong signer, unknown issuer, replay, ...)."""

    http_status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.rule = code

    @property
    def code(self) -> str:  # type: ignore[override]
        return self.rule


class DuplicateEvent(RuleViolation):
    http_status = 409

    def __init__(self, message: str) -> None:
        super().__init__("duplicate_event", message)


class MempoolFull(NodeError):
    """The bounded mempool cannot take more events now; the client should retry."""

    code = "mempool_full"
    http_status = 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PeerProtocolError(NodeError):
    """A peer sent something malformed, unverifiable or out of protocol."""

    code = "peer_protocol"
    http_status = 400


class NotFound(NodeError):
    """The requested entry, block, event or checkpoint does not exist (yet)."""

    code = "not_found"
    http_status = 404


class NodeBehind(NodeError):
    """This node is catching up with its peers and cannot judge the request yet."""

    code = "catching_up"
    http_status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
