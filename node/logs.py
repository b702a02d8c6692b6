"""The node's log lines: their format (plain text or one JSON object a line), level and times,
and the lines that follow an event through the node (submitted, committed, rejected).

One home for logging setup: :func:`configure_logging` is the only place that installs a
handler.  Both formats stamp times in UTC as ISO 8601 with a ``Z``
(``2026-12-01T09:30:00.123Z``), so lines from validators in different time zones sort
and compare as they are.

An operator asks "what happened to event X?" and "what did issuer Y submit?".  So the
event lines carry the event hash (lowercase hex, as the API prints it) and the issuer's
DID as structured fields (``extra=``): keys of their own in a JSON line, ``key=value``
pairs after the message in a text line.  They are grep-able in both, and a log pipeline
indexes the JSON keys without parsing the message.

Levels are chosen so that INFO is a readable record of what the node did for its
clients: every event a client submitted, accepted or rejected, and every event
committed.  An idle network's empty blocks, and events gossiped by peers (every node
would log each one again), are DEBUG.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Sequence
from typing import IO, Any, Final

from pythonjsonlogger.json import JsonFormatter

from client.errors import LedgerError
from client.events import SignedEvent
from client.hashes import Hash

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: Final = ("text", "json")
LEVEL_VARIABLE: Final = "VCLEDGER_LOG_LEVEL"
FORMAT_VARIABLE: Final = "VCLEDGER_LOG_FORMAT"

EVENT_HASH: Final = "event_hash"
ISSUER: Final = "issuer"
EVENT_KIND: Final = "event_kind"
HEIGHT: Final = "height"
INDEX: Final = "index"
REASON: Final = "reason"
TREE_SIZE: Final = "tree_size"
STRUCTURED_FIELDS: Final = (EVENT_HASH, ISSUER, EVENT_KIND, HEIGHT, INDEX, REASON, TREE_SIZE)
"""The fields this module's lines carry, in the order a text line shows them.  JSON lines
show every ``extra=`` field (aiohttp's access log adds its own); text lines only these,
because other extras (the access log's) repeat what their message already says."""

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS: Final = ("asctime", "levelname", "name", "message")
JSON_NAMES: Final = {"asctime": "time", "levelname": "level", "name": "logger"}


def utc_timestamp(created: float) -> str:
    """``created`` (POSIX seconds) as ISO 8601 UTC with milliseconds and a ``Z``."""
    moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE key=value ...``, the time in UTC."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Before the traceback (format() appends it after this), so the fields stay on
        # the line that grep finds.
        fields = [f"{name}={getattr(record, name)}" for name in STRUCTURED_FIELDS
                  if getattr(record, name, None) is not None]
        line = super().formatMessage(record)
        return " ".join([line, *fields]) if fields else line


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: ``time`` (UTC), ``level``, ``logger``, ``message``, then any
    structured fields; a traceback, if any, as ``exc_info`` text."""

    def __init__(self) -> None:
        super().__init__(list(JSON_FIELDS), rename_fields=dict(JSON_NAMES))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "text":
        return TextFormatter()
    if log_format == "json":
        return JsonLineFormatter()
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")


def configure_logging(level: str, log_format: str, stream: IO[str] | None = None) -> None:
    """Send every log line of the process to ``stream`` (standard error by default) in
    ``log_format``, at ``level`` and above; replaces whatever handlers were set before."""
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(make_formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def default_level() -> str:
    """``$VCLEDGER_LOG_LEVEL`` or INFO (checked by the caller, which names the variable)."""
    return os.environ.get(LEVEL_VARIABLE, "INFO").upper()


def default_format() -> str:
    """``$VCLEDGER_LOG_FORMAT`` or text (checked by the caller, which names the variable)."""
    return os.environ.get(FORMAT_VARIABLE, "text").lower()


# -- the lines that follow an event ----------------------------------------------------------


def event_fields(event: SignedEvent) -> dict[str, Any]:
    """The structured fields that name ``event``: its hash, issuer and kind."""
    return {EVENT_HASH: event.hash.hex(), ISSUER: event.issuer, EVENT_KIND: event.kind.value}


def log_admitted(log: logging.Logger, events: Sequence[SignedEvent], *,
                 from_peer: bool) -> None:
    """One line per event newly admitted to the mempool: INFO for a client's, DEBUG for a
    peer's (the client's own node has logged it at INFO already)."""
    level = logging.DEBUG if from_peer else logging.INFO
    if not log.isEnabledFor(level):
        return
    source = "from a peer" if from_peer else "submitted"
    for event in events:
        log.log(level, "accepted %s event %s", event.kind.value, source,
                extra=event_fields(event))


def log_rejected(log: logging.Logger, error: LedgerError, *, event: SignedEvent | None = None,
                 event_hash: Hash | None = None, from_peer: bool = False,
                 at_block: bool = False) -> None:
    """One line for an event the node refused, with the reason code and the node's message.

    ``event`` when it could be decoded (its hash and issuer are then fields), else
    ``event_hash`` if known.  INFO for a client's submission and for an event dropped at
    block building (``at_block``: its submitter was told "pending"); DEBUG for a peer's
    gossip, which a faulty peer could otherwise turn into a flood of INFO lines.
    """
    level = logging.DEBUG if from_peer and not at_block else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields: dict[str, Any] = {REASON: error.code}
    if event is not None:
        fields.update(event_fields(event))
    elif event_hash is not None:
        fields[EVENT_HASH] = event_hash.hex()
    when = "at block building" if at_block else "from a peer" if from_peer else "submitted"
    log.log(level, "rejected event %s: %s", when, error.diagnostics(), extra=fields)


def log_block_committed(log: logging.Logger, *, height: int, first_index: int,
                        events: Sequence[SignedEvent], dropped: int, tree_size: int,
                        elapsed_s: float) -> None:
    """A line for the block and one per committed event (its index and height as fields).

    An empty block with nothing dropped is DEBUG: an idle network seals one every
    ``empty_block_interval`` only to keep its checkpoint fresh, and at INFO that is
    17,280 lines a day of nothing.
    """
    level = logging.INFO if events or dropped else logging.DEBUG
    log.log(level, "block %d: %d events, %d dropped, %.0f ms", height, len(events), dropped,
            elapsed_s * 1000, extra={HEIGHT: height, TREE_SIZE: tree_size})
    if not log.isEnabledFor(logging.INFO):
        return
    for offset, event in enumerate(events):
        log.info("committed %s event", event.kind.value,
                 extra={**event_fields(event), HEIGHT: height, INDEX: first_index + offset})
