"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 and cosignature/v1 signatures.

A signed note is a text (the *body*) followed by a blank line and one or more
signature lines::

    <body, ending in "\\n">
    <blank line>
    — <key name> <base64(4-byte key ID || signature)>
    ...

Two signature types are supported (signed-note "Signature types"):

* ``0x01`` Ed25519 over the body (signed-note "Ed25519 signatures");
* ``0x04`` Ed25519 cosignature/v1 (c2sp.org/tlog-cosignature): the signature
  is an 8-byte big-endian timestamp followed by an Ed25519 signature over
  ``"cosignature/v1\\ntime <timestamp>\\n" + body``.

The key ID is ``SHA-256(name || 0x0A || type || public key)[:4]``.  Verifier
keys (the "vkey" text form of golang.org/x/mod/sumdb/note) are
``<name>+<8 hex digits of key ID>+<base64(type || public key)>``.

Parsing is strict: exactly one byte form is accepted for every value, so a
note that verifies here also opens in Go's ``note.Open``.  The rules where the
specifications leave room are listed in docs/protocol.md (keys and notes).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from client import keys
from client.encoding import decode_base64, encode_base64
from client.errors import InvalidEncoding, SignatureError, UsageError

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
SUPPORTED_SIG_TYPES = frozenset({SIG_ED25519, SIG_COSIGNATURE_V1})

KEY_ID_SIZE = 4
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
"""tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1."""

MAX_NOTE_SIZE = 1024 * 1024
"""Largest note accepted, in UTF-8 bytes (checked before anything else)."""

MAX_SIGNATURES = 100
"""Most signature lines accepted (signed-note requires at least 16; Go's note.Open allows 100)."""

MAX_NAME_SIZE = 255
"""Longest key name, in UTF-8 bytes (fits the 1-byte length of tlog-cosignature's ML-DSA form)."""

MAX_VERIFIER_KEY_LENGTH = MAX_NAME_SIZE * 4 + 64
"""Longest verifier key text: name, key ID, base64 of a 33-byte key, separators."""

MAX_FUTURE_DRIFT = 60
"""Seconds a cosignature's timestamp may lie ahead of the verifier's clock and still count.

tlog-cosignature says only that verifiers MAY reject cosignatures with
timestamps in the future; the bound is ours.  A cosignature dated later
than this is not counted (neither toward a threshold nor a checkpoint's
time): otherwise one validator with a fast or lying clock could make a
checkpoint look fresher than it is.  60 s matches the nodes' default
``max_clock_skew_ms``, which already bounds how far block times may run
ahead, and is wide enough for NTP-synchronised clocks.
"""

SIGNATURE_PREFIX = "\u2014 "
"""U+2014 EM DASH and a space start every signature line."""

COSIGNATURE_HEADER = "cosignature/v1\n"

# Go's unicode.IsSpace (the Unicode White_Space property), which Go's
# isValidName rejects in key names.  Spelled out rather than str.isspace() so
# that exactly the names Go accepts are accepted here.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_FORBIDDEN_IN_NOTE = re.compile(r"[\x00-\x09\x0b-\x1f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOWER_HEX_8 = re.compile(r"[0-9a-f]{8}")


# --- names -----------------------------------------------------------------------


def is_valid_name(name: str) -> bool:
    """signed-note: a key name is non-empty, with no Unicode spaces and no ``+``.

    Control characters are refused too: notes cannot carry them, and a name
    with them could never sign anything.
    """
    return (
        isinstance(name, str)
        and 0 < len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME_SIZE
        and "+" not in name
        and _UNICODE_SPACES.isdisjoint(name)
        and not _CONTROL.search(name)
        and not _has_surrogates(name)
    )


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_name(name: str) -> None:
    if not is_valid_name(name):
        raise UsageError(
            f"key name {name!r} is invalid: it must be 1..{MAX_NAME_SIZE} bytes of UTF-8 "
            "with no spaces, no '+' and no control characters"
        )


def _check_sig_type(sig_type: int) -> None:
    if sig_type not in SUPPORTED_SIG_TYPES:
        raise UsageError(
            f"signature type {sig_type!r} is not supported (0x01 Ed25519, 0x04 cosignature/v1)"
        )


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise UsageError(f"timestamp must be an int, got {type(timestamp).__name__}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise UsageError(f"timestamp {timestamp} is outside 0..2^63-1")


# --- keys -----------------------------------------------------------------------


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || type || public key)[:4]`` (signed-note)."""
    _check_name(name)
    _check_sig_type(sig_type)
    if not isinstance(public_key, bytes) or len(public_key) != keys.PUBLIC_KEY_SIZE:
        raise UsageError(f"an Ed25519 public key is {keys.PUBLIC_KEY_SIZE} bytes")
    return _key_id(name, sig_type, public_key)


def _key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    material = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class Verifier:
    """A trusted key: the name and key ID that signature lines must carry, and the key."""

    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes

    @property
    def vkey(self) -> str:
        """This key in verifier-key text form."""
        return verifier_key(self.name, self.public_key, sig_type=self.sig_type)

    @classmethod
    def of(cls, name: str, public_key: bytes, *, sig_type: int = SIG_ED25519) -> Verifier:
        return cls(name, key_id(name, sig_type, public_key), sig_type, public_key)


def verifier_key(name: str, public_key: bytes, *, sig_type: int = SIG_ED25519) -> str:
    """Format a verifier key: ``<name>+<8 lowercase hex key ID>+<base64(type || key)>``."""
    identifier = key_id(name, sig_type, public_key)
    return f"{name}+{identifier.hex()}+{encode_base64(bytes([sig_type]) + public_key)}"


def parse_verifier_key(text: str) -> Verifier:
    """Parse a verifier key as :func:`verifier_key` writes it.

    Results are cached (the trusted keys of a network are few and are parsed
    on every verification when given as strings).

    The name ends at the first ``+`` (names cannot contain one; base64 can).
    Rejects, with :class:`InvalidEncoding`: a bad name, a key ID that is not 8
    lowercase hex digits or does not match the key, non-canonical base64,
    signature types other than 0x01 and 0x04, and keys that are not 32 bytes.
    """
    if not isinstance(text, str):
        raise InvalidEncoding(f"verifier key must be a string, got {type(text).__name__}")
    return _parse_verifier_key(text)


@functools.lru_cache(maxsize=1024)
def _parse_verifier_key(text: str) -> Verifier:
    if len(text) > MAX_VERIFIER_KEY_LENGTH:
        raise InvalidEncoding(f"verifier key is longer than {MAX_VERIFIER_KEY_LENGTH} characters")
    name, plus1, rest = text.partition("+")
    hex_id, plus2, key_b64 = rest.partition("+")
    shown = text if len(text) <= 120 else text[:117] + "..."
    if not plus1 or not plus2:
        raise InvalidEncoding(f"verifier key {shown!r} is not of the form name+keyid+key")
    if not is_valid_name(name):
        raise InvalidEncoding(f"verifier key {shown!r}: invalid key name {name!r}")
    if not _LOWER_HEX_8.fullmatch(hex_id):
        raise InvalidEncoding(
            f"verifier key {shown!r}: key ID {hex_id!r} is not 8 lowercase hex digits"
        )
    material = decode_base64(key_b64, f"verifier key {shown!r}: key")
    if not material:
        raise InvalidEncoding(f"verifier key {shown!r}: key is empty")
    sig_type, public_key = material[0], material[1:]
    if sig_type not in SUPPORTED_SIG_TYPES:
        raise InvalidEncoding(
            f"verifier key {shown!r}: signature type 0x{sig_type:02x} is not supported "
            "(0x01 Ed25519, 0x04 cosignature/v1)"
        )
    if len(public_key) != keys.PUBLIC_KEY_SIZE:
        raise InvalidEncoding(
            f"verifier key {shown!r}: Ed25519 key is {len(public_key)} bytes, "
            f"expected {keys.PUBLIC_KEY_SIZE}"
        )
    expected = _key_id(name, sig_type, public_key)
    if bytes.fromhex(hex_id) != expected:
        raise InvalidEncoding(
            f"verifier key {shown!r}: key ID {hex_id} does not match the key "
            f"(expected {expected.hex()})"
        )
    return Verifier(name, expected, sig_type, public_key)


# --- structure --------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line, parsed but not verified."""

    name: str
    key_id: bytes
    signature: bytes
    """The bytes after the key ID: for 0x04, timestamp || Ed25519 signature."""

    @property
    def line(self) -> str:
        """The signature line, with its final newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {encode_base64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class ParsedNote:
    """A structurally valid note whose signatures have not been checked."""

    body: str
    signatures: tuple[NoteSignature, ...]


def _check_note_text(text: str, what: str) -> None:
    # Cheapest checks first: type, size, then a scan for forbidden characters.
    if not isinstance(text, str):
        raise InvalidEncoding(f"{what} must be text, got {type(text).__name__}")
    if len(text) > MAX_NOTE_SIZE:
        raise InvalidEncoding(f"{what} is larger than {MAX_NOTE_SIZE} bytes")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidEncoding(f"{what} is not valid UTF-8 (it has lone surrogates)") from None
    if size > MAX_NOTE_SIZE:
        raise InvalidEncoding(f"{what} is {size} bytes; the limit is {MAX_NOTE_SIZE}")
    bad = _FORBIDDEN_IN_NOTE.search(text)
    if bad:
        hint = " (CRLF line endings are not allowed)" if bad.group() == "\r" else ""
        raise InvalidEncoding(
            f"{what} contains control character U+{ord(bad.group()):04X} "
            f"at offset {bad.start()}{hint}"
        )


def _check_body(body: str) -> None:
    """A body we are asked to sign must be one a verifier will accept."""
    try:
        _check_note_text(body, "note body")
    except InvalidEncoding as exc:
        raise UsageError(str(exc)) from None
    if not body.endswith("\n"):
        raise UsageError("note body must end with a newline")


def parse_note(text: str) -> ParsedNote:
    """Split a signed note into its body and signature lines, checking their syntax only.

    Results are cached by text (parsing is pure and a :class:`ParsedNote` is
    immutable): a bundle carries its checkpoint twice, and bundles verified
    together usually share one checkpoint.  Failures are not cached.

    Rules (signed-note "Format"): valid UTF-8 with no ASCII control character
    but newline; the body is separated from the signatures by the *last*
    blank line; at least one and at most :data:`MAX_SIGNATURES` signature lines,
    each ``"— <name> <base64>\\n"`` with a valid name and canonical base64 of
    at least 5 bytes (a key ID and a signature).  No signature is verified;
    use :func:`open_note` for that.
    """
    _check_note_text(text, "note")
    split = text.rfind("\n\n")
    if split < 0:
        raise InvalidEncoding("note has no blank line between its text and its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise InvalidEncoding("note has no signature lines after the blank line")
    if not block.endswith("\n"):
        raise InvalidEncoding("note's last signature line does not end with a newline")
    return ParsedNote(body, _parse_signature_block(block, "note"))


_parse_note_uncached = parse_note
parse_note = functools.lru_cache(maxsize=256)(parse_note)


@functools.lru_cache(maxsize=256)
def parse_signature_lines(text: str) -> tuple[NoteSignature, ...]:
    """Parse signature lines on their own, as they follow the blank line of a note.

    For signatures kept apart from their body (a node stores a checkpoint's
    cosignatures so, and rebuilds the note on request).  The rules are those of
    :func:`parse_note`: at least one and at most :data:`MAX_SIGNATURES` lines,
    each ending in a newline; nothing is verified.  Cached like :func:`parse_note`.
    """
    _check_note_text(text, "signature lines")
    if not text:
        raise InvalidEncoding("there are no signature lines")
    if not text.endswith("\n"):
        raise InvalidEncoding("the last signature line does not end with a newline")
    return _parse_signature_block(text, "signature block")


def _parse_signature_block(block: str, what: str) -> tuple[NoteSignature, ...]:
    """Precondition: ``block`` is checked note text, non-empty, ending in a newline."""
    lines = block[:-1].split("\n")
    # Cap before decoding anything, so a huge list of lines costs one split.
    if len(lines) > MAX_SIGNATURES:
        raise InvalidEncoding(
            f"{what} has {len(lines)} signature lines; at most {MAX_SIGNATURES} are accepted"
        )
    return tuple(_parse_signature_line(line, n) for n, line in enumerate(lines))


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"signature line {number + 1}"
    if not line.startswith(SIGNATURE_PREFIX):
        hint = " (it must start with an em dash U+2014, not a hyphen)" if line[:1] == "-" else ""
        raise InvalidEncoding(f"{where} does not start with '\u2014 '{hint}")
    name, space, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not b64:
        raise InvalidEncoding(f"{where} has no signature after the key name")
    if not is_valid_name(name):
        raise InvalidEncoding(f"{where}: invalid key name {name!r}")
    raw = decode_base64(b64, f"{where} ({name})")
    if len(raw) <= KEY_ID_SIZE:
        raise InvalidEncoding(f"{where} ({name}) is too short to hold a key ID and a signature")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def format_note(body: str, signatures: Sequence[NoteSignature]) -> str:
    """The note text for ``body`` and ``signatures``, in the given order.

    Precondition: ``body`` is valid note text ending in a newline and there is
    at least one signature; the result is checked with :func:`parse_note`.
    """
    _check_body(body)
    if not signatures:
        raise UsageError("a signed note needs at least one signature")
    text = body + "\n" + "".join(signature.line for signature in signatures)
    try:
        parse_note(text)
    except InvalidEncoding as exc:
        raise UsageError(f"cannot format note: {exc}") from None
    return text


# --- signing ------------------------------------------------------------------------


def cosignature_message(body: str, timestamp: int) -> bytes:
    """tlog-cosignature "Ed25519 signed message": header, time line, then the body."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{body}".encode()


def _signature_line(
    body: str, name: str, private_key: bytes, timestamp: int | None
) -> NoteSignature:
    _check_name(name)
    _check_body(body)
    public_key = keys.public_key(private_key)
    if timestamp is None:
        signature = keys.sign(private_key, body.encode("utf-8"))
        return NoteSignature(name, _key_id(name, SIG_ED25519, public_key), signature)
    _check_timestamp(timestamp)
    signature = keys.sign(private_key, cosignature_message(body, timestamp))
    return NoteSignature(
        name,
        _key_id(name, SIG_COSIGNATURE_V1, public_key),
        timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature,
    )


def sign(body: str, name: str, private_key: bytes) -> str:
    """Return the note text of ``body`` with one Ed25519 (type 0x01) signature by ``name``."""
    return format_note(body, [_signature_line(body, name, private_key, None)])


def cosign(body: str, name: str, private_key: bytes, timestamp: int) -> str:
    """Return ONE cosignature/v1 (type 0x04) signature line over ``body``, dated ``timestamp``.

    ``timestamp`` is POSIX seconds in 0..2^63-1, supplied by the caller (this
    module never reads the clock).
    """
    return _signature_line(body, name, private_key, timestamp).line


def _add(note_text: str, new: NoteSignature) -> str:
    parsed = parse_note(note_text)
    # As Go's note.Sign does: a new signature by a key replaces that key's old
    # one, so a note never carries two lines for one (name, key ID).
    kept = [s for s in parsed.signatures if (s.name, s.key_id) != (new.name, new.key_id)]
    return format_note(parsed.body, [*kept, new])


def add_signature(note_text: str, name: str, private_key: bytes) -> str:
    """Append an Ed25519 signature over the body of ``note_text``.

    Existing signatures are kept unchecked, except one by the same key, which
    the new one replaces.
    """
    parsed = parse_note(note_text)
    return _add(note_text, _signature_line(parsed.body, name, private_key, None))


def add_cosignature(note_text: str, name: str, private_key: bytes, timestamp: int) -> str:
    """Append a cosignature/v1 line over the body of ``note_text`` (see :func:`add_signature`)."""
    parsed = parse_note(note_text)
    return _add(note_text, _signature_line(parsed.body, name, private_key, timestamp))


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature line that verified under a trusted key."""

    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes
    timestamp: int | None
    """The cosignature/v1 timestamp; None for plain Ed25519 signatures."""


@dataclass(frozen=True)
class OpenedNote:
    """A note at least one trusted key signed."""

    body: str
    signatures: tuple[VerifiedSignature, ...]
    ignored_unknown: int
    """Distinct signature lines by keys not in the trusted list (never checked)."""
    ignored_future: int = 0
    """Cosignatures by trusted keys dated beyond ``now`` + drift: not checked, not counted."""


def verifier_map(verifiers: Iterable[Verifier | str]) -> dict[tuple[str, bytes], Verifier]:
    """Index trusted keys by (name, key ID), parsing verifier-key strings.

    A repeated identical key is harmless; two different keys under one name
    and key ID make every signature ambiguous and are a configuration error.
    """
    if isinstance(verifiers, (str, Verifier)):
        raise UsageError("verifiers must be a list of keys, not a single key")
    items = tuple(verifiers)
    try:
        return dict(_verifier_map(items))
    except TypeError:  # an unhashable item: not a key at all
        return _build_verifier_map(items)


@functools.lru_cache(maxsize=64)
def _verifier_map(items: tuple[Verifier | str, ...]) -> dict[tuple[str, bytes], Verifier]:
    # A trust policy's keys are the same for every note it checks.
    return _build_verifier_map(items)


def _build_verifier_map(items: tuple[object, ...]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for item in items:
        verifier = parse_verifier_key(item) if isinstance(item, str) else item
        if not isinstance(verifier, Verifier):
            raise UsageError(f"not a verifier key: {type(item).__name__}")
        slot = (verifier.name, verifier.key_id)
        other = known.get(slot)
        if other is not None and other != verifier:
            raise UsageError(
                f"two different trusted keys share name {verifier.name!r} and "
                f"key ID {verifier.key_id.hex()}"
            )
        known[slot] = verifier
    return known


def open_note(
    text: str, verifiers: Iterable[Verifier | str], *, now: int | None = None
) -> OpenedNote:
    """Verify a signed note against trusted keys and return its body and good signatures.

    signed-note "Signatures": a line whose (name, key ID) matches no trusted
    key is ignored; a line that matches must verify, or the whole note is
    rejected; if no trusted key's signature verifies, the note is rejected.
    Further lines by a key already seen are skipped unchecked (as in Go's
    ``note.Open``), so each key counts once.

    With ``now`` (POSIX seconds, from the caller's clock), a cosignature dated
    more than :data:`MAX_FUTURE_DRIFT` seconds after ``now`` is not counted
    (tlog-cosignature allows rejecting future timestamps); it is dropped
    rather than failing the note so that one validator with a fast clock
    cannot make checkpoints unverifiable.

    Raises :class:`InvalidEncoding` for a malformed note and
    :class:`SignatureError` for a bad or missing signature.
    """
    known = verifier_map(verifiers)
    return open_parsed_note(parse_note(text), known, now=now)


def open_parsed_note(
    parsed: ParsedNote,
    known: dict[tuple[str, bytes], Verifier],
    *,
    now: int | None = None,
) -> OpenedNote:
    """:func:`open_note` for a note split by :func:`parse_note`, keys from :func:`verifier_map`."""
    body_bytes = parsed.body.encode("utf-8")
    verified: list[VerifiedSignature] = []
    seen: set[tuple[str, bytes]] = set()
    unknown: set[tuple[str, bytes, bytes]] = set()
    future = 0
    for line in parsed.signatures:
        slot = (line.name, line.key_id)
        verifier = known.get(slot)
        if verifier is None:
            unknown.add((line.name, line.key_id, line.signature))
            continue
        if slot in seen:
            continue
        seen.add(slot)
        label = f"{line.name}+{line.key_id.hex()}"
        timestamp: int | None = None
        if verifier.sig_type == SIG_ED25519:
            message = body_bytes
            signature = line.signature
        else:
            assert verifier.sig_type == SIG_COSIGNATURE_V1
            if len(line.signature) != TIMESTAMP_SIZE + keys.SIGNATURE_SIZE:
                raise SignatureError(
                    f"cosignature by {label} is {len(line.signature)} bytes, "
                    f"expected {TIMESTAMP_SIZE + keys.SIGNATURE_SIZE}"
                )
            timestamp = int.from_bytes(line.signature[:TIMESTAMP_SIZE], "big")
            if timestamp > MAX_TIMESTAMP:
                raise SignatureError(f"cosignature by {label} has timestamp {timestamp} > 2^63-1")
            if now is not None and timestamp > now + MAX_FUTURE_DRIFT:
                future += 1
                continue
            message = cosignature_message(parsed.body, timestamp)
            signature = line.signature[TIMESTAMP_SIZE:]
        try:
            keys.verify_signature(verifier.public_key, signature, message)
        except SignatureError:
            raise SignatureError(f"signature by trusted key {label} does not verify") from None
        verified.append(
            VerifiedSignature(
                line.name, line.key_id, verifier.sig_type, verifier.public_key, timestamp
            )
        )
    if not verified:
        detail = f"; {future} cosignature(s) dated in the future were not counted" if future else ""
        raise SignatureError(f"note has no valid signature by a trusted key{detail}")
    return OpenedNote(parsed.body, tuple(verified), len(unknown), future)


def verify(text: str, verifier_keys: Iterable[Verifier | str]) -> str:
    """Return the body of ``text`` if a trusted key signed it (see :func:`open_note`)."""
    return open_note(text, verifier_keys).body
